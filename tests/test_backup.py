"""Tests of mev_db's backup and restore against the shared stack's real Postgres."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest

from harness import backup
from harness.context import DrillContext
from harness.runtime.local import LocalRuntime

pytestmark = pytest.mark.timeout(90)

RECONNECT_S = 5.0
"""How soon mev-api and mev-artemis must work again after a restore."""


def admin(ctx: DrillContext) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        ctx.runtime.admin_database_url(), autocommit=True, connect_timeout=5
    )


def poll(what: str, check: object, timeout_s: float) -> float:
    """Seconds until `check()` is true; fails naming `what` after `timeout_s`."""
    assert callable(check)
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            if check():
                return time.monotonic() - started
        except (httpx.HTTPError, psycopg.Error):
            pass
        time.sleep(0.05)
    pytest.fail(f"{what}: not within {timeout_s} s")


def test_backup_name_is_the_runbooks_when_given_a_day() -> None:
    day = datetime(2025, 7, 17, 23, 59, tzinfo=UTC)
    assert backup.backup_name(day) == "mev_db_20250717.sql"


def test_take_backup_writes_the_days_plain_sql_file_when_stack_is_up(
    ctx: DrillContext, tmp_path: Path
) -> None:
    path = backup.take_backup(ctx, tmp_path / "backups")

    assert path.name == backup.backup_name()
    text = path.read_text()
    assert "-- PostgreSQL database dump" in text
    assert "CREATE TABLE public.opportunities" in text
    assert "OWNER TO mev_user" in text
    assert not list(path.parent.glob("*.partial"))
    assert backup.newest_backup(path.parent) == path


def test_restore_brings_back_a_dropped_table_owned_by_mev_user(
    ctx: DrillContext, stack: LocalRuntime, tmp_path: Path
) -> None:
    # Counted before the dump: every row seen now must come back.
    with admin(ctx) as conn:
        row = conn.execute("SELECT count(*), max(id) FROM opportunities").fetchone()
        assert row is not None
        rows_backed_up, last_id = row
    path = backup.take_backup(ctx, tmp_path)
    with admin(ctx) as conn:
        conn.execute("DROP TABLE opportunities")
    api = stack.endpoints().mev_api
    try:
        assert httpx.get(f"{api}/api/v1/opportunities").status_code >= 500

        restored_at = datetime.now(UTC)
        backup.restore_database(ctx, path)
    finally:
        # Whatever happened, leave the shared stack with its table.
        with admin(ctx) as conn:
            present = conn.execute("SELECT to_regclass('opportunities')").fetchone()
        if present is None or present[0] is None:
            backup.restore_database(ctx, path)

    with admin(ctx) as conn:
        count = conn.execute(
            "SELECT count(*) FROM opportunities WHERE id <= %s", (last_id,)
        ).fetchone()
        owners = conn.execute(
            "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        db_owner = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'mev_db'"
        ).fetchone()
    assert count == (rows_backed_up,)
    owner_of = {str(table): str(owner) for table, owner in owners}
    assert {"strategies", "opportunities"} <= owner_of.keys()
    assert set(owner_of.values()) == {"mev_user"}, owner_of
    assert db_owner == ("mev_user",)

    api_s = poll(
        "mev-api /health answers 200 after the restore",
        lambda: httpx.get(f"{api}/health", timeout=2).status_code == 200,
        RECONNECT_S,
    )
    assert httpx.get(f"{api}/api/v1/opportunities").status_code == 200, api_s

    def artemis_writes() -> bool:
        with admin(ctx) as conn:
            found = conn.execute(
                "SELECT count(*) FROM opportunities WHERE detected_at > %s",
                (restored_at,),
            ).fetchone()
        return found is not None and int(str(found[0])) > 0

    poll("mev-artemis writes again after the restore", artemis_writes, RECONNECT_S)


def test_restore_skips_restrict_lines_when_a_newer_pg_dump_wrote_them(
    ctx: DrillContext, tmp_path: Path
) -> None:
    path = backup.take_backup(ctx, tmp_path)
    text = path.read_text()
    # What pg_dump 16.10+ puts around a plain dump; psql 16.2 has no such command.
    path.write_text(f"\\restrict abc123\n{text}\\unrestrict abc123\n")

    backup.restore_database(ctx, path)

    with admin(ctx) as conn:
        found = conn.execute("SELECT to_regclass('opportunities')").fetchone()
    assert found is not None
    assert found[0] is not None


def test_restore_fails_with_psql_error_when_backup_is_bad(
    ctx: DrillContext, tmp_path: Path
) -> None:
    good = backup.take_backup(ctx, tmp_path / "good")
    bad = tmp_path / "mev_db_19700101.sql"
    bad.write_text("CREATE TABLE strategies (;\n")
    try:
        with pytest.raises(backup.RestoreFailed) as caught:
            backup.restore_database(ctx, bad)
    finally:
        backup.restore_database(ctx, good)

    assert "exit code 3" in caught.value.line()
    assert "syntax error" in caught.value.line()


def test_take_backup_fails_with_pg_dump_message_when_server_is_unreachable(
    ctx: DrillContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.runtime.local import LocalRuntime as Local

    # A superuser URL for a port nothing listens on.
    unreachable = "postgresql:///mev_db?host=127.0.0.1&port=1&user=postgres"
    monkeypatch.setattr(Local, "admin_database_url", lambda self: unreachable)

    with pytest.raises(backup.BackupFailed) as caught:
        backup.take_backup(ctx, tmp_path)

    assert "pg_dump of mev_db failed" in caught.value.line()
    assert not list(tmp_path.glob("mev_db_*"))


def test_pg_tool_prefers_the_servers_binaries_when_path_has_older_ones(
    ctx: DrillContext,
) -> None:
    pg_dump = backup.pg_tool(ctx, "pg_dump")

    assert str(pg_dump.parent) in ctx.runtime.path_dirs()
    assert os.access(pg_dump, os.X_OK)
