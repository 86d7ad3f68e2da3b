"""The SQL probe against the shared stack: fails when Postgres breaks, reconnects."""

from __future__ import annotations

import time

import psycopg
import pytest

from harness.context import DrillContext
from harness.runtime.local import LocalRuntime
from harness.severity import Impact

from .conftest import MakeProbe
from .support import poll_probe, wait_until

pytestmark = pytest.mark.timeout(90)


def test_sql_select1_fails_when_postgres_is_killed_and_reconnects_after_restart(
    stack: LocalRuntime, make_probe: MakeProbe
):
    probe = make_probe(type="sql_select1")
    assert probe.impact is Impact.DATABASE_DOWN
    poll_probe(probe, ok=True)

    try:
        stack.kill("postgres", "SIGKILL")
        failed = poll_probe(probe, ok=False, timeout_s=5)
        assert failed.detail
    finally:
        stack.start("postgres")

    passed = poll_probe(probe, ok=True, timeout_s=15)
    assert passed.detail == "SELECT 1 answered 1"


def test_sql_select1_fails_within_its_timeout_when_the_database_stops_answering(
    ctx: DrillContext, make_probe: MakeProbe
):
    probe = make_probe(type="sql_select1", timeout_s=0.5)
    poll_probe(probe, ok=True)

    # A timeout toxic with no timeout holds every byte: queries hang.
    ctx.proxy.add_toxic("postgres", "timeout", name="probe_test", attributes={})
    try:
        started = time.monotonic()
        result = probe.check()
        elapsed_s = time.monotonic() - started
    finally:
        ctx.proxy.remove_toxic("postgres", "probe_test")

    assert not result.ok
    assert "no answer within 0.5 s" in result.detail
    assert elapsed_s < 0.5 + 0.3, f"check took {elapsed_s:.2f} s, timeout 0.5 s"
    poll_probe(probe, ok=True, timeout_s=10)


def test_sql_select1_reconnects_with_the_new_password_when_it_was_rotated(
    stack: LocalRuntime, ctx: DrillContext, make_probe: MakeProbe
):
    probe = make_probe(type="sql_select1")
    poll_probe(probe, ok=True)
    old_password = ctx.secrets().db_password

    stack.rotate_secret("db_password")
    with psycopg.connect(stack.admin_database_url(), autocommit=True) as admin:
        old_pids = probe_pids(admin)
        assert old_pids, "the probe keeps a session open"
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'drill-probe'"
        )
        wait_until(lambda: not probe_pids(admin), what="the probe's session gone")

        poll_probe(probe, ok=True, timeout_s=10)
        new_pids = probe_pids(admin)

    assert new_pids and not new_pids & old_pids, "the probe reconnected"
    assert ctx.secrets().db_password != old_password
    with pytest.raises(psycopg.OperationalError, match="password authentication"):
        psycopg.connect(ctx.endpoints.database.url(old_password), connect_timeout=2)


def probe_pids(admin: psycopg.Connection[tuple[int]]) -> set[int]:
    """The backends of the probes' sessions."""
    rows = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'drill-probe'"
    ).fetchall()
    return {pid for (pid,) in rows}
