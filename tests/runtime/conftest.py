"""Fixtures for runtime tests: a private state directory and a stack on free ports."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.runtime.local import RUN_DIR_ENV, LocalRuntime
from harness.runtime.plan import PlanOptions
from harness.runtime.state import StateStore


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


@pytest.fixture
def state_dir() -> Iterator[Path]:
    path = make_state_dir()
    yield path
    LocalRuntime(StateStore(path)).force_down()
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="package")
def stack() -> Iterator[LocalRuntime]:
    """One stack on free ports for the runtime tests; brought down at the end."""
    path = make_state_dir()
    runtime = LocalRuntime(StateStore(path),
                           PlanOptions(ports="auto", block_time_ms=200))
    runtime.up()
    run_dir = path / "run"
    yield runtime
    runtime.down()
    left = marked_pids(run_dir)
    LocalRuntime(StateStore(path)).force_down()
    shutil.rmtree(path, ignore_errors=True)
    assert left == [], f"processes left after down: {left}"


def drill(state_dir: Path, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the `drill` CLI against a private state directory."""
    env = {**os.environ, "DRILL_STATE_DIR": str(state_dir)}
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], env=env,
                          capture_output=True, text=True, timeout=timeout_s)
