"""Freshness probes: the strategy engine keeps finding opportunities."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from harness.probes.base import ProbeResult, ProbeSpec, register
from harness.probes.database import SqlProbe
from harness.severity import Impact
from harness.stack import CHAINS


class OpportunitiesFreshSpec(ProbeSpec):
    """The newest opportunity is at most `max_age_s` seconds old (10).

    With `chain`, only that chain's opportunities count.
    """

    type: Literal["opportunities_fresh"] = "opportunities_fresh"
    max_age_s: float = Field(default=10.0, gt=0)
    chain: str | None = None

    @field_validator("chain")
    @classmethod
    def _known_chain(cls, value: str | None) -> str | None:
        names = [c.name for c in CHAINS]
        if value is not None and value not in names:
            raise ValueError(f"unknown chain {value!r}; choose one of {names}")
        return value


@register
class OpportunitiesFreshProbe(SqlProbe[OpportunitiesFreshSpec]):
    """Reads max(detected_at) of the opportunities table as mev_user.

    The age is measured on the database's clock (clock_timestamp()), the
    clock that stamped the rows. `value` is the age in seconds.
    """

    spec_model = OpportunitiesFreshSpec

    @property
    def name(self) -> str:
        """`opportunities_fresh`, or `opportunities_fresh:<chain>`."""
        chain = self.spec.chain
        return f"{self.spec.type}:{chain}" if chain else self.spec.type

    @property
    def impact(self) -> Impact:
        """No new opportunities is the runbook's P0 "complete MEV engine failure"."""
        return Impact.ENGINE_DOWN

    @property
    def subject(self) -> str:
        """The chain, when the probe watches one."""
        return self.spec.chain or ""

    def observe(self) -> ProbeResult:
        """Measure the newest row's age."""
        age = "EXTRACT(EPOCH FROM clock_timestamp() - max(detected_at))::float8"
        if self.spec.chain is None:
            rows = self.fetch(f"SELECT {age} FROM opportunities")
            where = ""
        else:
            rows = self.fetch(
                f"SELECT {age} FROM opportunities WHERE chain = %s",
                (self.spec.chain,),
            )
            where = f" for {self.spec.chain}"
        age_s = rows[0][0] if rows else None
        if age_s is None:
            return ProbeResult(ok=False, detail=f"no opportunities{where}")
        limit_s = self.spec.max_age_s
        if age_s > limit_s:
            return ProbeResult(
                ok=False,
                detail=f"newest opportunity{where} is {age_s:.1f} s old "
                f"(limit {limit_s:g} s)",
                value=round(age_s, 3),
            )
        return ProbeResult(
            ok=True,
            detail=f"newest opportunity{where} is {age_s:.1f} s old",
            value=round(age_s, 3),
        )
