"""The Postgres stand-in as a process: first start, psql, auth, restart, kill."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest

from harness.errors import PostgresNotFound
from harness.standins.postgres import find_pg_bin, scram_verifier

if TYPE_CHECKING:
    from tests.conftest import PostgresLauncher, PostgresServer

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(60)


def _psql() -> str:
    return shutil.which("psql") or str(find_pg_bin() / "psql")


def _query(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, connect_timeout=2) as conn:
        return conn.execute(sql).fetchall()


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_postgres_first_start_creates_mev_db_owned_by_mev_user_when_data_dir_empty(
    postgres_server: PostgresServer,
) -> None:
    rows = _query(
        postgres_server.url,
        "SELECT current_user, pg_get_userbyid(d.datdba) FROM pg_database d "
        "WHERE d.datname = current_database()",
    )
    assert rows == [("mev_user", "mev_user")]

    owners = _query(
        postgres_server.url,
        "SELECT tablename, tableowner FROM pg_tables "
        "WHERE schemaname = 'public' ORDER BY tablename",
    )
    assert owners == [
        ("drill_writes", "mev_user"),
        ("opportunities", "mev_user"),
        ("strategies", "mev_user"),
    ]


def test_postgres_first_start_applies_seed_rows_when_data_dir_empty(
    postgres_server: PostgresServer,
) -> None:
    strategies = _query(postgres_server.url, "SELECT name FROM strategies ORDER BY 1")
    assert strategies == [("arbitrage",), ("backrun",), ("liquidation",), ("sandwich",)]

    chains = _query(
        postgres_server.url,
        "SELECT chain_id, count(*) FROM opportunities WHERE id <= 60 "
        "GROUP BY chain_id ORDER BY chain_id",
    )
    assert chains == [(1, 12), (10, 12), (137, 12), (8453, 12), (42161, 12)]


def test_postgres_psql_works_unchanged_when_pg_env_vars_point_at_it(
    postgres_server: PostgresServer,
) -> None:
    env = {
        **os.environ,
        "PGHOST": postgres_server.host,
        "PGPORT": str(postgres_server.port),
        "PGUSER": postgres_server.user,
        "PGPASSWORD": postgres_server.password,
        "PGDATABASE": postgres_server.dbname,
    }
    result = subprocess.run(
        [_psql(), "-U", "mev_user", "-d", "mev_db", "-c", "SELECT 1;"],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode == 0, result.stderr
    assert "(1 row)" in result.stdout


def test_postgres_psql_needs_no_password_when_using_the_unix_socket(
    postgres_server: PostgresServer,
) -> None:
    env = {
        **os.environ,
        "PGHOST": str(postgres_server.socket_dir),
        "PGPORT": str(postgres_server.port),
    }
    env.pop("PGPASSWORD", None)
    result = subprocess.run(
        [_psql(), "-U", "postgres", "-d", "mev_db", "-Atc", "SELECT current_user"],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "postgres"


def test_postgres_rejects_login_when_password_wrong(
    postgres_server: PostgresServer,
) -> None:
    url = (
        f"postgresql://mev_user:not-the-password@127.0.0.1:{postgres_server.port}"
        "/mev_db"
    )
    with pytest.raises(psycopg.OperationalError, match="password authentication"):
        psycopg.connect(url, connect_timeout=2)


@pytest.mark.skipif(os.geteuid() != 0, reason="privilege drop happens only as root")
def test_postgres_runs_as_unprivileged_user_when_started_as_root(
    postgres_server: PostgresServer,
) -> None:
    status = Path(f"/proc/{postgres_server.pid}/status").read_text()
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    assert uid_line.split()[1] != "0", uid_line


def test_postgres_launcher_pid_is_the_postmaster_when_started(
    postgres_server: PostgresServer,
) -> None:
    pid_file = postgres_server.data_dir / "postmaster.pid"
    assert int(pid_file.read_text().splitlines()[0]) == postgres_server.pid


def test_postgres_keeps_data_and_takes_rotated_password_when_restarted(
    postgres_launcher: PostgresLauncher,
) -> None:
    server, proc = postgres_launcher.start("restart", password="first-password")
    _query(
        server.url,
        "INSERT INTO strategies (name, enabled) VALUES ('sandwich', false) "
        "ON CONFLICT (name) DO UPDATE SET enabled = false RETURNING name",
    )
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0

    restarted, _ = postgres_launcher.start(
        "restart", password="second-password", port=server.port
    )

    rows = _query(restarted.url, "SELECT enabled FROM strategies WHERE name='sandwich'")
    assert rows == [(False,)]
    with pytest.raises(psycopg.OperationalError, match="password authentication"):
        psycopg.connect(server.url, connect_timeout=2)


def test_postgres_server_dies_and_restarts_without_loss_when_pid_killed(
    postgres_launcher: PostgresLauncher,
) -> None:
    server, proc = postgres_launcher.start("kill", password="kill-password")
    _query(
        server.url,
        "INSERT INTO opportunities (chain_id, chain, strategy, block_number, "
        "target_block, expected_profit_wei, gas_estimate, net_profit_wei) "
        "VALUES (1, 'ethereum', 'arbitrage', 424242, 424243, 1, 1, 1) RETURNING id",
    )

    os.kill(server.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.monotonic() + 5
    while _port_open(server.port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _port_open(server.port)

    restarted, _ = postgres_launcher.start("kill", port=server.port)
    rows = _query(
        restarted.url, "SELECT count(*) FROM opportunities WHERE block_number=424242"
    )
    assert rows == [(1,)]


def test_postgres_first_start_is_under_the_stack_budget_when_template_cached(
    postgres_launcher: PostgresLauncher, postgres_server: PostgresServer
) -> None:
    # postgres_server has filled the template cache; this start copies it.
    budget_s = 3.0
    started = time.monotonic()
    postgres_launcher.start("timed", password="timed-password")
    elapsed_s = time.monotonic() - started
    assert elapsed_s < budget_s, f"first start took {elapsed_s:.2f} s > {budget_s} s"


def test_postgres_first_start_works_when_template_cache_disabled(
    postgres_launcher: PostgresLauncher,
) -> None:
    server, _ = postgres_launcher.start(
        "nocache", password="nocache-password", extra=("--no-template-cache",)
    )
    assert _query(server.url, "SELECT count(*) FROM strategies") == [(4,)]


def test_postgres_exits_4_and_empties_data_dir_when_schema_fails(
    postgres_launcher: PostgresLauncher, tmp_path: Path
) -> None:
    bad_schema = tmp_path / "schema.sql"
    bad_schema.write_text("CREATE TABLE broken (id INT;\n")
    home = postgres_launcher.base_dir / "badschema"
    home.mkdir()
    (home / "password").write_text("pw\n")
    command = postgres_launcher.command("badschema", 1, "--schema", str(bad_schema))

    result = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=30, check=False
    )

    assert result.returncode == 4
    last_line = result.stderr.strip().splitlines()[-1]
    assert "syntax error" in last_line
    assert str(bad_schema) in last_line
    assert list((home / "data").iterdir()) == []


@pytest.mark.parametrize("source", ["flag", "env"])
def test_postgres_exits_4_with_one_line_when_binaries_missing(
    postgres_launcher: PostgresLauncher, tmp_path: Path, source: str
) -> None:
    (tmp_path / "password").write_text("pw\n")
    command = [
        sys.executable, "-m", "harness.standins.postgres",
        "--port", "1",
        "--data-dir", str(tmp_path / "data"),
        "--socket-dir", str(tmp_path / "sock"),
        "--password-file", str(tmp_path / "password"),
    ]  # fmt: skip
    env = dict(os.environ)
    if source == "flag":
        command += ["--pg-bin", str(tmp_path / "nowhere")]
    else:
        env["DRILL_PG_BIN"] = str(tmp_path / "nowhere")

    result = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 4
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(tmp_path / "nowhere") in lines[0]
    assert "DRILL_PG_BIN" in lines[0]
    assert not (tmp_path / "data").exists()


def test_find_pg_bin_names_the_env_var_when_it_points_nowhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DRILL_PG_BIN", str(tmp_path))
    with pytest.raises(PostgresNotFound, match=r"\$DRILL_PG_BIN"):
        find_pg_bin()


def test_find_pg_bin_prefers_the_explicit_dir_when_env_also_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DRILL_PG_BIN", str(tmp_path))
    assert find_pg_bin(str(_bundled())) == _bundled()


def test_find_pg_bin_falls_back_to_pgserver_when_nothing_else_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DRILL_PG_BIN", raising=False)
    assert find_pg_bin() == _bundled()


def _bundled() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("pgserver")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent.joinpath("pginstall", "bin").resolve()


def test_scram_verifier_differs_each_time_when_salted() -> None:
    first = scram_verifier("secret")
    assert first.startswith("SCRAM-SHA-256$4096:")
    assert "secret" not in first
    assert scram_verifier("secret") != first


def test_postgres_restores_mev_db_when_runbook_database_recovery_runs(
    postgres_launcher: PostgresLauncher, tmp_path: Path
) -> None:
    server, _ = postgres_launcher.start("runbook", password="runbook-password")
    before = _query(server.url, "SELECT count(*) FROM opportunities")
    bin_dir = find_pg_bin()
    # The runbook's `sudo -u postgres <tool>` becomes PGUSER=postgres over the
    # socket (trust); the tools are the server's own version.
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PGHOST": str(server.socket_dir),
        "PGPORT": str(server.port),
        "PGUSER": "postgres",
        "BACKUP_FILE": str(tmp_path / "mev_db.sql"),
    }
    subprocess.run(
        ["pg_dump", "-d", "mev_db", "-f", str(tmp_path / "mev_db.sql")],
        env=env, check=True, timeout=30,
    )  # fmt: skip
    with psycopg.connect(server.url) as conn:
        conn.execute("DROP TABLE opportunities")
    script = """
        set -e
        psql -c "SELECT pg_database_size('mev_db');"
        if [ -f "$BACKUP_FILE" ]; then
          dropdb mev_db
          createdb mev_db
          psql -q mev_db < "$BACKUP_FILE"
          echo "Database restored from backup"
        fi
    """

    result = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "Database restored from backup" in result.stdout
    assert _query(server.url, "SELECT count(*) FROM opportunities") == before
    owners = _query(
        server.url,
        "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname='public'",
    )
    assert owners == [("mev_user",)]
