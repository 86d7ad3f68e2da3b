"""Raw transactions: RLP decoding, erigon's pre-pool checks, and a small txpool.

eth_sendRawTransaction decodes the bytes far enough to apply the checks erigon
makes before its txpool (fee cap, EIP-155 replay protection, chain id) and the
pool's duplicate check, then puts the transaction into the next block. Senders
are not recovered (no secp256k1 here): `from` is a stable stand-in address
derived from the transaction hash.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace

from harness.standins.erigon.keccak import keccak256

RLPItem = bytes | list["RLPItem"]

TX_FEE_CAP_WEI = 10**18
"""erigon's default --rpc.txfeecap: 1 ether."""

POOL_LIMIT = 10_000
"""Transactions the pool remembers before it forgets the oldest."""

# Field layouts of the transaction types (EIP-2718 type byte -> RLP fields).
_LAYOUTS: dict[int, tuple[str, tuple[str, ...]]] = {
    0: ("types.LegacyTx",
        ("nonce", "gasPrice", "gas", "to", "value", "input", "v", "r", "s")),
    1: ("types.AccessListTx",
        ("chainId", "nonce", "gasPrice", "gas", "to", "value", "input",
         "accessList", "v", "r", "s")),
    2: ("types.DynamicFeeTransaction",
        ("chainId", "nonce", "maxPriorityFeePerGas", "maxFeePerGas", "gas", "to",
         "value", "input", "accessList", "v", "r", "s")),
    3: ("types.BlobTx",
        ("chainId", "nonce", "maxPriorityFeePerGas", "maxFeePerGas", "gas", "to",
         "value", "input", "accessList", "maxFeePerBlobGas", "blobVersionedHashes",
         "v", "r", "s")),
    4: ("types.SetCodeTransaction",
        ("chainId", "nonce", "maxPriorityFeePerGas", "maxFeePerGas", "gas", "to",
         "value", "input", "accessList", "authorizationList", "v", "r", "s")),
}  # fmt: skip

_LIST_FIELDS = frozenset({"accessList", "blobVersionedHashes", "authorizationList"})
_BYTES_FIELDS = frozenset({"to", "input"})


class TxRejected(Exception):
    """erigon refused the transaction; the message is erigon's wording."""


@dataclass(frozen=True)
class Tx:
    """A decoded raw transaction and the block it went into."""

    hash: str
    raw: bytes
    type: int
    fields: dict[str, RLPItem] = field(repr=False)
    chain_id: int | None
    gas: int
    fee_cap_wei: int
    block: int = 0

    def json(self, block_hash: str, index: int, base_fee_wei: int) -> dict[str, object]:
        """The transaction as eth_getBlockByNumber returns it with full txs."""
        f = self.fields
        out: dict[str, object] = {
            "blockHash": block_hash,
            "blockNumber": hex(self.block),
            "from": "0x" + keccak256(bytes.fromhex(self.hash[2:]))[12:].hex(),
            "gas": hex(self.gas),
            "hash": self.hash,
            "input": "0x" + _as_bytes(f["input"]).hex(),
            "nonce": hex(_as_int(f["nonce"])),
            "to": _address(f["to"]),
            "transactionIndex": hex(index),
            "type": hex(self.type),
            "value": hex(_as_int(f["value"])),
            "v": hex(_as_int(f["v"])),
            "r": hex(_as_int(f["r"])),
            "s": hex(_as_int(f["s"])),
        }
        if self.chain_id is not None:
            out["chainId"] = hex(self.chain_id)
        if self.type in (0, 1):
            out["gasPrice"] = hex(_as_int(f["gasPrice"]))
        else:
            tip = _as_int(f["maxPriorityFeePerGas"])
            out["maxPriorityFeePerGas"] = hex(tip)
            out["maxFeePerGas"] = hex(self.fee_cap_wei)
            out["gasPrice"] = hex(min(self.fee_cap_wei, base_fee_wei + tip))
        if self.type != 0:
            out["yParity"] = out["v"]
            out["accessList"] = [
                {
                    "address": _address(entry[0]),
                    "storageKeys": [
                        "0x" + _as_bytes(k).hex().rjust(64, "0")
                        for k in _as_list(entry[1])
                    ],
                }
                for entry in map(_as_list, _as_list(f["accessList"]))
                if len(entry) == 2
            ]
        return out


class TxPool:
    """Accepted transactions by hash, each assigned to one block.

    Remembers at most `limit` transactions (oldest forgotten first); it is
    in memory only, so a restart forgets them, as a real txpool may.
    """

    def __init__(self, chain_id: int, limit: int = POOL_LIMIT) -> None:
        self.chain_id = chain_id
        self.limit = limit
        self._by_hash: OrderedDict[str, Tx] = OrderedDict()
        self._by_block: dict[int, list[Tx]] = {}

    def add(self, raw: bytes, next_block: int) -> str:
        """Check and accept `raw` into `next_block`; returns the tx hash.

        Raises TxRejected with erigon's message when a check fails.
        """
        tx = decode_transaction(raw)
        if tx.fee_cap_wei * tx.gas > TX_FEE_CAP_WEI:
            fee_eth = tx.fee_cap_wei * tx.gas / 10**18
            raise TxRejected(
                f"tx fee ({fee_eth:.2f} ether) exceeds the configured cap "
                f"({TX_FEE_CAP_WEI / 10**18:.2f} ether)"
            )
        if tx.chain_id is None:
            raise TxRejected(
                "only replay-protected (EIP-155) transactions allowed over RPC"
            )
        if tx.chain_id != self.chain_id:
            raise TxRejected(
                f"invalid chain id, expected: {self.chain_id} got: {tx.chain_id}"
            )
        if tx.hash in self._by_hash:
            raise TxRejected("ALREADY_EXISTS: already known")

        placed = replace(tx, block=next_block)
        self._by_hash[placed.hash] = placed
        self._by_block.setdefault(next_block, []).append(placed)
        while len(self._by_hash) > self.limit:
            _, old = self._by_hash.popitem(last=False)
            siblings = [t for t in self._by_block.get(old.block, []) if t is not old]
            if siblings:
                self._by_block[old.block] = siblings
            else:
                self._by_block.pop(old.block, None)
        return placed.hash

    def in_block(self, number: int) -> list[Tx]:
        """The transactions assigned to block `number`, in arrival order."""
        return self._by_block.get(number, [])


def decode_transaction(raw: bytes) -> Tx:
    """Decode a raw legacy or typed (EIP-2718) transaction.

    Raises TxRejected with an RLP decoding message when the bytes are not one.
    """
    if not raw:
        raise TxRejected("EOF")
    if raw[0] >= 0xC0:
        tx_type, payload = 0, raw
    elif raw[0] <= 0x7F:
        tx_type, payload = raw[0], raw[1:]
        if tx_type not in _LAYOUTS:
            raise TxRejected("transaction type not supported")
    else:
        raise TxRejected("rlp: expected input list for types.LegacyTx")

    name, layout = _LAYOUTS[tx_type]
    items = _decode_list(payload, name)
    if tx_type == 3 and items and isinstance(items[0], list):
        # The network form wraps the tx with its blobs, commitments and proofs.
        items = items[0]
    if len(items) < len(layout):
        raise TxRejected(f"rlp: too few elements for {name}")
    if len(items) > len(layout):
        raise TxRejected(f"rlp: input list has too many elements for {name}")
    fields = dict(zip(layout, items, strict=True))
    for key, value in fields.items():
        wants_list = key in _LIST_FIELDS
        if isinstance(value, list) != wants_list:
            kind = "list" if wants_list else "string"
            raise TxRejected(f"rlp: expected input {kind} for {name}.{key}")

    if tx_type == 0:
        v = _as_int(fields["v"])
        chain_id = (v - 35) // 2 if v >= 35 else None
        fee_cap = _as_int(fields["gasPrice"])
    else:
        chain_id = _as_int(fields["chainId"])
        price_key = "gasPrice" if tx_type == 1 else "maxFeePerGas"
        fee_cap = _as_int(fields[price_key])
    return Tx(
        hash="0x" + keccak256(raw).hex(),
        raw=raw,
        type=tx_type,
        fields=fields,
        chain_id=chain_id,
        gas=_as_int(fields["gas"]),
        fee_cap_wei=fee_cap,
    )


def _decode_list(data: bytes, name: str) -> list[RLPItem]:
    try:
        item, end = _decode_item(data, 0)
    except IndexError:
        raise TxRejected("rlp: value size exceeds available input length") from None
    if end != len(data):
        raise TxRejected("rlp: input contains more than one value")
    if not isinstance(item, list):
        raise TxRejected(f"rlp: expected input list for {name}")
    return item


def _decode_item(data: bytes, pos: int) -> tuple[RLPItem, int]:
    """One RLP item at `pos`; IndexError when it runs past the end."""
    prefix = data[pos]
    if prefix < 0x80:
        return data[pos : pos + 1], pos + 1
    if prefix < 0xB8:
        start, length = pos + 1, prefix - 0x80
    elif prefix < 0xC0:
        size = prefix - 0xB7
        start, length = pos + 1 + size, int.from_bytes(data[pos + 1 : pos + 1 + size])
    elif prefix < 0xF8:
        start, length = pos + 1, prefix - 0xC0
    else:
        size = prefix - 0xF7
        start, length = pos + 1 + size, int.from_bytes(data[pos + 1 : pos + 1 + size])
    end = start + length
    if end > len(data):
        raise IndexError(end)
    if prefix < 0xC0:
        return data[start:end], end
    items: list[RLPItem] = []
    cursor = start
    while cursor < end:
        item, cursor = _decode_item(data, cursor)
        items.append(item)
    if cursor != end:
        raise IndexError(cursor)
    return items, end


def _as_bytes(item: RLPItem) -> bytes:
    return item if isinstance(item, bytes) else b""


def _as_int(item: RLPItem) -> int:
    return int.from_bytes(_as_bytes(item), "big")


def _as_list(item: RLPItem) -> list[RLPItem]:
    return item if isinstance(item, list) else []


def _address(item: RLPItem) -> str | None:
    raw = _as_bytes(item)
    return "0x" + raw.hex().rjust(40, "0") if raw else None
