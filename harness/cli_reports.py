"""`drill report`: render a drill's reports again from its journal alone.

`report_app` is a group so that later subcommands (`drill report monthly`)
sit beside it; an argument that is not a subcommand name is taken as the
journal, so `drill report path/to/journal.json` renders that drill.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

# typer 0.29 vendors click; its groups take the vendored Context.
from typer._click.core import Context
from typer.core import TyperGroup

from harness.cli_options import Quiet
from harness.console import console
from harness.errors import UsageError
from harness.reports import write_reports
from harness.reports.journal import JOURNAL_NAME, load_journal

_RENDER = "render"


class _ReportGroup(TyperGroup):
    """Routes `report JOURNAL [OPTIONS]` to the hidden render command."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        first = args[0] if args else None
        if (
            first is not None
            and first not in self.commands
            and first
            not in (
                "--help",
                "-h",
            )
        ):
            args = [_RENDER, *args]
        return super().parse_args(ctx, args)


report_app = typer.Typer(
    cls=_ReportGroup,
    no_args_is_help=True,
    help="Render a drill's reports from its journal: drill report JOURNAL.",
)


class Format(StrEnum):
    """Which reports to render."""

    md = "md"
    html = "html"
    all = "all"


@report_app.command(_RENDER, hidden=True)
def report(
    journal: Annotated[
        Path,
        typer.Argument(help="A journal.json written by `drill run`, or its directory."),
    ],
    fmt: Annotated[
        Format,
        typer.Option(
            "--format",
            help="md (report.md, notification.txt, status_update.txt), html "
            "(report.html) or all.",
        ),
    ] = Format.all,
    out: Annotated[
        Path | None,
        typer.Option(help="Directory for the reports (default: the journal's)."),
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Render a drill's reports again from its journal alone."""
    path = journal / JOURNAL_NAME if journal.is_dir() else journal
    if not path.is_file():
        raise UsageError(
            f"no journal at {path} (from the JOURNAL argument)",
            hint="give a journal.json written by `drill run`, or its directory",
        )
    result = load_journal(path)
    directory = out if out is not None else path.parent
    formats: tuple[str, ...] = ("md", "html") if fmt is Format.all else (fmt.value,)
    try:
        written = write_reports(result, directory, formats=formats)
    except OSError as exc:
        raise UsageError(
            f"cannot write reports to {directory} ({exc.strerror}; from --out)",
            hint="give --out a writable directory",
        ) from None
    if not quiet:
        for file in written:
            console().print(str(file), markup=False, soft_wrap=True)
