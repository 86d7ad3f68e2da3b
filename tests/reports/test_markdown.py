"""The Markdown incident report (a snapshot), the notification and the status update."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.reports.markdown import (
    render_markdown,
    render_notification,
    render_status_update,
)
from harness.result import DrillResult
from tests.reports.drill_results import FIXED_NOW, failed_drill, passed_journal

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"


def _check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no snapshot {path}; run with UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} differs from its snapshot; if the change is intended, "
        "rerun with UPDATE_SNAPSHOTS=1 and review the diff"
    )


@pytest.mark.parametrize(
    ("name", "build"),
    [("failed_drill.md", failed_drill), ("passed_journal.md", passed_journal)],
)
def test_markdown_report_matches_snapshot_when_clock_is_fixed(
    name: str, build: object
) -> None:
    assert callable(build)
    result = build()
    assert isinstance(result, DrillResult)
    _check_snapshot(name, render_markdown(result, now=FIXED_NOW))


def test_markdown_report_is_identical_when_rendered_twice_with_fixed_clock() -> None:
    result = failed_drill()
    assert render_markdown(result, now=FIXED_NOW) == render_markdown(
        result, now=FIXED_NOW
    )


def test_markdown_report_follows_runbook_template_sections_when_drill_failed() -> None:
    text = render_markdown(failed_drill(), now=FIXED_NOW)
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == [
        "# Incident Report: INC_20260717_143000_database_failure",
        "## Executive Summary",
        "## Timeline",
        "## Root Cause Analysis",
        "### What Happened",
        "### Why It Happened",
        "## Impact Assessment",
        "### Financial",
        "### Operational",
        "## Response Effectiveness",
        "### What Went Well",
        "### What Could Be Improved",
        "## Preventive Measures",
        "### Immediate Actions (24-48 hours)",
        "### Short-term Actions (1-4 weeks)",
        "### Long-term Actions (1-6 months)",
        "## Lessons Learned",
    ]


def test_markdown_report_calls_out_fixed_sleep_and_slow_step_when_plan_waits() -> None:
    text = render_markdown(failed_drill(), now=FIXED_NOW)
    improve = text.split("### What Could Be Improved")[1].split("##")[0]
    assert "fixed `sleep 45` instead of a readiness wait" in improve
    assert "Step `restart postgres` took 46.20 s" in improve
    assert "Step `validate` failed (exit 1)" in improve
    assert "Replace the fixed `sleep 45` in `restart postgres`" in text


def test_markdown_report_calls_out_a_sleep_in_the_script_when_the_runner_found_it():
    drill = failed_drill()
    steps = [
        step.model_copy(update={"command": "fix.sh", "fixed_sleeps_s": [5.0, 30.0]})
        for step in drill.steps
    ]
    text = render_markdown(drill.model_copy(update={"steps": steps}), now=FIXED_NOW)
    assert "fixed `sleep 30` instead of a readiness wait" in text
    assert "`sleep 45`" not in text


def test_markdown_report_says_not_recovered_when_rto_is_missing() -> None:
    result = failed_drill().model_copy(update={"rto_s": None})
    text = render_markdown(result, now=FIXED_NOW)
    assert "- **Incident Duration**: not recovered within the budget (2 min 0 s)" in (
        text
    )
    assert "Not recovered within the budget of 2 min 0 s" in text


def test_markdown_report_flags_slow_detection_when_over_60_s() -> None:
    result = failed_drill().model_copy(update={"detection_s": 75.0})
    text = render_markdown(result, now=FIXED_NOW)
    assert "Slow detection: 1 min 15 s after the fault (target under 60 s)" in text
    assert "Rapid detection" not in text


def test_markdown_report_states_impact_and_timeline_in_utc_when_drill_ran() -> None:
    text = render_markdown(failed_drill(), now=FIXED_NOW)
    assert "- **Impact**: $766.67 revenue loss (at $500.00/minute)" in text
    assert "| 14:30:03 | Outage begins (t0): every fault in place (t0+0.00 s) |" in text
    assert "| 14:31:35 | Full service restored" in text
    # step_end duplicates step_finished and is left out.
    assert "restart postgres: exit 0 |" not in text
    assert "- Acknowledged writes lost: 2 (RPO 1.50 s)" in text


def test_notification_fills_runbook_template_when_drill_failed() -> None:
    text = render_notification(failed_drill())
    lines = text.splitlines()
    assert lines[0] == (
        "INCIDENT ALERT: [P0] - database_failure drill: killed postgres with SIGKILL"
    )
    assert "Incident ID: INC_20260717_143000_database_failure" in lines
    assert "Severity: P0 - Critical" in lines
    assert "Status: Resolved (drill FAILED)" in lines
    assert "Started: 2026-07-17 14:30:03 UTC" in lines
    for header in ("IMPACT:", "ACTIONS TAKEN:", "NEXT STEPS:"):
        assert header in lines
    assert "- Estimated revenue loss: $500.00/minute ($766.67 in total)" in lines
    assert "- Ran validate: exit 1 after 2.10 s" in lines
    assert "- ETA for resolution: resolved after 1 min 32 s" in lines


def test_notification_reports_unresolved_when_not_recovered() -> None:
    result = failed_drill().model_copy(update={"rto_s": None})
    text = render_notification(result)
    assert "Status: Unresolved within the budget (drill FAILED)" in text
    assert "ETA for resolution: not resolved within the budget of 2 min 0 s" in text


def test_status_update_fills_runbook_template_when_recovered() -> None:
    text = render_status_update(failed_drill())
    lines = text.splitlines()
    assert lines[0] == (
        "INCIDENT UPDATE: INC_20260717_143000_database_failure - "
        "database_failure drill: killed postgres with SIGKILL"
    )
    assert "Time: 2026-07-17 14:31:35 UTC" in lines
    assert "Status: Resolved" in lines
    assert "Progress: 100% complete (1 of 2 steps ok)" in lines
    assert "- Data check acknowledged writes preserved: FAILED" in lines
    assert "- No further revenue loss" in lines


def test_status_update_shows_progress_by_steps_when_not_recovered() -> None:
    result = failed_drill().model_copy(update={"rto_s": None})
    text = render_status_update(result)
    assert "Status: In Progress" in text
    assert "Progress: 50% complete (1 of 2 steps ok)" in text
    assert "Revenue loss continues at $500.00/minute" in text
