"""The drill history: rows as the runbook defines them, MTTR/MTBF/patterns by hand,
concurrent writers, and the history commands (through typer's CliRunner)."""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from harness import console as console_module
from harness.cli_history import history_app
from harness.errors import UsageError
from harness.metrics import (
    default_db_path,
    incident_row,
    monthly,
    mtbf_hours,
    mttr_minutes,
    pass_rate,
    patterns,
    recent_drills,
    record,
    rto_by_scenario,
)
from harness.result import DrillResult, FaultRecord, Outcome, WorkloadSample
from harness.severity import Severity
from harness.timeline import Event

pytestmark = pytest.mark.timeout(60)

NOW = datetime(2026, 12, 31, 12, 0, 0, tzinfo=UTC)
INJECT_T_S = 2.0


def make_result(
    incident_id: str,
    scenario: str,
    t0: datetime,
    *,
    outcome: Outcome = Outcome.PASSED,
    rto_s: float | None = 90.0,
    detection_s: float | None = 2.0,
    family: str = "database",
    fault: str = "killed postgres with SIGKILL",
    impact_usd: float = 0.0,
    observed: Severity | None = Severity.P1,
    expected: Severity | None = Severity.P1,
    workload: list[WorkloadSample] | None = None,
    done_after_s: float = 10.0,
) -> DrillResult:
    """A drill whose fault ended (t0) at wall time `t0`, INJECT_T_S into the drill."""
    start = t0 - timedelta(seconds=INJECT_T_S)
    timeline = [
        Event(t_s=0.0, at=start, kind="drill_start"),
        Event(t_s=INJECT_T_S, at=t0, kind="injected", detail="t0"),
    ]
    if rto_s is not None:
        at = t0 + timedelta(seconds=rto_s)
        timeline.append(Event(t_s=INJECT_T_S + rto_s, at=at, kind="recovered"))
    end_s = INJECT_T_S + (rto_s or 0.0) + done_after_s
    timeline.append(Event(t_s=end_s, at=start + timedelta(seconds=end_s), kind="done"))
    return DrillResult(
        incident_id=incident_id,
        scenario=scenario,
        outcome=outcome,
        started_at=start,
        seed=7,
        runtime="local",
        budget_s=300.0,
        detection_s=detection_s,
        rto_s=rto_s,
        rpo_s=0.0 if rto_s is not None else None,
        severity_expected=expected,
        severity_observed=observed,
        impact_usd=impact_usd,
        failed_probes=["sql_select1", "mev_api_health"],
        faults=[FaultRecord(type="kill", family=family, description=fault)],
        timeline=timeline,
        workload=workload or [],
    )


def fixed_set() -> list[DrillResult]:
    """Five drills; four in the 30 days before NOW (2026-12-01 12:00 .. NOW)."""
    return [
        make_result(
            "INC_A",
            "database_failure",
            datetime(2026, 12, 10, 10, tzinfo=UTC),
            rto_s=90.0,
            impact_usd=12.5,
        ),
        make_result(
            "INC_B",
            "database_failure",
            datetime(2026, 12, 20, 10, tzinfo=UTC),
            rto_s=150.0,
            impact_usd=20.0,
        ),
        make_result(
            "INC_C",
            "network_outage",
            datetime(2026, 12, 25, 10, tzinfo=UTC),
            outcome=Outcome.FAILED,
            rto_s=400.0,
            family="network",
            fault="outage of erigon-*",
            impact_usd=50.0,
            observed=Severity.P0,
        ),
        make_result(
            "INC_D",
            "security_breach",
            datetime(2026, 12, 28, 10, tzinfo=UTC),
            outcome=Outcome.INVALID,
            rto_s=None,
            detection_s=None,
            family="security",
            fault="leaked the MEV API admin key",
            observed=None,
            expected=Severity.P0,
        ),
        make_result(
            "INC_E",
            "node_cluster_failure",
            datetime(2026, 10, 1, 10, tzinfo=UTC),
            rto_s=60.0,
            family="cluster",
            fault="killed erigon-ethereum",
            impact_usd=5.0,
            observed=Severity.P0,
        ),
    ]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = default_db_path(tmp_path)
    for result in fixed_set():
        record(result, path)
    return path


def test_mttr_averages_resolved_incidents_in_the_window_when_one_never_recovered(
    db: Path,
):
    # In (2026-12-01 12:00, NOW]: A 90 s = 1.5 min, B 150 s = 2.5 min,
    # C 400 s = 6.6667 min, D NULL (never recovered, left out by AVG).
    # (1.5 + 2.5 + 6.6667) / 3 = 10.6667 / 3 = 3.5556 min. E (October) is out.
    assert mttr_minutes(db, 30, NOW) == pytest.approx(10.6667 / 3, abs=1e-3)
    # 7 days: (2026-12-24 12:00, NOW] holds C and D; only C resolved: 6.6667.
    assert mttr_minutes(db, 7, NOW) == pytest.approx(6.6667, abs=1e-3)


def test_mtbf_divides_hours_in_period_by_incidents_when_the_window_has_some(
    db: Path,
):
    # 30 days = 720 h; A, B, C, D = 4 incidents: 720 / 4 = 180 h.
    assert mtbf_hours(db, 30, NOW) == pytest.approx(180.0)
    # 7 days = 168 h; C, D = 2 incidents: 84 h.
    assert mtbf_hours(db, 7, NOW) == pytest.approx(84.0)


def test_mtbf_is_infinite_and_mttr_zero_when_the_window_has_no_incident(db: Path):
    later = datetime(2027, 6, 1, tzinfo=UTC)
    assert math.isinf(mtbf_hours(db, 30, later))
    assert mttr_minutes(db, 30, later) == 0.0


def test_pass_rate_counts_invalid_drills_as_not_passed_when_in_window(db: Path):
    rate = pass_rate(db, 30, NOW)
    # A, B passed; C failed; D invalid: 2 / 4 = 0.5.
    assert (rate.total, rate.passed, rate.failed, rate.invalid) == (4, 2, 1, 1)
    assert rate.rate == 0.5


def test_rto_by_scenario_lists_each_scenario_oldest_first_when_in_window(db: Path):
    series = {s.scenario: s for s in rto_by_scenario(db, 30, NOW)}
    assert sorted(series) == ["database_failure", "network_outage", "security_breach"]
    assert [rto for _, rto in series["database_failure"].points] == [90.0, 150.0]
    # (90 + 150) / 2 = 120 s.
    assert series["database_failure"].mean_s == 120.0
    assert series["security_breach"].mean_s is None


def test_patterns_match_the_runbook_analysis_when_worked_by_hand(db: Path):
    found = patterns(db)
    # Root causes over all 5: postgres kill twice (A, B), the rest once, by name.
    assert found.most_common_root_causes == [
        ("killed postgres with SIGKILL", 2),
        ("killed erigon-ethereum", 1),
        ("leaked the MEV API admin key", 1),
        ("outage of erigon-*", 1),
    ]
    # P0: C 50, D 0 (expected P0, none observed), E 5 -> 55 / 3 = 18.3333.
    # P1: A 12.5, B 20 -> 32.5 / 2 = 16.25.
    assert found.financial_impact_by_severity == [
        ("P0", pytest.approx(55 / 3)),
        ("P1", 16.25),
    ]
    # Preventable: A, B (database), D (security) = 3 of 5 = 60%.
    assert found.preventable_percentage == pytest.approx(60.0)
    assert found.recommendations == [
        "Focus on preventing 'killed postgres with SIGKILL' - most common root cause",
        "High preventable incident rate - improve monitoring and alerting",
    ]


def test_incident_row_maps_times_and_customer_impact_when_workload_failed(
    tmp_path: Path,
):
    t0 = datetime(2026, 12, 10, 10, tzinfo=UTC)
    samples = [
        # before t0 (t_s < 2), during (2..92), after recovery (> 92).
        WorkloadSample(t_s=1.0, client="c", op="write", ok=False, latency_ms=1),
        WorkloadSample(t_s=3.0, client="c", op="write", ok=False, latency_ms=1),
        WorkloadSample(t_s=50.0, client="c", op="rpc", ok=False, latency_ms=1),
        WorkloadSample(t_s=60.0, client="c", op="rpc", ok=True, latency_ms=1),
        WorkloadSample(t_s=95.0, client="c", op="rpc", ok=False, latency_ms=1),
    ]
    row = incident_row(make_result("INC_W", "x", t0, rto_s=90.0, workload=samples))
    assert row.start_time == "2026-12-10 10:00:00"
    assert row.end_time == "2026-12-10 10:01:30"
    assert row.duration_minutes == 1.5
    assert row.resolution_time_minutes == 1.5
    assert row.customer_impact == 2
    assert row.preventable is True
    assert row.affected_services == ["mev_api_health", "sql_select1"]


def test_incident_row_ends_at_drill_end_when_never_recovered():
    t0 = datetime(2026, 12, 10, 10, tzinfo=UTC)
    result = make_result(
        "INC_F", "x", t0, outcome=Outcome.FAILED, rto_s=None, done_after_s=300.0
    )
    row = incident_row(result)
    assert row.end_time == "2026-12-10 10:05:00"
    assert row.resolution_time_minutes is None


def test_record_stores_quotes_verbatim_when_values_look_like_sql(tmp_path: Path):
    db = default_db_path(tmp_path)
    evil = "x'); DROP TABLE drills; --"
    t0 = datetime(2026, 12, 10, 10, tzinfo=UTC)
    record(make_result("INC_Q", evil, t0, fault=evil), db)
    with sqlite3.connect(db) as conn:
        (scenario,) = conn.execute("SELECT scenario FROM drills").fetchone()
        (cause,) = conn.execute("SELECT root_cause FROM incident_metrics").fetchone()
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    assert scenario == evil
    assert cause == evil
    assert mode == "wal"


def test_record_replaces_rows_when_the_same_drill_is_recorded_twice(tmp_path: Path):
    db = default_db_path(tmp_path)
    t0 = datetime(2026, 12, 10, 10, tzinfo=UTC)
    record(make_result("INC_R", "s", t0, rto_s=10.0), db)
    record(make_result("INC_R", "s", t0, rto_s=20.0), db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM drills").fetchone() == (1,)
        assert conn.execute("SELECT COUNT(*) FROM incident_metrics").fetchone() == (1,)
    assert recent_drills(db)[0].rto_s == 20.0


_WRITER = """
import json, sys, time
from pathlib import Path
from harness.metrics import record
from harness.result import DrillResult
db, prefix, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[4])
count = int(sys.argv[3])
template = json.loads(sys.stdin.read())
while not go.exists():
    time.sleep(0.005)
for i in range(count):
    record(DrillResult.model_validate({**template, "incident_id": f"{prefix}{i}"}), db)
"""


def test_record_loses_no_row_when_two_processes_write_at_once(tmp_path: Path):
    db = default_db_path(tmp_path)
    go = tmp_path / "go"
    count = 60
    template = fixed_set()[0].model_dump_json()
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(db), prefix, str(count), str(go)],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for prefix in ("P1_", "P2_")
    ]
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write(template)
        writer.stdin.close()
    time.sleep(0.5)  # let both import and reach the start line
    go.touch()
    for writer in writers:
        assert writer.wait(timeout=50) == 0, (
            writer.stderr.read() if writer.stderr else ""
        )
    with sqlite3.connect(db) as conn:
        drills = {r[0] for r in conn.execute("SELECT incident_id FROM drills")}
        incidents = {
            r[0] for r in conn.execute("SELECT incident_id FROM incident_metrics")
        }
    expected = {f"{p}{i}" for p in ("P1_", "P2_") for i in range(count)}
    assert drills == expected
    assert incidents == expected


def test_monthly_collects_the_months_drills_when_others_fall_outside(db: Path):
    data = monthly(db, "2026-12")
    assert [d.incident_id for d in data.drills] == ["INC_A", "INC_B", "INC_C", "INC_D"]
    # December: 31 * 24 = 744 h over 4 incidents = 186 h.
    assert data.mtbf_hours == pytest.approx(186.0)
    assert data.mttr_minutes == pytest.approx((1.5 + 2.5 + 400 / 60) / 3)
    assert data.total_impact_usd == 82.5
    # 2027-01-01 is a Friday: the first Monday is 2027-01-04.
    assert data.review_meeting == "2027-01-04"


def test_monthly_raises_usage_error_when_month_is_malformed(db: Path):
    with pytest.raises(UsageError, match="YYYY-MM"):
        monthly(db, "December")


def test_queries_raise_usage_error_when_no_history_exists(tmp_path: Path):
    with pytest.raises(UsageError, match="no drill history"):
        patterns(tmp_path / "metrics.db")


# The commands are tested through typer's CliRunner on `history_app`: the lead
# registers them in harness/cli.py, so `python -m harness.cli` lacks them yet.


@pytest.fixture
def runner() -> Iterator[CliRunner]:
    before = (console_module.console(), console_module.error_console())
    console_module.use(Console(width=200, color_system=None, force_terminal=False))
    yield CliRunner()
    console_module.use(*before)


def test_history_command_lists_newest_first_when_asked_for_json(
    db: Path, runner: CliRunner
):
    result = runner.invoke(
        history_app, ["history", "--reports", str(db.parent), "--json", "--limit", "2"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["incident_id"] for r in rows] == ["INC_D", "INC_C"]


def test_history_command_prints_a_table_when_not_json(db: Path, runner: CliRunner):
    result = runner.invoke(history_app, ["history", "--reports", str(db.parent)])
    assert result.exit_code == 0, result.output
    assert "INC_E" in result.output
    assert "network_outage" in result.output


def test_metrics_command_reports_counts_when_asked_for_json(
    db: Path, runner: CliRunner
):
    result = runner.invoke(
        history_app,
        [
            "metrics",
            "--reports",
            str(db.parent),
            "--json",
            "--now",
            "2026-12-31T12:00:00",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    # The fixed set's 30 days before NOW: A, B passed, C failed, D invalid.
    assert (data["drills"], data["passed"], data["pass_rate"]) == (4, 2, 0.5)
    assert data["mtbf_hours"] == 180.0
    assert data["rto_by_scenario"]["database_failure"] == [
        ["2026-12-10 10:00:00", 90.0],
        ["2026-12-20 10:00:00", 150.0],
    ]


def test_patterns_command_prints_recommendations_when_history_exists(
    db: Path, runner: CliRunner
):
    result = runner.invoke(history_app, ["patterns", "--reports", str(db.parent)])
    assert result.exit_code == 0, result.output
    assert "Preventable: 60.0%" in result.output
    assert "improve monitoring and alerting" in result.output


def test_schedule_command_prints_quarterly_cron_timer_and_workflow_when_quarterly(
    tmp_path: Path, runner: CliRunner
):
    result = runner.invoke(
        history_app,
        ["schedule", "--quarterly", "--repo", str(tmp_path), "--venv", "/opt/venv"],
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"0 6 1 1,4,7,10 * cd {tmp_path} && /opt/venv/bin/drill run --random" in out
    assert "OnCalendar=*-01,04,07,10-01 06:00:00" in out
    assert (
        "ExecStart=/opt/venv/bin/drill run --random --quiet"
        f" --reports {tmp_path}/reports" in out
    )
    assert '- cron: "0 6 1 1,4,7,10 *"' in out


def test_schedule_command_is_a_usage_error_when_no_period_given(runner: CliRunner):
    result = runner.invoke(history_app, ["schedule"])
    assert isinstance(result.exception, UsageError)
