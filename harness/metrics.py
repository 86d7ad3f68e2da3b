"""The drill history in sqlite: the runbook's incident_metrics table, our drills table.

`record` writes one drill as one row in each table, in one transaction, with
parameterised SQL only. The database runs in WAL mode with a busy timeout so
that several processes can record drills at once without losing one.

How a `DrillResult` maps onto the runbook's `incident_metrics` row:

- start_time: the wall-clock label of the timeline's `injected` event (t0),
  else the drill's `started_at`; UTC, `YYYY-MM-DD HH:MM:SS` as in the runbook.
- end_time: t0 + RTO when the stack recovered, else t0 + the time until the
  drill's `done` event (the end of the drill). Computed from the monotonic
  offsets, because an event's wall label is taken when it is recorded.
- duration_minutes: end_time - start_time in minutes; resolution_time_minutes:
  RTO in minutes, NULL when the stack never recovered (so MTTR, an average in
  SQL, counts only resolved incidents; the pass rate shows the others).
  Drill RTOs are seconds long, so minutes are stored as REAL (sqlite keeps a
  non-integral value in an INTEGER column) rather than rounded to 0.
- detection_time_seconds: the detection time (REAL), NULL when undetected.
- severity: the observed severity, else the expected one.
- root_cause: the faults' descriptions joined with "; ".
- financial_impact: `impact_usd` (downtime x revenue loss per minute).
- affected_services: JSON list of the probes that failed (a probe names the
  service or chain it checks, e.g. `chain_head:arbitrum`, `mev_api_health`).
- customer_impact: the workload requests (searcher clients) that failed
  between t0 and end_time: the requests users would have seen fail.
- preventable: true when a fault's family is in PREVENTABLE_FAMILIES.

An INVALID drill is recorded too (a fault was injected); its NULL RTO keeps
it out of MTTR, but it counts as an incident for MTBF, as the runbook counts
every row.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness.errors import UsageError
from harness.result import DrillResult, Outcome

log = logging.getLogger(__name__)

DB_NAME = "metrics.db"
BUSY_TIMEOUT_S = 30.0
SQL_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

PREVENTABLE_FAMILIES = frozenset({"database", "security"})
"""Fault families counted as preventable incidents.

The runbook's own example marks "Database connection pool exhaustion"
preventable: pool monitoring, limits and timeouts would have stopped it; the
same holds for the other database faults (backups, privileges, lock
timeouts). Security faults (a leaked key or password, a rogue role) are
prevented by secret hygiene, rotation and least privilege. Network outages
and partitions and cluster failures (node crashes, stalls, relays down) come
from outside the team's control: they are mitigated by redundancy and fast
recovery, not prevented, so they count as not preventable.
"""

INCIDENT_METRICS_DDL = """
    CREATE TABLE IF NOT EXISTS incident_metrics (
        incident_id TEXT PRIMARY KEY,
        start_time TIMESTAMP,
        end_time TIMESTAMP,
        duration_minutes INTEGER,
        severity TEXT,
        root_cause TEXT,
        financial_impact REAL,
        detection_time_seconds INTEGER,
        resolution_time_minutes INTEGER,
        affected_services TEXT,
        customer_impact INTEGER,
        preventable BOOLEAN
    )
"""

DRILLS_DDL = """
    CREATE TABLE IF NOT EXISTS drills (
        incident_id TEXT PRIMARY KEY,
        scenario TEXT NOT NULL,
        outcome TEXT NOT NULL,
        started_at TEXT NOT NULL,
        t0_at TEXT NOT NULL,
        detection_s REAL,
        rto_s REAL,
        rpo_s REAL,
        lost_writes INTEGER NOT NULL,
        budget_s REAL NOT NULL,
        severity_expected TEXT,
        severity_observed TEXT,
        impact_usd REAL NOT NULL,
        runtime TEXT NOT NULL,
        seed INTEGER NOT NULL,
        journal_path TEXT,
        reasons TEXT NOT NULL,
        faults TEXT NOT NULL,
        steps_total INTEGER NOT NULL,
        steps_failed INTEGER NOT NULL,
        recorded_at TEXT NOT NULL
    )
"""

_INSERT_INCIDENT = (
    "INSERT OR REPLACE INTO incident_metrics VALUES "
    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_DRILL = (
    "INSERT OR REPLACE INTO drills VALUES "
    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def default_db_path(reports_dir: Path) -> Path:
    """`<reports dir>/metrics.db`."""
    return reports_dir / DB_NAME


@contextmanager
def connect(db_path: Path) -> Iterator[sqlite3.Connection]:
    """An autocommit connection in WAL mode, tables created.

    `timeout=` is sqlite's busy timeout: a writer waits up to BUSY_TIMEOUT_S
    for another process's transaction instead of failing with "locked".
    """
    db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    with closing(conn):
        _use_wal(conn)
        conn.execute(INCIDENT_METRICS_DDL)
        conn.execute(DRILLS_DDL)
        yield conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL, waiting out another process doing the same.

    Changing the journal mode takes an exclusive lock and sqlite does not
    always wait for it through the busy timeout, so retry here (bounded).
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            row = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
            continue
        if row and str(row[0]).lower() == "wal":
            return
        if time.monotonic() > deadline:
            return
        time.sleep(0.02)


def _open_existing(db_path: Path) -> sqlite3.Connection:
    if not db_path.is_file():
        raise UsageError(
            f"no drill history at {db_path}",
            hint="run a drill first (`drill run`), or point --reports at its directory",
        )
    conn = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    conn.execute(INCIDENT_METRICS_DDL)
    conn.execute(DRILLS_DDL)
    return conn


def _sql_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime(SQL_TIME_FORMAT)


@dataclass(frozen=True)
class IncidentRow:
    """One `incident_metrics` row, as derived from a drill (see the module doc)."""

    incident_id: str
    start_time: str
    end_time: str
    duration_minutes: float
    severity: str | None
    root_cause: str
    financial_impact: float
    detection_time_seconds: float | None
    resolution_time_minutes: float | None
    affected_services: list[str]
    customer_impact: int
    preventable: bool


def incident_row(result: DrillResult) -> IncidentRow:
    """Map a drill onto the runbook's incident_metrics row."""
    injected = next((e for e in result.timeline if e.kind == "injected"), None)
    done = next((e for e in reversed(result.timeline) if e.kind == "done"), None)
    t0_wall = injected.at if injected else result.started_at
    t0_s = injected.t_s if injected else 0.0
    if result.rto_s is not None:
        span_s = result.rto_s
    elif done is not None:
        span_s = max(0.0, done.t_s - t0_s)
    else:
        span_s = 0.0
    failed = sum(
        1 for w in result.workload if not w.ok and t0_s <= w.t_s <= t0_s + span_s
    )
    severity = result.severity_observed or result.severity_expected
    causes = [f.description for f in result.faults if f.description]
    return IncidentRow(
        incident_id=result.incident_id,
        start_time=_sql_time(t0_wall),
        end_time=_sql_time(t0_wall + timedelta(seconds=span_s)),
        duration_minutes=round(span_s / 60, 4),
        severity=severity.value if severity else None,
        root_cause="; ".join(causes) or "unknown (no fault recorded)",
        financial_impact=result.impact_usd,
        detection_time_seconds=result.detection_s,
        resolution_time_minutes=(
            None if result.rto_s is None else round(result.rto_s / 60, 4)
        ),
        affected_services=sorted(set(result.failed_probes)),
        customer_impact=failed,
        preventable=any(f.family in PREVENTABLE_FAMILIES for f in result.faults),
    )


def record(
    result: DrillResult, db_path: Path, *, journal_path: Path | None = None
) -> None:
    """Write the drill's incident_metrics and drills rows in one transaction.

    Recording the same incident id again replaces its rows (the runbook's
    INSERT OR REPLACE). Safe to call from several processes at once.
    """
    row = incident_row(result)
    if journal_path is None and result.report_dir:
        journal_path = Path(result.report_dir) / "journal.json"
    failed_steps = sum(1 for s in result.steps if not s.ok)
    drill = (
        result.incident_id,
        result.scenario,
        result.outcome.value,
        result.started_at.astimezone(UTC).isoformat(),
        row.start_time,
        result.detection_s,
        result.rto_s,
        result.rpo_s,
        result.lost_writes,
        result.budget_s,
        result.severity_expected.value if result.severity_expected else None,
        result.severity_observed.value if result.severity_observed else None,
        result.impact_usd,
        result.runtime,
        result.seed,
        str(journal_path) if journal_path else None,
        json.dumps(result.reasons),
        json.dumps([{"family": f.family, "type": f.type} for f in result.faults]),
        len(result.steps),
        failed_steps,
        datetime.now(UTC).isoformat(),
    )
    with connect(db_path) as conn:
        # IMMEDIATE takes the write lock up front: no deadlock on upgrade.
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(_INSERT_INCIDENT, _incident_params(row))
            conn.execute(_INSERT_DRILL, drill)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    log.info("recorded drill %s in %s", result.incident_id, db_path)


def _incident_params(row: IncidentRow) -> tuple[object, ...]:
    return (
        row.incident_id,
        row.start_time,
        row.end_time,
        row.duration_minutes,
        row.severity,
        row.root_cause,
        row.financial_impact,
        row.detection_time_seconds,
        row.resolution_time_minutes,
        json.dumps(row.affected_services),
        row.customer_impact,
        row.preventable,
    )


def _window_start(days: float, now: datetime) -> str:
    if days <= 0:
        raise UsageError(
            f"--days {days} is not a positive number of days",
            hint="give --days 30 or another positive number",
        )
    return _sql_time(now - timedelta(days=days))


def mttr_minutes(db_path: Path, days: float = 30, now: datetime | None = None) -> float:
    """Mean time to recovery in minutes: the runbook's AVG(resolution_time_minutes)
    over incidents that started in the last `days` days (default 30) before
    `now` (default: the current time); 0 when there are none, as the runbook's."""
    now = now or datetime.now(UTC)
    with closing(_open_existing(db_path)) as conn:
        (mttr,) = conn.execute(
            "SELECT AVG(resolution_time_minutes) FROM incident_metrics"
            " WHERE start_time > ? AND start_time <= ?",
            (_window_start(days, now), _sql_time(now)),
        ).fetchone()
    return float(mttr or 0.0)


def mtbf_hours(db_path: Path, days: float = 30, now: datetime | None = None) -> float:
    """Mean time between failures in hours: the runbook's hours in the period
    (`days` x 24) divided by the incidents in it; inf when there are none."""
    incidents = incident_count(db_path, days, now)
    return days * 24 / incidents if incidents else math.inf


def incident_count(db_path: Path, days: float = 30, now: datetime | None = None) -> int:
    """Incidents that started in the `days` days before `now`."""
    now = now or datetime.now(UTC)
    with closing(_open_existing(db_path)) as conn:
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM incident_metrics"
            " WHERE start_time > ? AND start_time <= ?",
            (_window_start(days, now), _sql_time(now)),
        ).fetchone()
    return int(count)


@dataclass(frozen=True)
class DrillRow:
    """One drill as the history lists it."""

    incident_id: str
    scenario: str
    outcome: str
    started_at: str
    t0_at: str
    detection_s: float | None
    rto_s: float | None
    rpo_s: float | None
    budget_s: float
    severity_expected: str | None
    severity_observed: str | None
    impact_usd: float
    root_cause: str
    journal_path: str | None


_DRILL_COLUMNS = (
    "d.incident_id, d.scenario, d.outcome, d.started_at, d.t0_at, d.detection_s,"
    " d.rto_s, d.rpo_s, d.budget_s, d.severity_expected, d.severity_observed,"
    " d.impact_usd, COALESCE(i.root_cause, ''), d.journal_path"
)
_DRILL_FROM = " FROM drills d LEFT JOIN incident_metrics i USING (incident_id)"


def recent_drills(db_path: Path, limit: int = 20) -> list[DrillRow]:
    """The last `limit` drills (default 20), newest first."""
    with closing(_open_existing(db_path)) as conn:
        rows = conn.execute(
            "SELECT "
            + _DRILL_COLUMNS
            + _DRILL_FROM
            + " ORDER BY d.started_at DESC, d.incident_id DESC LIMIT ?",
            (limit,),
        ).fetchall()
    return [DrillRow(*r) for r in rows]


def drills_between(db_path: Path, start: str, end: str) -> list[DrillRow]:
    """Drills whose t0 is in (start, end] (`YYYY-MM-DD HH:MM:SS` UTC), oldest first."""
    with closing(_open_existing(db_path)) as conn:
        rows = conn.execute(
            "SELECT "
            + _DRILL_COLUMNS
            + _DRILL_FROM
            + " WHERE d.t0_at > ? AND d.t0_at <= ?"
            " ORDER BY d.t0_at, d.incident_id",
            (start, end),
        ).fetchall()
    return [DrillRow(*r) for r in rows]


@dataclass(frozen=True)
class PassRate:
    """Drill outcomes in a window; `rate` = passed / all drills (None if none)."""

    total: int
    passed: int
    failed: int
    invalid: int

    @property
    def rate(self) -> float | None:
        """Fraction of drills that PASSED, 0..1; INVALID drills count as not passed."""
        return self.passed / self.total if self.total else None


def _pass_rate(rows: list[DrillRow]) -> PassRate:
    outcomes = [r.outcome for r in rows]
    return PassRate(
        total=len(outcomes),
        passed=outcomes.count(Outcome.PASSED.value),
        failed=outcomes.count(Outcome.FAILED.value),
        invalid=outcomes.count(Outcome.INVALID.value),
    )


def pass_rate(db_path: Path, days: float = 30, now: datetime | None = None) -> PassRate:
    """Outcomes of the drills whose t0 is in the `days` days before `now`."""
    now = now or datetime.now(UTC)
    rows = drills_between(db_path, _window_start(days, now), _sql_time(now))
    return _pass_rate(rows)


@dataclass(frozen=True)
class ScenarioRto:
    """One scenario's RTOs over time, oldest first (None: never recovered)."""

    scenario: str
    points: list[tuple[str, float | None]]

    @property
    def recovered(self) -> list[float]:
        """The RTOs of the drills that recovered, in seconds."""
        return [rto for _, rto in self.points if rto is not None]

    @property
    def mean_s(self) -> float | None:
        """Mean RTO of the recovered drills, seconds."""
        values = self.recovered
        return sum(values) / len(values) if values else None


def _rto_series(rows: list[DrillRow]) -> list[ScenarioRto]:
    series: dict[str, list[tuple[str, float | None]]] = {}
    for row in rows:
        series.setdefault(row.scenario, []).append((row.t0_at, row.rto_s))
    return [ScenarioRto(name, series[name]) for name in sorted(series)]


def rto_by_scenario(
    db_path: Path, days: float = 30, now: datetime | None = None
) -> list[ScenarioRto]:
    """RTO per scenario over time, for drills in the `days` days before `now`."""
    now = now or datetime.now(UTC)
    rows = drills_between(db_path, _window_start(days, now), _sql_time(now))
    return _rto_series(rows)


@dataclass(frozen=True)
class Patterns:
    """The runbook's analyze_incident_patterns report."""

    most_common_root_causes: list[tuple[str, int]]
    financial_impact_by_severity: list[tuple[str | None, float]]
    preventable_percentage: float
    recommendations: list[str]

    def to_dict(self) -> dict[str, object]:
        """The report as JSON-ready data, keys as in the runbook."""
        return asdict(self)


def recommendations(
    root_causes: list[tuple[str, int]], preventable_percentage: float
) -> list[str]:
    """The runbook's generate_recommendations."""
    found = []
    if root_causes:
        found.append(
            f"Focus on preventing '{root_causes[0][0]}' - most common root cause"
        )
    if preventable_percentage > 50:
        found.append("High preventable incident rate - improve monitoring and alerting")
    return found


def patterns(db_path: Path) -> Patterns:
    """Most common root causes, average financial impact by severity, the
    preventable percentage and recommendations, over every recorded incident.

    Ties in the root-cause count are broken by name, so the report is stable.
    """
    with closing(_open_existing(db_path)) as conn:
        causes = conn.execute(
            "SELECT root_cause, COUNT(*) FROM incident_metrics"
            " GROUP BY root_cause ORDER BY COUNT(*) DESC, root_cause"
        ).fetchall()
        impact = conn.execute(
            "SELECT severity, AVG(financial_impact) FROM incident_metrics"
            " GROUP BY severity ORDER BY severity"
        ).fetchall()
        (preventable,) = conn.execute(
            "SELECT COUNT(*) FROM incident_metrics WHERE preventable = 1"
        ).fetchone()
        (total,) = conn.execute("SELECT COUNT(*) FROM incident_metrics").fetchone()
    percentage = preventable / total * 100 if total else 0.0
    root_causes = [(str(c), int(n)) for c, n in causes]
    return Patterns(
        most_common_root_causes=root_causes,
        financial_impact_by_severity=[(s, float(a)) for s, a in impact],
        preventable_percentage=percentage,
        recommendations=recommendations(root_causes, percentage),
    )


@dataclass(frozen=True)
class MonthlyData:
    """Everything the monthly incident review shows for one month (UTC)."""

    month: str
    drills: list[DrillRow]
    outcomes: PassRate
    mttr_minutes: float
    mtbf_hours: float
    hours_in_month: float
    total_impact_usd: float
    rto_by_scenario: list[ScenarioRto]
    root_causes: list[tuple[str, int]]
    review_meeting: str
    """The runbook's review: the first Monday of the next month (YYYY-MM-DD)."""
    recommendations: list[str] = field(default_factory=list)


def parse_month(month: str) -> tuple[datetime, datetime]:
    """`YYYY-MM` as its first instant and the next month's first instant (UTC)."""
    try:
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise UsageError(
            f"--month {month!r} is not a month",
            hint="give the month as YYYY-MM, e.g. --month 2025-07",
        ) from None
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def monthly(db_path: Path, month: str) -> MonthlyData:
    """The monthly report's data for `month` (`YYYY-MM`, UTC)."""
    start, end = parse_month(month)
    start_sql = _sql_time(start - timedelta(seconds=1))
    end_sql = _sql_time(end - timedelta(seconds=1))
    rows = drills_between(db_path, start_sql, end_sql)
    hours = (end - start).total_seconds() / 3600
    resolved = [r.rto_s / 60 for r in rows if r.rto_s is not None]
    causes: dict[str, int] = {}
    for row in rows:
        causes[row.root_cause] = causes.get(row.root_cause, 0) + 1
    ranked = sorted(causes.items(), key=lambda c: (-c[1], c[0]))
    with closing(_open_existing(db_path)) as conn:
        (preventable,) = conn.execute(
            "SELECT COUNT(*) FROM incident_metrics"
            " WHERE preventable = 1 AND start_time > ? AND start_time <= ?",
            (start_sql, end_sql),
        ).fetchone()
    percentage = preventable / len(rows) * 100 if rows else 0.0
    meeting = end + timedelta(days=(7 - end.weekday()) % 7)
    return MonthlyData(
        month=month,
        drills=rows,
        outcomes=_pass_rate(rows),
        mttr_minutes=sum(resolved) / len(resolved) if resolved else 0.0,
        mtbf_hours=hours / len(rows) if rows else math.inf,
        hours_in_month=hours,
        total_impact_usd=sum(r.impact_usd for r in rows),
        rto_by_scenario=_rto_series(rows),
        root_causes=ranked,
        review_meeting=meeting.strftime("%Y-%m-%d"),
        recommendations=recommendations(ranked, percentage),
    )
