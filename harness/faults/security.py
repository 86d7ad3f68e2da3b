"""Security faults: a leaked MEV API key and a leaked DB password in an
attacker's hands, a rogue superuser role, a tampered keys file.

Revert stops the attacker and undoes the damage, but never rotates a
credential: that is the recovery plan's job, and `security_checks` then try
the leaked credential for real to say whether it was done.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from pathlib import Path
from typing import Literal

import httpx
import psycopg
from psycopg import sql
from pydantic import Field, field_validator

from harness.context import DrillContext
from harness.errors import StackError, UsageError
from harness.faults.attacker import Attacker, Attempt
from harness.faults.base import Fault, FaultSpec, register
from harness.faults.pgadmin import Connection, admin, client, terminate
from harness.result import DataCheck
from harness.runtime.base import ConfigName

log = logging.getLogger(__name__)

STRATEGIES = ("arbitrage", "sandwich", "liquidation", "backrun")
CHECK_TIMEOUT_S = 3.0
"""Deadline of one request or connect a security check makes."""

ATTACK_TIMEOUT_S = 2.0
"""Deadline of one attacker request or connect."""

FIRST_SUCCESS_TIMEOUT_S = 10.0
"""How long inject waits for the attacker to get in once."""

ATTACKER_APP = "attacker"
"""application_name of the attacker's database sessions."""

ROLE_PATTERN = r"^[a-z_][a-z0-9_]{0,62}$"
PROTECTED_ROLES = ("postgres", "mev_user")


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:200]


def _api_get(ctx: DrillContext, key: str, path: str, timeout_s: float) -> int:
    """The HTTP status of GET `path` on the MEV API with `key`."""
    answer = httpx.get(
        f"{ctx.endpoints.mev_api}{path}",
        headers={"X-API-Key": key, "User-Agent": "curl/8.5.0"},
        timeout=timeout_s,
    )
    return answer.status_code


def _key_check(ctx: DrillContext, name: str, key: str, what: str) -> DataCheck:
    """A check that the MEV API answers 401 to `key` on a key-only endpoint."""
    try:
        status = _api_get(ctx, key, "/api/v1/audit?limit=1", CHECK_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return DataCheck(
            name=name, ok=False, detail=f"no answer from the MEV API: {_one_line(exc)}"
        )
    if status == 401:
        return DataCheck(name=name, ok=True, detail=f"{what} gets HTTP 401")
    return DataCheck(
        name=name, ok=False, detail=f"{what} still gets HTTP {status}, not 401"
    )


def _wait_first_success(attacker: Attacker, what: str) -> None:
    if attacker.wait_for(
        lambda tries: any(a.ok for a in tries), FIRST_SUCCESS_TIMEOUT_S
    ):
        return
    tries = attacker.attempts()
    last = tries[-1].detail if tries else "no attempt made"
    raise StackError(
        f"the attacker never got in with {what} within "
        f"{FIRST_SUCCESS_TIMEOUT_S:.0f}s (last attempt: {last})",
        hint="is the stack healthy before the fault is injected?",
    )


def _key_id(path: Path, key: str) -> str:
    """The id of `key` in the MEV API's keys file, or "" when it is not there."""
    from harness.standins.mev_api.keys import KeysDocument, hash_key

    try:
        document = KeysDocument.model_validate_json(path.read_bytes())
    except (OSError, ValueError):
        return ""
    digest = hash_key(key)
    return next((r.id for r in document.keys if r.sha256 == digest), "")


# The MEV API key.


class LeakedApiKeySpec(FaultSpec):
    """The MEV API's current admin key leaks; an attacker uses it until revert.

    `action`: disable_strategies (PATCH each strategy to disabled, in turn)
    or read_only (read the audit log and the strategies).
    """

    type: Literal["leaked_api_key"] = "leaked_api_key"
    attacker_rate_per_s: float = Field(default=2.0, gt=0.0, le=100.0)
    action: Literal["disable_strategies", "read_only"] = "disable_strategies"


@register
class LeakedApiKey(Fault[LeakedApiKeySpec]):
    """An attacker thread makes requests with the leaked key at a fixed rate.

    Revert stops it and re-enables the strategies it disabled; it does not
    rotate the key.
    """

    family = "security"
    spec_model = LeakedApiKeySpec

    def __init__(self, spec: LeakedApiKeySpec, ctx: DrillContext) -> None:
        super().__init__(spec, ctx)
        self._key: str | None = None
        self._key_id = ""
        self._attacker: Attacker | None = None
        self._strategies_before: dict[str, bool] | None = None
        self._targets = itertools.cycle(STRATEGIES)
        self._reads = itertools.cycle(("/api/v1/audit?limit=20", "/api/v1/strategies"))

    def inject(self) -> None:
        """Start the attacker; return once one of its requests succeeded."""
        key = self.ctx.secrets().api_key
        self._key = key
        self._key_id = _key_id(self.ctx.runtime.config_path("mev_api_keys"), key)
        if self.spec.action == "disable_strategies":
            self._strategies_before = _read_strategies(self.ctx)
        self._attacker = Attacker(
            "attacker-api-key", self._attack, rate_per_s=self.spec.attacker_rate_per_s
        )
        self._attacker.start()
        _wait_first_success(self._attacker, "the leaked API key")

    def _attack(self) -> tuple[bool, str]:
        assert self._key is not None
        headers = {"X-API-Key": self._key, "User-Agent": "curl/8.5.0"}
        base = self.ctx.endpoints.mev_api
        if self.spec.action == "disable_strategies":
            name = next(self._targets)
            answer = httpx.patch(
                f"{base}/api/v1/strategies/{name}",
                json={"enabled": False},
                headers=headers,
                timeout=ATTACK_TIMEOUT_S,
            )
            return answer.status_code == 200, f"PATCH {name} -> {answer.status_code}"
        path = next(self._reads)
        answer = httpx.get(f"{base}{path}", headers=headers, timeout=ATTACK_TIMEOUT_S)
        return answer.status_code == 200, f"GET {path} -> {answer.status_code}"

    def revert(self) -> None:
        """Stop the attacker; set every strategy back to what it was."""
        if self._attacker is not None:
            self._attacker.stop()
        if self._strategies_before is not None:
            _restore_strategies(self.ctx, self._strategies_before)
            self._strategies_before = None

    def describe(self) -> str:
        """One line."""
        key = f" {self._key_id}" if self._key_id else ""
        return (
            f"leaked the MEV API admin key{key}: an attacker "
            f"({self.spec.action}) at {self.spec.attacker_rate_per_s:g}/s"
        )

    def evidence(self) -> dict[str, str]:
        """The key's id (never the key) and the attacker's tally."""
        tries = self._attacker.attempts() if self._attacker else []
        return {
            "key_id": self._key_id,
            "action": self.spec.action,
            "attacker_requests": str(len(tries)),
            "attacker_successes": str(sum(a.ok for a in tries)),
        }

    def security_checks(self) -> list[DataCheck]:
        """The leaked key gets 401; the attacker's requests all fail now."""
        if self._key is None or self._attacker is None:
            return []
        rejected = _key_check(
            self.ctx, "leaked API key rejected", self._key, "the leaked key"
        )
        return [rejected, _attacker_out(self._attacker, self.spec.attacker_rate_per_s)]


def _attacker_out(attacker: Attacker, rate_per_s: float) -> DataCheck:
    """Whether every attempt the attacker makes from now on fails.

    Waits for the attacker's next attempt (one interval plus 3 s), or makes
    one itself when the attacker has stopped.
    """
    name = "attacker out"
    mark = time.monotonic()

    def made_one(tries: list[Attempt]) -> bool:
        return any(a.t_s >= mark for a in tries)

    if not (attacker.running and attacker.wait_for(made_one, 1 / rate_per_s + 3.0)):
        attacker.try_now()
    recent = attacker.attempts(since_s=mark)
    answers = ", ".join(a.detail for a in recent[-5:])
    if any(a.ok for a in recent):
        return DataCheck(name=name, ok=False, detail=f"the attacker got in: {answers}")
    return DataCheck(name=name, ok=True, detail=f"attempts since recovery: {answers}")


def _read_strategies(ctx: DrillContext) -> dict[str, bool]:
    with admin(ctx, purpose="drill-fault") as conn:
        rows = conn.execute("SELECT name, enabled FROM strategies").fetchall()
    return {name: bool(enabled) for name, enabled in rows}


def _restore_strategies(ctx: DrillContext, before: dict[str, bool]) -> None:
    with admin(ctx, purpose="drill-fault") as conn:
        for name, enabled in before.items():
            conn.execute(
                "UPDATE strategies SET enabled = %s, updated_at = now()"
                " WHERE name = %s AND enabled IS DISTINCT FROM %s",
                (enabled, name, enabled),
            )


# The database password.


class LeakedDbPasswordSpec(FaultSpec):
    """mev_user's current password leaks; an attacker holds sessions with it.

    `sessions`: how many it keeps open (application_name `attacker`);
    `attacker_rate_per_s`: how often it reads through them (and reconnects
    any that was closed).
    """

    type: Literal["leaked_db_password"] = "leaked_db_password"
    sessions: int = Field(default=2, ge=1, le=20)
    attacker_rate_per_s: float = Field(default=1.0, gt=0.0, le=100.0)


@register
class LeakedDbPassword(Fault[LeakedDbPasswordSpec]):
    """Revert stops the attacker and terminates its sessions; no rotation."""

    family = "security"
    spec_model = LeakedDbPasswordSpec

    def __init__(self, spec: LeakedDbPasswordSpec, ctx: DrillContext) -> None:
        super().__init__(spec, ctx)
        self._password: str | None = None
        self._attacker: Attacker | None = None
        self._sessions: list[Connection | None] = []

    def inject(self) -> None:
        """Start the attacker; return once all its sessions are open."""
        self._password = self.ctx.secrets().db_password
        self._sessions = [None] * self.spec.sessions
        self._attacker = Attacker(
            "attacker-db-password",
            self._attack,
            rate_per_s=self.spec.attacker_rate_per_s,
            cleanup=self._close_sessions,
        )
        self._attacker.start()
        _wait_first_success(self._attacker, "the leaked database password")

    def _attack(self) -> tuple[bool, str]:
        """Open any missing session, then read through each (attacker thread)."""
        rows = 0
        for index in range(len(self._sessions)):
            try:
                conn = self._session(index)
            except psycopg.Error as exc:
                return False, f"connect: {_one_line(exc)}"
            try:
                row = conn.execute("SELECT count(*) FROM opportunities").fetchone()
            except psycopg.Error as exc:
                conn.close()
                self._sessions[index] = None
                return False, f"query: {_one_line(exc)}"
            rows = int(row[0]) if row else 0
        return True, f"read {rows} opportunities over {len(self._sessions)} sessions"

    def _session(self, index: int) -> Connection:
        """Session `index`, reconnected with the leaked password if it was lost."""
        assert self._password is not None
        conn = self._sessions[index]
        if conn is None or conn.closed:
            conn = client(
                self.ctx,
                password=self._password,
                application_name=ATTACKER_APP,
                connect_timeout_s=int(ATTACK_TIMEOUT_S),
            )
            self._sessions[index] = conn
        return conn

    def _close_sessions(self) -> None:
        for index, conn in enumerate(self._sessions):
            if conn is not None:
                conn.close()
            self._sessions[index] = None

    def revert(self) -> None:
        """Stop the attacker and terminate every `attacker` session."""
        if self._attacker is not None:
            self._attacker.stop()
        if self._password is None:
            return
        try:
            with admin(self.ctx, purpose="drill-fault") as conn:
                terminate(conn, sql.SQL("application_name = %s"), (ATTACKER_APP,))
        except StackError as exc:
            log.debug("no attacker sessions to end, Postgres is down: %s", exc)

    def describe(self) -> str:
        """One line."""
        return (
            f"leaked the mev_user password: an attacker holds "
            f"{self.spec.sessions} sessions"
        )

    def evidence(self) -> dict[str, str]:
        """The attacker's tally; never the password."""
        tries = self._attacker.attempts() if self._attacker else []
        return {
            "user": self.ctx.endpoints.database.user,
            "attacker_application_name": ATTACKER_APP,
            "attacker_attempts": str(len(tries)),
            "attacker_successes": str(sum(a.ok for a in tries)),
        }

    def security_checks(self) -> list[DataCheck]:
        """The leaked password cannot log in; no attacker session is left."""
        if self._password is None:
            return []
        return [
            _login_refused(
                self.ctx,
                "leaked DB password rejected",
                user=None,
                password=self._password,
            ),
            _no_sessions(self.ctx),
        ]


def _login_refused(
    ctx: DrillContext, name: str, *, user: str | None, password: str
) -> DataCheck:
    """A check that Postgres refuses `password` with an authentication error."""
    try:
        conn = client(
            ctx,
            user=user,
            password=password,
            application_name="drill-check",
            connect_timeout_s=int(CHECK_TIMEOUT_S),
        )
    except psycopg.Error as exc:
        message = " ".join(str(exc).split())
        if "password authentication failed" in message:
            return DataCheck(
                name=name, ok=True, detail="password authentication failed"
            )
        return DataCheck(
            name=name,
            ok=False,
            detail=f"the login failed for another reason: {message[:200]}",
        )
    conn.close()
    return DataCheck(name=name, ok=False, detail="the credential still opens a session")


def _no_sessions(ctx: DrillContext) -> DataCheck:
    name = "no attacker sessions"
    try:
        with admin(ctx, purpose="drill-check") as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                (ATTACKER_APP,),
            ).fetchone()
    except (StackError, psycopg.Error) as exc:
        return DataCheck(name=name, ok=False, detail=_one_line(exc))
    count = int(row[0]) if row else 0
    if count:
        return DataCheck(name=name, ok=False, detail=f"{count} sessions still open")
    return DataCheck(name=name, ok=True, detail="none open")


# A rogue role.


class RogueDbRoleSpec(FaultSpec):
    """A LOGIN SUPERUSER role with a password appears (default `backdoor`)."""

    type: Literal["rogue_db_role"] = "rogue_db_role"
    role: str = Field(default="backdoor", pattern=ROLE_PATTERN)

    @field_validator("role")
    @classmethod
    def _not_ours(cls, role: str) -> str:
        if role in PROTECTED_ROLES or role.startswith("pg_"):
            raise ValueError(
                f"role {role!r} is the stack's own or reserved; "
                "choose another name (e.g. backdoor)"
            )
        return role


@register
class RogueDbRole(Fault[RogueDbRoleSpec]):
    """CREATE ROLE ... LOGIN SUPERUSER; revert ends its sessions and drops it.

    Refuses to inject when the role already exists, so that revert never
    drops a role it did not create.
    """

    family = "security"
    spec_model = RogueDbRoleSpec

    def __init__(self, spec: RogueDbRoleSpec, ctx: DrillContext) -> None:
        super().__init__(spec, ctx)
        self._password: str | None = None
        self._created = False

    def inject(self) -> None:
        """Create the role; return once it can log in."""
        from harness.standins.postgres import scram_verifier

        role = sql.Identifier(self.spec.role)
        password = secrets.token_urlsafe(18)
        with admin(self.ctx, purpose="drill-fault") as conn:
            if _role_exists(conn, self.spec.role):
                raise UsageError(
                    f"role {self.spec.role!r} already exists in Postgres",
                    hint="give rogue_db_role another `role`, or drop that one",
                )
            self._password, self._created = password, True
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
                    role, sql.Literal(scram_verifier(password))
                )
            )
        client(
            self.ctx,
            user=self.spec.role,
            password=password,
            application_name=ATTACKER_APP,
        ).close()

    def revert(self) -> None:
        """Terminate the role's sessions and drop it, if this fault created it."""
        if not self._created:
            return
        role = sql.Identifier(self.spec.role)
        with admin(self.ctx, purpose="drill-fault") as conn:
            terminate(conn, sql.SQL("usename = %s"), (self.spec.role,))
            if _role_exists(conn, self.spec.role):
                conn.execute(sql.SQL("DROP OWNED BY {}").format(role))
                conn.execute(sql.SQL("DROP ROLE {}").format(role))
        self._created = False

    def describe(self) -> str:
        """One line."""
        return f"created a rogue superuser role {self.spec.role!r}"

    def evidence(self) -> dict[str, str]:
        """The role's name; never its password."""
        return {"role": self.spec.role}

    def security_checks(self) -> list[DataCheck]:
        """The role is gone and its password logs nobody in."""
        if self._password is None:
            return []
        name = "rogue role removed"
        try:
            with admin(self.ctx, purpose="drill-check") as conn:
                exists = _role_exists(conn, self.spec.role)
        except (StackError, psycopg.Error) as exc:
            return [DataCheck(name=name, ok=False, detail=_one_line(exc))]
        if exists:
            detail = f"role {self.spec.role!r} still exists"
            return [DataCheck(name=name, ok=False, detail=detail)]
        login = _login_refused(
            self.ctx, name, user=self.spec.role, password=self._password
        )
        if not login.ok:
            return [login]
        detail = f"role {self.spec.role!r} is gone and its login fails"
        return [DataCheck(name=name, ok=True, detail=detail)]


def _role_exists(conn: Connection, role: str) -> bool:
    row = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    return row is not None


# A tampered configuration file.


class TamperedConfigSpec(FaultSpec):
    """A rogue key is appended to the MEV API's keys file; an attacker uses it."""

    type: Literal["tampered_config"] = "tampered_config"
    config: ConfigName = "mev_api_keys"
    attacker_rate_per_s: float = Field(default=1.0, gt=0.0, le=100.0)


@register
class TamperedConfig(Fault[TamperedConfigSpec]):
    """Write a rogue key record into the keys file (atomically); revert removes it."""

    family = "security"
    spec_model = TamperedConfigSpec

    label = "backup"
    """The rogue record's label: innocent-looking, as an intruder would make it."""

    def __init__(self, spec: TamperedConfigSpec, ctx: DrillContext) -> None:
        super().__init__(spec, ctx)
        self._key: str | None = None
        self._record_id = ""
        self._path: Path | None = None
        self._attacker: Attacker | None = None

    def inject(self) -> None:
        """Add the rogue key; return once the MEV API accepts it."""
        from harness.standins.mev_api.keys import (
            KeyRecord,
            KeysDocument,
            generate_key,
            hash_key,
            now_iso,
            write_keys,
        )

        path = self.ctx.runtime.config_path(self.spec.config)
        document = KeysDocument.model_validate_json(path.read_bytes())
        taken = {r.id for r in document.keys}
        record_id = next(f"k{n}" for n in itertools.count(len(taken) + 1)
                         if f"k{n}" not in taken)  # fmt: skip
        key = generate_key()
        record = KeyRecord(
            id=record_id, sha256=hash_key(key), label=self.label, created_at=now_iso()
        )
        self._key, self._record_id, self._path = key, record_id, path
        write_keys(path, KeysDocument(keys=[*document.keys, record]))
        self._attacker = Attacker(
            "attacker-rogue-key",
            self._attack,
            rate_per_s=self.spec.attacker_rate_per_s,
        )
        self._attacker.start()
        _wait_first_success(self._attacker, "the rogue key")

    def _attack(self) -> tuple[bool, str]:
        assert self._key is not None
        status = _api_get(
            self.ctx, self._key, "/api/v1/audit?limit=20", ATTACK_TIMEOUT_S
        )
        return status == 200, f"GET /api/v1/audit -> {status}"

    def revert(self) -> None:
        """Stop the attacker; remove the rogue record if the file still has it."""
        from harness.standins.mev_api.keys import KeysDocument, hash_key, write_keys

        if self._attacker is not None:
            self._attacker.stop()
        if self._path is None or self._key is None:
            return
        try:
            document = KeysDocument.model_validate_json(self._path.read_bytes())
        except FileNotFoundError:
            return
        except ValueError as exc:
            raise StackError(
                f"cannot remove the rogue key: {self._path} is not a valid keys "
                f"file ({_one_line(exc)})",
                hint="restore the file, or rotate the key with "
                "`drill secrets rotate api_key`",
            ) from exc
        digest = hash_key(self._key)
        kept = [
            r
            for r in document.keys
            if not (r.id == self._record_id and r.sha256 == digest)
        ]
        if len(kept) != len(document.keys):
            write_keys(self._path, KeysDocument(keys=kept))
            log.info("removed rogue key %s from %s", self._record_id, self._path)

    def describe(self) -> str:
        """One line."""
        return (
            f"tampered with {self.spec.config}: added rogue key "
            f"{self._record_id or '(not yet)'} labelled {self.label!r}"
        )

    def evidence(self) -> dict[str, str]:
        """The file, the rogue record's id (never the key), the attacker's tally."""
        tries = self._attacker.attempts() if self._attacker else []
        return {
            "config": self.spec.config,
            "path": str(self._path or ""),
            "rogue_key_id": self._record_id,
            "attacker_successes": str(sum(a.ok for a in tries)),
        }

    def security_checks(self) -> list[DataCheck]:
        """The rogue key gets 401."""
        if self._key is None:
            return []
        return [_key_check(self.ctx, "rogue key rejected", self._key, "the rogue key")]
