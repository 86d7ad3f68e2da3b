"""Stand-in mev-boost: the builder API a beacon node calls, fanned out to relays.

Follows flashbots/mev-boost (server/service.go): status with optional relay
check, validator registration, getHeader picking the highest usable bid, and
getPayload from the relays that delivered the bid. Relay signatures are not
verified: the stand-in relays sign with derived bytes, not BLS keys.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harness.standins._serve import base_parser, configure_logging, serve
from harness.standins.relay import EMPTY_TXS_ROOT, SignedRegistration, is_hex_bytes

log = logging.getLogger(__name__)

VERSION = "v1.9-standin"
"""Sent as X-MEVBoost-Version on every answer and every relay request."""

BID_MEMORY_S = 180.0
"""How long a delivered bid is remembered for getPayload routing (seconds)."""

ZERO_HASH = "0x" + "00" * 32
ETH_WEI = 10**18


@dataclass(frozen=True)
class RelayEntry:
    """One relay: its base URL and, when the URL carried one, its pubkey."""

    url: str
    pubkey: str | None = None

    def __str__(self) -> str:
        return self.url


def parse_relays(text: str) -> list[RelayEntry]:
    """Relays from `--relays`: comma-separated URLs, each optionally `scheme://0xPUBKEY@host:port`.

    Raises ValueError naming the first bad entry.
    """
    relays = []
    for raw in (part.strip() for part in text.split(",")):
        if not raw:
            continue
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"relay URL {raw!r} needs http:// or https:// and a host")
        pubkey = parts.username
        if pubkey is not None and not is_hex_bytes(pubkey, 48):
            raise ValueError(f"relay URL {raw!r}: pubkey must be 0x and 48 bytes")
        netloc = parts.netloc.rsplit("@", 1)[-1]
        base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        relays.append(RelayEntry(base, pubkey.lower() if pubkey else None))
    if not relays:
        raise ValueError("no relays given")
    return relays


def parse_min_bid_wei(eth: str) -> int:
    """`--min-bid-eth` (a decimal number of ETH) in wei; ValueError when bad."""
    try:
        value = Decimal(eth)
    except InvalidOperation:
        raise ValueError(f"min bid {eth!r} is not a number of ETH") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"min bid {eth!r} must be a non-negative number of ETH")
    return int(value * ETH_WEI)


@dataclass(frozen=True)
class Timeouts:
    """Per-call deadlines towards relays, seconds (mev-boost's defaults)."""

    get_header_s: float = 0.95
    get_payload_s: float = 4.0
    regval_s: float = 3.0


class _BidHeader(BaseModel):
    parent_hash: str
    block_hash: str
    transactions_root: str


class _BidMessage(BaseModel):
    header: _BidHeader
    value: str
    pubkey: str


class _BidData(BaseModel):
    message: _BidMessage
    signature: str


class _BidResponse(BaseModel):
    version: str = "deneb"
    data: _BidData


class _PayloadHeader(BaseModel):
    block_hash: str


class _BlindedBody(BaseModel):
    execution_payload_header: _PayloadHeader


class _BlindedMessage(BaseModel):
    slot: str
    body: _BlindedBody


class _SignedBlindedBlock(BaseModel):
    message: _BlindedMessage
    signature: str


@dataclass
class _Bid:
    relay: RelayEntry
    value_wei: int
    block_hash: str
    version: str
    body: dict[str, Any]


def _error(code: int, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=code)


def _payload_block_hash(body: Any) -> str | None:
    """The block hash of a getPayload answer (deneb or earlier shapes)."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        return None
    data = body["data"]
    payload = data.get("execution_payload", data)
    found = payload.get("block_hash") if isinstance(payload, dict) else None
    return found.lower() if isinstance(found, str) else None


@dataclass
class Boost:
    """mev-boost's behaviour towards relays, over one shared HTTP client.

    `min_bid_wei` drops bids below it (0 keeps all). With `relay_check`, the
    status endpoint answers 503 unless some relay's status answers 200.
    """

    relays: list[RelayEntry]
    timeouts: Timeouts = field(default_factory=Timeouts)
    relay_check: bool = False
    min_bid_wei: int = 0
    client: httpx.AsyncClient | None = None
    _bids: dict[tuple[int, str], tuple[float, list[RelayEntry]]] = field(
        default_factory=dict
    )
    _background: set[asyncio.Task[Any]] = field(default_factory=set)

    def _http(self) -> httpx.AsyncClient:
        if self.client is None:
            raise RuntimeError("the HTTP client is not open: serve the app first")
        return self.client

    async def _request(
        self,
        relay: RelayEntry,
        method: str,
        path: str,
        timeout_s: float,
        *,
        body: bytes | None = None,
        user_agent: str = "",
    ) -> httpx.Response:
        """One request to a relay that ends by `timeout_s` at the latest."""
        headers = {"X-MEVBoost-Version": VERSION}
        headers["User-Agent"] = f"mev-boost/{VERSION} {user_agent}".strip()
        if body is not None:
            headers["Content-Type"] = "application/json"
        async with asyncio.timeout(timeout_s):
            return await self._http().request(
                method,
                relay.url + path,
                content=body,
                headers=headers,
                timeout=timeout_s,
            )

    async def relays_ok(self) -> int:
        """How many relays answer their status with 200 (getHeader timeout)."""

        async def one(relay: RelayEntry) -> bool:
            try:
                path = "/eth/v1/builder/status"
                response = await self._request(
                    relay, "GET", path, self.timeouts.get_header_s
                )
            except Exception as exc:  # whatever the HTTP stack raises: a failed call
                log.warning("relay %s status failed: %s", relay, _why(exc))
                return False
            if response.status_code != 200:
                log.warning("relay %s status %d", relay, response.status_code)
            return response.status_code == 200

        return sum(await asyncio.gather(*(one(r) for r in self.relays)))

    async def register(self, body: bytes, user_agent: str) -> bool:
        """Forward registrations to every relay; True when any accepts.

        Returns at the first acceptance; the other calls finish in the background.
        """
        calls = [
            asyncio.create_task(self._register_one(r, body, user_agent))
            for r in self.relays
        ]
        for task in calls:
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        for finished in asyncio.as_completed(calls):
            if await finished:
                return True
        return False

    async def _register_one(self, relay: RelayEntry, body: bytes, ua: str) -> bool:
        path = "/eth/v1/builder/validators"
        try:
            response = await self._request(
                relay, "POST", path, self.timeouts.regval_s, body=body, user_agent=ua
            )
        except Exception as exc:  # whatever the HTTP stack raises: a failed call
            log.warning("relay %s registerValidator failed: %s", relay, _why(exc))
            return False
        if not response.is_success:
            log.warning("relay %s registerValidator %d", relay, response.status_code)
        return response.is_success

    async def best_bid(
        self, slot: int, parent_hash: str, pubkey: str, user_agent: str
    ) -> _Bid | None:
        """The highest usable bid of all relays within the getHeader timeout."""
        path = f"/eth/v1/builder/header/{slot}/{parent_hash}/{pubkey}"
        answers = await asyncio.gather(
            *(self._bid_from(r, path, parent_hash, user_agent) for r in self.relays)
        )
        bids = [b for b in answers if b is not None]
        if not bids:
            return None
        # Highest value wins; on a tie, the lower block hash (as mev-boost).
        best = min(bids, key=lambda b: (-b.value_wei, b.block_hash))
        delivering = [b.relay for b in bids if b.block_hash == best.block_hash]
        self._remember(slot, best.block_hash, delivering)
        return best

    async def _bid_from(
        self, relay: RelayEntry, path: str, parent_hash: str, ua: str
    ) -> _Bid | None:
        try:
            response = await self._request(
                relay, "GET", path, self.timeouts.get_header_s, user_agent=ua
            )
        except Exception as exc:  # whatever the HTTP stack raises: a failed call
            log.warning("relay %s getHeader failed: %s", relay, _why(exc))
            return None
        if response.status_code == 204:
            return None
        if response.status_code != 200:
            log.warning("relay %s getHeader answered %d", relay, response.status_code)
            return None
        try:
            body = response.json()
            parsed = _BidResponse.model_validate(body)
            value_wei = int(parsed.data.message.value)
        except (ValueError, ValidationError) as exc:
            log.warning("relay %s sent an undecodable bid: %s", relay, exc)
            return None
        return self._usable(relay, parsed, value_wei, parent_hash, body)

    def _usable(
        self,
        relay: RelayEntry,
        parsed: _BidResponse,
        value_wei: int,
        parent_hash: str,
        body: dict[str, Any],
    ) -> _Bid | None:
        message = parsed.data.message
        header = message.header
        if not is_hex_bytes(header.block_hash, 32) or header.block_hash == ZERO_HASH:
            return None
        if relay.pubkey is not None and message.pubkey.lower() != relay.pubkey:
            log.error("relay %s bid pubkey mismatch: %s", relay, message.pubkey)
            return None
        if header.parent_hash.lower() != parent_hash.lower():
            log.error("relay %s bid on parent %s", relay, header.parent_hash)
            return None
        if value_wei == 0 or header.transactions_root == EMPTY_TXS_ROOT:
            log.warning("relay %s: ignoring bid with 0 value", relay)
            return None
        if value_wei < self.min_bid_wei:
            log.info("relay %s: bid %d wei below min bid", relay, value_wei)
            return None
        return _Bid(relay, value_wei, header.block_hash.lower(), parsed.version, body)

    def _remember(self, slot: int, block_hash: str, relays: list[RelayEntry]) -> None:
        now_s = time.monotonic()
        for key, (at_s, _) in list(self._bids.items()):
            if now_s - at_s > BID_MEMORY_S:
                del self._bids[key]
        self._bids[(slot, block_hash)] = (now_s, relays)

    async def payload(
        self, slot: int, block_hash: str, body: bytes, user_agent: str
    ) -> dict[str, Any] | None:
        """The first relay's payload whose block hash matches, or None.

        Asks the relays that delivered the bid, or all when none is known.
        """
        known = self._bids.get((slot, block_hash.lower()))
        relays = known[1] if known else self.relays
        if not known:
            log.warning(
                "no bid known for slot %d %s, asking all relays", slot, block_hash
            )
        calls = [
            asyncio.create_task(self._payload_from(r, block_hash, body, user_agent))
            for r in relays
        ]
        try:
            for finished in asyncio.as_completed(calls):
                found = await finished
                if found is not None:
                    return found
            return None
        finally:
            for task in calls:
                task.cancel()

    async def _payload_from(
        self, relay: RelayEntry, block_hash: str, body: bytes, ua: str
    ) -> dict[str, Any] | None:
        path = "/eth/v1/builder/blinded_blocks"
        try:
            response = await self._request(
                relay,
                "POST",
                path,
                self.timeouts.get_payload_s,
                body=body,
                user_agent=ua,
            )
            answer = response.json() if response.status_code == 200 else None
        except Exception as exc:  # whatever the HTTP stack raises: a failed call
            log.error("relay %s getPayload failed: %s", relay, _why(exc))
            return None
        if answer is None:
            log.error("relay %s getPayload answered %d", relay, response.status_code)
            return None
        if _payload_block_hash(answer) != block_hash.lower():
            log.error("relay %s payload block hash does not match the request", relay)
            return None
        log.info("received payload from relay %s", relay)
        found: dict[str, Any] = answer
        return found


def _why(exc: BaseException) -> str:
    """A short reason for a failed relay call.

    Calls catch every Exception: besides httpx's own errors, the HTTP stack can
    raise others (an AttributeError in httpcore was seen) when a peer vanishes.
    """
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "timeout"
    return f"{type(exc).__name__}: {exc}"


class BoostHttp:
    """The HTTP face of Boost: one method a route."""

    def __init__(self, boost: Boost) -> None:
        self.boost = boost

    async def root(self, _: Request) -> Response:
        """GET /: {}."""
        return JSONResponse({})

    async def status(self, _: Request) -> Response:
        """GET /eth/v1/builder/status: {}, or 503 when relay-check finds no relay."""
        if self.boost.relay_check and await self.boost.relays_ok() == 0:
            return _error(503, "all relays are unavailable")
        return JSONResponse({})

    async def validators(self, request: Request) -> Response:
        """POST /eth/v1/builder/validators: 200 {} when any relay accepts."""
        body = await request.body()
        try:
            entries = json.loads(body)
            if not isinstance(entries, list):
                raise ValueError("expected a JSON array of signed registrations")
            for entry in entries:
                SignedRegistration.model_validate(entry)
        except (ValueError, ValidationError) as exc:
            return _error(400, str(exc).splitlines()[0])
        ua = request.headers.get("user-agent", "")
        if await self.boost.register(body, ua):
            return JSONResponse({})
        return _error(502, "no successful relay response")

    async def header(self, request: Request) -> Response:
        """GET /eth/v1/builder/header/{slot}/{parent_hash}/{pubkey}: best bid or 204."""
        slot = request.path_params["slot"]
        parent_hash = request.path_params["parent_hash"]
        pubkey = request.path_params["pubkey"]
        if not slot.isdigit() or int(slot) >= 2**64:
            return _error(400, "invalid slot")
        if len(pubkey) != 98:
            return _error(400, "invalid pubkey")
        if len(parent_hash) != 66:
            return _error(400, "invalid hash")
        ua = request.headers.get("user-agent", "")
        bid = await self.boost.best_bid(int(slot), parent_hash, pubkey, ua)
        if bid is None:
            log.info("no bid received for slot %s", slot)
            return Response(status_code=204)
        log.info(
            "best bid slot %s value %d wei from %s", slot, bid.value_wei, bid.relay
        )
        return JSONResponse(bid.body, headers={"Eth-Consensus-Version": bid.version})

    async def blinded_blocks(self, request: Request) -> Response:
        """POST /eth/v1/builder/blinded_blocks: the payload, 400, or 502."""
        body = await request.body()
        try:
            decoded = json.loads(body)
        except ValueError as exc:
            return _error(400, str(exc))
        try:
            block = _SignedBlindedBlock.model_validate(decoded)
        except ValidationError:
            return _error(400, "missing parts of the payload")
        block_hash = block.message.body.execution_payload_header.block_hash
        slot = block.message.slot
        if not slot.isdigit() or not is_hex_bytes(block_hash, 32):
            return _error(400, "invalid slot or block hash")
        if not is_hex_bytes(block.signature, 96):
            return _error(400, "invalid signature")
        ua = request.headers.get("user-agent", "")
        found = await self.boost.payload(int(slot), block_hash, body, ua)
        if found is None:
            log.error("no payload received from any relay for %s", block_hash)
            return _error(502, "no successful relay response")
        return JSONResponse(found)


class VersionHeader:
    """ASGI middleware that adds X-MEVBoost-Version to every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the call through, stamping the version on the response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-mevboost-version", VERSION.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, stamped)


def build_app(boost: Boost) -> ASGIApp:
    """mev-boost's ASGI app; the shared relay client lives as long as the app."""
    h = BoostHttp(boost)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        async with httpx.AsyncClient(limits=limits, trust_env=False) as client:
            boost.client = client
            yield
            boost.client = None

    routes = [
        Route("/", h.root),
        Route("/eth/v1/builder/status", h.status, methods=["GET"]),
        Route("/eth/v1/builder/validators", h.validators, methods=["POST"]),
        Route(
            "/eth/v1/builder/header/{slot}/{parent_hash}/{pubkey}",
            h.header,
            methods=["GET"],
        ),
        Route("/eth/v1/builder/blinded_blocks", h.blinded_blocks, methods=["POST"]),
    ]
    return VersionHeader(Starlette(routes=routes, lifespan=lifespan))


def main(argv: list[str] | None = None) -> None:
    """Run the mev-boost stand-in until SIGTERM or SIGINT."""
    parser = base_parser("mev_boost", "Stand-in mev-boost (builder API).", 18550)
    parser.add_argument(
        "--relays",
        required=True,
        help="comma-separated relay URLs, optionally http://0xPUBKEY@host:port",
    )
    parser.add_argument(
        "--relay-check",
        action="store_true",
        help="status answers 503 unless some relay's status answers 200",
    )
    for flag, default_ms, call in (
        ("--timeout-getheader-ms", 950, "getHeader"),
        ("--timeout-getpayload-ms", 4000, "getPayload"),
        ("--timeout-regval-ms", 3000, "registerValidator"),
    ):
        parser.add_argument(
            flag,
            type=_positive_ms,
            default=default_ms,
            help=f"{call} timeout per relay, ms (default: %(default)s)",
        )
    parser.add_argument(
        "--min-bid-eth",
        default="0",
        help="ignore bids below this many ETH (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        relays = parse_relays(args.relays)
    except ValueError as exc:
        parser.error(f"--relays: {exc}")
    try:
        min_bid_wei = parse_min_bid_wei(args.min_bid_eth)
    except ValueError as exc:
        parser.error(f"--min-bid-eth: {exc}")
    timeouts = Timeouts(
        args.timeout_getheader_ms / 1000,
        args.timeout_getpayload_ms / 1000,
        args.timeout_regval_ms / 1000,
    )
    boost = Boost(relays, timeouts, args.relay_check, min_bid_wei)
    configure_logging(args.log_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # no line per request
    log.info(
        "mev-boost on %s:%d with %d relays (relay check %s, min bid %d wei)",
        args.host,
        args.port,
        len(relays),
        "on" if args.relay_check else "off",
        min_bid_wei,
    )
    serve(build_app(boost), args.host, args.port, args.log_level)


def _positive_ms(text: str) -> int:
    """An argparse type: a whole number of milliseconds above zero."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected milliseconds > 0, got {text!r}")
    return value


if __name__ == "__main__":
    # Run the imported module, so that loggers carry its real name.
    from harness.standins.mev_boost import main as run

    run()
