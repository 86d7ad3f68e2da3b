"""The eth_, net_ and web3_ methods the stand-in serves, with erigon's argument errors.

Arguments are decoded the way erigon's Go types decode them (BlockNumber,
common.Hash, hexutil.Bytes, bool), and their errors read the same, prefixed
`invalid argument N: `.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from harness.standins.erigon.chain import Chain
from harness.standins.erigon.rpc import Handler, InvalidParams, RpcError
from harness.standins.erigon.txs import TxPool, TxRejected

CLIENT_VERSION = "erigon/3.0.4/linux-amd64/go1.23.6"
"""web3_clientVersion: erigon's name/version/os-arch/go-version form."""

ZERO_HASH = "0x" + "00" * 32
EMPTY_UNCLES_HASH = "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"
EMPTY_TRIE_ROOT = "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
EMPTY_BLOOM = "0x" + "00" * 256
GAS_LIMIT = 36_000_000
EXTRA_DATA = "0x" + b"erigon stand-in".hex()
HEADER_SIZE_BYTES = 620

BLOCK_TAGS = frozenset(
    {"earliest", "latest", "pending", "safe", "finalized", "latestExecuted"}
)
_INT64_MAX = 2**63 - 1
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


# -- argument decoding (erigon's Go types) ------------------------------------


def _raw_text(value: Any) -> str:
    """The JSON text Go's UnmarshalJSON would see, string quotes removed."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def decode_uint64_hex(text: str) -> int:
    """hexutil.DecodeUint64: a 0x-prefixed quantity; ValueError with Go's words."""
    if not text:
        raise ValueError("empty hex string")
    if text[:2] not in ("0x", "0X"):
        raise ValueError("hex string without 0x prefix")
    digits = text[2:]
    if not digits:
        raise ValueError('hex string "0x"')
    if len(digits) > 1 and digits[0] == "0":
        raise ValueError("hex number with leading zero digits")
    if not set(digits) <= _HEX_DIGITS:
        raise ValueError("invalid hex string")
    if len(digits) > 16:
        raise ValueError("hex number > 64 bits")
    return int(digits, 16)


def decode_block_number(value: Any) -> str | int:
    """rpc.BlockNumber: a tag, a decimal or a hex number; ValueError otherwise."""
    text = _raw_text(value).strip()
    if text in BLOCK_TAGS:
        return text
    if text == "null":
        return "latest"
    if text.isascii() and text.isdigit() and int(text) < 2**64:
        number = int(text)
    else:
        number = decode_uint64_hex(text)
    if number > _INT64_MAX:
        raise ValueError("block number larger than int64")
    return number


def _go_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _decode_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(
            f"json: cannot unmarshal {_go_kind(value)} into Go value of type bool"
        )
    return value


def _decode_hex(value: Any, go_type: str, size: int | None = None) -> bytes:
    """hexutil.Bytes or a fixed-size type like common.Hash."""
    if not isinstance(value, str):
        raise ValueError(
            f"json: cannot unmarshal non-string into Go value of type {go_type}"
        )
    wrong = f"json: cannot unmarshal {{}} into Go value of type {go_type}"
    if value[:2] not in ("0x", "0X"):
        raise ValueError(wrong.format("hex string without 0x prefix"))
    digits = value[2:]
    if len(digits) % 2:
        raise ValueError(wrong.format("hex string of odd length"))
    if size is not None and len(digits) != 2 * size:
        raise ValueError(
            f"hex string has length {len(digits)}, want {2 * size} for {go_type}"
        )
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise ValueError(wrong.format("invalid hex string")) from None


def _args(params: list[Any], count: int) -> list[Any]:
    """Check that `params` holds exactly `count` required arguments."""
    if len(params) > count:
        raise InvalidParams(f"too many arguments, want at most {count}")
    for i in range(count):
        if i >= len(params) or params[i] is None:
            raise InvalidParams(f"missing value for required argument {i}")
    return params


def _arg(index: int, decode: Any, *args: Any) -> Any:
    try:
        return decode(*args)
    except ValueError as exc:
        raise InvalidParams(f"invalid argument {index}: {exc}") from None


# -- the API ---------------------------------------------------------------------


class EthApi:
    """The methods, bound to one node's chain and txpool."""

    def __init__(self, chain: Chain, pool: TxPool) -> None:
        self.chain = chain
        self.pool = pool
        self._chain_id_hex = hex(chain.chain_id)
        self._net_version = str(chain.chain_id)
        self._miner = "0x" + chain.derived(0, b"fee-recipient")[2:42]

    def table(self) -> dict[str, Handler]:
        """Method name -> handler, for the dispatcher."""
        return {
            "eth_blockNumber": self.block_number,
            "eth_chainId": self.chain_id,
            "eth_syncing": self.syncing,
            "eth_getBlockByNumber": self.get_block_by_number,
            "eth_getBlockByHash": self.get_block_by_hash,
            "eth_sendRawTransaction": self.send_raw_transaction,
            "net_version": self.net_version,
            "net_peerCount": self.net_peer_count,
            "net_listening": self.net_listening,
            "web3_clientVersion": self.client_version,
        }

    def block_number(self, params: list[Any]) -> str:
        """eth_blockNumber: the head as a hex quantity."""
        if params:
            _args(params, 0)
        return hex(self.chain.head())

    def chain_id(self, params: list[Any]) -> str:
        """eth_chainId: the chain id as a hex quantity."""
        _args(params, 0)
        return self._chain_id_hex

    def syncing(self, params: list[Any]) -> Any:
        """eth_syncing: false, or the progress object with erigon's stages."""
        _args(params, 0)
        progress = self.chain.syncing()
        return False if progress is None else progress

    def net_version(self, params: list[Any]) -> str:
        """net_version: the network id as a decimal string."""
        _args(params, 0)
        return self._net_version

    def net_peer_count(self, params: list[Any]) -> str:
        """net_peerCount: the peer count as a hex quantity."""
        _args(params, 0)
        return hex(self.chain.peers)

    def net_listening(self, params: list[Any]) -> bool:
        """net_listening: always true while the server answers."""
        _args(params, 0)
        return True

    def client_version(self, params: list[Any]) -> str:
        """web3_clientVersion: an erigon-style version string."""
        _args(params, 0)
        return CLIENT_VERSION

    def get_block_by_number(self, params: list[Any]) -> dict[str, Any] | None:
        """eth_getBlockByNumber(number or tag, full_txs): the block or null."""
        _args(params, 2)
        wanted = _arg(0, decode_block_number, params[0])
        full = _arg(1, _decode_bool, params[1])
        number = self.chain.resolve(wanted)
        return None if number is None else self.block(number, full)

    def get_block_by_hash(self, params: list[Any]) -> dict[str, Any] | None:
        """eth_getBlockByHash(hash, full_txs): the block or null."""
        _args(params, 2)
        block_hash = _arg(0, _decode_hex, params[0], "common.Hash", 32)
        full = _arg(1, _decode_bool, params[1])
        number = self.chain.number_of_hash(block_hash)
        return None if number is None else self.block(number, full)

    def send_raw_transaction(self, params: list[Any]) -> str:
        """eth_sendRawTransaction(bytes): the tx hash, or erigon's rejection."""
        _args(params, 1)
        raw = _arg(0, _decode_hex, params[0], "hexutil.Bytes")
        try:
            return self.pool.add(raw, self.chain.head() + 1)
        except TxRejected as exc:
            raise RpcError(str(exc)) from None

    def block(self, number: int, full: bool) -> dict[str, Any]:
        """Block `number` in eth_getBlockBy* form (it must exist)."""
        chain = self.chain
        block_hash = chain.block_hash(number)
        base_fee = base_fee_wei(chain, number)
        txs = self.pool.in_block(number)
        if full:
            transactions: list[Any] = [
                tx.json(block_hash, i, base_fee) for i, tx in enumerate(txs)
            ]
        else:
            transactions = [tx.hash for tx in txs]
        if txs:
            digest = hashlib.sha256(b"".join(tx.raw for tx in txs)).digest()
            tx_root = chain.derived(number, b"transactions" + digest)
            receipts_root = chain.derived(number, b"receipts" + digest)
        else:
            tx_root = receipts_root = EMPTY_TRIE_ROOT
        return {
            "baseFeePerGas": hex(base_fee),
            "blobGasUsed": "0x0",
            "difficulty": "0x0",
            "excessBlobGas": "0x0",
            "extraData": EXTRA_DATA,
            "gasLimit": hex(GAS_LIMIT),
            "gasUsed": hex(sum(tx.gas for tx in txs)),
            "hash": block_hash,
            "logsBloom": EMPTY_BLOOM,
            "miner": self._miner,
            "mixHash": chain.derived(number, b"prevrandao"),
            "nonce": "0x0000000000000000",
            "number": hex(number),
            "parentBeaconBlockRoot": chain.derived(number, b"beacon-root"),
            "parentHash": chain.block_hash(number - 1) if number else ZERO_HASH,
            "receiptsRoot": receipts_root,
            "sha3Uncles": EMPTY_UNCLES_HASH,
            "size": hex(HEADER_SIZE_BYTES + sum(len(tx.raw) for tx in txs)),
            "stateRoot": chain.derived(number, b"state-root"),
            "timestamp": hex(chain.schedule.timestamp_s(number)),
            "transactions": transactions,
            "transactionsRoot": tx_root,
            "uncles": [],
            "withdrawals": [],
            "withdrawalsRoot": EMPTY_TRIE_ROOT,
        }


def base_fee_wei(chain: Chain, number: int) -> int:
    """A stable base fee for block `number`, between 1 and 30 gwei."""
    spread = int(chain.derived(number, b"base-fee")[2:10], 16)
    return 1_000_000_000 + spread % 29_000_000_000
