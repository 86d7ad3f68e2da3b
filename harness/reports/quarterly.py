"""The runbook's quarterly DR drill record: `<reports>/dr_drill_YYYYMMDD.txt`.

The runbook's schedule_dr_drill.sh writes four lines::

    DR Drill Results:
    Scenario: <scenario>
    Recovery Time: <seconds> seconds
    Status: PASS|FAIL

We write the same four lines from a `DrillResult`. The recovery time is the
RTO in whole seconds, truncated as the script's `$((end - start))` of
`date +%s` readings is, so `Recovery Time: 299 seconds` never says FAIL
and `300` never says PASS under the default budget. Status is PASS only when
the drill PASSED (recovered within budget, nothing lost), FAIL otherwise, and
INVALID when the drill measured nothing; with no RTO the line says why
instead of a number. The date is the drill's start date (UTC); a second
drill on the same day replaces the file, as the script's `>` does.
"""

from __future__ import annotations

import math
import os
from datetime import UTC
from pathlib import Path

from harness.result import DrillResult, Outcome


def record_name(result: DrillResult) -> str:
    """`dr_drill_YYYYMMDD.txt` for the drill's start date."""
    return f"dr_drill_{result.started_at.astimezone(UTC):%Y%m%d}.txt"


def drill_record_text(result: DrillResult) -> str:
    """The record's four lines, newline-terminated."""
    if result.rto_s is not None:
        recovery = f"{math.floor(result.rto_s)} seconds"
    elif result.outcome is Outcome.INVALID:
        recovery = "not measured (the drill was invalid)"
    else:
        recovery = f"not recovered within {result.budget_s:g} seconds"
    status = {
        Outcome.PASSED: "PASS",
        Outcome.FAILED: "FAIL",
        Outcome.INVALID: "INVALID",
    }[result.outcome]
    return (
        "DR Drill Results:\n"
        f"Scenario: {result.scenario}\n"
        f"Recovery Time: {recovery}\n"
        f"Status: {status}\n"
    )


def write_drill_record(result: DrillResult, reports_dir: Path) -> Path:
    """Write `<reports_dir>/dr_drill_YYYYMMDD.txt` atomically; return its path."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / record_name(result)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(drill_record_text(result))
    os.replace(tmp, path)
    return path
