"""The quarterly drill record: the runbook's four lines, exactly."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from harness.reports.quarterly import write_drill_record
from harness.result import Outcome
from tests.test_metrics import make_result

T0 = datetime(2026, 1, 1, 6, 0, 5, tzinfo=UTC)


def test_drill_record_says_pass_with_whole_seconds_when_drill_passed(tmp_path: Path):
    result = make_result("INC_1", "database_failure", T0, rto_s=299.7)
    path = write_drill_record(result, tmp_path)
    assert path == tmp_path / "dr_drill_20260101.txt"
    assert path.read_text() == (
        "DR Drill Results:\n"
        "Scenario: database_failure\n"
        "Recovery Time: 299 seconds\n"
        "Status: PASS\n"
    )


def test_drill_record_says_fail_when_rto_is_over_budget(tmp_path: Path):
    result = make_result(
        "INC_2", "network_outage", T0, rto_s=300.2, outcome=Outcome.FAILED
    )
    text = write_drill_record(result, tmp_path).read_text()
    assert text.splitlines()[2:] == ["Recovery Time: 300 seconds", "Status: FAIL"]


def test_drill_record_says_fail_when_under_budget_but_drill_failed(tmp_path: Path):
    # Recovered in time but lost data: FAILED, so the record is FAIL.
    result = make_result("INC_3", "security_breach", T0, outcome=Outcome.FAILED)
    assert write_drill_record(result, tmp_path).read_text().endswith("Status: FAIL\n")


def test_drill_record_says_not_recovered_when_there_is_no_rto(tmp_path: Path):
    result = make_result(
        "INC_4", "node_cluster_failure", T0, rto_s=None, outcome=Outcome.FAILED
    )
    lines = write_drill_record(result, tmp_path).read_text().splitlines()
    assert lines[2] == "Recovery Time: not recovered within 300 seconds"


def test_drill_record_says_invalid_when_drill_measured_nothing(tmp_path: Path):
    result = make_result(
        "INC_5", "database_failure", T0, rto_s=None, outcome=Outcome.INVALID
    )
    lines = write_drill_record(result, tmp_path).read_text().splitlines()
    assert lines[2:] == [
        "Recovery Time: not measured (the drill was invalid)",
        "Status: INVALID",
    ]
    assert list(tmp_path.iterdir()) == [tmp_path / "dr_drill_20260101.txt"]
