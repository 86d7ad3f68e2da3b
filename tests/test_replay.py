"""Replay: a journal's drill runs again with the same scenario, seed and budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness import scenario as scenarios
from harness.cli_replay import replay_app
from harness.engine import DrillOptions, run_drill
from harness.errors import UsageError
from harness.replay import replay
from harness.reports.journal import load_journal
from harness.result import Outcome
from harness.runtime.local import LocalRuntime

pytestmark = pytest.mark.timeout(120)

ROUTE_BACK = (
    'curl -s -f -X POST "$DRILL_PROXY_API/proxies/erigon-base" '
    "-d '{\"enabled\": true}' >/dev/null"
)
FAST: dict[str, Any] = {
    "name": "replayed_route_cut",
    "description": "cut the Base RPC route; the plan restores it at once",
    "severity": "P1",
    "faults": [{"type": "outage", "edges": ["erigon-base"]}],
    "probes": [{"type": "chain_health", "chain": "base"}],
    "baseline_s": 1,
    "recovery": [{"run": ROUTE_BACK, "timeout_s": 30}],
    "budget_s": 40,
    "data": {"writes_preserved": False},
}


@pytest.fixture(scope="module")
def journal(stack: LocalRuntime, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real journal of a drill run with seed 4242 and a 25 s budget."""
    reports = tmp_path_factory.mktemp("original")
    options = DrillOptions(reports_dir=reports, seed=4242, budget_s=25)
    result = run_drill(scenarios.from_data(FAST), stack, options)
    assert result.outcome is Outcome.PASSED, result.reasons
    assert result.report_dir is not None
    return Path(result.report_dir) / "journal.json"


def test_replay_runs_the_same_scenario_seed_and_budget_when_given_a_journal(
    stack: LocalRuntime, journal: Path, tmp_path: Path
):
    original = load_journal(journal)
    again = replay(journal, stack, tmp_path)
    assert again.incident_id != original.incident_id
    assert again.scenario_source == original.scenario_source
    assert (again.seed, again.budget_s) == (4242, 25)
    assert again.outcome is Outcome.PASSED, again.reasons
    assert (tmp_path / again.incident_id / "journal.json").is_file()


def test_replay_command_exits_zero_on_the_stack_that_is_up_when_the_drill_passes(
    stack: LocalRuntime,
    journal: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("DRILL_STATE_DIR", str(stack.store.directory))
    result = CliRunner().invoke(
        replay_app, [str(journal), "--reports", str(tmp_path), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    replayed = list(tmp_path.glob("INC_*_replayed_route_cut/journal.json"))
    assert len(replayed) == 1
    assert load_journal(replayed[0]).seed == 4242
    assert (replayed[0].parent / "report.html").is_file(), "reports published"


def test_replay_refuses_a_journal_that_does_not_exist(stack, tmp_path):
    with pytest.raises(UsageError, match="cannot read journal"):
        replay(tmp_path / "missing.json", stack, tmp_path)
