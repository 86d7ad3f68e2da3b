"""The monthly incident review: Markdown snapshot, self-contained HTML with a chart."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.metrics import default_db_path, monthly, record
from harness.reports.monthly import monthly_report, render_monthly_markdown
from harness.result import Outcome
from tests.test_metrics import make_result


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    db = default_db_path(tmp_path)
    record(
        make_result(
            "INC_A",
            "database_failure",
            datetime(2025, 7, 3, 9, tzinfo=UTC),
            rto_s=60.0,
            impact_usd=500.0,
        ),
        db,
    )
    record(
        make_result(
            "INC_B",
            "network_outage",
            datetime(2025, 7, 20, 9, tzinfo=UTC),
            rto_s=420.0,
            outcome=Outcome.FAILED,
            family="network",
            fault="outage of erigon-*",
            impact_usd=3500.0,
        ),
        db,
    )
    record(
        make_result("INC_X", "database_failure", datetime(2025, 8, 1, tzinfo=UTC)), db
    )
    return tmp_path


SNAPSHOT = Path(__file__).parent / "snapshots" / "monthly_202507.md"


def test_monthly_markdown_matches_snapshot_when_month_has_two_drills(reports: Path):
    # MTTR: (60 s + 420 s) / 2 = 240 s = 4 min. MTBF: July 744 h / 2 = 372 h.
    # Preventable: 1 of 2 = 50%, not over 50: no monitoring recommendation.
    data = monthly(default_db_path(reports), "2025-07")
    assert render_monthly_markdown(data) == SNAPSHOT.read_text()


def test_monthly_report_writes_markdown_and_self_contained_html_when_asked(
    reports: Path, tmp_path: Path
):
    out = tmp_path / "monthly"
    md, page = monthly_report(reports, "2025-07", out)
    assert (md.name, page.name) == (
        "incident_report_202507.md",
        "incident_report_202507.html",
    )
    assert md.read_text() == SNAPSHOT.read_text()
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r'(src|href)="(https?:)?//', text), "external asset"
    assert len(re.findall(r'<rect class="bar"', text)) == 2
    widths = [float(w) for w in re.findall(r'class="bar"[^>]*width="([0-9.]+)"', text)]
    # 420 s > the 300 s budget, so the scale is 420 s: bars in ratio 60:420.
    assert widths[0] / widths[1] == pytest.approx(60 / 420, rel=1e-2)
    assert 'class="budget"' in text
    assert "<td>INC_B</td>" in text


def test_monthly_report_is_a_usage_error_when_month_is_malformed(
    reports: Path, tmp_path: Path
):
    with pytest.raises(UsageError, match="YYYY-MM"):
        monthly_report(reports, "2025-7x", tmp_path)
