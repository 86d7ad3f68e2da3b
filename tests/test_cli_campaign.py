"""`drill campaign` from the command line: flags, progress, the saved failure."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness import scenario as scenarios
from harness.campaign import ALL_KINDS, SERVICE_DOWN, kinds_from
from harness.cli_campaign import recovery_steps
from harness.errors import UsageError
from harness.runtime.local import LocalRuntime

from .stack_support import drill

pytestmark = pytest.mark.timeout(180)

RUNBOOKS = Path(__file__).resolve().parents[1] / "fixtures" / "runbooks"


def test_kinds_from_expands_groups_and_drops_repeats_when_mixed():
    assert kinds_from("service-down") == SERVICE_DOWN
    assert kinds_from("kill_service, service-down,latency") == (
        "kill_service",
        "stop_service",
        "latency",
    )
    assert kinds_from("all") == ALL_KINDS


@pytest.mark.parametrize("text", ["", " , ", "kill_service,teleport"])
def test_kinds_from_is_a_usage_error_naming_the_flag_when_a_kind_is_bad(text):
    with pytest.raises(UsageError, match="--kinds"):
        kinds_from(text)


def test_recovery_steps_resolve_scripts_and_keep_commands_when_given(tmp_path):
    script = RUNBOOKS / "restart_services.sh"
    steps = recovery_steps([str(script), "systemctl restart erigon"], 30)
    assert steps == [
        {"run": str(script.resolve()), "timeout_s": 30},
        {"run": "systemctl restart erigon", "timeout_s": 30},
    ]
    with pytest.raises(UsageError, match="does not exist"):
        recovery_steps([str(tmp_path / "missing.sh")], 30)
    with pytest.raises(UsageError, match=r"'fix\.sh' does not exist"):
        recovery_steps(["fix.sh ethereum"], 30)
    with pytest.raises(UsageError, match="cannot be parsed"):
        recovery_steps(["echo 'unbalanced"], 30)


def test_recovery_steps_run_a_relative_script_with_arguments_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    script = tmp_path / "my runbooks" / "one chain.sh"
    script.parent.mkdir()
    script.write_text('#!/bin/sh\necho "$1"\n')
    monkeypatch.chdir(tmp_path)
    (step,) = recovery_steps(["'my runbooks/one chain.sh' base && echo ok"], 30)
    assert step["run"] == f"'{script}' base && echo ok"


def test_campaign_exits_two_before_any_stack_when_a_flag_is_bad(state_dir: Path):
    result = drill(state_dir, "campaign", "true", "--kinds", "teleport")
    assert result.returncode == 2, result.stderr
    assert "unknown fault kind 'teleport' in --kinds" in result.stderr
    assert "bringing one up" not in result.stdout

    result = drill(state_dir, "campaign", "true", "--budget", "0")
    assert result.returncode == 2, result.stderr
    assert "--budget must be above 0" in result.stderr


def test_campaign_exits_one_and_saves_the_schedule_when_the_plan_does_nothing(
    stack: LocalRuntime, tmp_path: Path
):
    result = drill(
        stack.store.directory,
        "campaign",
        "echo looking into it",
        "--examples",
        "1",
        "--max-time",
        "1",
        "--budget",
        "3",
        "--no-writes",
        "--seed",
        "7",
        "--name",
        "idle-plan",
        "--reports",
        str(tmp_path),
        timeout_s=150,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "drill 1: " in result.stdout
    assert "-> FAILED" in result.stdout
    assert "campaign found a failing schedule" in result.stdout
    saved = tmp_path / "campaign" / "idle-plan.yaml"
    assert scenarios.validate(saved) == []
    data = yaml.safe_load(saved.read_text())
    assert data["recovery"] == [{"run": "echo looking into it", "timeout_s": 60.0}]
    assert {f["type"] for f in data["faults"]} <= set(SERVICE_DOWN)
    for service in ("erigon-ethereum", "mev-artemis"):
        assert stack.health(service).ready, f"{service} left down by the campaign"


def test_campaign_exits_zero_when_the_plan_restarts_what_is_down(
    stack: LocalRuntime, tmp_path: Path
):
    result = drill(
        stack.store.directory,
        "campaign",
        str(RUNBOOKS / "restart_services.sh"),
        "--examples",
        "1",
        "--seed",
        "5",
        "--reports",
        str(tmp_path),
        timeout_s=150,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "-> PASSED" in result.stdout
    assert "No schedule broke the plan: 1 drill(s)" in result.stdout
    assert not (tmp_path / "campaign" / "campaign.yaml").exists()
