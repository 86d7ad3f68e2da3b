"""The drill engine, end to end on the shared stack: honest outcomes and timings."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from harness import scenario as scenarios
from harness.engine import DrillOptions, run_drill
from harness.reports.journal import load_journal
from harness.result import DrillResult, Outcome
from harness.runtime.local import LocalRuntime
from harness.stack import SERVICES

pytestmark = pytest.mark.timeout(240)

BROKEN = Path("fixtures/runbooks/broken")


def drill(
    stack: LocalRuntime,
    data: dict[str, Any],
    tmp_path: Path,
    *,
    budget_s: float | None = None,
    baseline_timeout_s: float = 30.0,
) -> DrillResult:
    scenario = scenarios.from_data(data)
    options = DrillOptions(
        reports_dir=tmp_path,
        seed=7,
        budget_s=budget_s,
        baseline_timeout_s=baseline_timeout_s,
    )
    return run_drill(scenario, stack, options)


def quarterly(name: str) -> dict[str, Any]:
    return scenarios.load(name).model_dump(mode="json")


def assert_stack_healthy(stack: LocalRuntime) -> None:
    for service in SERVICES:
        health = stack.health(service.name)
        assert health.ready, f"{service.name} left {health.state}: {health.detail}"


@pytest.mark.parametrize("name", scenarios.QUARTERLY)
def test_quarterly_scenario_passes_when_its_runbook_recovers_the_stack(
    stack, tmp_path, name
):
    result = drill(stack, quarterly(name), tmp_path)
    assert result.outcome is Outcome.PASSED, result.reasons
    assert result.detection_s is not None and result.detection_s < 5
    assert result.rto_s is not None and 0 < result.rto_s < result.budget_s
    assert result.rpo_s == 0
    assert all(step.ok for step in result.steps)
    assert load_journal(Path(str(result.report_dir))) == result
    assert_stack_healthy(stack)


@pytest.mark.parametrize("name", scenarios.QUARTERLY)
def test_quarterly_scenario_fails_when_its_runbook_is_broken(stack, tmp_path, name):
    data = quarterly(name)
    data["recovery"] = [{"run": str(BROKEN / f"{name}.sh"), "timeout_s": 60}]
    result = drill(stack, data, tmp_path, budget_s=12.0)
    assert result.outcome is Outcome.FAILED, result.reasons
    assert result.reasons
    assert_stack_healthy(stack)


def test_hanging_step_is_killed_and_the_drill_fails_when_the_budget_runs_out(
    stack, tmp_path
):
    data = quarterly("node_cluster_failure")
    data["recovery"] = [{"run": "sleep 100", "timeout_s": 600}]
    started = time.monotonic()
    result = drill(stack, data, tmp_path, budget_s=4.0)
    elapsed = time.monotonic() - started
    assert result.outcome is Outcome.FAILED
    assert result.steps[0].killed_by_budget
    assert any("budget exceeded" in reason for reason in result.reasons)
    # baseline (~2 s) + budget (4 s) + kill grace and clean-up, far below 100 s
    assert elapsed < 30, f"drill took {elapsed:.1f}s; the hanging step was not killed"
    assert_stack_healthy(stack)


def test_fault_nobody_notices_makes_the_drill_invalid(stack, tmp_path):
    data: dict[str, Any] = {
        "name": "unnoticed",
        "description": "a relay slows a little; only the database is watched",
        "severity": "P3",
        "faults": [{"type": "latency", "edges": ["relay-b"], "latency_ms": 5}],
        "probes": [{"type": "sql_select1"}],
        "detection_window_s": 2,
        "recovery": [{"run": "true"}],
    }
    result = drill(stack, data, tmp_path)
    assert result.outcome is Outcome.INVALID
    assert "never detected" in result.reasons[0]
    assert result.steps == []
    assert_stack_healthy(stack)


def test_unhealthy_baseline_makes_the_drill_invalid(stack, tmp_path):
    data = (
        quarterly("single_chain_down")
        if "single_chain_down" in scenarios.available()
        else quarterly("node_cluster_failure")
    )
    stack.stop("erigon-arbitrum")
    try:
        result = drill(stack, data, tmp_path, baseline_timeout_s=3.0)
    finally:
        stack.start("erigon-arbitrum")
    assert result.outcome is Outcome.INVALID
    assert "unhealthy baseline" in result.reasons[0]
    assert result.faults[0].injected_s is None, "no fault injected on a bad baseline"


def test_rto_matches_a_recovery_of_known_length_within_tolerance(stack, tmp_path):
    data: dict[str, Any] = {
        "name": "known_recovery",
        "description": "cut the Base RPC route; the plan restores it after 3 s",
        "severity": "P1",
        "faults": [{"type": "outage", "edges": ["erigon-base"]}],
        "probes": [{"type": "chain_health", "chain": "base"}],
        "recovery": [
            {
                "run": 'sleep 3 && curl -s -f -X POST "$DRILL_PROXY_API/proxies/'
                'erigon-base" -d \'{"enabled": true}\' >/dev/null',
                "timeout_s": 30,
            }
        ],
        "data": {"writes_preserved": False},
    }
    result = drill(stack, data, tmp_path)
    assert result.outcome is Outcome.PASSED, result.reasons
    t0 = next(e.t_s for e in result.timeline if e.kind == "injected")
    step = result.steps[0]
    # The route is back when the step ends (curl returned): that is the known RTO.
    known = step.started_s + step.duration_s - t0
    assert result.rto_s is not None
    error = abs(result.rto_s - known)
    assert error <= 0.3, (
        f"RTO measured {result.rto_s:.3f}s against known "
        f"{known:.3f}s: off by {error:.3f}s (tolerance 0.3s)"
    )


@pytest.mark.parametrize("budget_s", [0.0, -1.0])
def test_drill_options_refuse_a_budget_when_it_is_not_above_zero(budget_s):
    with pytest.raises(ValueError, match="budget_s must be above 0"):
        DrillOptions(budget_s=budget_s)
