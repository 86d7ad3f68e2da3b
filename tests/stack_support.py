"""Helpers for tests that bring a stack up: private state dirs, the CLI, leftovers."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.runtime.local import RUN_DIR_ENV


def marked_pids(run_dir: Path) -> list[int]:
    """Live (non-zombie) processes carrying this run's marker in their env."""
    marker = f"{RUN_DIR_ENV}={run_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state = stat[stat.rindex(")") + 2 :].split()[0]
        if marker in environ.split(b"\0") and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def make_state_dir() -> Path:
    # Under /tmp and traversable: Postgres runs as an unprivileged user when
    # the tests run as root, and pytest's tmp_path is private to root.
    path = Path(tempfile.mkdtemp(prefix="drill-test-", dir="/tmp"))
    path.chmod(0o711)
    return path


def drill(
    state_dir: Path, *args: str, timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the `drill` CLI against a private state directory."""
    env = {**os.environ, "DRILL_STATE_DIR": str(state_dir)}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
