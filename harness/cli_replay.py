"""`drill replay JOURNAL`: run a recorded drill again with the same parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli_options import PortsWhenUp, Quiet
from harness.console import console
from harness.runtime.plan import ports_mode

replay_app = typer.Typer()


@replay_app.command()
def replay(
    journal: Annotated[
        Path,
        typer.Argument(help="A journal.json written by `drill run`, or its directory."),
    ],
    reports: Annotated[
        Path, typer.Option(help="Directory for the new journal and reports.")
    ] = Path("reports"),
    ports: PortsWhenUp = "runbook",
    quiet: Quiet = False,
) -> None:
    """Run a journal's scenario again, same seed and budget. Exit 0/1/3 as run."""
    from harness.drills import exit_code, stack_for_drills
    from harness.live import LiveView
    from harness.publish import publish
    from harness.replay import replay as replay_drill
    from harness.replay import replayed_scenario

    mode = ports_mode(ports)
    # Validate the journal before bringing any stack up.
    scenario, original = replayed_scenario(journal)
    view = LiveView(console(), quiet=quiet)
    view.message(
        f"Replaying {original.incident_id}: {scenario.name}, seed {original.seed}, "
        f"budget {original.budget_s:g}s"
    )
    with stack_for_drills(mode, view) as runtime:
        view.drill_started(scenario.name)
        result = replay_drill(journal, runtime, reports, on_event=view.event)
        publish(result, reports)
    view.summary([result])
    raise typer.Exit(exit_code([result]))
