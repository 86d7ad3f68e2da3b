"""The runbook's Monthly Incident Review from the drill history, as Markdown and HTML.

The HTML is one self-contained file: a summary, the drills as a table and an
inline SVG bar chart of the mean RTO per scenario against the budget.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path

from harness.metrics import MonthlyData, default_db_path, monthly

DEFAULT_BUDGET_S = 300.0
CHART_WIDTH_PX = 640
BAR_HEIGHT_PX = 22
LABEL_WIDTH_PX = 200


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _hours(value: float) -> str:
    return "inf (no incidents)" if math.isinf(value) else f"{value:.1f} h"


def _rate(data: MonthlyData) -> str:
    rate = data.outcomes.rate
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _summary(data: MonthlyData) -> list[tuple[str, str]]:
    o = data.outcomes
    return [
        ("Drills", str(o.total)),
        ("Passed / failed / invalid", f"{o.passed} / {o.failed} / {o.invalid}"),
        ("Pass rate", _rate(data)),
        ("MTTR", f"{data.mttr_minutes:.2f} min"),
        ("MTBF", _hours(data.mtbf_hours)),
        ("Total financial impact", f"${data.total_impact_usd:,.2f}"),
    ]


def _scenario_rows(data: MonthlyData) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for series in data.rto_by_scenario:
        values = series.recovered
        rows.append(
            (
                series.scenario,
                str(len(series.points)),
                _seconds(series.mean_s),
                _seconds(min(values) if values else None),
                _seconds(max(values) if values else None),
            )
        )
    return rows


def _drill_rows(data: MonthlyData) -> list[tuple[str, ...]]:
    return [
        (
            d.incident_id,
            d.scenario,
            d.outcome,
            d.t0_at,
            _seconds(d.detection_s),
            _seconds(d.rto_s),
            _seconds(d.rpo_s),
            d.severity_observed or "-",
            f"${d.impact_usd:,.2f}",
        )
        for d in data.drills
    ]


_SCENARIO_HEAD = ("Scenario", "Drills", "Mean RTO", "Best RTO", "Worst RTO")
_DRILL_HEAD = (
    "Incident",
    "Scenario",
    "Outcome",
    "Injected (UTC)",
    "Detection",
    "RTO",
    "RPO",
    "Severity",
    "Impact",
)


def _md_table(head: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    def cells(values: tuple[str, ...]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    return [cells(head), "|" + "---|" * len(head), *(cells(r) for r in rows)]


def render_monthly_markdown(data: MonthlyData) -> str:
    """The monthly review as Markdown."""
    lines = [f"# Monthly Incident Review: {data.month}", "", "## Summary", ""]
    lines += _md_table(("Metric", "Value"), _summary(data))
    lines += ["", "## RTO per scenario", ""]
    lines += (
        _md_table(_SCENARIO_HEAD, _scenario_rows(data))
        if data.drills
        else ["No drills this month."]
    )
    lines += ["", "## Drills", ""]
    lines += (
        _md_table(_DRILL_HEAD, _drill_rows(data))
        if data.drills
        else ["No drills this month."]
    )
    lines += ["", "## Most common root causes", ""]
    lines += [f"{i}. {cause} ({n})" for i, (cause, n) in enumerate(data.root_causes, 1)]
    lines += ["", "## Recommendations", ""]
    lines += [f"- {r}" for r in data.recommendations] or ["- None."]
    lines += [
        "",
        "## Review meeting",
        "",
        f"Monthly incident review meeting: {data.review_meeting}"
        " (first Monday of next month).",
    ]
    return "\n".join(lines) + "\n"


def rto_chart_svg(data: MonthlyData, budget_s: float = DEFAULT_BUDGET_S) -> str:
    """An inline SVG bar chart of mean RTO per scenario, with the budget line
    (`budget_s`, default 300 s) when it fits the scale."""
    series = [s for s in data.rto_by_scenario if s.mean_s is not None]
    top_s = max([s.mean_s or 0.0 for s in series] + [1.0])
    scale_s = budget_s if top_s <= budget_s else top_s
    plot_px = CHART_WIDTH_PX - LABEL_WIDTH_PX - 80
    height = BAR_HEIGHT_PX * (len(series) + 1) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH_PX}"'
        f' height="{height}" role="img" aria-label="Mean RTO per scenario">'
    ]
    for i, s in enumerate(series):
        mean = s.mean_s or 0.0
        y = 5 + i * BAR_HEIGHT_PX
        width = max(1.0, mean / scale_s * plot_px)
        name = html.escape(s.scenario)
        parts += [
            f'<text x="{LABEL_WIDTH_PX - 6}" y="{y + 15}" text-anchor="end"'
            f' font-size="12">{name}</text>',
            f'<rect class="bar" x="{LABEL_WIDTH_PX}" y="{y + 3}" width="{width:.1f}"'
            f' height="{BAR_HEIGHT_PX - 6}" fill="#3b7dd8"><title>{name}:'
            f" {mean:.2f} s</title></rect>",
            f'<text x="{LABEL_WIDTH_PX + width + 4:.1f}" y="{y + 15}"'
            f' font-size="11">{mean:.2f} s</text>',
        ]
    x = LABEL_WIDTH_PX + budget_s / scale_s * plot_px
    bottom = height - BAR_HEIGHT_PX + 5
    parts += [
        f'<line class="budget" x1="{x:.1f}" y1="2" x2="{x:.1f}" y2="{bottom}"'
        ' stroke="#c0392b" stroke-dasharray="4 3"/>',
        f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle" font-size="11"'
        f' fill="#c0392b">budget {budget_s:g} s</text>',
        "</svg>",
    ]
    return "\n".join(parts)


def _html_table(head: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    def row(tag: str, values: tuple[str, ...]) -> str:
        cells = "".join(f"<{tag}>{html.escape(v)}</{tag}>" for v in values)
        return f"<tr>{cells}</tr>"

    body = "\n".join(row("td", r) for r in rows)
    head_row = row("th", head)
    return f"<table>\n<thead>{head_row}</thead>\n<tbody>\n{body}\n</tbody>\n</table>"


_STYLE = (
    "body{font-family:sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}"
    "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}"
    "th{background:#f2f2f2}"
)


def render_monthly_html(data: MonthlyData) -> str:
    """The monthly review as one self-contained HTML file (no external assets)."""
    title = html.escape(f"Monthly Incident Review: {data.month}")
    causes = "".join(f"<li>{html.escape(c)} ({n})</li>" for c, n in data.root_causes)
    recs = "".join(f"<li>{html.escape(r)}</li>" for r in data.recommendations)
    sections = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{title}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{title}</h1>",
        "<h2>Summary</h2>",
        _html_table(("Metric", "Value"), _summary(data)),
        "<h2>RTO per scenario</h2>",
        rto_chart_svg(data),
        _html_table(_SCENARIO_HEAD, _scenario_rows(data)),
        "<h2>Drills</h2>",
        _html_table(_DRILL_HEAD, _drill_rows(data)),
        f"<h2>Most common root causes</h2><ol>{causes}</ol>",
        f"<h2>Recommendations</h2><ul>{recs or '<li>None.</li>'}</ul>",
        "<h2>Review meeting</h2>",
        f"<p>Monthly incident review meeting: {html.escape(data.review_meeting)}"
        " (first Monday of next month).</p>",
        "</body></html>",
    ]
    return "\n".join(sections) + "\n"


def monthly_report(reports_dir: Path, month: str, out_dir: Path) -> list[Path]:
    """Write `incident_report_YYYYMM.md` and `.html` for `month` (YYYY-MM) from
    `<reports_dir>/metrics.db` into `out_dir`; return both paths."""
    data = monthly(default_db_path(reports_dir), month)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "incident_report_" + month.replace("-", "")
    md = out_dir / f"{stem}.md"
    page = out_dir / f"{stem}.html"
    md.write_text(render_monthly_markdown(data), encoding="utf-8")
    page.write_text(render_monthly_html(data), encoding="utf-8")
    return [md, page]
