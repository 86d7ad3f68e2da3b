"""Security probes against the shared stack: each fails on a real tampering."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from harness.context import DrillContext
from harness.runtime.local import LocalRuntime
from harness.severity import Impact
from harness.standins.mev_api.keys import hash_key

from .conftest import MakeProbe
from .support import poll_probe

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def admin(stack: LocalRuntime) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A superuser connection to mev_db."""
    with psycopg.connect(stack.admin_database_url(), autocommit=True) as conn:
        yield conn


def test_strategies_intact_fails_when_a_strategy_is_disabled_and_recovers(
    admin: psycopg.Connection[tuple[object, ...]], make_probe: MakeProbe
):
    probe = make_probe(type="strategies_intact")
    assert probe.impact is Impact.SECURITY_BREACH
    poll_probe(probe, ok=True)

    try:
        admin.execute("UPDATE strategies SET enabled = false WHERE name = 'sandwich'")
        failed = poll_probe(probe, ok=False, timeout_s=5)
        assert failed.detail == "strategies disabled: sandwich"
    finally:
        admin.execute("UPDATE strategies SET enabled = true WHERE name = 'sandwich'")

    poll_probe(probe, ok=True, timeout_s=5)


def test_roles_clean_fails_when_a_rogue_login_role_exists_and_recovers(
    admin: psycopg.Connection[tuple[object, ...]], make_probe: MakeProbe
):
    probe = make_probe(type="roles_clean")
    poll_probe(probe, ok=True)

    try:
        admin.execute("CREATE ROLE drill_rogue LOGIN PASSWORD 'x'")
        failed = poll_probe(probe, ok=False, timeout_s=5)
        assert failed.detail == "unexpected login roles: drill_rogue"
    finally:
        admin.execute("DROP ROLE IF EXISTS drill_rogue")

    poll_probe(probe, ok=True, timeout_s=5)


def connect_as(
    ctx: DrillContext, application_name: str
) -> psycopg.Connection[tuple[object, ...]]:
    """A mev_user session through the public endpoint, as some application."""
    return psycopg.connect(
        ctx.endpoints.database.url(),
        password=ctx.secrets().db_password,
        application_name=application_name,
        connect_timeout=5,
    )


def test_db_sessions_clean_fails_while_an_attacker_session_is_open(
    ctx: DrillContext, make_probe: MakeProbe
):
    probe = make_probe(type="db_sessions_clean", min_age_s=0.2)
    poll_probe(probe, ok=True)

    with connect_as(ctx, "attacker"):
        failed = poll_probe(probe, ok=False, timeout_s=5)
        assert "mev_user/attacker" in failed.detail

    poll_probe(probe, ok=True, timeout_s=5)


def test_db_sessions_clean_passes_when_a_session_is_from_a_known_application(
    ctx: DrillContext, make_probe: MakeProbe
):
    probe = make_probe(type="db_sessions_clean", min_age_s=0.0)
    poll_probe(probe, ok=True)

    with connect_as(ctx, "psql") as conn:
        conn.execute("SELECT 1")
        result = probe.check()

    assert result.ok, result


def test_api_keys_known_fails_when_an_unknown_key_is_added_and_recovers(
    ctx: DrillContext, make_probe: MakeProbe
):
    probe = make_probe(type="api_keys_known")
    poll_probe(probe, ok=True)
    path: Path = ctx.runtime.config_path("mev_api_keys")
    original = path.read_bytes()

    document = json.loads(original)
    document["keys"].append(
        {
            "id": "k99",
            "sha256": hash_key("mevk_planted"),
            "label": "backdoor",
            "created_at": "2025-01-01T00:00:00.000Z",
            "revoked_at": None,
        }
    )
    try:
        path.write_text(json.dumps(document))
        failed = poll_probe(probe, ok=False, timeout_s=5)
        assert failed.detail == "unknown active API keys in keys.json: k99"
    finally:
        path.write_bytes(original)

    poll_probe(probe, ok=True, timeout_s=5)


def test_api_keys_known_passes_when_the_key_was_rotated_by_the_runtime(
    stack: LocalRuntime, make_probe: MakeProbe
):
    probe = make_probe(type="api_keys_known")
    poll_probe(probe, ok=True)

    stack.rotate_secret("api_key")

    assert probe.check().ok
