"""After a drill: every output that reads its result (reports, history, metrics).

The engine writes the journal and the evidence; this writes what is derived
from the journal alone, so `drill report` can redo it later.
"""

from __future__ import annotations

from pathlib import Path

from harness import metrics
from harness.reports import write_reports
from harness.reports.prometheus import write_textfile
from harness.reports.quarterly import write_drill_record
from harness.result import DrillResult

PROMETHEUS_FILE = "drill.prom"


def publish(
    result: DrillResult, reports_dir: Path, *, quarterly: bool = False
) -> list[Path]:
    """Write the reports beside the journal, record the drill in the history,
    refresh the Prometheus textfile; with `quarterly`, the runbook's drill record.
    Returns every file written."""
    incident_dir = (
        Path(result.report_dir)
        if result.report_dir
        else reports_dir / result.incident_id
    )
    written = write_reports(result, incident_dir)
    db_path = metrics.default_db_path(reports_dir)
    metrics.record(result, db_path)
    written.append(db_path)
    written.append(write_textfile(db_path, reports_dir / PROMETHEUS_FILE))
    if quarterly:
        written.append(write_drill_record(result, reports_dir))
    return written
