"""The drill CLI: bad input gets one line and an exit code, nothing left running."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness.runtime.local import LocalRuntime
from harness.runtime.state import StateStore

from .stack_support import drill, marked_pids

pytestmark = pytest.mark.timeout(120)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got: {result.stderr!r}"
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("drill: error: ")
    return lines[0]


def test_up_fails_with_exit_four_when_postgres_binaries_are_missing(state_dir: Path):
    env_pg = {"DRILL_PG_BIN": "/nonexistent/pg/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "up", "--ports", "auto"],
        check=False,
        env={**os.environ, **env_pg, "DRILL_STATE_DIR": str(state_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 4
    line = one_error_line(result)
    assert "/nonexistent/pg/bin" in line
    assert "DRILL_PG_BIN" in line
    assert marked_pids(state_dir / "run") == []


def test_up_fails_with_exit_four_when_a_runbook_port_is_taken(state_dir: Path):
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 8082))
    except OSError:
        pytest.skip("port 8082 is already held by another process on this machine")
    holder.listen()
    try:
        result = drill(state_dir, "up")
    finally:
        holder.close()
    assert result.returncode == 4
    line = one_error_line(result)
    assert "port 8082" in line
    assert "--ports auto" in line
    assert marked_pids(state_dir / "run") == []


def test_up_fails_with_exit_two_when_ports_mode_is_unknown(state_dir: Path):
    result = drill(state_dir, "up", "--ports", "random")
    assert result.returncode == 2
    assert "'random'" in one_error_line(result)


def test_status_fails_with_exit_four_when_no_stack_is_up(state_dir: Path):
    result = drill(state_dir, "status")
    assert result.returncode == 4
    assert "drill up" in one_error_line(result)


def test_down_is_a_no_op_when_no_stack_is_up(state_dir: Path):
    result = drill(state_dir, "down")
    assert result.returncode == 0
    assert "nothing to do" in result.stdout


def test_down_force_kills_strays_when_the_state_file_is_corrupt(state_dir: Path):
    run_dir = state_dir / "run"
    run_dir.mkdir(parents=True)
    stray = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env={**os.environ, "DRILL_RUN_DIR": str(run_dir)},
        start_new_session=True,
    )
    (state_dir / "stack.json").write_text("{ this is not json")
    try:
        status = drill(state_dir, "status")
        assert status.returncode == 4
        assert "down --force" in one_error_line(status)
        result = drill(state_dir, "down", "--force")
        assert result.returncode == 0, result.stderr
        assert stray.wait(timeout=5) == -9
        assert not (state_dir / "stack.json").exists()
    finally:
        stray.kill()


def test_logs_fails_with_exit_two_when_the_service_is_unknown(stack: LocalRuntime):
    result = drill(stack.store.directory, "logs", "geth-mainnet")
    assert result.returncode == 2
    assert "'geth-mainnet'" in one_error_line(result)


def test_up_then_down_from_the_cli_leaves_nothing_running_when_run_in_turn():
    from .stack_support import make_state_dir

    state_dir = make_state_dir()
    try:
        up = drill(
            state_dir, "up", "--ports", "auto", "--block-time-ms", "200", timeout_s=120
        )
        assert up.returncode == 0, up.stdout + up.stderr
        assert "Stack ready" in up.stdout
        assert "erigon-ethereum" in up.stdout
        assert marked_pids(state_dir / "run")
        again = drill(state_dir, "up", "--ports", "auto")
        assert again.returncode == 4
        assert "already up" in one_error_line(again)
        down = drill(state_dir, "down", timeout_s=120)
        assert down.returncode == 0, down.stderr
        assert marked_pids(state_dir / "run") == []
    finally:
        LocalRuntime(StateStore(state_dir)).force_down()


def test_unknown_flag_is_one_line_and_exit_two_when_given(state_dir: Path):
    result = drill(state_dir, "up", "--bogus")
    assert result.returncode == 2
    assert "--bogus" in one_error_line(result)
