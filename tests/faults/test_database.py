"""Database faults against the shared stack: each acts, each reverts."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import psycopg
import pytest
from pydantic import ValidationError

from harness.faults.database import (
    GARBAGE_WEI,
    ConnectionExhaustion,
    ConnectionExhaustionSpec,
    CorruptTable,
    CorruptTableSpec,
    DropTable,
    DropTableSpec,
    HoldLock,
    HoldLockSpec,
    KillPostgres,
    KillPostgresSpec,
    StopPostgres,
    StopPostgresSpec,
    TerminateBackends,
    TerminateBackendsSpec,
)

from .support import assert_ready, injected, sql_as_admin, sql_as_app, wait_until

pytestmark = pytest.mark.timeout(90)

DB_CLIENTS = ("postgres", "mev-api", "mev-artemis")


def _api_status(stack, path: str) -> int:
    return httpx.get(f"{stack.endpoints().mev_api}{path}", timeout=5).status_code


def test_corrupt_table_spec_refuses_both_amounts_when_given_together():
    with pytest.raises(ValidationError, match="rows_fraction or rows, not both"):
        CorruptTableSpec(rows=3, rows_fraction=0.5)
    with pytest.raises(ValidationError, match="'delete' on strategies"):
        CorruptTableSpec(table="strategies", mode="delete")
    assert CorruptTableSpec().row_count(10) == 5


def test_drop_table_spec_names_the_choices_when_table_unknown():
    with pytest.raises(ValidationError, match="'opportunities' or 'strategies'"):
        DropTableSpec.model_validate({"table": "users"})


@pytest.mark.slow
def test_kill_postgres_refuses_sql_clients_then_serves_again_when_reverted(stack, ctx):
    fault = KillPostgres(KillPostgresSpec(signal="SIGKILL"), ctx)
    with injected(fault):
        assert stack.health("postgres").state == "exited"
        with pytest.raises(psycopg.OperationalError):
            sql_as_app(stack)
    assert sql_as_app(stack) == (1,)
    assert_ready(stack, *DB_CLIENTS)


@pytest.mark.slow
def test_stop_postgres_makes_the_api_answer_503_then_recover_when_reverted(stack, ctx):
    fault = StopPostgres(StopPostgresSpec(), ctx)
    with injected(fault):
        assert stack.health("postgres").state == "stopped"
        assert _api_status(stack, "/health") == 503
    assert sql_as_app(stack) == (1,)
    assert wait_until(lambda: _api_status(stack, "/health") == 200, timeout_s=15)
    assert_ready(stack, *DB_CLIENTS)


def test_connection_exhaustion_refuses_new_clients_until_reverted(stack, ctx):
    fault = ConnectionExhaustion(ConnectionExhaustionSpec(connections="all"), ctx)
    with injected(fault):
        with pytest.raises(psycopg.OperationalError, match="slots are reserved"):
            sql_as_app(stack)
        # The API lost its pooled sessions and cannot open new ones.
        assert wait_until(lambda: _api_status(stack, "/health") == 503, timeout_s=10)
        evidence = fault.evidence()
        assert int(evidence["connections_held"]) >= 50, evidence
        assert int(evidence["app_sessions_ended"]) >= 1, evidence
    assert sql_as_app(stack) == (1,)
    held = sql_as_admin(
        stack,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
        (fault.application_name,),
    )
    assert held == [(0,)]
    assert wait_until(lambda: _api_status(stack, "/health") == 200, timeout_s=15)
    assert_ready(stack, *DB_CLIENTS)


def _held_by(fault: ConnectionExhaustion, stack) -> int:
    rows = sql_as_admin(
        stack,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
        (fault.application_name,),
    )
    return int(rows[0][0])


def test_connection_exhaustion_releases_by_itself_when_hold_s_passes(stack, ctx):
    spec = ConnectionExhaustionSpec(connections=3, hold_s=0.5, end_app_sessions=False)
    fault = ConnectionExhaustion(spec, ctx)
    with injected(fault):
        assert _held_by(fault, stack) == 3
        assert wait_until(lambda: _held_by(fault, stack) == 0, timeout_s=5)
    assert_ready(stack, *DB_CLIENTS)


def test_terminate_backends_ends_open_sessions_and_new_ones_work_when_injected(
    stack, ctx
):
    db = stack.endpoints().database
    victim = psycopg.connect(
        db.url(), password=stack.secrets().db_password, connect_timeout=3
    )
    try:
        fault = TerminateBackends(TerminateBackendsSpec(), ctx)
        fault.inject()
        with pytest.raises(psycopg.OperationalError):
            victim.execute("SELECT 1")
        assert int(fault.evidence()["backends_terminated"]) >= 1
        fault.revert()
        fault.revert()
    finally:
        victim.close()
    assert sql_as_app(stack) == (1,)
    assert wait_until(lambda: _api_status(stack, "/health") == 200, timeout_s=10)
    assert_ready(stack, *DB_CLIENTS)


def _ids(stack, table: str = "opportunities") -> set[int]:
    return {row[0] for row in sql_as_admin(stack, f"SELECT id FROM {table}")}


def test_drop_table_breaks_the_api_then_restores_every_row_when_reverted(stack, ctx):
    before = _ids(stack)
    fault = DropTable(DropTableSpec(table="opportunities"), ctx)
    with injected(fault):
        assert sql_as_admin(stack, "SELECT to_regclass('opportunities')") == [(None,)]
        assert _api_status(stack, "/api/v1/opportunities") >= 500
    after = _ids(stack)
    assert before <= after, f"{len(before - after)} rows lost"
    assert _api_status(stack, "/api/v1/opportunities") == 200
    snapshot = Path(fault.evidence()["snapshot"])
    assert "CREATE TABLE public.opportunities" in snapshot.read_text()
    assert_ready(stack, *DB_CLIENTS)


def _foreign_keys(stack) -> list[tuple[str]]:
    return sql_as_admin(
        stack,
        "SELECT conname FROM pg_constraint WHERE contype = 'f'"
        " AND confrelid = 'strategies'::regclass",
    )


def test_drop_table_restores_foreign_keys_to_it_when_reverted(stack, ctx):
    keys = _foreign_keys(stack)
    assert keys, "the schema has a foreign key from opportunities to strategies"
    fault = DropTable(DropTableSpec(table="strategies"), ctx)
    with injected(fault):
        assert _api_status(stack, "/api/v1/strategies") >= 500
    assert _foreign_keys(stack) == keys
    assert sql_as_admin(stack, "SELECT count(*) FROM strategies") == [(4,)]
    assert_ready(stack, *DB_CLIENTS)


def _strategies(stack) -> list[dict[str, object]]:
    answer = httpx.get(f"{stack.endpoints().mev_api}/api/v1/strategies", timeout=5)
    rows: list[dict[str, object]] = answer.json()["strategies"]
    return rows


def test_corrupt_table_shows_garbage_then_exactly_the_old_rows_when_reverted(
    stack, ctx
):
    before = _strategies(stack)
    fault = CorruptTable(CorruptTableSpec(table="strategies", rows=2), ctx)
    with injected(fault):
        during = _strategies(stack)
        garbled = [r for r in during if r["min_profit_wei"] == str(GARBAGE_WEI)]
        assert len(garbled) == 2, during
    assert _strategies(stack) == before


def _profits(stack, ids: list[int]) -> dict[int, tuple[str, str]]:
    rows = sql_as_admin(
        stack,
        "SELECT id, expected_profit_wei::text, detected_at::text FROM opportunities"
        " WHERE id = ANY(%s)",
        (ids,),
    )
    return {row[0]: (row[1], row[2]) for row in rows}


def test_corrupt_table_deletes_rows_then_puts_them_back_when_reverted(stack, ctx):
    fault = CorruptTable(
        CorruptTableSpec(table="opportunities", rows_fraction=0.1, mode="delete"), ctx
    )
    with injected(fault):
        snapshot = json.loads(Path(fault.evidence()["snapshot"]).read_text())
        ids = [row["id"] for row in snapshot]
        assert ids and _profits(stack, ids) == {}
    restored = _profits(stack, ids)
    assert sorted(restored) == sorted(ids)
    for row in snapshot:
        assert restored[row["id"]][0] == str(row["expected_profit_wei"])


def test_hold_lock_blocks_readers_until_reverted(stack, ctx):
    query = "SET lock_timeout = '300ms'; SELECT count(*) FROM opportunities"
    fault = HoldLock(HoldLockSpec(table="opportunities"), ctx)
    with injected(fault):
        with pytest.raises(psycopg.errors.LockNotAvailable):
            sql_as_app(stack, query)
        held = sql_as_admin(
            stack,
            "SELECT mode FROM pg_locks WHERE pid = %s AND granted"
            " AND relation = 'opportunities'::regclass",
            (int(fault.evidence()["holder_pid"]),),
        )
        assert held == [("AccessExclusiveLock",)]
    assert sql_as_app(stack, "SELECT count(*) FROM opportunities")[0] > 0
    assert_ready(stack, *DB_CLIENTS)
