"""Chain probes against the shared stack: each passes, fails when broken, recovers."""

from __future__ import annotations

import time

import httpx
import pytest
from pydantic import ValidationError

from harness.context import DrillContext
from harness.runtime.local import LocalRuntime
from harness.severity import Impact

from .conftest import MakeProbe
from .support import poll_probe

pytestmark = pytest.mark.timeout(60)


def control(
    ctx: DrillContext, chain: str, path: str, body: object
) -> dict[str, object]:
    """POST to an erigon stand-in's /_standin/ control through its RPC URL."""
    url = f"{ctx.endpoints.rpc[chain]}/_standin/{path}"
    response = httpx.post(url, json=body, timeout=5)
    response.raise_for_status()
    answer: dict[str, object] = response.json()
    return answer


def test_chain_head_names_its_chain_and_counts_as_chain_down(make_probe: MakeProbe):
    probe = make_probe(type="chain_head", chain="base")

    assert probe.name == "chain_head:base"
    assert probe.subject == "base"
    assert probe.impact is Impact.CHAIN_DOWN


def test_chain_spec_rejects_an_unknown_chain_when_validated(make_probe: MakeProbe):
    with pytest.raises(ValidationError, match="unknown chain 'solana'"):
        make_probe(type="chain_head", chain="solana")


def test_chain_head_fails_when_sync_stalls_and_passes_when_it_resumes(
    ctx: DrillContext, make_probe: MakeProbe
):
    probe = make_probe(type="chain_head", chain="optimism", max_stall_s=1.0)
    assert probe.check().ok, "the first check only records the head"
    poll_probe(probe, ok=True)

    try:
        control(ctx, "optimism", "sync", {"stalled": True})
        failed = poll_probe(probe, ok=False, timeout_s=5)
        assert "head stuck at" in failed.detail
        assert failed.value is not None and failed.value > 1.0
    finally:
        control(ctx, "optimism", "sync", {"stalled": False})

    poll_probe(probe, ok=True, timeout_s=5)


def test_chain_head_fails_within_its_timeout_when_the_node_is_paused(
    stack: LocalRuntime, make_probe: MakeProbe
):
    probe = make_probe(type="chain_head", chain="polygon", timeout_s=0.5)
    poll_probe(probe, ok=True)

    stack.pause("erigon-polygon")
    try:
        started = time.monotonic()
        result = probe.check()
        elapsed_s = time.monotonic() - started
    finally:
        stack.resume("erigon-polygon")

    assert not result.ok
    assert "no answer in time" in result.detail
    assert elapsed_s < 0.5 + 0.3, f"check took {elapsed_s:.2f} s, timeout 0.5 s"
    poll_probe(probe, ok=True, timeout_s=5)


def test_chain_health_fails_when_peers_drop_to_zero_and_passes_when_restored(
    ctx: DrillContext, make_probe: MakeProbe
):
    probe = make_probe(type="chain_health", chain="arbitrum", min_peers=1)
    poll_probe(probe, ok=True)
    state = httpx.get(f"{ctx.endpoints.rpc['arbitrum']}/_standin/state", timeout=5)
    peers = state.json()["peers"]

    try:
        control(ctx, "arbitrum", "peers", {"count": 0})
        failed = poll_probe(probe, ok=False, timeout_s=5)
        assert "min_peer_count: ERROR: not enough peers" in failed.detail
    finally:
        control(ctx, "arbitrum", "peers", {"count": peers})

    poll_probe(probe, ok=True, timeout_s=5)


def test_rpc_latency_fails_with_the_measured_time_when_the_proxy_adds_latency(
    ctx: DrillContext, make_probe: MakeProbe
):
    probe = make_probe(type="rpc_latency", chain="ethereum", max_ms=100)
    passed = poll_probe(probe, ok=True)
    assert passed.value is not None and passed.value <= 100

    ctx.proxy.add_toxic(
        "erigon-ethereum", "latency", name="probe_test", attributes={"latency": 150}
    )
    try:
        failed = poll_probe(probe, ok=False, timeout_s=5)
        assert failed.value is not None and failed.value >= 150, failed
        assert "over 100 ms" in failed.detail
    finally:
        ctx.proxy.remove_toxic("erigon-ethereum", "probe_test")

    poll_probe(probe, ok=True, timeout_s=5)
