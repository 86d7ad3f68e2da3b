"""Outputs of a drill: the journal first; every other report reads it."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from harness.result import DrillResult

FORMATS = ("md", "html")
"""Report formats: `md` (report, notification, status update) and `html`."""


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_reports(
    result: DrillResult,
    directory: Path,
    *,
    formats: Iterable[str] = FORMATS,
    now: datetime | None = None,
) -> list[Path]:
    """Write the reports of a drill into `directory`; return their paths.

    `md` writes report.md, notification.txt and status_update.txt; `html`
    writes report.html. Each file is replaced atomically. `now` stamps the
    Markdown report (default: the current time).
    """
    from harness.reports.html import render_html
    from harness.reports.markdown import (
        render_markdown,
        render_notification,
        render_status_update,
    )

    wanted = set(formats)
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if "md" in wanted:
        written += [
            _write(directory / "report.md", render_markdown(result, now=now)),
            _write(directory / "notification.txt", render_notification(result)),
            _write(directory / "status_update.txt", render_status_update(result)),
        ]
    if "html" in wanted:
        written.append(_write(directory / "report.html", render_html(result)))
    return written
