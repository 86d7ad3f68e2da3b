"""Security probes: strategies untouched, no rogue role, session or API key."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.probes.base import ProbeResult, ProbeSpec, register
from harness.probes.database import APPLICATION_NAME, SqlProbe
from harness.probes.guard import GuardedProbe
from harness.severity import Impact

SEEDED_STRATEGIES = ("arbitrage", "sandwich", "liquidation", "backrun")
"""The strategies the seed creates, all enabled."""

STACK_APPLICATIONS = (
    "mev-api",
    "mev-artemis",
    APPLICATION_NAME,
    "drill-workload",
    "psql",
)
"""application_name of every mev_user client the stack and the drill run:
the MEV API, the strategy engine, the probes, the workload, and psql (the
runbook's `psql -U mev_user -c "SELECT 1;"` recovery check)."""


class _SecurityProbe:
    """Mixin: every security probe's failure is a breach (P0)."""

    @property
    def impact(self) -> Impact:
        """The runbook's P0 "security breach"."""
        return Impact.SECURITY_BREACH


class StrategiesIntactSpec(ProbeSpec):
    """Each of `strategies` (the four seeded) exists and is enabled."""

    type: Literal["strategies_intact"] = "strategies_intact"
    strategies: list[str] = Field(default_factory=lambda: list(SEEDED_STRATEGIES))


@register
class StrategiesIntactProbe(_SecurityProbe, SqlProbe[StrategiesIntactSpec]):
    """Reads the strategies table as mev_user; a disabled or deleted one fails.

    Turning the engine's strategies off is what an attacker with the API key
    or the database password would do to stop the operation quietly.
    """

    spec_model = StrategiesIntactSpec

    def observe(self) -> ProbeResult:
        """Compare the table with the expected strategies."""
        rows = self.fetch("SELECT name, enabled FROM strategies")
        enabled = {str(name): bool(on) for name, on in rows}
        missing = [s for s in self.spec.strategies if s not in enabled]
        disabled = [s for s in self.spec.strategies if enabled.get(s) is False]
        problems = []
        if disabled:
            problems.append("disabled: " + ", ".join(disabled))
        if missing:
            problems.append("missing: " + ", ".join(missing))
        if problems:
            return ProbeResult(ok=False, detail="strategies " + "; ".join(problems))
        return ProbeResult(ok=True, detail=f"{len(self.spec.strategies)} enabled")


class RolesCleanSpec(ProbeSpec):
    """No role that can log in (or is a superuser) beyond `allowed`.

    `allowed` defaults to postgres and mev_user; the built-in `pg_*` roles
    are always allowed (they cannot log in, and users cannot create them).
    """

    type: Literal["roles_clean"] = "roles_clean"
    allowed: list[str] = Field(default_factory=lambda: ["postgres", "mev_user"])


@register
class RolesCleanProbe(_SecurityProbe, SqlProbe[RolesCleanSpec]):
    """Reads pg_roles as mev_user (it is readable by every role)."""

    spec_model = RolesCleanSpec

    def observe(self) -> ProbeResult:
        """List login and superuser roles and compare them with `allowed`."""
        rows = self.fetch(
            "SELECT rolname FROM pg_roles WHERE (rolcanlogin OR rolsuper)"
            " AND rolname NOT LIKE 'pg\\_%' ORDER BY rolname"
        )
        rogue = [str(name) for (name,) in rows if name not in self.spec.allowed]
        if rogue:
            return ProbeResult(
                ok=False,
                detail="unexpected login roles: " + ", ".join(rogue),
                value=float(len(rogue)),
            )
        return ProbeResult(ok=True, detail="only the expected roles", value=0.0)


class DbSessionsCleanSpec(ProbeSpec):
    """No database session that the stack or the drill does not run.

    A session is unexpected when its role is not in `allowed_roles`
    (postgres, mev_user), or when it is a session of a role other than
    postgres whose application_name is not in `allowed_applications` (see
    STACK_APPLICATIONS) and which is older than `min_age_s` (0.5 s).
    Sessions younger than that are one-shot checks (the runtime's readiness
    check sets no application name); an attacker's session is flagged once it
    has lasted `min_age_s`. Superuser sessions are the operator's.
    """

    type: Literal["db_sessions_clean"] = "db_sessions_clean"
    allowed_roles: list[str] = Field(default_factory=lambda: ["postgres", "mev_user"])
    allowed_applications: list[str] = Field(
        default_factory=lambda: list(STACK_APPLICATIONS)
    )
    min_age_s: float = Field(default=0.5, ge=0)


@register
class DbSessionsCleanProbe(_SecurityProbe, SqlProbe[DbSessionsCleanSpec]):
    """Reads pg_stat_activity as mev_user.

    Every role sees every session's role and application_name; the session
    start is visible for mev_user's own sessions, which are the ones judged
    by age. A session of an unknown role is flagged at once.
    """

    spec_model = DbSessionsCleanSpec

    def observe(self) -> ProbeResult:
        """List client sessions other than this probe's own."""
        rows = self.fetch(
            "SELECT pid, usename, application_name,"
            " EXTRACT(EPOCH FROM clock_timestamp() - backend_start)::float8"
            " FROM pg_stat_activity"
            " WHERE usename IS NOT NULL AND pid <> pg_backend_pid()"
        )
        unexpected = [
            f"pid {pid} {role}/{app or '(no name)'}"
            for pid, role, app, age_s in rows
            if self._unexpected(role, app or "", age_s)
        ]
        if unexpected:
            return ProbeResult(
                ok=False,
                detail="unexpected sessions: " + ", ".join(unexpected),
                value=float(len(unexpected)),
            )
        return ProbeResult(ok=True, detail=f"{len(rows)} sessions, all known", value=0)

    def _unexpected(self, role: str, app: str, age_s: float | None) -> bool:
        if role not in self.spec.allowed_roles:
            return True
        if role == "postgres" or app in self.spec.allowed_applications:
            return False
        return age_s is None or age_s >= self.spec.min_age_s


class ApiKeysKnownSpec(ProbeSpec):
    """Every non-revoked key in the MEV API's keys file is the current admin key."""

    type: Literal["api_keys_known"] = "api_keys_known"


@register
class ApiKeysKnownProbe(_SecurityProbe, GuardedProbe[ApiKeysKnownSpec]):
    """Compares the keys file's active SHA-256 hashes with the runtime's key.

    A key nobody issued through the runtime means a tampered config (or a
    key minted with a leaked one). An unreadable or invalid file fails too:
    the API then rejects every key. The runtime's key is read again when it
    does not match, since a rotation writes the file before it records it.
    """

    spec_model = ApiKeysKnownSpec

    @property
    def name(self) -> str:
        """The spec's type."""
        return self.spec.type

    def observe(self) -> ProbeResult:
        """Read the file and the runtime's key, then compare."""
        from harness.standins.mev_api.keys import KeysDocument, hash_key

        path = self.ctx.runtime.config_path("mev_api_keys")
        document = KeysDocument.model_validate_json(path.read_bytes())
        active = [k for k in document.keys if k.revoked_at is None]
        unknown: list[str] = []
        for _ in range(2):
            current = hash_key(self.ctx.secrets().api_key)
            unknown = [k.id for k in active if k.sha256 != current]
            if not unknown:
                break
        if unknown:
            return ProbeResult(
                ok=False,
                detail=f"unknown active API keys in {path.name}: " + ", ".join(unknown),
                value=float(len(unknown)),
            )
        return ProbeResult(ok=True, detail=f"{len(active)} active key(s), all known")
