"""Security faults against the shared stack: the attacker gets in, the checks
say so honestly, and they pass only once the credential is really revoked."""

from __future__ import annotations

import json

import httpx
import pytest
from pydantic import ValidationError

from harness.errors import UsageError
from harness.faults.security import (
    LeakedApiKey,
    LeakedApiKeySpec,
    LeakedDbPassword,
    LeakedDbPasswordSpec,
    RogueDbRole,
    RogueDbRoleSpec,
    TamperedConfig,
    TamperedConfigSpec,
)
from harness.result import DataCheck

from .support import assert_ready, injected, sql_as_admin, wait_until

pytestmark = pytest.mark.timeout(90)


def _verdicts(checks: list[DataCheck]) -> dict[str, bool]:
    return {check.name: check.ok for check in checks}


def _enabled(stack) -> dict[str, bool]:
    rows = sql_as_admin(stack, "SELECT name, enabled FROM strategies")
    return {name: enabled for name, enabled in rows}


def _audit(stack) -> list[dict[str, object]]:
    answer = httpx.get(
        f"{stack.endpoints().mev_api}/api/v1/audit?limit=200",
        headers={"X-API-Key": stack.secrets().api_key},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    records: list[dict[str, object]] = answer.json()["records"]
    return records


def test_rogue_db_role_spec_refuses_the_stack_own_roles_when_named():
    with pytest.raises(ValidationError, match="'mev_user' is the stack's own"):
        RogueDbRoleSpec(role="mev_user")
    with pytest.raises(ValidationError, match="pattern"):
        RogueDbRoleSpec(role="Robert'); DROP TABLE")


def test_security_checks_are_empty_when_the_fault_never_took_effect(ctx):
    assert LeakedApiKey(LeakedApiKeySpec(), ctx).security_checks() == []
    assert LeakedDbPassword(LeakedDbPasswordSpec(), ctx).security_checks() == []
    assert RogueDbRole(RogueDbRoleSpec(), ctx).security_checks() == []
    assert TamperedConfig(TamperedConfigSpec(), ctx).security_checks() == []


@pytest.mark.slow
def test_leaked_api_key_disables_strategies_and_checks_pass_only_after_rotation(
    stack, ctx
):
    before = _enabled(stack)
    spec = LeakedApiKeySpec(attacker_rate_per_s=10, action="disable_strategies")
    fault = LeakedApiKey(spec, ctx)
    with injected(fault):
        assert wait_until(lambda: not any(_enabled(stack).values()), timeout_s=5)
        assert _verdicts(fault.security_checks()) == {
            "leaked API key rejected": False,
            "attacker out": False,
        }
        stack.rotate_secret("api_key")
        checks = fault.security_checks()
        assert _verdicts(checks) == {
            "leaked API key rejected": True,
            "attacker out": True,
        }, checks
    assert _enabled(stack) == before
    evidence = fault.evidence()
    assert evidence["key_id"] == "k1"
    assert int(evidence["attacker_successes"]) >= 1
    assert stack.secrets().api_key not in str(evidence)


def test_leaked_api_key_reads_the_audit_log_and_changes_nothing_when_read_only(
    stack, ctx
):
    before = _enabled(stack)
    spec = LeakedApiKeySpec(attacker_rate_per_s=10, action="read_only")
    fault = LeakedApiKey(spec, ctx)
    with injected(fault):
        key_id = fault.evidence()["key_id"]
        assert any(
            r["key_id"] == key_id and r["path"] == "/api/v1/audit"
            for r in _audit(stack)
        )
    assert _enabled(stack) == before


def _attacker_sessions(stack) -> int:
    rows = sql_as_admin(
        stack,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'attacker'",
    )
    return int(rows[0][0])


@pytest.mark.slow
def test_leaked_db_password_checks_pass_only_once_rotated_and_sessions_ended(
    stack, ctx
):
    fault = LeakedDbPassword(LeakedDbPasswordSpec(sessions=2), ctx)
    with injected(fault):
        assert _attacker_sessions(stack) == 2
        assert _verdicts(fault.security_checks()) == {
            "leaked DB password rejected": False,
            "no attacker sessions": False,
        }
        # Rotation alone leaves open sessions open: half a recovery.
        stack.rotate_secret("db_password")
        assert _verdicts(fault.security_checks()) == {
            "leaked DB password rejected": True,
            "no attacker sessions": False,
        }
        sql_as_admin(
            stack,
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
            " WHERE application_name = 'attacker'",
        )
        checks = fault.security_checks()
        assert all(check.ok for check in checks), checks
    assert _attacker_sessions(stack) == 0
    assert_ready(stack, "postgres", "mev-api", "mev-artemis")


def test_leaked_db_password_revert_ends_the_attacker_sessions_when_reverted(stack, ctx):
    fault = LeakedDbPassword(LeakedDbPasswordSpec(sessions=3), ctx)
    with injected(fault):
        assert _attacker_sessions(stack) == 3
    assert _attacker_sessions(stack) == 0


def test_rogue_db_role_logs_in_as_superuser_until_reverted(stack, ctx):
    fault = RogueDbRole(RogueDbRoleSpec(role="backdoor"), ctx)
    with injected(fault):
        rows = sql_as_admin(
            stack, "SELECT rolsuper, rolcanlogin FROM pg_roles WHERE rolname = %s",
            ("backdoor",),
        )  # fmt: skip
        assert rows == [(True, True)]
        assert _verdicts(fault.security_checks()) == {"rogue role removed": False}
    assert (
        sql_as_admin(stack, "SELECT 1 FROM pg_roles WHERE rolname = 'backdoor'") == []
    )
    checks = fault.security_checks()
    assert _verdicts(checks) == {"rogue role removed": True}, checks


def test_rogue_db_role_refuses_and_keeps_a_role_it_did_not_create(stack, ctx):
    first = RogueDbRole(RogueDbRoleSpec(role="backdoor2"), ctx)
    second = RogueDbRole(RogueDbRoleSpec(role="backdoor2"), ctx)
    try:
        first.inject()
        with pytest.raises(UsageError, match="'backdoor2' already exists"):
            second.inject()
        second.revert()
        assert sql_as_admin(
            stack, "SELECT 1 FROM pg_roles WHERE rolname = 'backdoor2'"
        ) == [(1,)]
    finally:
        first.revert()
    assert (
        sql_as_admin(stack, "SELECT 1 FROM pg_roles WHERE rolname = 'backdoor2'") == []
    )


def test_tampered_config_lets_a_rogue_key_in_until_reverted(stack, ctx):
    path = stack.config_path("mev_api_keys")
    original = path.read_text()
    fault = TamperedConfig(TamperedConfigSpec(), ctx)
    with injected(fault):
        rogue_id = fault.evidence()["rogue_key_id"]
        assert f'"{rogue_id}"' in path.read_text()
        assert any(
            r["key_id"] == rogue_id and r["status"] == 200 for r in _audit(stack)
        )
        assert _verdicts(fault.security_checks()) == {"rogue key rejected": False}
    assert f'"{rogue_id}"' not in path.read_text()
    assert json.loads(path.read_text()) == json.loads(original)
    checks = fault.security_checks()
    assert _verdicts(checks) == {"rogue key rejected": True}, checks
