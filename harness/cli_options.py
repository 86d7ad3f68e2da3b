"""Options that several `drill` commands share, with their help written once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.errors import UsageError

PortsWhenUp = Annotated[
    str,
    typer.Option(
        "--ports",
        help="Ports when this command brings the stack up: runbook or auto.",
    ),
]
"""`--ports` of the commands that bring a stack up only when none is running."""

Reports = Annotated[
    Path,
    typer.Option("--reports", help="Directory for journals and reports."),
]
"""`--reports DIR`: where journals, reports and history go."""

Quiet = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="No progress lines; errors still print."),
]
"""`--quiet`/`-q`: no progress lines."""


def require_positive(flag: str, value: float | None) -> None:
    """A usage error naming `flag` unless `value` is unset or above 0."""
    if value is not None and value <= 0:
        raise UsageError(f"{flag} must be above 0, got {value:g}")
