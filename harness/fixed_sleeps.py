"""Fixed sleeps in a recovery step: `sleep 30` where a readiness wait belongs.

The runbook's own procedures wait with `sleep 30` after a restart; a step
that does so is slow when the service is quick and wrong when it is slow.
A `sleep` inside a loop is a poll interval, not a fixed wait, and is not
counted; nor is one whose duration is not a literal (`sleep "$INTERVAL"`).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

SCRIPT_LIMIT_BYTES = 256 * 1024
"""A script bigger than this is not read (a binary, most likely)."""

_SLEEP = re.compile(r"(?<![\w$-])sleep\s+(\d+(?:\.\d+)?)s?(?![\w.])")
_LOOP_OPEN = re.compile(r"(?<![\w-])do(?![\w-])")
_LOOP_CLOSE = re.compile(r"(?<![\w-])done(?![\w-])")
_SHELLS = {"bash", "sh", "dash", "zsh", "/bin/bash", "/bin/sh", "/usr/bin/bash"}


def in_text(text: str) -> list[float]:
    """Seconds of every fixed `sleep N` in shell text, outside loops."""
    found: list[float] = []
    depth = 0
    for raw in text.splitlines():
        line = _without_comment(raw)
        opens = len(_LOOP_OPEN.findall(line))
        if depth == 0 and opens == 0:
            found.extend(float(m.group(1)) for m in _SLEEP.finditer(line))
        depth = max(0, depth + opens - len(_LOOP_CLOSE.findall(line)))
    return found


def in_step(command: str, base_dir: Path) -> list[float]:
    """Fixed sleeps in a step's command line and in the script it runs.

    The script is the command's first word, or the word after a shell name
    (`bash fix.sh`), when it names a readable file (relative to `base_dir`).
    """
    found = in_text(command)
    script = _script_of(command, base_dir)
    if script is not None:
        try:
            if script.stat().st_size <= SCRIPT_LIMIT_BYTES:
                found += in_text(script.read_text(errors="replace"))
        except OSError:
            pass
    return found


def _script_of(command: str, base_dir: Path) -> Path | None:
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if words and words[0] in _SHELLS:
        words = [w for w in words[1:] if not w.startswith("-")]
    if not words:
        return None
    path = Path(words[0].rstrip(";&|"))
    path = path if path.is_absolute() else base_dir / path
    return path if path.is_file() else None


def _without_comment(line: str) -> str:
    """The line up to an unquoted `#` that starts a word."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line
