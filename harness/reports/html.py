"""The HTML report: one self-contained page with the drill's timeline plot.

The plot is inline SVG built here (no scripts, no external URLs), so the page
is deterministic, opens offline, and tests can find its parts by id and class.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from html import escape

from harness.reports.markdown import (
    Phases,
    duration,
    effectiveness,
    hms,
    outage_text,
    phases_of,
    root_cause_text,
)
from harness.result import DrillResult, Outcome, ProbeSample

OK_FILL = "#2ca02c"
FAIL_FILL = "#d62728"
BIN_S = 1.0
"""Width of a workload success-rate bin, in seconds."""

_WIDTH = 1100
_LEFT = 190
_RIGHT = 110
_TOP = 56
_ROW_H = 22
_BAR_H = 16
_CHART_H = 120
_GAP = 28
_AXIS_H = 30

_MARKERS = (
    ("inject", "inject (t0)", "#1f1f1f"),
    ("detected", "detected", "#ff7f0e"),
    ("response-start", "response start", "#1f77b4"),
    ("recovered", "recovered", "#006d5b"),
)

_CSS = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #1f1f1f; }
h1 { font-size: 22px; margin-bottom: 4px; }
.outcome { display: inline-block; padding: 4px 12px; border-radius: 4px;
  color: #fff; font-weight: bold; }
.outcome.PASSED { background: #1b7f3b; } .outcome.FAILED { background: #b3261e; }
.outcome.INVALID { background: #7f7f7f; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left;
  vertical-align: top; font-size: 14px; }
td.ok { color: #1b7f3b; font-weight: bold; } td.bad { color: #b3261e;
  font-weight: bold; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; font-size: 12px; }
svg text { font-size: 12px; font-family: system-ui, sans-serif; }
.grid { stroke: #e3e3e3; stroke-width: 1; }
.marker { stroke-width: 2; stroke-dasharray: 5 3; }
line.budget { stroke: #9467bd; stroke-width: 2; }
"""


@dataclass(frozen=True)
class _Axis:
    t_max_s: float
    plot_w: float

    def x(self, t_s: float) -> float:
        clamped = min(max(t_s, 0.0), self.t_max_s)
        return _LEFT + clamped / self.t_max_s * self.plot_w


def _f(value: float) -> str:
    return f"{value:.1f}"


def _probe_rows(result: DrillResult, axis: _Axis) -> tuple[list[str], list[str], float]:
    by_probe: dict[str, list[ProbeSample]] = defaultdict(list)
    for sample in result.probes:
        by_probe[sample.probe].append(sample)
    out: list[str] = []
    names = sorted(by_probe)
    for row, name in enumerate(names):
        y = _TOP + row * _ROW_H
        samples = sorted(by_probe[name], key=lambda s: s.t_s)
        out.append(
            f'<g class="probe-row" data-probe="{escape(name)}">'
            f'<text x="{_LEFT - 8}" y="{_f(y + _BAR_H - 3)}" '
            f'text-anchor="end">{escape(name)}</text>'
        )
        out += _segments(samples, axis, y)
        out.append("</g>")
    return out, names, _TOP + len(names) * _ROW_H


def _segments(samples: list[ProbeSample], axis: _Axis, y: float) -> list[str]:
    gaps = [b.t_s - a.t_s for a, b in itertools.pairwise(samples)]
    step_s = sorted(gaps)[len(gaps) // 2] if gaps else 0.25
    out: list[str] = []
    start = 0
    for i in range(1, len(samples) + 1):
        if i < len(samples) and samples[i].ok == samples[start].ok:
            continue
        first = samples[start]
        end_s = samples[i].t_s if i < len(samples) else samples[-1].t_s + step_s
        state = "ok" if first.ok else "fail"
        x0, x1 = axis.x(first.t_s), axis.x(end_s)
        tip = f"{first.probe} {state} from {first.t_s:.2f} s: {first.detail}"
        out.append(
            f'<rect class="seg {state}" x="{_f(x0)}" y="{_f(y)}" '
            f'width="{_f(max(x1 - x0, 1.0))}" height="{_BAR_H}" '
            f'fill="{OK_FILL if first.ok else FAIL_FILL}">'
            f"<title>{escape(tip)}</title></rect>"
        )
        start = i
    return out


def success_bins(
    result: DrillResult, bin_s: float = BIN_S
) -> list[tuple[float, float]]:
    """Workload success rate per bin: (bin start s, rate 0..1); empty bins left out."""
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for sample in result.workload:
        cell = counts[int(sample.t_s // bin_s)]
        cell[0] += sample.ok
        cell[1] += 1
    return [(k * bin_s, ok / n) for k, (ok, n) in sorted(counts.items())]


def _workload_chart(result: DrillResult, axis: _Axis, top: float) -> list[str]:
    bottom = top + _CHART_H
    out = [
        '<g id="workload" transform="translate(0,0)">',
        f'<text x="{_LEFT - 44}" y="{_f(top + _CHART_H / 2)}" text-anchor="end">'
        "workload</text>",
        f'<text x="{_LEFT - 44}" y="{_f(top + _CHART_H / 2 + 14)}" '
        'text-anchor="end">success rate</text>',
    ]
    for pct in (0, 50, 100):
        y = bottom - pct / 100 * _CHART_H
        out.append(
            f'<line class="grid" x1="{_LEFT}" x2="{_f(_LEFT + axis.plot_w)}" '
            f'y1="{_f(y)}" y2="{_f(y)}"/>'
            f'<text x="{_LEFT - 8}" y="{_f(y + 4)}" text-anchor="end" '
            f'fill="#777">{pct}%</text>'
        )
    points: list[str] = []
    dots: list[str] = []
    for start_s, rate in success_bins(result):
        x = axis.x(start_s + BIN_S / 2)
        y = bottom - rate * _CHART_H
        points.append(f"{_f(x)},{_f(y)}")
        fill = OK_FILL if rate >= 0.99 else FAIL_FILL
        dots.append(
            f'<circle class="wl-point" cx="{_f(x)}" cy="{_f(y)}" r="3.5" '
            f'fill="{fill}"><title>{start_s:g} s: {rate * 100:.0f}%</title></circle>'
        )
    if points:
        out.append(
            f'<polyline id="success-rate" fill="none" stroke="#555" '
            f'stroke-width="1.5" points="{" ".join(points)}"/>'
        )
    return [*out, *dots, "</g>"]


def _markers(
    result: DrillResult, phases: Phases, axis: _Axis, bottom: float
) -> list[str]:
    instants = {
        "inject": phases.t0_s,
        "detected": phases.detected_s,
        "response-start": phases.response_start_s,
        "recovered": phases.recovered_s,
    }
    out: list[str] = []
    for level, (key, label, colour) in enumerate(_MARKERS):
        t_s = instants[key]
        if t_s is None:
            continue
        x = axis.x(t_s)
        label_y = 14 + level * 11
        out.append(
            f'<g class="marker-group" data-t-s="{t_s:.4f}">'
            f'<line class="marker {key}" x1="{_f(x)}" x2="{_f(x)}" '
            f'y1="{_f(label_y + 3)}" y2="{_f(bottom)}" stroke="{colour}"/>'
            f'<text x="{_f(x + 3)}" y="{_f(label_y)}" fill="{colour}">'
            f"{escape(label)} {hms(result, t_s)}</text></g>"
        )
    out += _budget(result, phases, axis, bottom)
    return out


def _budget(
    result: DrillResult, phases: Phases, axis: _Axis, bottom: float
) -> list[str]:
    if phases.t0_s is None:
        return []
    t_s = phases.t0_s + result.budget_s
    label = f"t0+{duration(result.budget_s)}"
    if t_s <= axis.t_max_s:
        x = axis.x(t_s)
        return [
            f'<line id="budget" class="budget" x1="{_f(x)}" x2="{_f(x)}" '
            f'y1="{_TOP - 6}" y2="{_f(bottom)}"/>'
            f'<text x="{_f(x - 3)}" y="{_f(bottom - 4)}" text-anchor="end" '
            f'fill="#9467bd">budget {escape(label)}</text>'
        ]
    # The budget ends after the plotted time: point at it from the right edge.
    x = _LEFT + axis.plot_w + 6
    y = _TOP - 2
    return [
        f'<g id="budget" class="budget offaxis">'
        f'<polygon points="{_f(x)},{_f(y - 6)} {_f(x + 12)},{_f(y)} '
        f'{_f(x)},{_f(y + 6)}" fill="#9467bd"/>'
        f'<text x="{_f(x + 16)}" y="{_f(y + 4)}" fill="#9467bd">budget</text>'
        f'<text x="{_f(x)}" y="{_f(y + 18)}" fill="#9467bd">{escape(label)}</text>'
        f'<text x="{_f(x)}" y="{_f(y + 32)}" fill="#9467bd">off axis</text></g>'
    ]


def _time_axis(result: DrillResult, axis: _Axis, top: float) -> list[str]:
    out = [
        f'<g id="time-axis"><line x1="{_LEFT}" x2="{_f(_LEFT + axis.plot_w)}" '
        f'y1="{_f(top)}" y2="{_f(top)}" stroke="#333"/>'
    ]
    raw = axis.t_max_s / 8
    tick_s = next(
        (s for s in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600) if s >= raw),
        raw,
    )
    t_s = 0.0
    while t_s <= axis.t_max_s + 1e-9:
        x = axis.x(t_s)
        out.append(
            f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{_f(top)}" y2="{_f(top + 5)}" '
            f'stroke="#333"/><text x="{_f(x)}" y="{_f(top + 18)}" '
            f'text-anchor="middle">{t_s:g}s</text>'
        )
        t_s += tick_s
    out.append(
        f'<text x="{_LEFT - 24}" y="{_f(top + 18)}" text-anchor="end">'
        f"from {hms(result, 0.0)} UTC</text></g>"
    )
    return out


def render_svg(result: DrillResult) -> str:
    """The timeline plot as inline SVG: probe rows, workload, markers, budget."""
    phases = phases_of(result)
    axis = _Axis(t_max_s=max(phases.end_s, 1.0), plot_w=_WIDTH - _LEFT - _RIGHT)
    rows, _, rows_bottom = _probe_rows(result, axis)
    chart_top = rows_bottom + _GAP
    chart_bottom = chart_top + _CHART_H
    height = chart_bottom + _AXIS_H + 8
    parts = [
        f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" '
        f'width="{_WIDTH}" height="{_f(height)}" '
        f'viewBox="0 0 {_WIDTH} {_f(height)}">',
        f'<rect x="0" y="0" width="{_WIDTH}" height="{_f(height)}" fill="#fff"/>',
        '<g id="probes">',
        *rows,
        "</g>",
        *_workload_chart(result, axis, chart_top),
        *_time_axis(result, axis, chart_bottom),
        *_markers(result, phases, axis, chart_bottom),
        "</svg>",
    ]
    return "\n".join(parts)


def _facts(result: DrillResult) -> str:
    def secs(value: float | None) -> str:
        return "n/a" if value is None else duration(value)

    rows = [
        ("Scenario", result.scenario),
        ("Started", f"{result.started_at:%Y-%m-%d %H:%M:%S} UTC"),
        ("Incident duration", outage_text(result)),
        ("Detection time", secs(result.detection_s)),
        ("RTO", f"{secs(result.rto_s)} (budget {duration(result.budget_s)})"),
        ("RPO", f"{secs(result.rpo_s)}, {result.lost_writes} write(s) lost"),
        (
            "Severity",
            f"observed {result.severity_observed or 'none'}, expected "
            f"{result.severity_expected or 'none'}",
        ),
        ("Impact", f"${result.impact_usd:,.2f}"),
        ("Root cause", root_cause_text(result)),
        ("Runtime / seed", f"{result.runtime} / {result.seed}"),
    ]
    body = "".join(f"<tr><th>{k}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f'<table id="facts">{body}</table>'


def _steps(result: DrillResult) -> str:
    if not result.steps:
        return "<p>No recovery step ran.</p>"
    items = []
    for n, step in enumerate(result.steps, 1):
        if step.killed_by_budget:
            code = "killed at the budget"
        elif step.timed_out:
            code = "timed out"
        else:
            code = f"exit {step.exit_code}"
        state = "ok" if step.ok else "bad"
        items.append(
            f'<tr class="step"><td>{n}</td><td>{escape(step.name)}</td>'
            f"<td><code>{escape(step.command)}</code></td>"
            f'<td class="{state}">{escape(code)}</td>'
            f"<td>{duration(step.duration_s)}</td>"
            f"<td><details><summary>output ({len(step.output)} chars)</summary>"
            f"<pre>{escape(step.output)}</pre></details></td></tr>"
        )
    head = (
        "<tr><th>#</th><th>Step</th><th>Command</th><th>Exit</th>"
        "<th>Duration</th><th>Output</th></tr>"
    )
    return f'<table id="steps">{head}{"".join(items)}</table>'


def _checks(result: DrillResult) -> str:
    if not result.data_checks:
        return "<p>No data check ran.</p>"
    rows = "".join(
        f'<tr class="data-check"><td>{escape(c.name)}</td>'
        f'<td class="{"ok" if c.ok else "bad"}">{"passed" if c.ok else "FAILED"}'
        f"</td><td>{escape(c.detail)}</td></tr>"
        for c in result.data_checks
    )
    return f'<table id="data-checks">{rows}</table>'


def _list(items: list[str], list_id: str) -> str:
    body = "".join(f"<li>{escape(item)}</li>" for item in items)
    return f'<ul id="{list_id}">{body}</ul>'


def render_html(result: DrillResult) -> str:
    """The HTML report: one self-contained page (inline CSS and SVG, no URLs)."""
    good, bad = effectiveness(result)
    outcome = result.outcome.value
    reasons = (
        _list(result.reasons, "reasons")
        if result.reasons
        else '<p id="reasons">No reason against the drill.</p>'
        if result.outcome is Outcome.PASSED
        else '<p id="reasons">No reason recorded.</p>'
    )
    return (
        "\n".join(
            [
                "<!DOCTYPE html>",
                '<html lang="en"><head><meta charset="utf-8">',
                f"<title>Incident Report: {escape(result.incident_id)}</title>",
                f"<style>{_CSS}</style></head><body>",
                f"<h1>Incident Report: {escape(result.incident_id)}</h1>",
                f'<p><span id="outcome" class="outcome {outcome}">{outcome}</span> '
                f"{escape(result.description)}</p>",
                reasons,
                _facts(result),
                "<h2>Timeline</h2>",
                render_svg(result),
                "<h2>Recovery steps</h2>",
                _steps(result),
                "<h2>Data checks</h2>",
                _checks(result),
                "<h2>What went well</h2>",
                _list(good, "went-well"),
                "<h2>What could be improved</h2>",
                _list(bad, "improve"),
                "</body></html>",
            ]
        )
        + "\n"
    )
