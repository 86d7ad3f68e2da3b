"""The strategy engine's opportunities: what it detects in a block, and its bundles.

Amounts are in wei; transactions are raw EIP-1559 encodings with plausible
fields and random signatures (the stand-ins check shape, not signatures).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from harness.stack import Chain

STRATEGIES = ("arbitrage", "sandwich", "liquidation", "backrun")

GWEI = 10**9
GAS_PRICE_WEI = {
    "ethereum": 30 * GWEI,
    "arbitrum": GWEI // 10,
    "optimism": GWEI // 100,
    "base": GWEI // 100,
    "polygon": 50 * GWEI,
}
"""The gas price each chain's opportunities are costed at, wei per gas."""


def _rlp(item: int | bytes | list[Any]) -> bytes:
    """Recursive length prefix encoding of an int, bytes or nested list."""
    if isinstance(item, int):
        item = item.to_bytes((item.bit_length() + 7) // 8, "big") if item else b""
    if isinstance(item, bytes):
        if len(item) == 1 and item[0] < 0x80:
            return item
        return _rlp_length(len(item), 0x80) + item
    payload = b"".join(_rlp(i) for i in item)
    return _rlp_length(len(payload), 0xC0) + payload


def _rlp_length(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes([offset + length])
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(size)]) + size


def signed_tx_hex(rng: random.Random, chain_id: int) -> str:
    """A raw EIP-1559 transaction with plausible fields and a random signature."""
    tip = rng.randint(1, 3) * GWEI
    fields: list[Any] = [
        chain_id,
        rng.randint(0, 5000),  # nonce
        tip,
        tip + rng.randint(10, 80) * GWEI,
        rng.randint(100_000, 500_000),  # gas limit
        rng.randbytes(20),  # to
        0,  # value
        rng.randbytes(rng.randint(4, 132)),  # calldata
        [],  # access list
        rng.randint(0, 1),
        rng.randbytes(32),
        rng.randbytes(32),
    ]
    return "0x02" + _rlp(fields).hex()


@dataclass
class Opportunity:
    """One detected opportunity and the bundle that would take it."""

    chain: Chain
    strategy: str
    block_number: int
    expected_profit_wei: int
    gas_estimate: int
    net_profit_wei: int
    txs: list[str]
    row_id: int | None = None

    @property
    def target_block(self) -> int:
        """The block the bundle is meant for: the next one."""
        return self.block_number + 1


def detect(rng: random.Random, on: Chain, block: int) -> list[Opportunity]:
    """Zero to two opportunities for `block`, each with a positive net profit."""
    found = []
    for _ in range(rng.choices((0, 1, 2), weights=(3, 5, 2))[0]):
        gas = rng.randint(120_000, 650_000)
        cost_wei = gas * GAS_PRICE_WEI.get(on.name, GWEI)
        net_wei = rng.randint(10**15, 5 * 10**17)
        txs = [signed_tx_hex(rng, on.chain_id) for _ in range(rng.randint(1, 3))]
        strategy = rng.choice(STRATEGIES)
        found.append(
            Opportunity(on, strategy, block, cost_wei + net_wei, gas, net_wei, txs)
        )
    return found
