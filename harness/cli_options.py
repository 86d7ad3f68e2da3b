"""Options that several `drill` commands share, with their help written once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
