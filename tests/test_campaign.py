"""Property-based campaigns: generated schedules, and a fragile runbook caught."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import scenario as scenarios
from harness.campaign import (
    ALL_KINDS,
    SERVICE_DOWN,
    Schedule,
    run_campaign,
    schedule_to_scenario,
    schedules,
)
from harness.engine import DrillOptions, run_drill
from harness.errors import UsageError
from harness.result import Outcome
from harness.runtime.local import LocalRuntime
from harness.stack import SERVICES

pytestmark = pytest.mark.timeout(300)

RUNBOOKS = Path(__file__).resolve().parents[1] / "fixtures" / "runbooks"
FRAGILE = [{"run": str(RUNBOOKS / "fragile_restart_one.sh"), "timeout_s": 30}]
GOOD = [{"run": str(RUNBOOKS / "restart_services.sh"), "timeout_s": 60}]


def assert_stack_healthy(stack: LocalRuntime) -> None:
    for service in SERVICES:
        health = stack.health(service.name)
        assert health.ready, f"{service.name} left {health.state}: {health.detail}"


@settings(max_examples=200, deadline=None)
@given(schedules(ALL_KINDS, max_faults=4), st.sampled_from(["a", "camp-1"]))
def test_generated_schedule_is_a_valid_scenario_when_any_kind_is_drawn(
    schedule: Schedule, name: str
) -> None:
    data = schedule_to_scenario(schedule, GOOD, name)
    scenario = scenarios.from_data(data)
    assert len(scenario.faults) == len(schedule.faults)
    assert scenario.probes, "every schedule must be watched by some probe"


def test_schedule_probes_watch_every_targeted_service_when_faults_overlap() -> None:
    schedule = Schedule(
        [
            {"type": "kill_service", "service": "erigon-base"},
            {"type": "stop_service", "service": "erigon-base"},
            {"type": "kill_service", "service": "mev-artemis"},
        ]
    )
    data = schedule_to_scenario(schedule, GOOD, "overlap")
    assert data["probes"] == [
        {"type": "chain_head", "chain": "base"},
        {"type": "opportunities_fresh", "max_age_s": 3.0},
    ]


@pytest.mark.parametrize(
    ("fault", "repair"),
    [
        (
            {"type": "pause_service", "service": "erigon-base"},
            {"action": "restart", "service": "erigon-base"},
        ),
        ({"type": "kill_postgres"}, {"action": "start", "service": "postgres"}),
        (
            {"type": "partition", "a": "mev-api", "b": "postgres"},
            {"action": "reset_proxy"},
        ),
    ],
    ids=["pause_service", "kill_postgres", "partition"],
)
def test_generated_fault_is_noticed_and_repaired_when_drilled(
    stack: LocalRuntime, tmp_path: Path, fault: dict[str, str], repair: dict[str, str]
) -> None:
    steps: list[dict[str, Any]] = [
        repair,
        {"wait_for": "steady_state", "timeout_s": 30},
    ]
    data = schedule_to_scenario(Schedule([fault]), steps, f"drawn-{fault['type']}")
    try:
        result = run_drill(
            scenarios.from_data(data), stack, DrillOptions(reports_dir=tmp_path)
        )
    finally:
        assert_stack_healthy(stack)
    assert result.outcome is Outcome.PASSED, result.reasons
    assert result.detection_s is not None
    assert result.rpo_s == 0


def test_campaign_shrinks_to_two_down_services_when_the_runbook_is_fragile(
    stack: LocalRuntime, tmp_path: Path
) -> None:
    try:
        result = run_campaign(
            stack,
            FRAGILE,
            max_examples=8,
            max_time_s=200,
            reports_dir=tmp_path,
            seed=3,
            check_writes=False,
            name="fragile-found",
        )
    finally:
        assert_stack_healthy(stack)
    assert result.failure is not None, f"no failing schedule in {result.drills}"
    failure = result.failure
    assert not result.timed_out, f"shrinking hit the time limit: {result.drills}"
    assert failure.outcome is Outcome.FAILED, failure.reasons
    faults = failure.schedule.faults
    assert len(faults) == 2, failure.schedule.describe()
    assert {f["type"] for f in faults} <= set(SERVICE_DOWN)
    assert faults[0]["service"] != faults[1]["service"]

    assert failure.path == tmp_path / "campaign" / "fragile-found.yaml"
    assert scenarios.validate(failure.path) == []
    saved = yaml.safe_load(failure.path.read_text())
    assert saved["faults"] == faults
    assert saved["recovery"] == FRAGILE


def test_campaign_passes_when_the_runbook_restarts_every_down_service(
    stack: LocalRuntime, tmp_path: Path
) -> None:
    try:
        result = run_campaign(
            stack,
            GOOD,
            max_examples=3,
            max_time_s=120,
            reports_dir=tmp_path,
            seed=5,
            check_writes=True,
            name="good",
        )
    finally:
        assert_stack_healthy(stack)
    assert result.passed, result.failure
    assert len(result.drills) == 3
    assert all(o is Outcome.PASSED for _, o in result.drills)
    assert not (tmp_path / "campaign" / "good.yaml").exists()


def test_campaign_refuses_to_start_when_the_examples_variable_is_not_a_number(
    stack: LocalRuntime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DRILL_CAMPAIGN_EXAMPLES", "lots")
    with pytest.raises(UsageError, match="DRILL_CAMPAIGN_EXAMPLES='lots'"):
        run_campaign(stack, GOOD, reports_dir=tmp_path)
    assert not (tmp_path / "campaign").exists()
