"""Stand-in mev-artemis: follows chain heads, writes opportunities, submits bundles.

A worker with no clients. For every new head of every chain it detects zero to
two opportunities, records each in Postgres, submits its bundle to a relay and
records the outcome; later it asks the relay's bundle stats whether the bundle
landed. Chains, the database and relays may fail at any time: the engine warns
once per outage, counts errors, retries with a short bounded backoff and resumes
by itself. A small HTTP server on --control-port reports state and can pause the
engine (to model a hung process that still holds its port).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.errors import UnknownService
from harness.stack import Chain, chain
from harness.standins._serve import configure_logging, serve
from harness.standins.artemis_opportunities import Opportunity, detect

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

RPC_TIMEOUT_S = 1.0
"""Deadline of one eth_blockNumber call."""

DB_TIMEOUT_S = 2.0
"""Deadline of one database connect or statement."""

RELAY_TIMEOUT_S = 2.0
"""Deadline of one call to a relay."""

BACKOFF_MAX_S = 2.0
"""Longest wait before retrying something that failed."""

STATS_GIVE_UP_BLOCKS = 5
"""A bundle whose outcome is still unknown this many blocks after its target expires."""

MAX_PENDING = 1000
"""Most submitted bundles awaiting their outcome, per chain; the oldest go first."""

INSERT_SQL = """
INSERT INTO opportunities (chain_id, chain, strategy, block_number, target_block,
                           expected_profit_wei, gas_estimate, net_profit_wei, status)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'detected')
RETURNING id
"""

UPDATE_SQL = """
UPDATE opportunities
SET status = %s, bundle_hash = COALESCE(%s, bundle_hash),
    relay = COALESCE(%s, relay), rejection_reason = %s
WHERE id = %s
"""


class Unavailable(Exception):
    """A dependency is down or failed this call; the reason is the message."""


@dataclass
class Health:
    """One dependency's health: warns once when it goes down, says when it is back.

    Consecutive failures set a retry time that doubles from `base_s` up to
    BACKOFF_MAX_S.
    """

    what: str
    base_s: float = 0.25
    ok: bool = False
    down_since: float | None = None
    failures: int = 0
    retry_at: float = 0.0
    reason: str = ""

    def succeeded(self) -> None:
        """Record a success; logs the recovery when it ends an outage."""
        if self.down_since is not None:
            log.info(
                "%s is back after %.1f s", self.what, time.monotonic() - self.down_since
            )
        self.ok = True
        self.down_since = None
        self.failures = 0
        self.retry_at = 0.0

    def failed(self, reason: str) -> None:
        """Record a failure; logs a WARNING only when an outage begins."""
        now = time.monotonic()
        if self.down_since is None:
            log.warning("%s is unavailable: %s", self.what, reason)
            self.down_since = now
        self.ok = False
        self.reason = reason
        self.failures += 1
        self.retry_at = now + self.backoff_s()

    def backoff_s(self) -> float:
        """The wait before the next attempt: doubling, at most BACKOFF_MAX_S."""
        if self.failures == 0:
            return 0.0
        return min(BACKOFF_MAX_S, self.base_s * 2.0 ** min(self.failures - 1, 8))

    def may_try(self) -> bool:
        """Whether the backoff since the last failure has passed."""
        return time.monotonic() >= self.retry_at


@dataclass
class Counters:
    """What the engine has done since it started."""

    opportunities_detected: int = 0
    opportunities_written: int = 0
    bundles_submitted: int = 0
    bundles_included: int = 0
    bundles_rejected: int = 0
    bundles_failed: int = 0
    errors: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class RelayTarget:
    """A relay bundles go to; `name` is what the `relay` column records."""

    name: str
    url: str


def parse_rpcs(text: str) -> list[tuple[Chain, str]]:
    """`--rpc` as `chain=URL,...`; ValueError naming the first bad entry."""
    found = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        name, sep, url = entry.partition("=")
        if not sep or not url.startswith(("http://", "https://")):
            raise ValueError(f"{entry!r} is not chain=http://host:port")
        try:
            found.append((chain(name.strip()), url.strip()))
        except UnknownService as exc:
            raise ValueError(exc.line()) from None
    if not found:
        raise ValueError("no chains given")
    return found


def parse_relays(text: str) -> list[RelayTarget]:
    """`--relays` as `URL` or `name=URL`, comma-separated.

    An unnamed relay is recorded under its host:port.
    """
    found = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        name, sep, url = entry.partition("=")
        if not sep:
            name, url = "", entry
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{entry!r} is not [name=]http://host:port")
        found.append(RelayTarget(name.strip() or parts.netloc, url.rstrip("/")))
    if not found:
        raise ValueError("no relays given")
    return found


@dataclass
class Pending:
    """A bundle a relay accepted, awaiting its outcome from the relay's stats."""

    opportunity: Opportunity
    relay: RelayTarget
    bundle_hash: str


@dataclass
class ChainFollower:
    """One chain's head as the engine last saw it."""

    chain: Chain
    url: str
    health: Health
    rng: random.Random
    head: int | None = None
    last_head_at: float | None = None
    pending: list[Pending] = field(default_factory=list)


class Database:
    """One Postgres connection, opened on demand and dropped when it fails."""

    def __init__(self, url: str, health: Health) -> None:
        self.url = url
        self.health = health
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()

    async def fetch_one(
        self, sql: str, params: tuple[Any, ...]
    ) -> tuple[Any, ...] | None:
        """Run one statement; its first row, if any. Raises Unavailable."""
        async with self._lock:
            if self._conn is None and not self.health.may_try():
                raise Unavailable(f"database: {self.health.reason} (retry pending)")
            try:
                async with asyncio.timeout(DB_TIMEOUT_S):
                    conn = await self._connection()
                    cursor = await conn.execute(sql, params)
                    row = await cursor.fetchone() if cursor.description else None
            except Exception as exc:
                reason = _describe(exc)
                await self._drop_if_broken(exc)
                self.health.failed(reason)
                raise Unavailable(f"database: {reason}") from None
            self.health.succeeded()
            return row

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            import psycopg

            self._conn = await psycopg.AsyncConnection.connect(
                self.url,
                autocommit=True,
                connect_timeout=max(1, int(DB_TIMEOUT_S)),
                application_name="mev-artemis",
                options=f"-c statement_timeout={int(DB_TIMEOUT_S * 1000)}",
            )
        return self._conn

    async def _drop_if_broken(self, exc: BaseException) -> None:
        """Close the connection unless the error left it usable (a SQL error)."""
        import psycopg

        conn = self._conn
        usable = (
            conn is not None
            and not conn.closed
            and isinstance(exc, psycopg.Error)
            and not isinstance(exc, psycopg.OperationalError)
        )
        if usable or conn is None:
            return
        self._conn = None
        with contextlib.suppress(Exception):
            async with asyncio.timeout(DB_TIMEOUT_S):
                await conn.close()

    async def close(self) -> None:
        """Close the connection, if open."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None


def _describe(exc: BaseException) -> str:
    """A one-line reason for a failed call.

    Calls catch every Exception: besides httpx's own errors, the HTTP stack can
    raise others (an AttributeError in httpcore was seen) when a peer vanishes.
    """
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "timed out"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class Engine:
    """Follows heads, detects opportunities, records them and submits bundles.

    `poll_s` is the eth_blockNumber interval per chain; `seed` fixes what is
    detected for a given block sequence.
    """

    def __init__(
        self,
        chains: list[tuple[Chain, str]],
        database_url: str,
        relays: list[RelayTarget],
        *,
        poll_s: float = 0.25,
        seed: int = 0,
    ) -> None:
        self.poll_s = poll_s
        self.followers = [
            ChainFollower(
                c,
                url,
                Health(f"chain {c.name} ({url})", poll_s),
                random.Random(f"{seed}:{c.name}"),
            )
            for c, url in chains
        ]
        self.db = Database(database_url, Health("database"))
        self.relays = relays
        self.relay_health = {
            r.name: Health(f"relay {r.name} ({r.url})") for r in relays
        }
        self.counters = Counters()
        self.paused = False
        self._next_relay = 0
        self._new_heads: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._client: httpx.AsyncClient | None = None

    # Running

    async def run(self) -> None:
        """Run until cancelled."""
        async with httpx.AsyncClient(trust_env=False) as client:
            self._client = client
            try:
                with contextlib.suppress(Unavailable):
                    await self.db.fetch_one("SELECT 1", ())
                async with asyncio.TaskGroup() as tasks:
                    for follower in self.followers:
                        tasks.create_task(self._supervised(self._follow, follower))
                    tasks.create_task(self._supervised(self._produce))
            finally:
                await self.db.close()
                self._client = None

    async def _supervised(
        self, loop: Callable[..., Awaitable[None]], *args: Any
    ) -> None:
        """Run `loop` forever: a bug in one pass is logged, not fatal to the engine."""
        while True:
            try:
                await loop(*args)
            except Exception as exc:
                log.exception("engine loop %s failed; restarting it", loop.__name__)
                self._error(f"internal: {_describe(exc)}")
                await asyncio.sleep(BACKOFF_MAX_S)

    def _error(self, reason: str) -> None:
        self.counters.errors += 1
        self.counters.last_error = reason
        log.debug("error: %s", reason)

    async def _rpc(self, url: str, method: str, params: list[Any]) -> Any:
        """One JSON-RPC call; its result, or Unavailable."""
        assert self._client is not None
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        try:
            async with asyncio.timeout(RPC_TIMEOUT_S):
                response = await self._client.post(
                    url, json=body, timeout=RPC_TIMEOUT_S
                )
            answer = response.json()
        except Exception as exc:  # whatever the HTTP stack raises: a failed call
            raise Unavailable(_describe(exc)) from None
        if not isinstance(answer, dict):
            raise Unavailable(f"HTTP {response.status_code}: not a JSON-RPC answer")
        if "error" in answer:
            raise Unavailable(f"{method}: {answer['error']}")
        return answer.get("result")

    async def _follow(self, follower: ChainFollower) -> None:
        """Poll one chain's head forever, backing off while it fails."""
        checked_chain_id = False
        while True:
            if self.paused:
                await asyncio.sleep(self.poll_s)
                continue
            try:
                if not checked_chain_id:
                    await self._check_chain_id(follower)
                    checked_chain_id = True
                head = int(await self._rpc(follower.url, "eth_blockNumber", []), 16)
            except (Unavailable, TypeError, ValueError) as exc:
                checked_chain_id = False
                follower.health.failed(str(exc))
                self._error(f"chain {follower.chain.name}: {exc}")
                await asyncio.sleep(follower.health.backoff_s())
                continue
            follower.health.succeeded()
            if head != follower.head:
                if follower.head is not None and head < follower.head:
                    log.warning(
                        "chain %s head went back from %d to %d",
                        follower.chain.name,
                        follower.head,
                        head,
                    )
                follower.head = head
                follower.last_head_at = time.time()
                self._new_heads[follower.chain.name] = head
                self._wake.set()
            await asyncio.sleep(self.poll_s)

    async def _check_chain_id(self, follower: ChainFollower) -> None:
        answer = await self._rpc(follower.url, "eth_chainId", [])
        if not isinstance(answer, str) or int(answer, 16) != follower.chain.chain_id:
            raise Unavailable(
                f"eth_chainId is {answer!r}, expected {hex(follower.chain.chain_id)}"
            )

    async def _produce(self) -> None:
        """Handle new heads as they come; only the latest head of each chain."""
        by_name = {f.chain.name: f for f in self.followers}
        while True:
            await self._wake.wait()
            self._wake.clear()
            heads, self._new_heads = self._new_heads, {}
            for name, head in heads.items():
                if self.paused:
                    break
                await self._on_block(by_name[name], head)

    async def _on_block(self, follower: ChainFollower, head: int) -> None:
        await self._settle(follower, head)
        for opportunity in detect(follower.rng, follower.chain, head):
            self.counters.opportunities_detected += 1
            await self._record(opportunity)
            await self._submit(follower, opportunity)

    # Opportunities and bundles

    async def _record(self, opp: Opportunity) -> None:
        params = (
            opp.chain.chain_id,
            opp.chain.name,
            opp.strategy,
            opp.block_number,
            opp.target_block,
            opp.expected_profit_wei,
            opp.gas_estimate,
            opp.net_profit_wei,
        )
        try:
            row = await self.db.fetch_one(INSERT_SQL, params)
        except Unavailable as exc:
            self._error(str(exc))
            return
        opp.row_id = int(row[0]) if row else None
        self.counters.opportunities_written += 1

    async def _set_status(
        self,
        opp: Opportunity,
        status: str,
        *,
        bundle_hash: str | None = None,
        relay: str | None = None,
        reason: str | None = None,
    ) -> None:
        if opp.row_id is None:
            return
        try:
            await self.db.fetch_one(
                UPDATE_SQL, (status, bundle_hash, relay, reason, opp.row_id)
            )
        except Unavailable as exc:
            self._error(str(exc))

    def _relay_order(self) -> list[RelayTarget]:
        """Relays in round-robin order, those backing off after a failure left out."""
        start = self._next_relay % len(self.relays)
        self._next_relay += 1
        ordered = self.relays[start:] + self.relays[:start]
        return [r for r in ordered if self.relay_health[r.name].may_try()]

    async def _relay_call(self, relay: RelayTarget, method: str, params: Any) -> Any:
        """One JSON-RPC call to a relay: the answer object, or Unavailable."""
        assert self._client is not None
        health = self.relay_health[relay.name]
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        try:
            async with asyncio.timeout(RELAY_TIMEOUT_S):
                response = await self._client.post(
                    relay.url, json=body, timeout=RELAY_TIMEOUT_S
                )
            answer = response.json()
            if not isinstance(answer, dict):
                raise ValueError(f"HTTP {response.status_code}: not a JSON-RPC answer")
        except Exception as exc:  # whatever the HTTP stack raises: a failed call
            reason = _describe(exc)
            health.failed(reason)
            self._error(f"relay {relay.name}: {reason}")
            raise Unavailable(reason) from None
        health.succeeded()
        return answer

    async def _submit(self, follower: ChainFollower, opp: Opportunity) -> None:
        """Send the bundle to the first relay that answers; record the answer."""
        bundle = {"txs": opp.txs, "blockNumber": hex(opp.target_block)}
        for relay in self._relay_order():
            try:
                answer = await self._relay_call(relay, "eth_sendBundle", [bundle])
            except Unavailable:
                continue
            self.counters.bundles_submitted += 1
            result = answer.get("result")
            if isinstance(result, dict) and isinstance(result.get("bundleHash"), str):
                bundle_hash = result["bundleHash"]
                await self._set_status(
                    opp, "submitted", bundle_hash=bundle_hash, relay=relay.name
                )
                follower.pending.append(Pending(opp, relay, bundle_hash))
                del follower.pending[:-MAX_PENDING]
                return
            error = answer.get("error")
            reason = error.get("message") if isinstance(error, dict) else str(answer)
            self.counters.bundles_rejected += 1
            await self._set_status(
                opp, "rejected", relay=relay.name, reason=str(reason)
            )
            return
        self.counters.bundles_failed += 1
        causes = "; ".join(f"{n}: {h.reason}" for n, h in self.relay_health.items())
        reason = f"no relay reachable ({causes})"
        self._error(reason)
        await self._set_status(opp, "failed", reason=reason)

    async def _settle(self, follower: ChainFollower, head: int) -> None:
        """Ask the relays how bundles whose target block has come fared."""
        still = []
        for p in follower.pending:
            target = p.opportunity.target_block
            if target > head:
                still.append(p)
            elif await self._settle_one(p):
                continue
            elif head > target + STATS_GIVE_UP_BLOCKS:
                reason = "outcome unknown: relay unreachable"
                await self._set_status(p.opportunity, "expired", reason=reason)
            else:
                still.append(p)
        follower.pending = still

    async def _settle_one(self, p: Pending) -> bool:
        """Record one bundle's outcome; False when the relay could not say."""
        query = {
            "bundleHash": p.bundle_hash,
            "blockNumber": hex(p.opportunity.target_block),
        }
        if not self.relay_health[p.relay.name].may_try():
            return False
        try:
            answer = await self._relay_call(
                p.relay, "flashbots_getBundleStatsV2", [query]
            )
        except Unavailable:
            return False
        stats = answer.get("result")
        if not isinstance(stats, dict):
            await self._set_status(
                p.opportunity,
                "expired",
                reason=f"relay has no stats: {answer.get('error')}",
            )
            return True
        if stats.get("sealedByBuildersAt"):
            self.counters.bundles_included += 1
            await self._set_status(p.opportunity, "included")
        else:
            self.counters.bundles_rejected += 1
            await self._set_status(
                p.opportunity, "rejected", reason="not sealed by any builder"
            )
        return True

    # Control

    def state(self) -> dict[str, Any]:
        """The engine's state for GET /_standin/state."""
        c = self.counters
        return {
            "chains": {
                f.chain.name: {
                    "head": f.head,
                    "last_head_at": f.last_head_at,
                    "ok": f.health.ok,
                }
                for f in self.followers
            },
            "database_ok": self.db.health.ok,
            "relays": {
                r.name: {"ok": self.relay_health[r.name].ok} for r in self.relays
            },
            "paused": self.paused,
            "opportunities_detected": c.opportunities_detected,
            "opportunities_written": c.opportunities_written,
            "bundles_submitted": c.bundles_submitted,
            "bundles_included": c.bundles_included,
            "bundles_rejected": c.bundles_rejected,
            "bundles_failed": c.bundles_failed,
            "errors": c.errors,
            "last_error": c.last_error,
        }


class PauseBody(BaseModel):
    """Body of POST /_standin/pause."""

    model_config = ConfigDict(extra="forbid")

    paused: bool


def build_app(engine: Engine) -> Starlette:
    """The control server's ASGI app; the engine runs as long as the app."""

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(engine.run(), name="artemis-engine")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def state(_: Request) -> Response:
        return JSONResponse(engine.state())

    async def pause(request: Request) -> Response:
        try:
            body = PauseBody.model_validate_json(await request.body())
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"]
            return JSONResponse(
                {"code": 400, "message": f'expected {{"paused": bool}}: {reason}'},
                status_code=400,
            )
        if body.paused != engine.paused:
            log.warning("engine %s", "paused" if body.paused else "resumed")
        engine.paused = body.paused
        return JSONResponse(engine.state())

    routes = [
        Route("/_standin/state", state, methods=["GET"]),
        Route("/_standin/pause", pause, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def main(argv: list[str] | None = None) -> None:
    """Run the strategy engine stand-in until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(
        prog="python -m harness.standins.artemis",
        description="Stand-in mev-artemis strategy engine (a worker).",
    )
    parser.add_argument(
        "--rpc",
        required=True,
        help="chain=URL,... (e.g. ethereum=http://127.0.0.1:8545)",
    )
    parser.add_argument(
        "--database-url", required=True, help="postgresql://user:password@host:port/db"
    )
    parser.add_argument(
        "--relays", required=True, help="relay URLs, each optionally name=URL"
    )
    parser.add_argument(
        "--control-port",
        type=int,
        required=True,
        help="port of the control/status HTTP server",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address the control server binds (default: %(default)s)",
    )
    parser.add_argument(
        "--poll-ms",
        type=int,
        default=250,
        help="head polling interval per chain, ms (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="RNG seed (default: %(default)s)"
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log level (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.poll_ms <= 0:
        parser.error(f"--poll-ms must be above 0, got {args.poll_ms}")
    try:
        chains = parse_rpcs(args.rpc)
    except ValueError as exc:
        parser.error(f"--rpc: {exc}")
    try:
        relays = parse_relays(args.relays)
    except ValueError as exc:
        parser.error(f"--relays: {exc}")

    engine = Engine(
        chains, args.database_url, relays, poll_s=args.poll_ms / 1000, seed=args.seed
    )
    configure_logging(args.log_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # no line per request
    log.info(
        "mev-artemis following %s; %d relays; control on %s:%d",
        ", ".join(c.name for c, _ in chains),
        len(relays),
        args.host,
        args.control_port,
    )
    serve(build_app(engine), args.host, args.control_port, args.log_level)


if __name__ == "__main__":
    # Run the imported module, so that loggers carry its real name.
    from harness.standins.artemis import main as run

    run()
