"""Replay: run a journal's drill again, same scenario, same seed, same budget."""

from __future__ import annotations

from pathlib import Path

from harness import scenario as scenarios
from harness.engine import DrillOptions, EventCallback, run_drill
from harness.errors import UsageError
from harness.reports.journal import load_journal
from harness.result import DrillResult
from harness.runtime.base import Runtime
from harness.scenario import Scenario


def replayed_scenario(journal_path: Path) -> tuple[Scenario, DrillResult]:
    """The journal's scenario, validated again, with the journal's result."""
    original = load_journal(journal_path)
    if not original.scenario_source:
        raise UsageError(
            f"the journal {journal_path} records no scenario (scenario_source)",
            hint="replay a journal written by `drill run` from this version on",
        )
    scenario = scenarios.from_data(
        dict(original.scenario_source), source=f"{journal_path}: scenario_source"
    )
    return scenario, original


def replay(
    journal_path: Path,
    runtime: Runtime,
    reports_dir: Path,
    *,
    on_event: EventCallback | None = None,
) -> DrillResult:
    """Run the journal's scenario again on `runtime` with its seed and budget.

    The new drill's journal and evidence go under `reports_dir` as any drill's.
    """
    scenario, original = replayed_scenario(journal_path)
    options = DrillOptions(
        reports_dir=reports_dir,
        seed=original.seed,
        budget_s=original.budget_s,
        on_event=on_event,
    )
    return run_drill(scenario, runtime, options)
