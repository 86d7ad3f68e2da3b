"""The local runtime, for real: control each service, leave nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time

import httpx
import psycopg
import pytest

from harness.errors import StackAlreadyUp
from harness.runtime.local import LocalRuntime
from harness.stack import SERVICES

from ..stack_support import drill

pytestmark = pytest.mark.timeout(180)


def rpc(url: str, method: str, timeout_s: float = 2.0) -> object:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": []}
    return httpx.post(url, json=body, timeout=timeout_s).json()["result"]


def wait_until(condition, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_every_service_is_ready_when_the_stack_is_up(stack: LocalRuntime):
    for service in SERVICES:
        health = stack.health(service.name)
        assert health.ready, f"{service.name}: {health.state} {health.detail}"


def test_clients_reach_every_chain_through_the_proxy_when_the_stack_is_up(stack):
    endpoints = stack.endpoints()
    chain_ids = {c: rpc(url, "eth_chainId") for c, url in endpoints.rpc.items()}
    assert chain_ids == {
        "ethereum": "0x1",
        "arbitrum": "0xa4b1",
        "optimism": "0xa",
        "base": "0x2105",
        "polygon": "0x89",
    }
    proxies = httpx.get(f"{endpoints.proxy_api}/proxies", timeout=2).json()
    assert "erigon-ethereum" in proxies
    assert "mev-api_to_postgres" in proxies


def test_database_answers_with_generated_password_when_the_stack_is_up(stack):
    db = stack.endpoints().database
    with psycopg.connect(
        db.url(), password=stack.secrets().db_password, connect_timeout=3
    ) as conn:
        count = conn.execute("SELECT count(*) FROM strategies").fetchone()
    assert count is not None and count[0] == 4


def test_strategy_engine_writes_fresh_opportunities_when_the_stack_is_up(stack):
    db = stack.endpoints().database
    password = stack.secrets().db_password

    def newest() -> int:
        with psycopg.connect(db.url(), password=password, connect_timeout=3) as conn:
            row = conn.execute(
                "SELECT coalesce(max(id), 0) FROM opportunities "
                "WHERE detected_at > now() - interval '1 minute'"
                " AND block_number > 1100"
            ).fetchone()
        return int(row[0]) if row else 0

    first = newest()
    assert wait_until(lambda: newest() > first, timeout_s=15), "no new rows written"


def test_killed_service_is_exited_and_restart_brings_it_back_when_killed(stack):
    stack.kill("erigon-base", "SIGKILL")
    assert wait_until(lambda: stack.health("erigon-base").state == "exited")
    url = stack.endpoints().rpc["base"]
    with pytest.raises(httpx.HTTPError):
        rpc(url, "eth_blockNumber", timeout_s=1)
    stack.restart("erigon-base")
    assert stack.health("erigon-base").ready
    assert int(str(rpc(url, "eth_blockNumber")), 16) > 0


def test_paused_service_answers_nothing_until_resumed_when_paused(stack):
    url = stack.endpoints().rpc["optimism"]
    stack.pause("erigon-optimism")
    try:
        assert stack.health("erigon-optimism").state == "paused"
        with pytest.raises(httpx.TimeoutException):
            rpc(url, "eth_blockNumber", timeout_s=0.5)
    finally:
        stack.resume("erigon-optimism")
    assert int(str(rpc(url, "eth_blockNumber")), 16) > 0


def test_paused_postgres_freezes_open_sessions_until_resumed_when_paused(stack):
    db = stack.endpoints().database
    password = stack.secrets().db_password
    with psycopg.connect(db.url(), password=password, connect_timeout=3) as conn:
        conn.execute("SELECT 1")
        answers: list[object] = []
        stack.pause("postgres")
        try:
            worker = threading.Thread(
                target=lambda: answers.append(conn.execute("SELECT 2").fetchone()),
                daemon=True,
            )
            worker.start()
            worker.join(1.0)
            assert answers == [], "an open session answered while Postgres was paused"
        finally:
            stack.resume("postgres")
        worker.join(5.0)
        assert answers == [(2,)]
    assert wait_until(lambda: stack.health("mev-api").ready, timeout_s=15)


def test_paused_postgres_starts_again_when_killed_while_paused(stack):
    db = stack.endpoints().database
    password = stack.secrets().db_password
    with psycopg.connect(db.url(), password=password, connect_timeout=3) as conn:
        conn.execute("SELECT 1")
    stack.pause("postgres")
    stack.kill("postgres")
    assert stack.health("postgres").state == "exited"
    # Frozen backends left behind would hold the shared memory and the port.
    stack.start("postgres")
    with psycopg.connect(db.url(), password=password, connect_timeout=3) as conn:
        assert conn.execute("SELECT 3").fetchone() == (3,)
    assert wait_until(lambda: stack.health("mev-api").ready, timeout_s=15)


def test_postgres_keeps_its_data_when_restarted(stack):
    db = stack.endpoints().database
    password = stack.secrets().db_password
    with psycopg.connect(db.url(), password=password, connect_timeout=3) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS restart_probe (v int)")
        conn.execute("INSERT INTO restart_probe VALUES (42)")
    stack.restart("postgres")
    with psycopg.connect(db.url(), password=password, connect_timeout=3) as conn:
        row = conn.execute("SELECT v FROM restart_probe").fetchone()
    assert row == (42,)
    assert wait_until(lambda: stack.health("mev-api").ready, timeout_s=15)


def test_stopped_service_is_stopped_not_exited_when_stopped_on_purpose(stack):
    stack.stop("relay-b")
    try:
        assert stack.health("relay-b").state == "stopped"
    finally:
        stack.start("relay-b")
    assert stack.health("relay-b").ready


def test_second_up_is_refused_when_a_stack_is_already_up(stack):
    with pytest.raises(StackAlreadyUp, match="already up"):
        LocalRuntime(stack.store).up()


def test_status_json_lists_every_service_when_asked(stack):
    result = drill(stack.store.directory, "status", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == [s.name for s in SERVICES]
    assert all(r["healthy"] for r in rows), rows
    assert rows[0]["url"] == stack.endpoints().rpc["ethereum"]


def test_runbook_validation_runs_unchanged_when_env_is_evaluated(stack):
    exports = drill(stack.store.directory, "env")
    assert exports.returncode == 0, exports.stderr
    script = (
        exports.stdout
        + """
set -e
for service in erigon mev-boost mev-artemis mev-infra; do
  systemctl is-active --quiet $service
done
curl -s -f "$DRILL_RPC_ETHEREUM" >/dev/null
curl -s -f "$MEV_API_URL/api/v1/opportunities" >/dev/null
psql -U mev_user -d mev_db -c "SELECT 1;" >/dev/null
echo validated
"""
    )
    done = subprocess.run(
        ["bash", "-c", script],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/")},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("validated")


def test_rotated_api_key_replaces_the_old_one_when_rotated(stack):
    old = stack.secrets().api_key
    url = f"{stack.endpoints().mev_api}/api/v1/audit"
    assert httpx.get(url, headers={"X-API-Key": old}, timeout=3).status_code == 200
    stack.rotate_secret("api_key")
    new = stack.secrets().api_key
    assert new != old

    def status(key: str) -> int:
        return httpx.get(url, headers={"X-API-Key": key}, timeout=3).status_code

    assert wait_until(lambda: status(old) == 401)
    assert status(new) == 200


def test_rotated_db_password_locks_out_the_old_one_when_rotated(stack):
    db = stack.endpoints().database
    old = stack.secrets().db_password
    stack.rotate_secret("db_password")
    new = stack.secrets().db_password
    with pytest.raises(psycopg.OperationalError, match="password authentication"):
        psycopg.connect(db.url(), password=old, connect_timeout=3).close()
    with psycopg.connect(db.url(), password=new, connect_timeout=3) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert stack.health("mev-api").ready
    assert stack.health("mev-artemis").ready


def test_admin_database_url_is_a_superuser_when_used(stack):
    with psycopg.connect(stack.admin_database_url(), connect_timeout=3) as conn:
        row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert row.fetchone() == (True,)


def test_up_retries_with_new_ports_when_a_chosen_port_is_taken(monkeypatch, state_dir):
    import socket

    from harness.runtime import plan
    from harness.runtime.plan import PlanOptions
    from harness.runtime.state import StateStore

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    taken = holder.getsockname()[1]
    real = plan.free_ports  # type: ignore[attr-defined]
    calls = []

    def first_collides(count: int) -> list[int]:
        ports = real(count)
        calls.append(count)
        # The first service's internal port, on the first plan only.
        return [taken, *ports[1:]] if len(calls) == 2 else ports

    monkeypatch.setattr(plan, "free_ports", first_collides)
    runtime = LocalRuntime(
        StateStore(state_dir), PlanOptions(ports="auto", block_time_ms=200)
    )
    try:
        runtime.up()
        assert all(runtime.health(s.name).ready for s in SERVICES)
        assert len(calls) > 3, "the stack was planned only once"
    finally:
        holder.close()
        runtime.down()


def test_status_exits_one_when_a_service_is_unhealthy(stack):
    stack.stop("relay-b")
    try:
        result = drill(stack.store.directory, "status", "--json")
    finally:
        stack.start("relay-b")
    assert result.returncode == 1
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["relay-b"]["healthy"] is False
    assert rows["relay-b"]["state"] == "stopped"
