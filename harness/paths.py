"""Where the project's own files are: fixtures and scenarios beside the package."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def fixtures_dir() -> Path:
    """`$DRILL_FIXTURES`, else the repository's `fixtures/`."""
    return Path(os.environ.get("DRILL_FIXTURES", PROJECT_ROOT / "fixtures"))
