"""Chain probes: the head advancing, erigon's /health, and RPC latency, per chain."""

from __future__ import annotations

import threading
import time
from functools import cached_property
from typing import Literal, TypeVar

import httpx
from pydantic import Field, field_validator

from harness.context import DrillContext
from harness.probes.base import ProbeResult, ProbeSpec, register
from harness.probes.guard import GuardedProbe, describe
from harness.probes.http import new_client, parse_quantity, rpc_call
from harness.severity import Impact
from harness.stack import CHAINS

HEALTH_HEADER = "X-ERIGON-HEALTHCHECK"


class ChainProbeSpec(ProbeSpec):
    """A probe of one chain's node, reached through its public RPC URL."""

    chain: str

    @field_validator("chain")
    @classmethod
    def _known_chain(cls, value: str) -> str:
        names = [c.name for c in CHAINS]
        if value not in names:
            raise ValueError(f"unknown chain {value!r}; choose one of {names}")
        return value


class ChainHeadSpec(ChainProbeSpec):
    """The chain's head has moved within the last `max_stall_s` seconds (3.0)."""

    type: Literal["chain_head"] = "chain_head"
    max_stall_s: float = Field(default=3.0, gt=0)


class ChainHealthSpec(ChainProbeSpec):
    """erigon's /health answers 200 to synced, min_peer_count and max_seconds_behind.

    `max_seconds_behind` (default 30 s) bounds the age of the head block;
    `min_peers` (default 1) is the fewest peers a healthy node has.
    """

    type: Literal["chain_health"] = "chain_health"
    max_seconds_behind: int = Field(default=30, ge=0)
    min_peers: int = Field(default=1, ge=0)


class RpcLatencySpec(ChainProbeSpec):
    """An eth_blockNumber round trip takes at most `max_ms` milliseconds (100)."""

    type: Literal["rpc_latency"] = "rpc_latency"
    max_ms: float = Field(default=100.0, gt=0)


ChainSpecT = TypeVar("ChainSpecT", bound=ChainProbeSpec)


class _ChainProbe(GuardedProbe[ChainSpecT]):
    """What the chain probes share: a name per chain, the RPC URL, one client."""

    def __init__(self, spec: ChainSpecT, ctx: DrillContext) -> None:
        super().__init__(spec, ctx)
        self._client = new_client(spec.timeout_s)

    @property
    def name(self) -> str:
        """`<type>:<chain>`, e.g. `chain_head:ethereum`."""
        return f"{self.spec.type}:{self.spec.chain}"

    @property
    def impact(self) -> Impact:
        """A node that fails its check counts as that chain down."""
        return Impact.CHAIN_DOWN

    @property
    def subject(self) -> str:
        """The chain, so that every chain down reads as the P0 outage."""
        return self.spec.chain

    @cached_property
    def url(self) -> str:
        """The chain's public RPC URL (through the fault proxy)."""
        return self.ctx.endpoints.rpc[self.spec.chain]

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()


@register
class ChainHeadProbe(_ChainProbe[ChainHeadSpec]):
    """Fails when eth_blockNumber has not changed for longer than `max_stall_s`.

    The first check only records the head. `value` is the seconds since the
    head last changed. A failed call fails the check but keeps the clock: a
    node that comes back on a new head passes at once.
    """

    spec_model = ChainHeadSpec

    def __init__(self, spec: ChainHeadSpec, ctx: DrillContext) -> None:
        super().__init__(spec, ctx)
        self._lock = threading.Lock()
        self._head: int | None = None
        self._changed_at = 0.0

    def observe(self) -> ProbeResult:
        """Read the head and compare it with the last one seen."""
        answer = rpc_call(
            self._client, self.url, "eth_blockNumber", timeout_s=self.spec.timeout_s
        )
        head = parse_quantity(answer)
        now = time.monotonic()
        with self._lock:
            if head != self._head:
                self._head, self._changed_at = head, now
            still_s = now - self._changed_at
        limit_s = self.spec.max_stall_s
        if still_s > limit_s:
            return ProbeResult(
                ok=False,
                detail=f"head stuck at {head} for {still_s:.1f} s "
                f"(limit {limit_s:g} s)",
                value=round(still_s, 3),
            )
        return ProbeResult(ok=True, detail=f"head {head}", value=round(still_s, 3))


@register
class ChainHealthProbe(_ChainProbe[ChainHealthSpec]):
    """erigon's GET /health with the header checks; 200 passes, anything else fails.

    The detail names the checks that did not answer HEALTHY.
    """

    spec_model = ChainHealthSpec

    def observe(self) -> ProbeResult:
        """Ask /health with synced, min_peer_count and max_seconds_behind."""
        headers = [
            (HEALTH_HEADER, "synced"),
            (HEALTH_HEADER, f"min_peer_count{self.spec.min_peers}"),
            (HEALTH_HEADER, f"max_seconds_behind{self.spec.max_seconds_behind}"),
        ]
        response = self._client.get(f"{self.url}/health", headers=headers)
        if response.status_code == 200:
            return ProbeResult(ok=True, detail="healthy")
        return ProbeResult(ok=False, detail=_health_problems(response))


def _health_problems(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:120]}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    failing = [f"{k}: {v}" for k, v in body.items() if v not in ("HEALTHY", "DISABLED")]
    return f"HTTP {response.status_code}: " + ("; ".join(failing) or "no reason given")


@register
class RpcLatencyProbe(_ChainProbe[RpcLatencySpec]):
    """Times one eth_blockNumber round trip; `value` is the time in milliseconds.

    A call that fails or times out fails the check with the time it took.
    """

    spec_model = RpcLatencySpec

    @property
    def impact(self) -> Impact:
        """Slow RPC is the runbook's P2 "RPC response time >100ms"."""
        return Impact.RPC_LATENCY

    def observe(self) -> ProbeResult:
        """Time the call and compare it with `max_ms`."""
        started = time.perf_counter()
        try:
            rpc_call(
                self._client,
                self.url,
                "eth_blockNumber",
                timeout_s=self.spec.timeout_s,
            )
        except Exception as exc:
            elapsed_ms = (time.perf_counter() - started) * 1000
            return ProbeResult(
                ok=False,
                detail=f"{describe(exc)} after {elapsed_ms:.0f} ms",
                value=round(elapsed_ms, 1),
            )
        elapsed_ms = (time.perf_counter() - started) * 1000
        limit_ms = self.spec.max_ms
        ok = elapsed_ms <= limit_ms
        verdict = "within" if ok else "over"
        return ProbeResult(
            ok=ok,
            detail=f"{elapsed_ms:.1f} ms, {verdict} {limit_ms:g} ms",
            value=round(elapsed_ms, 1),
        )
