"""Command shims put first on a recovery script's PATH: systemctl, sudo, drill."""

from __future__ import annotations

import shlex
from pathlib import Path

SHIMS = {
    "systemctl": "harness.systemctl",
    "sudo": "harness.sudo",
    "drill": "harness.cli",
}


def write_shims(bin_dir: Path, state_dir: Path, python: str) -> Path:
    """Write one executable per shim into `bin_dir`; return `bin_dir`.

    Each shim runs its module with this interpreter against this stack's
    state directory, unless the caller's environment names another one.
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    for command, module in SHIMS.items():
        path = bin_dir / command
        path.write_text(
            "#!/bin/sh\n"
            f"# {command} for the drill stand-ins: controls them as systemd units.\n"
            f'DRILL_STATE_DIR="${{DRILL_STATE_DIR:-{shlex.quote(str(state_dir))}}}"'
            " \\\n"
            f'  exec {shlex.quote(python)} -m {module} "$@"\n'
        )
        path.chmod(0o755)
    return bin_dir
