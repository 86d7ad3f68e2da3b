"""`drill campaign RUNBOOK...`: search for the fault schedules that break a plan."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from harness.cli_options import PortsWhenUp, Quiet, require_positive
from harness.console import console
from harness.errors import UsageError
from harness.runtime.plan import ports_mode

campaign_app = typer.Typer()


@campaign_app.command()
def campaign(
    runbooks: Annotated[
        list[str],
        typer.Argument(
            help="The recovery plan: scripts or commands run in order, unchanged."
        ),
    ],
    kinds: Annotated[
        str,
        typer.Option(
            help="Fault kinds to draw, comma-separated: kinds or the groups "
            "service-down, restartable, network, all."
        ),
    ] = "service-down",
    examples: Annotated[
        int | None,
        typer.Option(
            help="Schedules to try (default $DRILL_CAMPAIGN_EXAMPLES, else 20)."
        ),
    ] = None,
    max_time_s: Annotated[
        float | None,
        typer.Option(
            "--max-time",
            help="Seconds before no new drill starts "
            "(default $DRILL_CAMPAIGN_MAX_S, else 900).",
        ),
    ] = None,
    max_faults: Annotated[int, typer.Option(help="Most faults in one schedule.")] = 3,
    budget_s: Annotated[
        float, typer.Option("--budget", help="Recovery budget of each drill, s.")
    ] = 10.0,
    step_timeout_s: Annotated[
        float, typer.Option("--step-timeout", help="Timeout of each runbook step, s.")
    ] = 60.0,
    writes: Annotated[
        bool,
        typer.Option(
            "--writes/--no-writes", help="Require every acknowledged write to survive."
        ),
    ] = True,
    seed: Annotated[
        int | None, typer.Option(help="Seed: the same schedules every time.")
    ] = None,
    name: Annotated[
        str, typer.Option(help="Name of the saved failing scenario.")
    ] = "campaign",
    reports: Annotated[
        Path, typer.Option(help="Directory for journals and the saved scenario.")
    ] = Path("reports"),
    ports: PortsWhenUp = "runbook",
    quiet: Quiet = False,
) -> None:
    """Run drills on generated fault schedules until the plan breaks.

    Exit 0 when no schedule broke the plan, 1 when one did (the smallest is
    printed and saved as a scenario file), 2 on a usage error.
    """
    from harness.campaign import Schedule, kinds_from, run_campaign
    from harness.drills import stack_for_drills
    from harness.live import LiveView
    from harness.result import DrillResult

    # Every flag is checked before a stack comes up.
    mode = ports_mode(ports)
    chosen = kinds_from(kinds)
    require_positive("--examples", examples)
    require_positive("--max-time", max_time_s)
    require_positive("--max-faults", max_faults)
    require_positive("--budget", budget_s)
    require_positive("--step-timeout", step_timeout_s)
    steps = recovery_steps(runbooks, step_timeout_s)
    view = LiveView(console(), quiet=quiet)

    def progress(number: int, schedule: Schedule, result: DrillResult) -> None:
        rto = "-" if result.rto_s is None else f"{result.rto_s:.1f}s"
        view.message(
            f"  drill {number}: {schedule.describe()} -> "
            f"{result.outcome.value} (RTO {rto})"
        )

    with stack_for_drills(mode, view) as runtime:
        view.message(f"Campaign over {', '.join(chosen)}; plan: {' ; '.join(runbooks)}")
        outcome = run_campaign(
            runtime,
            steps,
            max_examples=examples,
            max_time_s=max_time_s,
            reports_dir=reports,
            seed=seed,
            kinds=chosen,
            max_faults=max_faults,
            budget_s=budget_s,
            check_writes=writes,
            name=name,
            on_drill=progress,
        )
    ran = len(outcome.drills)
    limit = " (time limit reached)" if outcome.timed_out else ""
    if outcome.passed:
        view.message(
            f"No schedule broke the plan: {ran} drill(s) in "
            f"{outcome.elapsed_s:.0f}s{limit}."
        )
        raise typer.Exit(0)
    view.message(f"{ran} drill(s) in {outcome.elapsed_s:.0f}s{limit}.")
    raise typer.Exit(1)


_FIRST_WORD = re.compile(r"""\s*('[^']*'|"[^"]*"|[^\s;&|]+)""")
"""The first word of a command as written, quoted or not."""


def recovery_steps(runbooks: list[str], timeout_s: float) -> list[dict[str, Any]]:
    """One `run:` step per script or command, in order.

    A script named by its first word runs by its absolute path, so the steps
    (and a saved scenario) work from any directory; a first word that looks
    like a script but is no file is a usage error before anything runs.
    """
    steps: list[dict[str, Any]] = []
    for entry in runbooks:
        try:
            words = shlex.split(entry)
        except ValueError as exc:
            raise UsageError(f"runbook {entry!r} cannot be parsed: {exc}") from None
        if not words:
            raise UsageError("a runbook argument is empty", hint="give a script path")
        first, command = words[0], entry
        raw_first = _FIRST_WORD.match(entry)
        if Path(first).is_file() and raw_first is not None:
            absolute = shlex.quote(str(Path(first).resolve()))
            command = absolute + entry[raw_first.end() :]
        elif "/" in first or first.endswith(".sh"):
            raise UsageError(
                f"runbook {first!r} does not exist (from {entry!r})",
                hint="give a script path or a quoted command",
            )
        steps.append({"run": command, "timeout_s": timeout_s})
    return steps
