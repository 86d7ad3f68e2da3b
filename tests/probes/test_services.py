"""Service probes against the shared stack: each passes, fails when broken, recovers."""

from __future__ import annotations

import httpx
import pytest

from harness.context import DrillContext
from harness.probes.services import p95, spread
from harness.severity import Impact

from .conftest import MakeProbe
from .support import poll_probe, wait_until

pytestmark = pytest.mark.timeout(60)


def set_rejection(ctx: DrillContext, relay: str, rate: float) -> float:
    """Set a relay's rejection rate; return the rate it had."""
    url = ctx.endpoints.relays[relay]
    before = float(
        httpx.get(f"{url}/_standin/state", timeout=5).json()["rejection_rate"]
    )
    response = httpx.post(f"{url}/_standin/rejection", json={"rate": rate}, timeout=5)
    response.raise_for_status()
    return before


def test_spread_interleaves_decisions_evenly_when_a_poll_has_both():
    assert spread(2, 2, keep=10) == [False, True, False, True]
    assert spread(1, 3, keep=10).count(True) == 1
    assert spread(5, 5, keep=4) == spread(5, 5, keep=10)[-4:]
    assert spread(0, 0, keep=4) == []


def test_p95_is_the_nearest_rank_when_samples_are_few():
    assert p95([5.0, 1.0, 3.0, 2.0, 4.0]) == 5.0
    assert p95([float(v) for v in range(1, 41)]) == 38.0


def test_mev_boost_status_fails_with_503_when_no_relay_is_reachable(
    ctx: DrillContext, make_probe: MakeProbe
):
    probe = make_probe(type="mev_boost_status")
    assert probe.impact is Impact.BUNDLE_REJECTION
    poll_probe(probe, ok=True)

    edges = ["mev-boost_to_relay-a", "mev-boost_to_relay-b"]
    try:
        for edge in edges:
            ctx.proxy.update(edge, enabled=False)
        failed = poll_probe(probe, ok=False, timeout_s=5)
        assert failed.detail == "HTTP 503: all relays are unavailable"
    finally:
        for edge in edges:
            ctx.proxy.update(edge, enabled=True)

    poll_probe(probe, ok=True, timeout_s=5)


def test_bundle_acceptance_fails_when_relays_reject_every_bundle_and_recovers(
    ctx: DrillContext, make_probe: MakeProbe
):
    probe = make_probe(type="bundle_acceptance", window=10)
    assert probe.check().ok, "the first check only records the counters"
    # The strategy engine submits bundles every block: wait for a judgement.
    wait_until(
        lambda: probe.check().value is not None, what="enough decisions to judge"
    )
    assert probe.check().ok

    before = {relay: set_rejection(ctx, relay, 1.0) for relay in ctx.endpoints.relays}
    try:
        failed = poll_probe(probe, ok=False, timeout_s=10)
        assert failed.value is not None and failed.value < 0.1
        assert "bundles landed" in failed.detail
    finally:
        for relay, rate in before.items():
            set_rejection(ctx, relay, rate)

    recovered = poll_probe(probe, ok=True, timeout_s=10)
    assert recovered.value is not None and recovered.value >= 0.1


def test_bundle_acceptance_fails_when_no_relay_answers(
    ctx: DrillContext, make_probe: MakeProbe
):
    probe = make_probe(type="bundle_acceptance")
    poll_probe(probe, ok=True)

    try:
        for relay in ctx.endpoints.relays:
            ctx.proxy.update(relay, enabled=False)
        failed = poll_probe(probe, ok=False, timeout_s=5)
        assert failed.detail.startswith("no relay answered")
    finally:
        for relay in ctx.endpoints.relays:
            ctx.proxy.update(relay, enabled=True)

    poll_probe(probe, ok=True, timeout_s=5)


def test_mev_api_health_fails_with_503_when_the_api_loses_postgres(
    ctx: DrillContext, make_probe: MakeProbe
):
    # The API gives up on its pool after 2 s: wait for its 503.
    probe = make_probe(type="mev_api_health", timeout_s=3.0)
    assert probe.impact is Impact.API_DOWN
    poll_probe(probe, ok=True)

    try:
        ctx.proxy.update("mev-api_to_postgres", enabled=False)
        failed = poll_probe(probe, ok=False, timeout_s=10)
        assert failed.detail.startswith("HTTP 503")
    finally:
        ctx.proxy.update("mev-api_to_postgres", enabled=True)

    poll_probe(probe, ok=True, timeout_s=15)


def test_mev_api_latency_fails_with_the_p95_when_the_proxy_slows_the_api(
    ctx: DrillContext, make_probe: MakeProbe
):
    probe = make_probe(type="mev_api_latency", p95_max_ms=100, samples=3)
    passed = poll_probe(probe, ok=True)
    assert passed.value is not None and passed.value <= 100

    ctx.proxy.add_toxic(
        "mev-api", "latency", name="probe_test", attributes={"latency": 150}
    )
    try:
        failed = poll_probe(probe, ok=False, timeout_s=5)
        assert failed.value is not None and failed.value >= 150, failed
        assert "over 100 ms" in failed.detail
    finally:
        ctx.proxy.remove_toxic("mev-api", "probe_test")

    poll_probe(probe, ok=True, timeout_s=5)
