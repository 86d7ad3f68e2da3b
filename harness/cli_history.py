"""`drill history`, `metrics`, `patterns`, `schedule` and the monthly report:
the drill history read back for people. The lead registers `history_app`'s
commands in harness/cli.py; `report_monthly` is meant for `drill report monthly`.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from harness.console import console
from harness.errors import UsageError
from harness.metrics import (
    default_db_path,
    mtbf_hours,
    mttr_minutes,
    pass_rate,
    patterns,
    recent_drills,
    rto_by_scenario,
)
from harness.paths import PROJECT_ROOT

history_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

ReportsOption = Annotated[
    Path, typer.Option("--reports", help="Directory holding metrics.db.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead.")]

QUARTERLY_CRON = "0 6 1 1,4,7,10 *"
QUARTERLY_ON_CALENDAR = "*-01,04,07,10-01 06:00:00"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _json_out(data: object) -> None:
    text = json.dumps(data, allow_nan=False, default=str, indent=2)
    console().print(text, markup=False, highlight=False, soft_wrap=True)


@history_app.command("history")
def history(
    reports: ReportsOption = Path("reports"),
    limit: Annotated[int, typer.Option(min=1, help="Show at most N drills.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """List recent drills, newest first."""
    rows = recent_drills(default_db_path(reports), limit)
    if as_json:
        _json_out([row.__dict__ for row in rows])
        return
    table = Table(title=f"Last {len(rows)} drill(s)")
    for head in ("incident", "scenario", "outcome", "detect s", "RTO s", "RPO s"):
        table.add_column(head)
    table.add_column("severity (exp/obs)")
    for r in rows:
        severity = f"{r.severity_expected or '-'}/{r.severity_observed or '-'}"
        table.add_row(
            r.incident_id,
            r.scenario,
            r.outcome,
            _s(r.detection_s),
            _s(r.rto_s),
            _s(r.rpo_s),
            severity,
        )
    console().print(table)


@history_app.command("metrics")
def metrics(
    reports: ReportsOption = Path("reports"),
    days: Annotated[float, typer.Option(help="Window in days, ending now.")] = 30,
    as_json: JsonOption = False,
    now: Annotated[
        datetime | None,
        typer.Option(hidden=True, help="End of the window (tests: a fixed clock)."),
    ] = None,
) -> None:
    """MTTR, MTBF, pass rate and RTO per scenario over the last DAYS days."""
    db = default_db_path(reports)
    now = (now or datetime.now(UTC)).replace(tzinfo=UTC)
    mttr = mttr_minutes(db, days, now)
    mtbf = mtbf_hours(db, days, now)
    rate = pass_rate(db, days, now)
    series = rto_by_scenario(db, days, now)
    if as_json:
        _json_out(
            {
                "days": days,
                "mttr_minutes": mttr,
                "mtbf_hours": None if math.isinf(mtbf) else mtbf,
                "drills": rate.total,
                "passed": rate.passed,
                "failed": rate.failed,
                "invalid": rate.invalid,
                "pass_rate": rate.rate,
                "rto_by_scenario": {s.scenario: s.points for s in series},
            }
        )
        return
    out = console()
    mtbf_text = "inf (no incidents)" if math.isinf(mtbf) else f"{mtbf:.1f} h"
    rate_text = "-" if rate.rate is None else f"{rate.rate * 100:.1f}%"
    out.print(f"Last {days:g} days: {rate.total} drill(s)")
    out.print(f"MTTR: {mttr:.2f} min   MTBF: {mtbf_text}")
    out.print(
        f"Pass rate: {rate_text} ({rate.passed} passed, {rate.failed} failed,"
        f" {rate.invalid} invalid)"
    )
    table = Table(title="RTO per scenario over time (s, oldest first)")
    for head in ("scenario", "drills", "mean", "RTOs"):
        table.add_column(head)
    for s in series:
        points = " -> ".join(_s(rto) for _, rto in s.points)
        table.add_row(s.scenario, str(len(s.points)), _s(s.mean_s), points)
    out.print(table)


@history_app.command("patterns")
def patterns_command(
    reports: ReportsOption = Path("reports"),
    as_json: JsonOption = False,
) -> None:
    """Most common root causes, impact by severity, preventable share, advice."""
    found = patterns(default_db_path(reports))
    if as_json:
        _json_out(found.to_dict())
        return
    out = console()
    table = Table(title="Most common root causes")
    table.add_column("root cause")
    table.add_column("incidents")
    for cause, count in found.most_common_root_causes:
        table.add_row(cause, str(count))
    out.print(table)
    for severity, impact in found.financial_impact_by_severity:
        out.print(f"Average financial impact {severity or '-'}: ${impact:,.2f}")
    out.print(f"Preventable: {found.preventable_percentage:.1f}%")
    for line in found.recommendations:
        out.print(f"- {line}")


def _venv_dir(repo: Path) -> Path:
    if sys.prefix != sys.base_prefix:
        return Path(sys.prefix)
    return repo / ".venv"


def schedule_text(repo: Path, venv: Path) -> str:
    """A cron line, a systemd service and timer, and a GitHub Actions workflow
    that run `drill run --random` at 06:00 on the first day of Jan/Apr/Jul/Oct."""
    drill = venv / "bin" / "drill"
    reports = repo / "reports"
    command = f"{drill} run --random --quiet --reports {reports}"
    return f"""\
# --- cron (crontab -e): quarterly DR drill ---
{QUARTERLY_CRON} cd {repo} && {command} >> {reports}/drill-cron.log 2>&1

# --- /etc/systemd/system/drill-quarterly.service ---
[Unit]
Description=Quarterly DR drill (drill run --random)

[Service]
Type=oneshot
WorkingDirectory={repo}
ExecStart={command}

# --- /etc/systemd/system/drill-quarterly.timer ---
[Unit]
Description=Run the quarterly DR drill on the first day of each quarter

[Timer]
OnCalendar={QUARTERLY_ON_CALENDAR}
Persistent=true

[Install]
WantedBy=timers.target

# --- .github/workflows/quarterly-drill.yml ---
name: quarterly-dr-drill
on:
  schedule:
    - cron: "{QUARTERLY_CRON}"
  workflow_dispatch: {{}}
jobs:
  drill:
    runs-on: ubuntu-latest
    timeout-minutes: 30
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      - run: python -m venv .venv && .venv/bin/pip install -e .
      - run: .venv/bin/drill run --random --quiet --reports reports
      - if: always()
        uses: actions/upload-artifact@v4
        with:
          name: dr-drill-reports
          path: reports/
"""


@history_app.command("schedule")
def schedule(
    quarterly: Annotated[
        bool, typer.Option("--quarterly", help="Schedule the quarterly drill.")
    ] = False,
    repo: Annotated[
        Path | None, typer.Option(help="Checkout to run in (default: this one).")
    ] = None,
    venv: Annotated[
        Path | None,
        typer.Option(help="Virtualenv with drill installed (default: the active)."),
    ] = None,
) -> None:
    """Print a cron line, a systemd timer and a CI workflow for quarterly drills."""
    if not quarterly:
        raise UsageError("drill schedule needs a period", hint="give --quarterly")
    root = (repo or PROJECT_ROOT).resolve()
    env_dir = (venv or _venv_dir(root)).absolute()
    console().print(
        schedule_text(root, env_dir), markup=False, highlight=False, soft_wrap=True
    )


@history_app.command("report-monthly")
def report_monthly(
    month: Annotated[str, typer.Option(help="The month, YYYY-MM (UTC).")],
    reports: ReportsOption = Path("reports"),
    out: Annotated[
        Path | None, typer.Option(help="Output directory (default: --reports).")
    ] = None,
) -> None:
    """Write the monthly incident review (Markdown and HTML) for MONTH."""
    from harness.reports.monthly import monthly_report

    for path in monthly_report(reports, month, out or reports):
        console().print(f"wrote {path}", markup=False)
