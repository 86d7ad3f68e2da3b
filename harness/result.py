"""The drill's result: the one record reports, metrics and the journal read.

Everything here is plain data with units in the names; nothing in it knows
how the drill ran.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from harness.severity import Severity
from harness.timeline import Event


class Outcome(StrEnum):
    """PASSED: recovered within budget with nothing lost. FAILED: not so.
    INVALID: the drill measured nothing (broken baseline, fault unnoticed)."""

    PASSED = "PASSED"
    FAILED = "FAILED"
    INVALID = "INVALID"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepResult(_Record):
    """One recovery step as it ran."""

    name: str
    kind: str
    command: str
    started_s: float
    duration_s: float
    exit_code: int | None
    timed_out: bool = False
    killed_by_budget: bool = False
    output: str = ""
    fixed_sleeps_s: list[float] = Field(default_factory=list)
    """Each fixed `sleep N` in the command and the script it runs, seconds."""

    @property
    def ok(self) -> bool:
        """The step finished by itself with exit code 0."""
        return self.exit_code == 0 and not self.timed_out


class ProbeSample(_Record):
    """One probe check at one poll."""

    t_s: float
    probe: str
    ok: bool
    detail: str = ""
    value: float | None = None


class WorkloadSample(_Record):
    """One workload request: when, which client, whether it worked, how long."""

    t_s: float
    client: str
    op: str
    ok: bool
    latency_ms: float
    detail: str = ""


class FaultRecord(_Record):
    """A fault as injected and reverted."""

    type: str
    family: str
    description: str
    injected_s: float | None = None
    reverted_s: float | None = None
    evidence: dict[str, str] = Field(default_factory=dict)
    error: str = ""


class DataCheck(_Record):
    """One data check after recovery (writes kept, credential rejected, ...)."""

    name: str
    ok: bool
    detail: str = ""


class DrillResult(_Record):
    """Everything a drill measured and decided."""

    incident_id: str
    scenario: str
    description: str = ""
    outcome: Outcome
    reasons: list[str] = Field(default_factory=list)
    started_at: datetime
    seed: int
    runtime: str
    budget_s: float
    detection_s: float | None = None
    rto_s: float | None = None
    rpo_s: float | None = None
    lost_writes: int = 0
    severity_expected: Severity | None = None
    severity_observed: Severity | None = None
    impact_usd: float = 0.0
    loss_usd_per_min: float = 0.0
    failed_probes: list[str] = Field(default_factory=list)
    faults: list[FaultRecord] = Field(default_factory=list)
    steps: list[StepResult] = Field(default_factory=list)
    data_checks: list[DataCheck] = Field(default_factory=list)
    timeline: list[Event] = Field(default_factory=list)
    probes: list[ProbeSample] = Field(default_factory=list)
    workload: list[WorkloadSample] = Field(default_factory=list)
    scenario_source: dict[str, object] = Field(default_factory=dict)
    report_dir: str | None = None
