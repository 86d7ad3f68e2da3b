"""The freshness probe against the shared stack: stale when the engine stops."""

from __future__ import annotations

import httpx
import pytest

from harness.context import DrillContext
from harness.runtime.local import LocalRuntime
from harness.severity import Impact

from .conftest import MakeProbe
from .support import poll_probe

pytestmark = pytest.mark.timeout(60)


def test_opportunities_fresh_fails_when_the_engine_is_paused_and_recovers(
    stack: LocalRuntime, make_probe: MakeProbe
):
    probe = make_probe(type="opportunities_fresh", max_age_s=1.0)
    assert probe.impact is Impact.ENGINE_DOWN
    passed = poll_probe(probe, ok=True)
    assert passed.value is not None and passed.value <= 1.0

    stack.pause("mev-artemis")
    try:
        failed = poll_probe(probe, ok=False, timeout_s=5)
        assert failed.value is not None and failed.value > 1.0
        assert "limit 1 s" in failed.detail
    finally:
        stack.resume("mev-artemis")

    poll_probe(probe, ok=True, timeout_s=10)


def test_opportunities_fresh_for_one_chain_fails_when_only_that_chain_stalls(
    ctx: DrillContext, make_probe: MakeProbe
):
    base = make_probe(type="opportunities_fresh", max_age_s=1.5, chain="base")
    every = make_probe(type="opportunities_fresh", max_age_s=1.5)
    assert base.name == "opportunities_fresh:base"
    assert base.subject == "base"
    poll_probe(base, ok=True)

    sync = f"{ctx.endpoints.rpc['base']}/_standin/sync"
    httpx.post(sync, json={"stalled": True}, timeout=5).raise_for_status()
    try:
        failed = poll_probe(base, ok=False, timeout_s=6)
        assert "for base" in failed.detail
        assert every.check().ok, "the other chains still produce opportunities"
    finally:
        httpx.post(sync, json={"stalled": False}, timeout=5).raise_for_status()

    poll_probe(base, ok=True, timeout_s=10)
