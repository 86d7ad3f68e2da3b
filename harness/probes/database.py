"""Database probes: `SELECT 1` as mev_user through the public endpoint."""

from __future__ import annotations

from typing import Any, Literal, LiteralString

from harness.context import DrillContext
from harness.probes.base import ProbeResult, ProbeSpec, SpecT, register
from harness.probes.guard import GuardedProbe
from harness.probes.sql import BoundedSession, Row
from harness.severity import Impact

APPLICATION_NAME = "drill-probe"
"""How the probes' sessions show up in pg_stat_activity."""


class SqlProbe(GuardedProbe[SpecT]):
    """A probe with its own mev_user connection (reconnects, bounded queries)."""

    def __init__(self, spec: SpecT, ctx: DrillContext) -> None:
        super().__init__(spec, ctx)
        self._session = BoundedSession(ctx, application_name=APPLICATION_NAME)

    @property
    def name(self) -> str:
        """The spec's type."""
        return self.spec.type

    def fetch(self, query: LiteralString, params: tuple[Any, ...] = ()) -> list[Row]:
        """The rows of `query` within the spec's `timeout_s`; raises QueryFailed."""
        return self._session.fetch(query, params, timeout_s=self.spec.timeout_s)

    def close(self) -> None:
        """Drop the connection."""
        self._session.close()


class SqlSelect1Spec(ProbeSpec):
    """`SELECT 1` as mev_user through the database's public endpoint answers 1."""

    type: Literal["sql_select1"] = "sql_select1"


@register
class SqlSelect1Probe(SqlProbe[SqlSelect1Spec]):
    """The runbook's database check, on one kept connection.

    A broken connection is replaced at the next check, with the password read
    again from the runtime (a recovery may have rotated it).
    """

    spec_model = SqlSelect1Spec

    @property
    def impact(self) -> Impact:
        """The runbook's P1 "database failure"."""
        return Impact.DATABASE_DOWN

    def observe(self) -> ProbeResult:
        """Run SELECT 1."""
        rows = self.fetch("SELECT 1")
        if rows != [(1,)]:
            return ProbeResult(ok=False, detail=f"SELECT 1 answered {rows!r:.80}")
        return ProbeResult(ok=True, detail="SELECT 1 answered 1")
