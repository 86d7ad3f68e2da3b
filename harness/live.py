"""Live output of drills: a line per phase as it happens, a summary table at the end."""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table

from harness.result import DrillResult, Outcome

STYLE = {Outcome.PASSED: "green", Outcome.FAILED: "red", Outcome.INVALID: "yellow"}
QUIET_KINDS = {"step_end"}


class LiveView:
    """Renders drill events on a console; silent with `quiet`."""

    def __init__(self, out: Console, *, quiet: bool = False) -> None:
        self.out = out
        self.quiet = quiet
        self._started = time.monotonic()

    def message(self, text: str) -> None:
        """A line outside any drill (stack up and down, choices made)."""
        if not self.quiet:
            self.out.print(text)

    def drill_started(self, scenario: str) -> None:
        """A drill begins."""
        self._started = time.monotonic()
        if not self.quiet:
            self.out.rule(f"drill: {scenario}")

    def event(self, kind: str, detail: str) -> None:
        """One phase event, with seconds since the drill started."""
        if self.quiet:
            return
        elapsed = time.monotonic() - self._started
        text = f"  [dim]{elapsed:7.2f}s[/] [bold]{kind}[/]"
        if detail:
            text += f" [dim]{detail}[/]" if kind in QUIET_KINDS else f" {detail}"
        self.out.print(text, highlight=False)

    def summary(self, results: Sequence[DrillResult]) -> None:
        """A table of every drill: outcome, times, severity, the journal."""
        table = Table(title="Drill results", box=box.SIMPLE_HEAD, pad_edge=False)
        for column in (
            "scenario",
            "outcome",
            "detect",
            "RTO",
            "RPO",
            "budget",
            "sev",
            "exp",
        ):
            table.add_column(column, no_wrap=True)
        for r in results:
            table.add_row(
                r.scenario,
                f"[{STYLE[r.outcome]}]{r.outcome.value}[/]",
                _seconds(r.detection_s),
                _seconds(r.rto_s),
                _seconds(r.rpo_s),
                f"{r.budget_s:g}s",
                _sev(r.severity_observed),
                _sev(r.severity_expected),
            )
        self.out.print(table)
        for r in results:
            self.out.print(
                f"{r.scenario}: journal {r.report_dir}/journal.json",
                highlight=False,
                soft_wrap=True,
            )
        for r in results:
            for reason in r.reasons:
                self.out.print(
                    f"[{STYLE[r.outcome]}]{r.scenario}:[/] {reason}", highlight=False
                )


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _sev(value: object) -> str:
    return "-" if value is None else str(value)
