"""The journal: a drill's `DrillResult` as JSON, written atomically and loaded back."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from harness.errors import UsageError
from harness.result import DrillResult

JOURNAL_NAME = "journal.json"
REDACTED = "***"


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret value in `text`; empty values are ignored."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def write_journal(
    result: DrillResult, directory: Path, secrets: Iterable[str] = ()
) -> Path:
    """Write `<directory>/journal.json` (redacted, atomic); return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / JOURNAL_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(redact(result.model_dump_json(indent=2), secrets) + "\n")
    os.replace(tmp, path)
    return path


def load_journal(path: Path) -> DrillResult:
    """A journal back as a `DrillResult`; one-line UsageError when it is not one."""
    if path.is_dir():
        path = path / JOURNAL_NAME
    try:
        return DrillResult.model_validate_json(path.read_text())
    except OSError as exc:
        raise UsageError(
            f"cannot read journal {path} ({exc.strerror})",
            hint="give a journal.json written by `drill run`",
        ) from None
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UsageError(
            f"{path} is not a drill journal ({where}: {first['msg']})",
            hint="give a journal.json written by `drill run`",
        ) from None
