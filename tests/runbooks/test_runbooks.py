"""The runbooks in fixtures/runbooks/, run unchanged against the shared stack.

Each scenario test breaks the stack directly (the runtime, the fault proxy, a
stand-in's control endpoint), runs the runbook with the recovery environment,
and checks both the script's verdict and the stack itself.
"""

from __future__ import annotations

import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from harness import backup
from harness.context import DrillContext
from harness.runtime.local import LocalRuntime

from .conftest import RUNBOOKS, RunScript, kill_and_reap, wait_until

pytestmark = pytest.mark.timeout(120)

SCRIPTS = sorted(p.relative_to(RUNBOOKS) for p in RUNBOOKS.rglob("*.sh"))
QUARTERLY = ("database_failure", "network_outage", "security_breach",
             "node_cluster_failure")  # fmt: skip
MAX_CONNECTIONS = 100
"""The stand-in Postgres's max_connections."""

EXPECTED = (
    "validate_recovery", "restart_services", "database_failure",
    "restore_database", "network_outage", "security_breach",
    "node_cluster_failure", "single_chain_node", "pool_exhaustion",
    "bundle_rejection", "sync_stall", "partition", "engine_crash", "relays_down",
)  # fmt: skip


def api_status(stack: LocalRuntime, path: str = "/health") -> int:
    try:
        return httpx.get(f"{stack.endpoints().mev_api}{path}", timeout=3).status_code
    except httpx.HTTPError:
        return 0


def run_env_ports(stack: LocalRuntime) -> list[str]:
    return stack.recovery_env()["DRILL_RPC_PORTS"].split()


def all_ready(stack: LocalRuntime, *services: str) -> bool:
    return all(stack.health(s).ready for s in services)


def drill_shim_problem(stack: LocalRuntime) -> str:
    """Why the `drill` shim cannot run here ('' when it can)."""
    done = subprocess.run(
        ["drill", "env"],
        env={**os.environ, **stack.recovery_env()},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode == 0:
        return ""
    last = (done.stderr.strip().splitlines() or ["no message"])[-1]
    return f"`drill env` exits {done.returncode}: {last}"


# The scripts themselves.


@pytest.mark.parametrize("script", SCRIPTS, ids=str)
def test_runbook_parses_when_checked_with_bash_n(script: Path) -> None:
    done = subprocess.run(
        ["bash", "-n", str(RUNBOOKS / script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=str)
def test_runbook_is_strict_and_executable_when_it_is_a_script(script: Path) -> None:
    text = (RUNBOOKS / script).read_text()
    if script.name.startswith("_"):
        assert not os.access(RUNBOOKS / script, os.X_OK), "a library is sourced"
        return
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert os.access(RUNBOOKS / script, os.X_OK)
    assert not re.search(r"^\s*sleep\s+[0-9]", text, re.MULTILINE), "fixed sleep"


def test_runbooks_cover_the_runbooks_procedures_when_listed() -> None:
    names = {p.stem for p in SCRIPTS if p.parent == Path(".")}
    assert set(EXPECTED) <= names
    broken = {p.stem for p in SCRIPTS if p.parent == Path("broken")}
    assert broken == set(QUARTERLY)


@pytest.mark.parametrize("name", QUARTERLY)
def test_broken_runbook_says_what_is_wrong_when_read(name: str) -> None:
    text = (RUNBOOKS / "broken" / f"{name}.sh").read_text()
    assert "BROKEN ON PURPOSE" in text
    assert "WHAT IS WRONG:" in text


# Recovery Validation.


def test_validate_recovery_passes_when_stack_is_healthy(run_script: RunScript) -> None:
    run = run_script("validate_recovery.sh")

    assert run.exit_code == 0, run.output
    assert run.lines("✗") == []
    assert len(run.lines("✓")) == 4 + 5 + 1 + 1
    assert "Recovery validation completed successfully" in run.output


def test_validate_recovery_fails_with_cross_line_when_a_service_is_stopped(
    run_script: RunScript, healed: LocalRuntime
) -> None:
    healed.stop("mev-artemis")

    run = run_script("validate_recovery.sh")

    assert run.exit_code == 1, run.output
    assert run.lines("✗") == ["✗ mev-artemis is not running"]
    assert "completed successfully" not in run.output


def test_validate_recovery_fails_when_an_rpc_port_is_cut(
    run_script: RunScript, healed: LocalRuntime, ctx: DrillContext
) -> None:
    ctx.proxy.update("erigon-optimism", enabled=False)
    port = ctx.endpoints.rpc["optimism"].rsplit(":", 1)[1]

    run = run_script("validate_recovery.sh", env={"VALIDATE_TRIES": "2"})

    assert run.exit_code == 1, run.output
    assert run.lines("✗") == [f"✗ RPC endpoint {port} is not responding"]


# The quarterly drill's runbooks.


def test_database_failure_runbook_brings_the_stack_back_when_postgres_is_killed(
    run_script: RunScript, healed: LocalRuntime
) -> None:
    kill_and_reap(healed, "postgres")
    wait_until("mev-api notices", lambda: api_status(healed) == 503)

    run = run_script("database_failure.sh")

    assert run.exit_code == 0, run.output
    assert "✓ postgresql restarted" in run.output
    assert "Recovery validation completed successfully" in run.output
    assert api_status(healed) == 200
    assert all_ready(healed, "postgres", "mev-api", "mev-artemis")


def test_broken_database_failure_runbook_reports_success_when_postgres_stays_down(
    run_script: RunScript, healed: LocalRuntime
) -> None:
    kill_and_reap(healed, "postgres")

    run = run_script("broken/database_failure.sh")

    assert run.exit_code == 0, run.output
    assert healed.health("postgres").state != "running"
    assert api_status(healed) != 200


def test_node_cluster_failure_runbook_brings_every_chain_back_when_nodes_die(
    run_script: RunScript, healed: LocalRuntime
) -> None:
    chains = [f"erigon-{c}" for c in healed.endpoints().rpc]
    kill_and_reap(healed, *chains[:3])
    for paused in chains[3:]:
        healed.pause(paused)

    run = run_script("node_cluster_failure.sh")

    assert run.exit_code == 0, run.output
    assert len(run.lines("✓")) >= 3 * 5
    assert all_ready(healed, *chains)


def test_broken_node_cluster_failure_runbook_leaves_chains_down_when_run(
    run_script: RunScript, healed: LocalRuntime
) -> None:
    chains = [f"erigon-{c}" for c in healed.endpoints().rpc]
    kill_and_reap(healed, *chains)

    run = run_script("broken/node_cluster_failure.sh")

    assert run.exit_code == 0, run.output
    assert healed.health("erigon-ethereum").ready
    assert not any(healed.health(c).running for c in chains[1:])


def test_network_outage_runbook_restores_paths_when_proxies_are_down(
    run_script: RunScript, healed: LocalRuntime, ctx: DrillContext
) -> None:
    for name in ("erigon-ethereum", "mev-api", "mev-api_to_postgres", "postgres"):
        ctx.proxy.update(name, enabled=False)
    ctx.proxy.add_toxic("erigon-base", "latency", attributes={"latency": 300})

    run = run_script("network_outage.sh")

    assert run.exit_code == 0, run.output
    assert all(p.enabled and not p.toxics for p in ctx.proxy.list().values())
    assert api_status(healed) == 200


def test_security_breach_runbook_rotates_and_throws_attacker_out_when_run(
    run_script: RunScript, healed: LocalRuntime
) -> None:
    problem = drill_shim_problem(healed)
    if problem:
        pytest.skip(f"the runbook needs the drill shim, which cannot run: {problem}")
    leaked = healed.secrets()
    db = healed.endpoints().database
    with psycopg.connect(healed.admin_database_url(), autocommit=True) as admin:
        admin.execute("DROP ROLE IF EXISTS backdoor")
        admin.execute("CREATE ROLE backdoor LOGIN SUPERUSER PASSWORD 'letmein'")
        admin.execute("UPDATE strategies SET enabled = false")
    attacker = psycopg.connect(
        db.url(leaked.db_password), application_name="attacker", autocommit=True
    )
    try:
        run = run_script("security_breach.sh")
    finally:
        attacker.close()

    assert run.exit_code == 0, run.output
    rotated = healed.secrets()
    assert rotated.api_key != leaked.api_key
    assert rotated.db_password != leaked.db_password
    for secret in (*leaked.values(), *rotated.values()):
        assert secret not in run.output
    assert "✓ the old API key is rejected" in run.output
    with psycopg.connect(healed.admin_database_url(), autocommit=True) as admin:
        roles = admin.execute("SELECT rolname FROM pg_roles").fetchall()
        sessions = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'attacker'"
        ).fetchone()
        enabled = admin.execute("SELECT bool_and(enabled) FROM strategies").fetchone()
    assert ("backdoor",) not in roles
    assert sessions == (0,)
    assert enabled == (True,)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(db.url(leaked.db_password), connect_timeout=3).close()


def test_broken_security_breach_runbook_leaves_the_leaked_key_valid_when_run(
    run_script: RunScript, healed: LocalRuntime
) -> None:
    leaked = healed.secrets()

    run = run_script("broken/security_breach.sh")

    assert run.exit_code == 0, run.output
    assert healed.secrets() == leaked
    status = httpx.get(
        f"{healed.endpoints().mev_api}/api/v1/audit",
        headers={"X-API-Key": leaked.api_key},
    ).status_code
    assert status == 200


def test_broken_network_outage_runbook_leaves_the_path_cut_when_run(
    run_script: RunScript, healed: LocalRuntime, ctx: DrillContext
) -> None:
    ctx.proxy.update("mev-api", enabled=False)

    run = run_script("broken/network_outage.sh")

    assert run.exit_code == 0, run.output
    assert not ctx.proxy.get("mev-api").enabled
    assert api_status(healed) == 0


# The other runbooks.


def test_restore_database_runbook_restores_the_days_backup_when_table_is_dropped(
    run_script: RunScript, healed: LocalRuntime, ctx: DrillContext, tmp_path: Path
) -> None:
    backup_dir = tmp_path / "backups"
    backup.take_backup(ctx, backup_dir)
    with psycopg.connect(healed.admin_database_url(), autocommit=True) as admin:
        admin.execute("DROP TABLE strategies CASCADE")
    try:
        run = run_script(
            "restore_database.sh", env={"DRILL_BACKUP_DIR": str(backup_dir)}
        )
    finally:
        with psycopg.connect(healed.admin_database_url(), autocommit=True) as admin:
            found = admin.execute("SELECT to_regclass('strategies')").fetchone()
        if found is None or found[0] is None:
            backup.restore_database(ctx, backup.newest_backup(backup_dir) or tmp_path)

    assert run.exit_code == 0, run.output
    assert "Database restored from backup" in run.output
    assert api_status(healed, "/api/v1/strategies") == 200


def test_restore_database_runbook_fails_when_there_is_no_backup(
    run_script: RunScript, tmp_path: Path
) -> None:
    run = run_script("restore_database.sh", env={"DRILL_BACKUP_DIR": str(tmp_path)})

    assert run.exit_code == 1
    assert f"ERROR: No backup file found in {tmp_path}" in run.output


def test_restart_services_runbook_starts_stopped_services_in_order(
    run_script: RunScript, healed: LocalRuntime
) -> None:
    for service in ("mev-api", "mev-artemis", "mev-boost"):
        healed.stop(service)

    run = run_script("restart_services.sh")

    assert run.exit_code == 0, run.output
    restoration = run.output.split("=== Recovery Validation ===")[0]
    checks = [line for line in restoration.splitlines() if line.startswith("✓")]
    assert checks[:5] == [
        f"✓ erigon RPC on port {port}" for port in run_env_ports(healed)
    ]
    assert checks[5:] == [
        "✓ mev-boost builder API status",
        "✓ mev-artemis is active",
        "✓ mev-artemis is writing opportunities",
        "✓ MEV API health",
    ]
    assert "Recovery validation completed successfully" in run.output
    assert all_ready(healed, "mev-api", "mev-artemis", "mev-boost")


def test_engine_crash_runbook_restarts_the_engine_when_it_is_killed(
    run_script: RunScript, healed: LocalRuntime
) -> None:
    kill_and_reap(healed, "mev-artemis")

    run = run_script("engine_crash.sh")

    assert run.exit_code == 0, run.output
    assert "✓ mev-artemis is writing opportunities" in run.output


def test_single_chain_node_runbook_restarts_that_chain_when_it_is_frozen(
    run_script: RunScript, healed: LocalRuntime
) -> None:
    healed.pause("erigon-base")

    run = run_script("single_chain_node.sh", "base")

    assert run.exit_code == 0, run.output
    assert "✓ base reports synced" in run.output
    assert healed.health("erigon-base").ready


def test_single_chain_node_runbook_refuses_when_chain_is_unknown(
    run_script: RunScript,
) -> None:
    run = run_script("single_chain_node.sh", "solana")

    assert run.exit_code == 2
    assert "unknown chain 'solana'" in run.output


def test_sync_stall_runbook_gets_the_head_moving_when_sync_is_stalled(
    run_script: RunScript, healed: LocalRuntime
) -> None:
    url = healed.endpoints().rpc["polygon"]
    httpx.post(f"{url}/_standin/sync", json={"stalled": True}).raise_for_status()

    run = run_script("sync_stall.sh", "polygon")

    assert run.exit_code == 0, run.output
    state = httpx.get(f"{url}/_standin/state").json()
    assert state["sync_stalled"] is False


def test_relays_down_runbook_brings_relays_back_when_both_are_stopped(
    run_script: RunScript, healed: LocalRuntime
) -> None:
    healed.stop("relay-a")
    healed.stop("relay-b")

    run = run_script("relays_down.sh")

    assert run.exit_code == 0, run.output
    status = httpx.get(f"{healed.endpoints().mev_boost}/eth/v1/builder/status")
    assert status.status_code == 200


def test_bundle_rejection_runbook_clears_rejection_when_relay_rejects_most(
    run_script: RunScript, healed: LocalRuntime
) -> None:
    relay = healed.endpoints().relays["relay-a"]
    httpx.post(f"{relay}/_standin/rejection", json={"rate": 0.95}).raise_for_status()

    run = run_script("bundle_rejection.sh")

    assert run.exit_code == 0, run.output
    assert httpx.get(f"{relay}/_standin/state").json()["rejection_rate"] == 0.0


def test_pool_exhaustion_runbook_frees_connections_when_a_leak_holds_them(
    run_script: RunScript, healed: LocalRuntime
) -> None:
    db = healed.endpoints().database
    password = healed.secrets().db_password
    leaked: list[psycopg.Connection[tuple[object, ...]]] = []
    refused: list[str] = []

    def leak() -> None:
        try:
            leaked.append(
                psycopg.connect(
                    db.url(password), application_name="leaky", connect_timeout=5
                )
            )
        except psycopg.OperationalError as exc:
            refused.append(str(exc))

    try:
        # Many at once, as a leak under load would; the server refuses the rest.
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda _: leak(), range(MAX_CONNECTIONS + 20)))
        assert refused, "Postgres accepted every connection: nothing exhausted"
        # Postgres says either, depending on which limit a connection hits first.
        assert any(
            text in refused[0]
            for text in ("remaining connection slots", "too many clients already")
        ), refused[0]

        run = run_script("pool_exhaustion.sh")

        with psycopg.connect(db.url(password), connect_timeout=3) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        for conn in leaked:
            conn.close()

    assert len(leaked) > 50
    assert run.exit_code == 0, run.output
    assert f"{len(leaked)} connection(s) terminated" in run.output


def test_partition_runbook_heals_the_link_when_api_cannot_reach_postgres(
    run_script: RunScript, healed: LocalRuntime, ctx: DrillContext
) -> None:
    ctx.proxy.update("mev-api_to_postgres", enabled=False)
    wait_until("mev-api notices", lambda: api_status(healed) == 503)

    run = run_script("partition.sh")

    assert run.exit_code == 0, run.output
    assert ctx.proxy.get("mev-api_to_postgres").enabled
    assert api_status(healed) == 200
