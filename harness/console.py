"""The one console object for terminal output; tests swap it for a recording one."""

from __future__ import annotations

from rich.console import Console

_consoles = {
    "out": Console(highlight=False),
    "err": Console(stderr=True, highlight=False),
}


def console() -> Console:
    """The console for normal output."""
    return _consoles["out"]


def error_console() -> Console:
    """The console for errors (stderr)."""
    return _consoles["err"]


def use(out: Console, err: Console | None = None) -> None:
    """Replace the consoles (for tests: fixed width, recording, no colour)."""
    _consoles["out"] = out
    _consoles["err"] = err or out
