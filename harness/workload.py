"""The drill's workload: searcher-like clients using the stack while it breaks.

Each searcher, every `interval_ms`, reads a chain head over JSON-RPC, then
either reads the MEV API's newest opportunities or sends a small bundle to a
relay, then (with `writes`) inserts one row into `drill_writes`. Every request
becomes a `WorkloadSample`; a failure is a sample, never an exception. Each
request is bounded (about one second), so a broken stack slows nothing down.

A write is acknowledged when its INSERT's commit has returned (autocommit).
After recovery `check_writes` reads every acknowledged write back: what is
missing was lost, and the RPO follows from when the lost writes were
acknowledged.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import httpx
from pydantic import BaseModel, ConfigDict, Field

from harness.context import DrillContext
from harness.probes.guard import describe
from harness.probes.http import new_client, parse_quantity, rpc_call
from harness.probes.sql import BoundedSession, QueryFailed
from harness.result import WorkloadSample
from harness.runtime.endpoints import Endpoints
from harness.timeline import Timeline

log = logging.getLogger(__name__)

APPLICATION_NAME = "drill-workload"
"""How the workload's database sessions show up in pg_stat_activity."""

REQUEST_TIMEOUT_S = 1.0
"""Bounds connect and read of every request, and every write."""

STOP_TIMEOUT_S = 3.0
"""How long `stop` waits for the searchers, by default."""

READBACK_TIMEOUT_S = 10.0
"""How long `check_writes` keeps trying to read the writes back, by default."""


class WorkloadSpec(BaseModel):
    """How much load: `searchers` clients (2), one round each `interval_ms` (250).

    With `writes` (default true) every round also inserts one row, so that
    lost writes can be found after recovery.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    searchers: int = Field(default=2, ge=0, le=64)
    interval_ms: int = Field(default=250, ge=10, le=60_000)
    writes: bool = True


class AckedWrite(NamedTuple):
    """A write whose commit returned: when (timeline seconds), by whom, which."""

    t_s: float
    client: str
    seq: int


@dataclass(frozen=True)
class WriteCheck:
    """Acknowledged writes read back after recovery.

    `acked`: how many writes were acknowledged; `lost`: those not found, in
    acknowledgement order; `rpo_s`: see `Workload.check_writes`. `error` says
    why the writes could not be read back at all (then all count as lost).
    """

    acked: int
    lost: list[AckedWrite] = field(default_factory=list)
    rpo_s: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        """Every acknowledged write was read back."""
        return not self.error and not self.lost


def rpo_s(lost: list[AckedWrite], resolution_s: float) -> float:
    """The span of time whose acknowledged writes were lost; 0 when none was.

    From the acknowledgement of the earliest lost write to that of the latest,
    plus one write interval (`resolution_s`): a single lost write is one
    interval's worth of data. Writes lost before and after the fault both
    count: a restore from a backup loses both.
    """
    if not lost:
        return 0.0
    times = [w.t_s for w in lost]
    return max(times) - min(times) + resolution_s


class Workload:
    """Searcher threads running against the stack, and what they saw.

    `start` launches them, `stop` ends them (bounded); both are safe to call
    twice. Thread-safe: samples and acknowledged writes are read as copies.
    """

    def __init__(self, spec: WorkloadSpec, ctx: DrillContext, timeline: Timeline):
        self.spec = spec
        self.ctx = ctx
        self.timeline = timeline
        self._lock = threading.Lock()
        self._samples: list[WorkloadSample] = []
        self._acked: list[AckedWrite] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # Unique per run, so that two drills on one database never collide.
        run = secrets.token_hex(3)
        self.clients = [f"searcher-{i + 1}-{run}" for i in range(spec.searchers)]
        self._seeds = [ctx.rng.getrandbits(64) for _ in self.clients]

    def start(self) -> None:
        """Launch the searchers; returns at once."""
        if self._threads:
            return
        endpoints = self.ctx.endpoints
        for client, seed in zip(self.clients, self._seeds, strict=True):
            searcher = _Searcher(
                self, client, random.Random(seed), endpoints, self._stop
            )
            thread = threading.Thread(target=searcher.run, name=client, daemon=True)
            self._threads.append(thread)
            thread.start()
        log.info(
            "workload started: %d searchers every %d ms, writes %s",
            len(self.clients),
            self.spec.interval_ms,
            "on" if self.spec.writes else "off",
        )

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop the searchers; wait at most `timeout_s` seconds for them in all.

        A searcher finishes the request it is in (at most REQUEST_TIMEOUT_S)
        and then stops.
        """
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [t.name for t in self._threads if t.is_alive()]
        if stuck:
            log.warning("workload: %s still running after %.1f s", stuck, timeout_s)
        with self._lock:
            total, failed = len(self._samples), sum(not s.ok for s in self._samples)
        if self._threads:
            log.info("workload stopped: %d requests, %d failed", total, failed)

    def samples(self) -> list[WorkloadSample]:
        """Every request so far, in the order they finished."""
        with self._lock:
            return list(self._samples)

    def acked_writes(self) -> list[AckedWrite]:
        """Every acknowledged write so far, in acknowledgement order."""
        with self._lock:
            return list(self._acked)

    def success_rate(self, start_s: float, end_s: float) -> float | None:
        """The share of requests started in [start_s, end_s) that worked.

        None when no request started in the window.
        """
        window = [s.ok for s in self.samples() if start_s <= s.t_s < end_s]
        if not window:
            return None
        return sum(window) / len(window)

    def check_writes(
        self, t0_s: float, *, timeout_s: float = READBACK_TIMEOUT_S
    ) -> WriteCheck:
        """Read every acknowledged write back (one query) and report the lost.

        RPO: see `rpo_s` (`t0_s` marks the fault in the log line only).
        Writes acknowledged after this call starts are not
        checked. The read is retried for up to `timeout_s` seconds while the
        database does not answer; if it never does, `error` says why and every
        acknowledged write counts as lost: none is known to be kept.
        """
        acked = self.acked_writes()
        if not acked:
            return WriteCheck(acked=0)
        try:
            found = self._read_back(timeout_s)
        except QueryFailed as exc:
            # Nothing is known kept: fail safe, every write counts as lost.
            return WriteCheck(
                acked=len(acked),
                lost=acked,
                rpo_s=rpo_s(acked, self._interval_s()),
                error=f"could not read drill_writes back: {exc}",
            )
        lost = [w for w in acked if (w.client, w.seq) not in found]
        if lost:
            log.warning(
                "%d of %d acknowledged writes lost (fault at %.2fs)",
                len(lost),
                len(acked),
                t0_s,
            )
        return WriteCheck(
            acked=len(acked), lost=lost, rpo_s=rpo_s(lost, self._interval_s())
        )

    def _interval_s(self) -> float:
        return self.spec.interval_ms / 1000.0

    def _read_back(self, timeout_s: float) -> set[tuple[str, int]]:
        session = BoundedSession(self.ctx, application_name=APPLICATION_NAME)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                left_s = deadline - time.monotonic()
                try:
                    rows = session.fetch(
                        "SELECT client, seq FROM drill_writes WHERE client = ANY(%s)",
                        (self.clients,),
                        timeout_s=max(1.0, min(5.0, left_s)),
                    )
                    return {(str(client), int(seq)) for client, seq in rows}
                except QueryFailed:
                    if time.monotonic() + 0.2 >= deadline:
                        raise
                time.sleep(0.2)
        finally:
            session.close()

    # For the searchers.

    def _record(self, sample: WorkloadSample, ack: AckedWrite | None = None) -> None:
        with self._lock:
            self._samples.append(sample)
            if ack is not None:
                self._acked.append(ack)


class _Searcher:
    """One client's loop: a round of requests every interval until stopped."""

    def __init__(
        self,
        workload: Workload,
        name: str,
        rng: random.Random,
        endpoints: Endpoints,
        stop: threading.Event,
    ) -> None:
        self.workload = workload
        self.stop = stop
        self.name = name
        self.rng = rng
        self.endpoints = endpoints
        self.http = new_client(REQUEST_TIMEOUT_S)
        self.db = (
            BoundedSession(workload.ctx, application_name=APPLICATION_NAME)
            if workload.spec.writes
            else None
        )
        self.seq = 0
        self.head = 0

    def run(self) -> None:
        """Run rounds at a fixed rate (skipping missed ones) until stopped."""
        stop = self.stop
        interval_s = self.workload.spec.interval_ms / 1000
        next_s = time.monotonic()
        try:
            while not stop.is_set():
                self.round()
                next_s += interval_s
                now = time.monotonic()
                next_s = max(next_s, now)
                stop.wait(next_s - now)
        finally:
            self.http.close()
            if self.db is not None:
                self.db.close()

    def round(self) -> None:
        """One round; stops between requests as soon as the workload stops."""
        stop = self.stop
        steps: list[Callable[[], None]] = [
            self.block_number,
            self.opportunities if self.rng.random() < 0.5 else self.send_bundle,
        ]
        if self.db is not None:
            steps.append(self.write)
        for step in steps:
            if stop.is_set():
                return
            step()

    def _timed(
        self, op: str, call: Callable[[], str], *, about: str = ""
    ) -> WorkloadSample:
        """Run one request; its sample, with `about` leading the detail."""
        t_s = self.workload.timeline.now()
        started = time.perf_counter()
        try:
            detail, ok = call(), True
        except Exception as exc:  # a failed request is a sample
            detail, ok = describe(exc), False
        if about:
            detail = f"{about}: {detail}"
        return WorkloadSample(
            t_s=round(t_s, 4),
            client=self.name,
            op=op,
            ok=ok,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            detail=detail,
        )

    def block_number(self) -> None:
        """eth_blockNumber on a random chain."""
        chain = self.rng.choice(sorted(self.endpoints.rpc))

        def call() -> str:
            result = rpc_call(
                self.http,
                self.endpoints.rpc[chain],
                "eth_blockNumber",
                timeout_s=REQUEST_TIMEOUT_S,
            )
            head = parse_quantity(result)
            if chain == "ethereum":
                self.head = head
            return f"{chain} head {head}"

        self.workload._record(self._timed("eth_blockNumber", call))

    def opportunities(self) -> None:
        """GET /api/v1/opportunities?limit=5, anonymous (as loopback may read).

        No API key: the audit log keeps to operators and the attacker of a
        leaked-key fault, and a key rotation does not fail the workload.
        """

        def call() -> str:
            url = f"{self.endpoints.mev_api}/api/v1/opportunities"
            response = self.http.get(url, params={"limit": 5})
            _expect_200(response)
            return f"{response.json()['count']} opportunities"

        self.workload._record(self._timed("opportunities", call))

    def send_bundle(self) -> None:
        """eth_sendBundle of one or two signed-looking transactions to a relay."""
        relay = self.rng.choice(sorted(self.endpoints.relays))
        txs = [bundle_tx(self.rng) for _ in range(self.rng.randint(1, 2))]
        bundle = {"txs": txs, "blockNumber": hex(self.head + 1)}

        def call() -> str:
            result = rpc_call(
                self.http,
                self.endpoints.relays[relay],
                "eth_sendBundle",
                [bundle],
                timeout_s=REQUEST_TIMEOUT_S,
            )
            return f"{relay} {result['bundleHash']}"

        self.workload._record(self._timed("eth_sendBundle", call))

    def write(self) -> None:
        """INSERT one (client, seq) row; acknowledged once the commit returned."""
        assert self.db is not None
        db = self.db
        self.seq += 1
        seq = self.seq
        acked_at: list[float] = []

        def call() -> str:
            db.fetch(
                "INSERT INTO drill_writes (client, seq) VALUES (%s, %s)",
                (self.name, seq),
                timeout_s=REQUEST_TIMEOUT_S,
            )
            acked_at.append(self.workload.timeline.now())
            return "committed"

        sample = self._timed("write", call, about=f"seq {seq}")
        ack = AckedWrite(acked_at[0], self.name, seq) if acked_at else None
        self.workload._record(sample, ack)


def _expect_200(response: httpx.Response) -> None:
    if response.status_code != 200:
        raise RequestRefused(f"HTTP {response.status_code}: {response.text[:120]}")


class RequestRefused(Exception):
    """The service answered, but not with success."""


def _rlp_length(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes([offset + length])
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(size)]) + size


def _rlp_bytes(data: bytes) -> bytes:
    if len(data) == 1 and data[0] < 0x80:
        return data
    return _rlp_length(len(data), 0x80) + data


def _uint(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def bundle_tx(rng: random.Random, chain_id: int = 1) -> str:
    """A legacy EIP-155 transaction, RLP-encoded as signed, with random r and s.

    Shaped like a real one (a relay decodes it); it would not verify.
    """
    fields = [
        _uint(rng.randrange(1_000)),  # nonce
        _uint(rng.randrange(1, 200) * 10**9),  # gas price, wei
        _uint(21_000),  # gas limit
        rng.randbytes(20),  # to
        _uint(rng.randrange(10**15)),  # value, wei
        b"",  # data
        _uint(chain_id * 2 + 35 + rng.getrandbits(1)),  # v
        rng.randbytes(32),  # r
        rng.randbytes(32),  # s
    ]
    payload = b"".join(_rlp_bytes(f) for f in fields)
    return "0x" + (_rlp_length(len(payload), 0xC0) + payload).hex()
