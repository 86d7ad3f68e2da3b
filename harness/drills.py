"""Run drills from the command line: load scenarios, get a stack, run, take it down.

`drill run` uses the stack that is up, or brings one up for the run and takes
it down after, even when a drill fails or the user presses Ctrl-C.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from harness import scenario as scenarios
from harness.engine import DrillOptions, run_drill
from harness.live import LiveView
from harness.publish import publish
from harness.result import DrillResult, Outcome
from harness.runtime.base import Runtime
from harness.runtime.local import LocalRuntime
from harness.runtime.open import open_runtime
from harness.runtime.plan import PlanOptions, PortsMode
from harness.runtime.state import StateStore


def run_many(
    names: list[str],
    *,
    reports_dir: Path,
    seed: int,
    budget_s: float | None,
    ports: PortsMode,
    view: LiveView,
    quarterly: bool = False,
) -> list[DrillResult]:
    """Run each named scenario in turn; every file is validated before any runs.

    Each drill's reports, history row and metrics are written as it ends;
    `quarterly` also writes the runbook's drill record.
    """
    loaded = [scenarios.load(name) for name in names]
    results = []
    with stack_for_drills(ports, view) as runtime:
        for scenario in loaded:
            view.drill_started(scenario.name)
            options = DrillOptions(
                reports_dir=reports_dir,
                seed=seed,
                budget_s=budget_s,
                on_event=view.event,
            )
            result = run_drill(scenario, runtime, options)
            publish(result, reports_dir, quarterly=quarterly)
            results.append(result)
    return results


def exit_code(results: list[DrillResult]) -> int:
    """The documented exit code: 1 if any drill failed, else 3 if any was
    invalid, else 0."""
    outcomes = {r.outcome for r in results}
    if Outcome.FAILED in outcomes:
        return 1
    if Outcome.INVALID in outcomes:
        return 3
    return 0


@contextlib.contextmanager
def stack_for_drills(ports: PortsMode, view: LiveView) -> Iterator[Runtime]:
    """The running stack, or one brought up now and down after."""
    local = LocalRuntime(StateStore())
    if local.is_up():
        view.message("Using the stack that is up (`drill status` shows it).")
        yield open_runtime()
        return
    view.message(f"No stack is up; bringing one up ({ports} ports)...")
    runtime = LocalRuntime(StateStore(), PlanOptions(ports=ports))
    runtime.up()
    try:
        yield runtime
    finally:
        view.message("Bringing the stack down...")
        runtime.down()
