"""Service probes: mev-boost, bundle acceptance, the MEV API's health and latency."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from functools import cached_property
from typing import Literal

import httpx
from pydantic import Field

from harness.context import DrillContext
from harness.probes.base import ProbeResult, ProbeSpec, SpecT, register
from harness.probes.guard import GuardedProbe, describe
from harness.probes.http import Deadline, new_client
from harness.severity import Impact

OPPORTUNITIES_PATH = "/api/v1/opportunities?limit=10"


class _HttpProbe(GuardedProbe[SpecT]):
    """A probe with one HTTP client, named after its spec's type."""

    def __init__(self, spec: SpecT, ctx: DrillContext) -> None:
        super().__init__(spec, ctx)
        self._client = new_client(spec.timeout_s)

    @property
    def name(self) -> str:
        """The spec's type: there is one of each service."""
        return self.spec.type

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()


def _reason(response: httpx.Response) -> str:
    """`HTTP <status>` and the body's message, if it has one."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        for key in ("message", "reason", "error"):
            if isinstance(body.get(key), str):
                return f"HTTP {response.status_code}: {body[key]}"
    return f"HTTP {response.status_code}"


class MevBoostStatusSpec(ProbeSpec):
    """mev-boost's GET /eth/v1/builder/status answers 200."""

    type: Literal["mev_boost_status"] = "mev_boost_status"


@register
class MevBoostStatusProbe(_HttpProbe[MevBoostStatusSpec]):
    """mev-boost runs with the relay check: 503 means no relay answers.

    With no relay reachable no bundle and no block can be delivered, which is
    the runbook's bundle-rejection incident at its worst; so its impact is
    BUNDLE_REJECTION (P1), like mev-boost itself being down.
    """

    spec_model = MevBoostStatusSpec

    @property
    def impact(self) -> Impact:
        """Nothing reaches a relay: every bundle is lost."""
        return Impact.BUNDLE_REJECTION

    def observe(self) -> ProbeResult:
        """One status request."""
        url = f"{self.ctx.endpoints.mev_boost}/eth/v1/builder/status"
        response = self._client.get(url)
        if response.status_code == 200:
            return ProbeResult(ok=True, detail="relays reachable")
        return ProbeResult(ok=False, detail=_reason(response))


class BundleAcceptanceSpec(ProbeSpec):
    """Of the last `window` bundles the relays decided, at least `min_rate` landed.

    `window` defaults to 20 bundles and `min_rate` to 0.1 (the runbook's P1
    is rejection over 90%). While fewer than `min_decisions` (5) decisions
    have been seen the check passes: there is nothing to judge yet.
    """

    type: Literal["bundle_acceptance"] = "bundle_acceptance"
    min_rate: float = Field(default=0.1, ge=0.0, le=1.0)
    window: int = Field(default=20, ge=1)
    min_decisions: int = Field(default=5, ge=1)


def spread(included: int, rejected: int, keep: int) -> list[bool]:
    """`included` True and `rejected` False, evenly interleaved; the last `keep`.

    Relays report counters, not the order of their decisions within one poll,
    so the decisions of one poll are taken as evenly mixed.
    """
    total = included + rejected
    first = max(0, total - keep)
    return [
        (k + 1) * included // total > k * included // total for k in range(first, total)
    ]


@register
class BundleAcceptanceProbe(_HttpProbe[BundleAcceptanceSpec]):
    """Reads each relay's GET /_standin/state and keeps its last decisions.

    A relay's decisions are its `bundles_included` and `bundles_rejected`
    counters, counted from the first time this probe read them; a counter
    that went down (the relay restarted) counts from zero. Relays that do not
    answer are skipped; when none answers, the check fails. `value` is the
    included fraction of the window.
    """

    spec_model = BundleAcceptanceSpec

    def __init__(self, spec: BundleAcceptanceSpec, ctx: DrillContext) -> None:
        super().__init__(spec, ctx)
        self._lock = threading.Lock()
        self._last: dict[str, tuple[int, int]] = {}
        self._recent: deque[bool] = deque(maxlen=spec.window)

    @property
    def impact(self) -> Impact:
        """Bundles not landing is the runbook's bundle-rejection incident."""
        return Impact.BUNDLE_REJECTION

    @cached_property
    def relays(self) -> dict[str, str]:
        """Each relay's public URL by name."""
        return dict(self.ctx.endpoints.relays)

    def observe(self) -> ProbeResult:
        """Read every relay's counters and judge the window."""
        deadline = Deadline(self.spec.timeout_s)
        counts: dict[str, tuple[int, int]] = {}
        problems: list[str] = []
        for name, url in self.relays.items():
            try:
                counts[name] = self._read(url, deadline.remaining_s())
            except Exception as exc:
                problems.append(f"{name}: {describe(exc)}")
        if not counts:
            return ProbeResult(
                ok=False, detail="no relay answered (" + "; ".join(problems) + ")"
            )
        with self._lock:
            for name, (included, rejected) in counts.items():
                self._add(name, included, rejected)
            decided = len(self._recent)
            landed = sum(self._recent)
        return self._verdict(landed, decided)

    def _read(self, url: str, timeout_s: float) -> tuple[int, int]:
        response = self._client.get(f"{url}/_standin/state", timeout=timeout_s)
        response.raise_for_status()
        state = response.json()
        return int(state["bundles_included"]), int(state["bundles_rejected"])

    def _add(self, relay: str, included: int, rejected: int) -> None:
        last = self._last.get(relay)
        self._last[relay] = (included, rejected)
        if last is None:
            return
        if included < last[0] or rejected < last[1]:
            last = (0, 0)
        self._recent.extend(
            spread(included - last[0], rejected - last[1], self.spec.window)
        )

    def _verdict(self, landed: int, decided: int) -> ProbeResult:
        if decided < self.spec.min_decisions:
            return ProbeResult(
                ok=True, detail=f"{decided} bundles decided so far, too few to judge"
            )
        rate = landed / decided
        ok = rate >= self.spec.min_rate
        return ProbeResult(
            ok=ok,
            detail=f"{landed} of the last {decided} bundles landed "
            f"({rate:.0%}, {'at least' if ok else 'under'} {self.spec.min_rate:.0%})",
            value=round(rate, 3),
        )


class MevApiHealthSpec(ProbeSpec):
    """The MEV API's GET /health answers 200 (it runs SELECT 1 through its pool)."""

    type: Literal["mev_api_health"] = "mev_api_health"


@register
class MevApiHealthProbe(_HttpProbe[MevApiHealthSpec]):
    """GET {mev_api}/health: 200 passes; 503 carries the database's reason."""

    spec_model = MevApiHealthSpec

    @property
    def impact(self) -> Impact:
        """The runbook's P1 "API service outage"."""
        return Impact.API_DOWN

    def observe(self) -> ProbeResult:
        """One health request."""
        response = self._client.get(f"{self.ctx.endpoints.mev_api}/health")
        if response.status_code == 200:
            return ProbeResult(ok=True, detail="healthy")
        return ProbeResult(ok=False, detail=_reason(response))


class MevApiLatencySpec(ProbeSpec):
    """The p95 of `samples` (5) opportunity reads is at most `p95_max_ms` (100 ms)."""

    type: Literal["mev_api_latency"] = "mev_api_latency"
    p95_max_ms: float = Field(default=100.0, gt=0)
    samples: int = Field(default=5, ge=1, le=50)


def p95(values: list[float]) -> float:
    """The 95th percentile by nearest rank (the largest of up to 20 values)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@register
class MevApiLatencyProbe(_HttpProbe[MevApiLatencySpec]):
    """Times GET /api/v1/opportunities?limit=10, `samples` times in a row.

    Reads are anonymous, as loopback clients of the API may read: the probe
    needs no key and leaves no audit record. Every read must answer 200;
    `value` is the p95 in milliseconds. All the samples share the spec's
    `timeout_s`: when it runs out, the p95 is of the samples taken.
    """

    spec_model = MevApiLatencySpec

    @property
    def impact(self) -> Impact:
        """RPC_LATENCY (P2): a slow API is the runbook's "response time >100ms".

        It is not LOW_SUCCESS_RATE, which is about bundles landing: a slow API
        still answers every searcher.
        """
        return Impact.RPC_LATENCY

    def observe(self) -> ProbeResult:
        """Take the samples, then judge their p95."""
        deadline = Deadline(self.spec.timeout_s)
        url = f"{self.ctx.endpoints.mev_api}{OPPORTUNITIES_PATH}"
        timings_ms: list[float] = []
        for _ in range(self.spec.samples):
            if timings_ms and deadline.expired():
                break
            started = time.perf_counter()
            response = self._client.get(url, timeout=deadline.remaining_s())
            timings_ms.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                return ProbeResult(
                    ok=False, detail=_reason(response), value=round(timings_ms[-1], 1)
                )
        measured = p95(timings_ms)
        limit_ms = self.spec.p95_max_ms
        ok = measured <= limit_ms
        return ProbeResult(
            ok=ok,
            detail=f"p95 {measured:.1f} ms of {len(timings_ms)} reads, "
            f"{'within' if ok else 'over'} {limit_ms:g} ms",
            value=round(measured, 1),
        )
