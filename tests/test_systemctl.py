"""The systemctl shim: systemd's verbs, unit names and exit codes over a real stack."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harness.runtime.local import LocalRuntime

pytestmark = pytest.mark.timeout(180)


def systemctl(runtime: LocalRuntime, *args: str) -> subprocess.CompletedProcess[str]:
    shim = Path(runtime.path_dirs()[0]) / "systemctl"
    env = {**os.environ, "DRILL_STATE_DIR": str(runtime.store.directory)}
    return subprocess.run(
        [str(shim), *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=90,
    )


def test_is_active_exits_zero_when_every_unit_runs(stack):
    done = systemctl(
        stack,
        "is-active",
        "erigon",
        "mev-boost",
        "mev-infra",
        "postgresql",
        "mev-artemis",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["active"] * 5


def test_is_active_reports_failed_when_a_chain_node_was_killed(stack):
    stack.kill("erigon-polygon")
    try:
        done = systemctl(stack, "is-active", "erigon@polygon")
        assert done.returncode == 3
        assert done.stdout.strip() == "failed"
        group = systemctl(stack, "is-active", "--quiet", "erigon")
        assert group.returncode == 3
        assert group.stdout == ""
    finally:
        restarted = systemctl(stack, "restart", "erigon@polygon")
    assert restarted.returncode == 0, restarted.stderr
    assert stack.health("erigon-polygon").ready


def test_stop_then_start_leaves_the_unit_ready_when_run_as_a_runbook_does(stack):
    assert systemctl(stack, "stop", "mev-infra").returncode == 0
    inactive = systemctl(stack, "is-active", "mev-infra")
    assert (inactive.returncode, inactive.stdout.strip()) == (3, "inactive")
    started = systemctl(stack, "start", "mev-infra")
    assert started.returncode == 0, started.stderr
    assert stack.health("mev-api").ready


def test_status_prints_the_unit_and_exits_zero_when_running(stack):
    done = systemctl(stack, "status", "mev-boost")
    assert done.returncode == 0
    assert "mev-boost.service" in done.stdout
    assert "Active: active (running)" in done.stdout


def test_unknown_unit_exits_five_with_systemd_message_when_unit_is_not_in_the_stack(
    stack,
):
    done = systemctl(stack, "restart", "nginx")
    assert done.returncode == 5
    assert done.stderr.strip() == (
        "Failed to restart nginx.service: Unit nginx.service not found."
    )


def shim(runtime: LocalRuntime, name: str, *args: str):
    env = {**os.environ, **runtime.recovery_env()}
    return subprocess.run(
        [name, *args], check=False, capture_output=True, text=True, env=env, timeout=90
    )


def test_sudo_postgres_runs_psql_as_the_superuser_when_a_runbook_asks(stack):
    done = shim(
        stack,
        "sudo",
        "-u",
        "postgres",
        "psql",
        "-Atc",
        "SELECT current_user, pg_database_size('mev_db') > 0",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "postgres|t"


def test_sudo_refuses_an_unknown_user_when_asked_for_one(stack):
    done = shim(stack, "sudo", "-u", "mallory", "true")
    assert done.returncode == 1
    assert "unknown user mallory" in done.stderr


def test_drill_shim_rotates_the_api_key_when_a_runbook_calls_it(stack):
    old = stack.secrets().api_key
    done = shim(stack, "drill", "secrets", "rotate", "api_key")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "rotated api_key"
    assert stack.secrets().api_key != old
    assert old not in done.stdout
