"""Stand-in MEV relay: the builder API mev-boost calls, plus Flashbots bundle RPC.

Bids, payloads and bundle outcomes are derived from the relay's name, its seed
and the request, so two runs with the same flags answer the same way. Hashes are
SHA3-256 (the standard library has no Ethereum keccak-256); they have the real
shapes (32-byte block and bundle hashes, 48-byte pubkeys, 96-byte signatures).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.standins._serve import base_parser, configure_logging, serve

log = logging.getLogger(__name__)

MAX_BUNDLE_TXS = 100
"""Most transactions one bundle may carry."""

MAX_BUNDLE_BYTES = 300_000
"""Most bytes (decoded transactions, summed) one bundle may carry."""

MAX_BUNDLES_KEPT = 100_000
"""Bundles remembered for stats; the oldest are forgotten first."""

MAX_HEADERS_KEPT = 10_000
"""Bids remembered for blinded-block requests; the oldest are forgotten first."""

PREFLIGHT_ERROR_THRESHOLD = 0.9
"""Above this rejection rate some bundles are refused outright with -32000."""

GENESIS_TIME_S = 1_606_824_023
"""Ethereum mainnet beacon genesis, unix seconds; slot timestamps count from it."""

SECONDS_PER_SLOT = 12

EMPTY_TXS_ROOT = "0x7ffe241ea60187fdb0187bfa22de35d1f9bed7ab061d9401fd47e34a54fbede1"
"""Transactions root of an empty block; mev-boost ignores bids that carry it."""

ETH_WEI = 10**18


def derive(n_bytes: int, *parts: object) -> bytes:
    """`n_bytes` deterministic pseudo-random bytes from `parts`."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return hashlib.shake_256(text).digest(n_bytes)


def hex0x(data: bytes) -> str:
    """Bytes as a 0x-prefixed lowercase hex string."""
    return "0x" + data.hex()


def iso_ms(unix_s: float) -> str:
    """A unix time as Flashbots prints it: ISO 8601, UTC, milliseconds, `Z`."""
    stamp = datetime.fromtimestamp(unix_s, tz=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def is_hex_bytes(value: str, n_bytes: int | None = None) -> bool:
    """Whether `value` is 0x-prefixed hex, of exactly `n_bytes` bytes if given."""
    if not value.startswith("0x") or len(value) % 2:
        return False
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        return False
    return n_bytes is None or len(raw) == n_bytes


def parse_quantity(value: str) -> int:
    """A JSON-RPC hex quantity (`0x1a`) as an int; ValueError when malformed."""
    if not value.startswith("0x") or len(value) < 3:
        raise ValueError(f"not a hex quantity: {value!r}")
    return int(value[2:], 16)


def _rlp_item_end(data: bytes, start: int) -> int:
    """Where the RLP item starting at `start` ends; ValueError when malformed."""
    if start >= len(data):
        raise ValueError("truncated RLP")
    prefix = data[start]
    if prefix < 0x80:
        return start + 1
    if prefix < 0xB8:
        return start + 1 + prefix - 0x80
    if prefix < 0xC0:
        size_len = prefix - 0xB7
        size = int.from_bytes(data[start + 1 : start + 1 + size_len], "big")
        return start + 1 + size_len + size
    if prefix < 0xF8:
        return start + 1 + prefix - 0xC0
    size_len = prefix - 0xF7
    size = int.from_bytes(data[start + 1 : start + 1 + size_len], "big")
    return start + 1 + size_len + size


def is_transaction(raw: bytes) -> bool:
    """Whether `raw` is shaped like a signed transaction.

    Legacy transactions are one RLP list; typed ones (EIP-2718 types 1-3) are
    the type byte followed by one RLP list. The list must span the whole rest.
    """
    if not raw:
        return False
    body = raw[1:] if raw[0] in (1, 2, 3) else raw
    if not body or body[0] < 0xC0:
        return False
    try:
        return _rlp_item_end(body, 0) == len(body)
    except ValueError:
        return False


class RpcError(Exception):
    """A JSON-RPC error to answer with HTTP 200 and an `error` object."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class BundleParams(BaseModel):
    """The one object `eth_sendBundle` takes (Flashbots names, camelCase)."""

    model_config = ConfigDict(extra="forbid")

    txs: list[str]
    blockNumber: str  # noqa: N815 - the wire name
    minTimestamp: int | None = None  # noqa: N815
    maxTimestamp: int | None = None  # noqa: N815
    revertingTxHashes: list[str] | None = None  # noqa: N815
    replacementUuid: str | None = None  # noqa: N815
    builders: list[str] | None = None


class StatsParams(BaseModel):
    """The one object `flashbots_getBundleStatsV2` takes."""

    model_config = ConfigDict(extra="forbid")

    bundleHash: str  # noqa: N815
    blockNumber: str  # noqa: N815


HexStr = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]*$")]
DecimalStr = Annotated[str, Field(pattern=r"^[0-9]+$")]


def _check_len(value: str, n_bytes: int, what: str) -> str:
    if len(value) != 2 + 2 * n_bytes:
        raise ValueError(f"{what} must be {n_bytes} bytes, got {(len(value) - 2) // 2}")
    return value


class RegistrationMessage(BaseModel):
    """A validator's registration: where fees go and the gas limit it wants."""

    model_config = ConfigDict(extra="forbid")

    fee_recipient: HexStr
    gas_limit: DecimalStr
    timestamp: DecimalStr
    pubkey: HexStr

    @field_validator("fee_recipient")
    @classmethod
    def _fee_recipient_len(cls, v: str) -> str:
        return _check_len(v, 20, "fee_recipient")

    @field_validator("pubkey")
    @classmethod
    def _pubkey_len(cls, v: str) -> str:
        return _check_len(v, 48, "pubkey")


class SignedRegistration(BaseModel):
    """One entry of POST /eth/v1/builder/validators."""

    model_config = ConfigDict(extra="forbid")

    message: RegistrationMessage
    signature: HexStr

    @field_validator("signature")
    @classmethod
    def _signature_len(cls, v: str) -> str:
        return _check_len(v, 96, "signature")


@dataclass
class BundleRecord:
    """What the relay remembers of one accepted bundle, times in unix seconds."""

    bundle_hash: str
    block_number: int
    received_at: float
    simulated_at: float
    considered: list[tuple[str, float]]
    sealed: list[tuple[str, float]]


@dataclass
class Counters:
    """What the relay has seen since it started."""

    bundles_received: int = 0
    bundles_included: int = 0
    bundles_rejected: int = 0
    preflight_errors: int = 0
    validators_registered: int = 0
    headers_served: int = 0
    payloads_served: int = 0


@dataclass
class Relay:
    """A relay's state and behaviour, apart from HTTP.

    `rejection_rate` (0.0-1.0) is the share of accepted bundles that builders
    never seal; above 0.9 some bundles are also refused up front. `seed` makes
    every decision reproducible.
    """

    name: str
    rejection_rate: float = 0.0
    seed: int = 0
    bids_enabled: bool = True
    counters: Counters = field(default_factory=Counters)
    _bundles: OrderedDict[tuple[str, int], BundleRecord] = field(
        default_factory=OrderedDict
    )
    _payloads: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)

    @property
    def pubkey(self) -> str:
        """The relay's 48-byte BLS public key (derived, not a real key)."""
        return hex0x(derive(48, "relay-pubkey", self.name))

    def builder_pubkeys(self) -> list[str]:
        """The builders this relay forwards bundles to."""
        return [hex0x(derive(48, "builder", self.name, i)) for i in range(3)]

    def _chance(self, *parts: object) -> float:
        """A uniform number in [0, 1) fixed by the seed, the name and `parts`."""
        rng = random.Random("\x1f".join(str(p) for p in (self.seed, self.name, *parts)))
        return rng.random()

    # Bundles

    def send_bundle(self, params: Any, now_s: float) -> str:
        """Accept a bundle (the params of eth_sendBundle); its hash, or RpcError."""
        self.counters.bundles_received += 1
        try:
            bundle = self._decode_bundle(params)
        except RpcError:
            self.counters.preflight_errors += 1
            raise
        raw_txs = [bytes.fromhex(tx[2:]) for tx in bundle.txs]
        tx_hashes = b"".join(hashlib.sha3_256(tx).digest() for tx in raw_txs)
        bundle_hash = hex0x(hashlib.sha3_256(tx_hashes).digest())
        block = parse_quantity(bundle.blockNumber)
        key = (bundle_hash, block)
        if key in self._bundles:
            self.counters.preflight_errors += 1
            raise RpcError(-32000, "bundle already known")
        if self._refused_up_front(bundle_hash, block):
            self.counters.preflight_errors += 1
            self.counters.bundles_rejected += 1
            raise RpcError(-32000, "unable to process bundle: simulation queue full")
        record = self._decide(bundle_hash, block, now_s)
        self._bundles[key] = record
        while len(self._bundles) > MAX_BUNDLES_KEPT:
            self._bundles.popitem(last=False)
        if record.sealed:
            self.counters.bundles_included += 1
        else:
            self.counters.bundles_rejected += 1
        log.debug(
            "bundle %s for block %d %s",
            bundle_hash,
            block,
            "sealed" if record.sealed else "not sealed",
        )
        return bundle_hash

    def _decode_bundle(self, params: Any) -> BundleParams:
        if not isinstance(params, list) or len(params) != 1:
            raise RpcError(-32602, "invalid params: expected one bundle object")
        try:
            bundle = BundleParams.model_validate(params[0])
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise RpcError(
                -32000, f"unable to decode bundle: {where}: {first['msg']}"
            ) from None
        if not bundle.txs:
            raise RpcError(-32000, "unable to decode bundle: txs is empty")
        if len(bundle.txs) > MAX_BUNDLE_TXS:
            raise RpcError(
                -32000,
                f"bundle too large: {len(bundle.txs)} transactions, "
                f"limit {MAX_BUNDLE_TXS}",
            )
        size = 0
        for i, tx in enumerate(bundle.txs):
            if not is_hex_bytes(tx) or not is_transaction(bytes.fromhex(tx[2:])):
                raise RpcError(
                    -32000, f"unable to decode bundle: txs.{i} is not a transaction"
                )
            size += (len(tx) - 2) // 2
        if size > MAX_BUNDLE_BYTES:
            raise RpcError(
                -32000, f"bundle too large: {size} bytes, limit {MAX_BUNDLE_BYTES}"
            )
        try:
            parse_quantity(bundle.blockNumber)
        except ValueError:
            raise RpcError(
                -32000,
                f"unable to decode bundle: blockNumber {bundle.blockNumber!r} "
                "is not a hex quantity",
            ) from None
        return bundle

    def _refused_up_front(self, bundle_hash: str, block: int) -> bool:
        excess = self.rejection_rate - PREFLIGHT_ERROR_THRESHOLD
        if excess <= 0:
            return False
        return self._chance("preflight", bundle_hash, block) < excess * 5

    def _decide(self, bundle_hash: str, block: int, now_s: float) -> BundleRecord:
        builders = self.builder_pubkeys()
        considered = [(b, now_s + 0.030 + 0.005 * i) for i, b in enumerate(builders)]
        sealed: list[tuple[str, float]] = []
        if self._chance("inclusion", bundle_hash, block) >= self.rejection_rate:
            n_sealers = 1 + int(self._chance("sealers", bundle_hash, block) * 3)
            sealed = [(b, t + 0.9) for b, t in considered[:n_sealers]]
        return BundleRecord(
            bundle_hash, block, now_s, now_s + 0.020, considered, sealed
        )

    def bundle_stats(self, params: Any) -> dict[str, Any]:
        """The answer to flashbots_getBundleStatsV2, or RpcError."""
        if not isinstance(params, list) or len(params) != 1:
            raise RpcError(-32602, "invalid params: expected one object")
        try:
            query = StatsParams.model_validate(params[0])
            block = parse_quantity(query.blockNumber)
        except (ValidationError, ValueError) as exc:
            raise RpcError(-32602, f"invalid params: {exc}") from None
        record = self._bundles.get((query.bundleHash.lower(), block))
        if record is None:
            raise RpcError(-32000, "bundle not found")
        return {
            "isHighPriority": True,
            "isSimulated": True,
            "simulatedAt": iso_ms(record.simulated_at),
            "receivedAt": iso_ms(record.received_at),
            "consideredByBuildersAt": [
                {"pubkey": b, "timestamp": iso_ms(t)} for b, t in record.considered
            ],
            "sealedByBuildersAt": [
                {"pubkey": b, "timestamp": iso_ms(t)} for b, t in record.sealed
            ],
        }

    # Builder API

    def register(self, body: Any) -> None:
        """Validate signed registrations; ValueError names the first bad one."""
        if not isinstance(body, list):
            raise ValueError("expected a list of signed validator registrations")
        for i, entry in enumerate(body):
            try:
                SignedRegistration.model_validate(entry)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ValueError(f"registration {i}: {where}: {first['msg']}") from None
        self.counters.validators_registered += len(body)

    def bid(self, slot: int, parent_hash: str, proposer: str) -> dict[str, Any]:
        """A signed deneb builder bid for `slot` on top of `parent_hash`."""
        seed = (self.name, slot, parent_hash.lower(), proposer.lower())
        block_number = slot
        gas_used = 12_000_000 + int.from_bytes(derive(3, "gas", *seed)) % 17_000_000
        base_fee = (
            5_000_000_000 + int.from_bytes(derive(4, "fee", *seed)) % 40_000_000_000
        )
        value_wei = ETH_WEI // 50 + int.from_bytes(derive(8, "value", *seed)) % (
            ETH_WEI // 5
        )
        common = {
            "parent_hash": parent_hash.lower(),
            "fee_recipient": hex0x(derive(20, "fee-recipient", self.name)),
            "state_root": hex0x(derive(32, "state", *seed)),
            "receipts_root": hex0x(derive(32, "receipts", *seed)),
            "logs_bloom": "0x" + "00" * 256,
            "prev_randao": hex0x(derive(32, "randao", slot)),
            "block_number": str(block_number),
            "gas_limit": "30000000",
            "gas_used": str(gas_used),
            "timestamp": str(GENESIS_TIME_S + slot * SECONDS_PER_SLOT),
            "extra_data": hex0x(f"{self.name} stand-in".encode()[:32]),
            "base_fee_per_gas": str(base_fee),
            "block_hash": hex0x(derive(32, "block", *seed)),
        }
        txs = [
            hex0x(b"\x02" + _rlp_list(derive(100, "tx", *seed, i))) for i in range(3)
        ]
        header = {
            **common,
            "transactions_root": hex0x(derive(32, "txs-root", *seed)),
            "withdrawals_root": hex0x(derive(32, "withdrawals", *seed)),
            "blob_gas_used": "0",
            "excess_blob_gas": "0",
        }
        payload = {
            **common,
            "transactions": txs,
            "withdrawals": [],
            "blob_gas_used": "0",
            "excess_blob_gas": "0",
        }
        message = {
            "header": header,
            "blob_kzg_commitments": [],
            "value": str(value_wei),
            "pubkey": self.pubkey,
        }
        signature = derive(96, "sig", json.dumps(message, sort_keys=True), self.name)
        self._payloads[common["block_hash"]] = payload
        while len(self._payloads) > MAX_HEADERS_KEPT:
            self._payloads.popitem(last=False)
        self.counters.headers_served += 1
        return {
            "version": "deneb",
            "data": {"message": message, "signature": hex0x(signature)},
        }

    def payload(self, block_hash: str) -> dict[str, Any] | None:
        """The deneb payload response for a block this relay bid, else None."""
        found = self._payloads.get(block_hash.lower())
        if found is not None:
            self.counters.payloads_served += 1
        if found is None:
            return None
        return {
            "version": "deneb",
            "data": {
                "execution_payload": found,
                "blobs_bundle": {"commitments": [], "proofs": [], "blobs": []},
            },
        }

    def state(self) -> dict[str, Any]:
        """The stand-in's summary for GET /_standin/state."""
        c = self.counters
        return {
            "name": self.name,
            "bundles_received": c.bundles_received,
            "bundles_included": c.bundles_included,
            "bundles_rejected": c.bundles_rejected,
            "preflight_errors": c.preflight_errors,
            "rejection_rate": self.rejection_rate,
            "bids_enabled": self.bids_enabled,
            "validators_registered": c.validators_registered,
            "headers_served": c.headers_served,
            "payloads_served": c.payloads_served,
        }


def _rlp_list(payload: bytes) -> bytes:
    """`payload` wrapped as one RLP list (its items are not checked)."""
    if len(payload) < 56:
        return bytes([0xC0 + len(payload)]) + payload
    size = len(payload).to_bytes((len(payload).bit_length() + 7) // 8, "big")
    return bytes([0xF7 + len(size)]) + size + payload


# HTTP


def _error(code: int, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=code)


def _rpc_error(request_id: Any, code: int, message: str) -> JSONResponse:
    body = {
        "jsonrpc": "2.0",
        "id": request_id,
        "error": {"code": code, "message": message},
    }
    return JSONResponse(body)


class RateBody(BaseModel):
    """Body of POST /_standin/rejection."""

    model_config = ConfigDict(extra="forbid")

    rate: float = Field(ge=0.0, le=1.0)


class BidsBody(BaseModel):
    """Body of POST /_standin/bids."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool


class RelayHttp:
    """The HTTP face of a Relay: one method a route."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    async def status(self, _: Request) -> Response:
        """GET /eth/v1/builder/status: 200 while the relay runs."""
        return JSONResponse({})

    async def validators(self, request: Request) -> Response:
        """POST /eth/v1/builder/validators: 200, or 400 naming the bad entry."""
        try:
            self.relay.register(json.loads(await request.body()))
        except ValueError as exc:
            return _error(400, str(exc))
        return Response(status_code=200)

    async def header(self, request: Request) -> Response:
        """GET /eth/v1/builder/header/...: a bid, 204 when bids are off, or 400."""
        slot = request.path_params["slot"]
        parent_hash = request.path_params["parent_hash"]
        pubkey = request.path_params["pubkey"]
        if not slot.isdigit():
            return _error(400, "invalid slot")
        if not is_hex_bytes(parent_hash, 32):
            return _error(400, "invalid hash")
        if not is_hex_bytes(pubkey, 48):
            return _error(400, "invalid pubkey")
        if not self.relay.bids_enabled:
            return Response(status_code=204)
        return JSONResponse(self.relay.bid(int(slot), parent_hash, pubkey))

    async def blinded_blocks(self, request: Request) -> Response:
        """POST /eth/v1/builder/blinded_blocks: the payload of a block we bid."""
        try:
            body = json.loads(await request.body())
            payload_header = body["message"]["body"]["execution_payload_header"]
            block_hash = payload_header["block_hash"]
            signature = body["signature"]
        except (ValueError, KeyError, TypeError) as exc:
            return _error(400, f"could not decode signed blinded block: {exc}")
        if not isinstance(block_hash, str) or not is_hex_bytes(block_hash, 32):
            return _error(400, "invalid block_hash")
        if not isinstance(signature, str) or not is_hex_bytes(signature, 96):
            return _error(400, "invalid signature")
        found = self.relay.payload(block_hash)
        if found is None:
            return _error(400, "no execution payload for this request")
        log.info("payload delivered for block %s", block_hash)
        return JSONResponse(found)

    async def rpc(self, request: Request) -> Response:
        """POST /: JSON-RPC 2.0, eth_sendBundle and flashbots_getBundleStatsV2."""
        try:
            call = json.loads(await request.body())
        except ValueError:
            return _rpc_error(None, -32700, "parse error")
        if not isinstance(call, dict) or not isinstance(call.get("method"), str):
            return _rpc_error(None, -32600, "invalid request")
        request_id = call.get("id")
        try:
            result = self._call(call["method"], call.get("params"))
        except RpcError as exc:
            return _rpc_error(request_id, exc.code, exc.message)
        return JSONResponse({"jsonrpc": "2.0", "id": request_id, "result": result})

    def _call(self, method: str, params: Any) -> Any:
        if method == "eth_sendBundle":
            return {"bundleHash": self.relay.send_bundle(params, time.time())}
        if method == "flashbots_getBundleStatsV2":
            return self.relay.bundle_stats(params)
        raise RpcError(-32601, f"the method {method} does not exist/is not available")

    async def state(self, _: Request) -> Response:
        """GET /_standin/state: counters and settings."""
        return JSONResponse(self.relay.state())

    async def set_rejection(self, request: Request) -> Response:
        """POST /_standin/rejection {"rate": 0.0-1.0}: the new state, or 400."""
        try:
            body = RateBody.model_validate_json(await request.body())
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"]
            return _error(400, f'expected {{"rate": 0.0..1.0}}: {reason}')
        self.relay.rejection_rate = body.rate
        log.warning("rejection rate set to %.2f", body.rate)
        return JSONResponse(self.relay.state())

    async def set_bids(self, request: Request) -> Response:
        """POST /_standin/bids {"enabled": bool}: the new state, or 400."""
        try:
            body = BidsBody.model_validate_json(await request.body())
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"]
            return _error(400, f'expected {{"enabled": bool}}: {reason}')
        self.relay.bids_enabled = body.enabled
        log.warning("bids %s", "enabled" if body.enabled else "disabled")
        return JSONResponse(self.relay.state())


def build_app(relay: Relay) -> Starlette:
    """The relay's ASGI app: builder API, JSON-RPC on `/`, control under /_standin/."""
    h = RelayHttp(relay)
    routes = [
        Route("/", h.rpc, methods=["POST"]),
        Route("/eth/v1/builder/status", h.status, methods=["GET"]),
        Route("/eth/v1/builder/validators", h.validators, methods=["POST"]),
        Route(
            "/eth/v1/builder/header/{slot}/{parent_hash}/{pubkey}",
            h.header,
            methods=["GET"],
        ),
        Route("/eth/v1/builder/blinded_blocks", h.blinded_blocks, methods=["POST"]),
        Route("/_standin/state", h.state, methods=["GET"]),
        Route("/_standin/rejection", h.set_rejection, methods=["POST"]),
        Route("/_standin/bids", h.set_bids, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def main(argv: list[str] | None = None) -> None:
    """Run a relay stand-in until SIGTERM or SIGINT."""
    parser = base_parser(
        "relay", "Stand-in MEV relay (builder API and bundles).", 18551
    )
    parser.add_argument(
        "--name", default="relay-a", help="relay name (default: %(default)s)"
    )
    parser.add_argument(
        "--rejection-rate",
        type=float,
        default=0.0,
        help="share of bundles never sealed, 0.0-1.0 (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="RNG seed (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    if not 0.0 <= args.rejection_rate <= 1.0:
        parser.error(
            f"--rejection-rate must be within 0.0-1.0, got {args.rejection_rate}"
        )
    relay = Relay(args.name, rejection_rate=args.rejection_rate, seed=args.seed)
    configure_logging(args.log_level)
    log.info("relay %s listening on %s:%d", args.name, args.host, args.port)
    serve(build_app(relay), args.host, args.port, args.log_level)


if __name__ == "__main__":
    # Run the imported module, so that loggers carry its real name.
    from harness.standins.relay import main as run

    run()
