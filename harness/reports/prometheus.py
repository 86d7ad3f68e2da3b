"""Drill metrics as a Prometheus text-exposition file for node_exporter's
textfile collector.

One series per scenario, from its latest drill: RTO, detection time, RPO,
budget, the outcome as a state set (1 for the outcome, 0 for the others),
and when it ran; plus the pass rate over every drill given. The file is
written to a temporary name in the same directory and renamed over the
target, so the collector never reads half a file (it only reads `*.prom`,
and the temporary name does not end so).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from harness.metrics import recent_drills
from harness.result import DrillResult, Outcome


@dataclass(frozen=True)
class _Latest:
    scenario: str
    outcome: str
    started_at: datetime
    detection_s: float | None
    rto_s: float | None
    rpo_s: float | None
    budget_s: float


_GAUGES = (
    ("drill_rto_seconds", "rto_s", "Recovery time of the scenario's latest drill."),
    (
        "drill_detection_seconds",
        "detection_s",
        "Detection time of the scenario's latest drill.",
    ),
    ("drill_rpo_seconds", "rpo_s", "Data-loss window of the scenario's latest drill."),
    ("drill_budget_seconds", "budget_s", "Recovery budget of the scenario's drill."),
)


def escape_label_value(value: str) -> str:
    """A label value in the exposition format: backslash, quote, newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _labels(**labels: str) -> str:
    inner = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


def _number(value: float) -> str:
    return repr(float(value))


def _from_results(results: Sequence[DrillResult]) -> list[_Latest]:
    return [
        _Latest(
            r.scenario,
            r.outcome.value,
            r.started_at,
            r.detection_s,
            r.rto_s,
            r.rpo_s,
            r.budget_s,
        )
        for r in results
    ]


def _from_db(db_path: Path) -> list[_Latest]:
    rows = recent_drills(db_path, limit=-1)
    return [
        _Latest(
            r.scenario,
            r.outcome,
            datetime.fromisoformat(r.started_at),
            r.detection_s,
            r.rto_s,
            r.rpo_s,
            r.budget_s,
        )
        for r in rows
    ]


def render_textfile(drills: Sequence[DrillResult] | Path) -> str:
    """The exposition text for drill results, or for the history at a db path."""
    every = _from_db(drills) if isinstance(drills, Path) else _from_results(drills)
    latest: dict[str, _Latest] = {}
    for drill in sorted(every, key=lambda d: d.started_at):
        latest[drill.scenario] = drill
    scenarios = sorted(latest)

    lines: list[str] = []
    for name, attr, help_text in _GAUGES:
        lines += [f"# HELP {name} {_escape_help(help_text)}", f"# TYPE {name} gauge"]
        for scenario in scenarios:
            value = getattr(latest[scenario], attr)
            if value is not None:
                lines.append(f"{name}{_labels(scenario=scenario)} {_number(value)}")

    lines += [
        "# HELP drill_outcome The outcome of the scenario's latest drill (1 = it).",
        "# TYPE drill_outcome gauge",
    ]
    for scenario in scenarios:
        for outcome in Outcome:
            hit = 1.0 if latest[scenario].outcome == outcome.value else 0.0
            labels = _labels(scenario=scenario, outcome=outcome.value)
            lines.append(f"drill_outcome{labels} {_number(hit)}")

    lines += [
        "# HELP drill_last_run_timestamp_seconds When the scenario's latest drill"
        " started, Unix time.",
        "# TYPE drill_last_run_timestamp_seconds gauge",
    ]
    for scenario in scenarios:
        stamp = latest[scenario].started_at.timestamp()
        lines.append(
            f"drill_last_run_timestamp_seconds{_labels(scenario=scenario)}"
            f" {_number(stamp)}"
        )

    if every:
        passed = sum(1 for d in every if d.outcome == Outcome.PASSED.value)
        lines += [
            "# HELP drill_pass_rate Fraction of the recorded drills that passed.",
            "# TYPE drill_pass_rate gauge",
            f"drill_pass_rate {_number(passed / len(every))}",
        ]
    return "\n".join(lines) + "\n"


def write_textfile(drills: Sequence[DrillResult] | Path, path: Path) -> Path:
    """Write the exposition file at `path` atomically (tmp + rename); return it.

    `drills` is either drill results or the path of a metrics.db history.
    """
    text = render_textfile(drills)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path
