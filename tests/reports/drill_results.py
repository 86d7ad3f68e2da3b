"""Drill results for report tests: one built by hand, one real journal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness.reports.journal import load_journal
from harness.result import (
    DataCheck,
    DrillResult,
    FaultRecord,
    Outcome,
    ProbeSample,
    StepResult,
    WorkloadSample,
)
from harness.severity import Severity
from harness.timeline import Event

FIXTURES = Path(__file__).parent / "fixtures"
STARTED_AT = datetime(2026, 7, 17, 14, 30, 0, tzinfo=UTC)
FIXED_NOW = datetime(2026, 7, 17, 15, 0, 0, tzinfo=UTC)
T0_S = 3.0
DETECTED_S = 4.0
RESPONSE_S = 5.0
RECOVERED_S = 95.0
END_S = 100.0
PROBES = ("mev_api_health", "sql_select1", "chain_head_fresh")
FAILING = ("mev_api_health", "sql_select1")


def _event(t_s: float, kind: str, detail: str = "") -> Event:
    return Event(
        t_s=t_s, at=STARTED_AT + timedelta(seconds=t_s), kind=kind, detail=detail
    )


def failed_drill() -> DrillResult:
    """A FAILED database drill: a slow step with a fixed sleep, a failed step,
    two lost writes; recovered after 92 s against a 120 s budget."""
    probes = [
        ProbeSample(
            t_s=k * 0.5,
            probe=name,
            ok=not (name in FAILING and DETECTED_S <= k * 0.5 < RECOVERED_S),
            detail="SELECT 1 failed: <refused> & gone" if name in FAILING else "ok",
        )
        for k in range(1, int(END_S * 2))
        for name in PROBES
    ]
    workload = [
        WorkloadSample(
            t_s=k * 0.25,
            client="searcher-1",
            op="opportunities",
            ok=not (T0_S <= k * 0.25 < RECOVERED_S) or k % 4 == 0,
            latency_ms=12.5,
        )
        for k in range(1, int(END_S * 4))
    ]
    steps = [
        StepResult(
            name="restart postgres",
            kind="run",
            command="systemctl restart postgresql && sleep 45",
            started_s=RESPONSE_S,
            duration_s=46.2,
            exit_code=0,
            output="postgresql restarted\n<ok> & done\n",
        ),
        StepResult(
            name="validate",
            kind="run",
            command="scripts/validate_recovery.sh",
            started_s=51.3,
            duration_s=2.1,
            exit_code=1,
            output="✗ MEV API health\n",
        ),
    ]
    timeline = [
        _event(0.1, "drill_start", "scenario database_failure, seed 7"),
        _event(0.1, "baseline", "steady state must hold for 2.0s"),
        _event(2.9, "baseline_ok"),
        _event(2.95, "inject", "killed postgres with SIGKILL"),
        _event(T0_S, "injected", "t0"),
        _event(DETECTED_S, "detected", "sql_select1, mev_api_health"),
        _event(RESPONSE_S, "response_start", "2 step(s)"),
        _event(RESPONSE_S, "step_started", "restart postgres"),
        _event(51.2, "step_finished", "restart postgres: exit 0 after 46.20 s"),
        _event(51.2, "step_end", "restart postgres: exit 0"),
        _event(51.3, "step_started", "validate"),
        _event(53.4, "step_finished", "validate: exit 1 after 2.10 s"),
        _event(53.4, "response_end"),
        _event(RECOVERED_S, "recovered", "RTO 92.00s"),
        _event(96.0, "check_data"),
        _event(97.0, "clean_up"),
        _event(END_S, "done"),
    ]
    return DrillResult(
        incident_id="INC_20260717_143000_database_failure",
        scenario="database_failure",
        description="The primary database dies.",
        outcome=Outcome.FAILED,
        reasons=[
            "recovery step 'validate' failed (exited 1)",
            "data lost: 40 acknowledged, 2 lost, RPO 1.50s (budget 0s)",
        ],
        started_at=STARTED_AT,
        seed=7,
        runtime="local",
        budget_s=120.0,
        detection_s=DETECTED_S - T0_S,
        rto_s=RECOVERED_S - T0_S,
        rpo_s=1.5,
        lost_writes=2,
        severity_expected=Severity.P1,
        severity_observed=Severity.P0,
        impact_usd=766.67,
        loss_usd_per_min=500.0,
        failed_probes=list(sorted(FAILING)),
        faults=[
            FaultRecord(
                type="kill_postgres",
                family="database",
                description="killed postgres with SIGKILL",
                injected_s=2.95,
                reverted_s=97.0,
                evidence={"signal": "SIGKILL"},
            )
        ],
        steps=steps,
        data_checks=[
            DataCheck(
                name="acknowledged writes preserved",
                ok=False,
                detail="40 acknowledged, 2 lost, RPO 1.50s (budget 0s)",
            )
        ],
        timeline=timeline,
        probes=probes,
        workload=workload,
    )


def passed_journal() -> DrillResult:
    """A real PASSED database_failure journal written by `drill run`."""
    return load_journal(FIXTURES / "database_failure.journal.json")
