"""`drill run` from the command line: exit codes, journals, the quarterly choice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import _chosen_scenarios
from harness.runtime.local import LocalRuntime
from harness.scenario import QUARTERLY

from .stack_support import drill

pytestmark = pytest.mark.timeout(180)

UNNOTICED = """\
name: unnoticed_cli
description: a fault no probe watches
severity: P3
faults:
  - {type: latency, edges: [relay-a], latency_ms: 5}
probes:
  - {type: sql_select1}
detection_window_s: 2
recovery:
  - {run: "true"}
"""

NEVER_RECOVERS = """\
name: never_recovers
description: the plan does nothing useful, so the budget runs out
severity: P1
faults:
  - {type: kill_service, service: erigon-optimism}
probes:
  - {type: chain_head, chain: optimism}
recovery:
  - {run: "echo looking into it"}
budget_s: 6
"""


def test_random_choice_is_the_same_when_the_seed_is_the_same():
    picks = {_chosen_scenarios([], False, True, seed)[0] for seed in range(40)}
    assert picks == set(QUARTERLY), "every quarterly scenario can be chosen"
    assert _chosen_scenarios([], False, True, 1234) == _chosen_scenarios(
        [], False, True, 1234
    )


def test_run_exits_zero_and_writes_a_journal_when_the_drill_passes(
    stack: LocalRuntime, tmp_path: Path
):
    result = drill(
        stack.store.directory,
        "run",
        "single_chain_down",
        "--reports",
        str(tmp_path),
        "--seed",
        "3",
        timeout_s=150,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED" in result.stdout
    assert "Using the stack that is up" in result.stdout
    journals = list(tmp_path.glob("INC_*_single_chain_down/journal.json"))
    assert len(journals) == 1
    journal = json.loads(journals[0].read_text())
    assert journal["outcome"] == "PASSED"
    assert journal["seed"] == 3


def test_run_exits_three_when_the_fault_goes_unnoticed(stack, tmp_path):
    path = tmp_path / "unnoticed_cli.yaml"
    path.write_text(UNNOTICED)
    result = drill(
        stack.store.directory,
        "run",
        str(path),
        "--reports",
        str(tmp_path / "reports"),
        timeout_s=120,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "INVALID" in result.stdout
    assert "never detected" in result.stdout


def test_run_exits_one_when_the_budget_runs_out(stack, tmp_path):
    path = tmp_path / "never_recovers.yaml"
    path.write_text(NEVER_RECOVERS)
    result = drill(
        stack.store.directory,
        "run",
        str(path),
        "--reports",
        str(tmp_path / "reports"),
        timeout_s=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED" in result.stdout
    assert "budget exceeded" in result.stdout
    assert stack.health("erigon-optimism").ready, "clean-up restarts the node"


def test_run_exits_two_when_modes_are_mixed(tmp_path):
    result = drill(tmp_path, "run", "--all", "--random")
    assert result.returncode == 2
    assert "exactly one" in result.stderr


@pytest.mark.parametrize("budget", ["0", "-5"])
def test_run_exits_two_before_any_stack_when_the_budget_is_not_positive(
    tmp_path, budget
):
    result = drill(
        tmp_path, "run", "single_chain_down", "--budget-s", budget, "--ports", "auto"
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"--budget-s must be above 0, got {budget}" in result.stderr
    assert "bringing one up" not in result.stdout


def test_run_exits_two_before_starting_anything_when_a_scenario_is_invalid(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\n")
    result = drill(tmp_path, "run", str(path))
    assert result.returncode == 2
    assert "invalid scenario" in result.stderr
    assert not (tmp_path / "stack.json").exists()


HANGS = """\
name: hangs
description: the plan hangs; the user presses Ctrl-C
severity: P1
faults:
  - {type: kill_service, service: erigon-polygon}
probes:
  - {type: chain_head, chain: polygon}
recovery:
  - {run: "sleep 4242", timeout_s: 600}
"""


def test_ctrl_c_cleans_up_the_fault_and_the_step_when_a_drill_is_interrupted(
    stack: LocalRuntime, tmp_path: Path
):
    import os
    import signal
    import subprocess
    import sys
    import time

    path = tmp_path / "hangs.yaml"
    path.write_text(HANGS)
    env = {
        **os.environ,
        "DRILL_STATE_DIR": str(stack.store.directory),
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            str(path),
            "--reports",
            str(tmp_path / "reports"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        seen.append(line)
        if "response_start" in line or time.monotonic() > deadline:
            break
    assert any("response_start" in line for line in seen), "".join(seen)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=90)
    assert proc.returncode == 130, "".join(seen) + rest
    assert "clean-up ran" in rest
    assert stack.health("erigon-polygon").ready, "the killed node was restarted"
    sleeping = [
        p
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and b"sleep\x004242" in _cmdline(p)
    ]
    assert sleeping == [], "the hanging step outlived the drill"


def _cmdline(entry: Path) -> bytes:
    try:
        return (entry / "cmdline").read_bytes()
    except OSError:
        return b""


def test_run_brings_a_stack_up_and_down_when_none_is_running(
    state_dir: Path, tmp_path: Path
):
    from .stack_support import marked_pids

    result = drill(
        state_dir,
        "run",
        "strategy_engine_crash",
        "--ports",
        "auto",
        "--reports",
        str(tmp_path),
        timeout_s=170,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No stack is up; bringing one up" in result.stdout
    assert "Bringing the stack down" in result.stdout
    assert marked_pids(state_dir / "run") == []
    assert not (state_dir / "stack.json").exists()
    incident = next(tmp_path.glob("INC_*_strategy_engine_crash"))
    for name in ("journal.json", "report.md", "report.html", "evidence"):
        assert (incident / name).exists(), name
    assert (tmp_path / "metrics.db").exists()


@pytest.mark.parametrize(
    ("outcomes", "code"),
    [
        ([], 0),
        (["PASSED", "PASSED"], 0),
        (["PASSED", "INVALID"], 3),
        (["INVALID", "FAILED"], 1),
    ],
)
def test_exit_code_puts_failed_before_invalid_when_drills_differ(outcomes, code):
    from types import SimpleNamespace

    from harness.drills import exit_code
    from harness.result import Outcome

    results = [SimpleNamespace(outcome=Outcome(o)) for o in outcomes]
    assert exit_code(results) == code  # type: ignore[arg-type]
