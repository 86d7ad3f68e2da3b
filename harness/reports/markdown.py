"""The runbook's incident report, notification and status update, from a drill result.

Everything here reads only the `DrillResult`: the same journal renders the
same text, whenever and wherever it is rendered (the clock is injected).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from harness import fixed_sleeps
from harness.result import DrillResult, ProbeSample, StepResult
from harness.severity import Severity

DETECTION_TARGET_S = 60.0
"""Detection slower than this is called out (the runbook's alert window)."""
LONG_STEP_S = 30.0
"""A recovery step longer than this (or than a quarter of the budget) is slow."""


SEVERITY_LABELS = {
    Severity.P0: "Critical",
    Severity.P1: "High",
    Severity.P2: "Medium",
    Severity.P3: "Low",
    Severity.P4: "Planned",
}

_EVENT_TEXT = {
    "drill_start": "Drill started",
    "baseline": "Baseline",
    "baseline_ok": "Steady state held: baseline OK",
    "baseline_failed": "Baseline failed: the steady state did not hold",
    "inject": "Fault injected",
    "inject_failed": "Fault injection failed",
    "injected": "Outage begins (t0): every fault in place",
    "detected": "Incident detected; failing probes",
    "not_detected": "No probe noticed the fault",
    "paging": "Responders paged",
    "response_start": "Recovery plan started",
    "step_started": "Step started",
    "step_finished": "Step finished",
    "response_end": "Recovery plan finished",
    "recovered": "Full service restored (steady state back)",
    "not_recovered": "Steady state NOT back within the budget",
    "check_data": "Data checks",
    "clean_up": "Clean-up: faults reverted, stack restored",
    "done": "Drill finished",
}

_PREVENTION: dict[str, tuple[list[str], list[str], list[str]]] = {
    "database": (
        [
            "Alert on database connection errors from the MEV API and the engine",
            "Verify the latest backup restores (pg_dump and the restore runbook)",
        ],
        [
            "Add a streaming standby and a tested promotion procedure",
            "Bound connection pools and add connection timeouts",
        ],
        ["Database clustering for high availability with automatic failover"],
    ),
    "network": (
        [
            "Alert on RPC latency over 100 ms and connection errors per chain",
            "Document the RPC failover route in the on-call runbook",
        ],
        [
            "Secondary RPC routes with automatic failover",
            "Timeouts and retries with backoff on every upstream call",
        ],
        ["Redundant network paths and providers per chain"],
    ),
    "security": (
        [
            "Rotate every credential the fault exposed and confirm the old one "
            "is rejected",
            "Review the API audit log for use of the exposed credential",
        ],
        [
            "Automate secret rotation and alert on use of revoked credentials",
            "Least-privilege database roles for each service",
        ],
        ["A secret manager with short-lived credentials"],
    ),
    "cluster": (
        [
            "Check each service's restart policy and health check",
            "Alert on a stopped process or a stalled chain head",
        ],
        [
            "Health-check driven automatic restarts",
            "Runbook steps that wait for readiness instead of fixed delays",
        ],
        ["Redundant nodes per chain behind a health-checked balancer"],
    ),
}


# Facts measured from the result, shared with the HTML report.


@dataclass(frozen=True)
class Phases:
    """The drill's key instants, in seconds since the drill started."""

    t0_s: float | None
    detected_s: float | None
    response_start_s: float | None
    recovered_s: float | None
    end_s: float


def phases_of(result: DrillResult) -> Phases:
    """The key instants of a drill, read from its timeline and measurements."""
    events = {e.kind: e.t_s for e in reversed(result.timeline)}
    t0 = events.get("injected")
    if t0 is None:
        injected = [f.injected_s for f in result.faults if f.injected_s is not None]
        t0 = max(injected) if injected else None
    detected = None if t0 is None or result.detection_s is None else t0
    if detected is not None and result.detection_s is not None:
        detected += result.detection_s
    recovered = None if t0 is None or result.rto_s is None else t0 + result.rto_s
    times = [e.t_s for e in result.timeline]
    times += [p.t_s for p in result.probes] + [w.t_s for w in result.workload]
    return Phases(
        t0_s=t0,
        detected_s=detected,
        response_start_s=events.get("response_start"),
        recovered_s=recovered,
        end_s=max(times, default=0.0),
    )


def wall(result: DrillResult, t_s: float) -> datetime:
    """The UTC wall-clock time `t_s` seconds after the drill started."""
    started = result.started_at
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return started.astimezone(UTC) + timedelta(seconds=t_s)


def hms(result: DrillResult, t_s: float) -> str:
    """`HH:MM:SS` (UTC) of an instant of the drill."""
    return wall(result, t_s).strftime("%H:%M:%S")


def duration(seconds: float) -> str:
    """A human duration: `0.22 s`, `4 min 5 s`, `2 h 15 min`."""
    if seconds < 60:
        return f"{seconds:.2f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s"


def success_rate(
    result: DrillResult, start_s: float | None, end_s: float | None
) -> tuple[float | None, int]:
    """Workload success rate (0..1) and request count in [start_s, end_s)."""
    lo = float("-inf") if start_s is None else start_s
    hi = float("inf") if end_s is None else end_s
    window = [w for w in result.workload if lo <= w.t_s < hi]
    if not window:
        return None, 0
    return sum(w.ok for w in window) / len(window), len(window)


def fixed_sleep_s(step: StepResult) -> float | None:
    """The longest fixed `sleep N` in a step (its command or script), or None.

    Journals written before the runner recorded sleeps are read from the
    command line alone.
    """
    sleeps = step.fixed_sleeps_s or fixed_sleeps.in_text(step.command)
    return max(sleeps, default=None)


def is_long(step: StepResult, budget_s: float) -> bool:
    """A step slow enough to call out: over LONG_STEP_S or a quarter of the budget."""
    return step.duration_s > min(LONG_STEP_S, budget_s / 4)


def first_failures(result: DrillResult, after_s: float | None) -> list[ProbeSample]:
    """The first failing sample of each failed probe at or after `after_s`."""
    seen: dict[str, ProbeSample] = {}
    lo = float("-inf") if after_s is None else after_s
    for sample in sorted(result.probes, key=lambda p: p.t_s):
        if not sample.ok and sample.t_s >= lo and sample.probe not in seen:
            seen[sample.probe] = sample
    return [seen[name] for name in result.failed_probes if name in seen]


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate * 100:.0f}%"


def _money(usd: float) -> str:
    return f"${usd:,.2f}"


def _bullets(lines: Iterable[str]) -> list[str]:
    return [f"- {line}" for line in lines]


def _boxes(lines: Iterable[str]) -> list[str]:
    return [f"- [ ] {line}" for line in lines]


# The report's sections.


def outage_text(result: DrillResult) -> str:
    """The incident duration, or why there is none."""
    phases = phases_of(result)
    if phases.t0_s is None:
        return "none measured: the fault was never injected"
    if result.detection_s is None:
        return "none measured: no probe noticed the fault"
    if result.rto_s is None or phases.recovered_s is None:
        return f"not recovered within the budget ({duration(result.budget_s)})"
    return (
        f"{duration(result.rto_s)} (from {hms(result, phases.t0_s)} to "
        f"{hms(result, phases.recovered_s)} UTC)"
    )


def root_cause_text(result: DrillResult) -> str:
    """The injected faults and what they broke, in one line."""
    faults = "; ".join(f"{f.description} ({f.family})" for f in result.faults)
    broke = ", ".join(result.failed_probes) or "no probe"
    return f"injected drill fault: {faults or 'none'}; it broke {broke}"


def resolution_text(result: DrillResult) -> str:
    """The recovery plan's steps with their exit codes, in one line."""
    if not result.steps:
        return "no recovery step ran"
    return "; ".join(f"{s.name} (exit {_exit(s)})" for s in result.steps)


def _exit(step: StepResult) -> str:
    if step.killed_by_budget:
        return "killed at the budget"
    if step.timed_out:
        return "timed out"
    return str(step.exit_code)


def _header(result: DrillResult, now: datetime) -> list[str]:
    lines = [
        f"# Incident Report: {result.incident_id}",
        "",
        f"**Drill outcome: {result.outcome.value}** — scenario `{result.scenario}`, "
        f"runtime {result.runtime}, seed {result.seed}, budget "
        f"{duration(result.budget_s)}. Report generated "
        f"{now.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC.",
        "",
    ]
    if result.description:
        lines += [f"> {result.description}", ""]
    if result.reasons:
        lines += ["Reasons:", "", *_bullets(result.reasons), ""]
    return lines


def _summary(result: DrillResult) -> list[str]:
    return [
        "## Executive Summary",
        f"- **Incident Duration**: {outage_text(result)}",
        f"- **Root Cause**: {root_cause_text(result)}",
        f"- **Impact**: {_money(result.impact_usd)} revenue loss "
        f"(at {_money(result.loss_usd_per_min)}/minute)",
        f"- **Resolution**: {resolution_text(result)}",
        "",
    ]


def _timeline(result: DrillResult) -> list[str]:
    lines = ["## Timeline", "| Time | Event |", "|------|-------|"]
    has_finished = any(e.kind == "step_finished" for e in result.timeline)
    t0 = phases_of(result).t0_s
    for event in result.timeline:
        if event.kind == "step_end" and has_finished:
            continue
        text = _EVENT_TEXT.get(event.kind, event.kind.replace("_", " ").capitalize())
        if event.detail and event.detail != "t0":
            text += f": {event.detail}"
        if t0 is not None:
            text += f" (t0{event.t_s - t0:+.2f} s)"
        lines.append(f"| {hms(result, event.t_s)} | {_cell(text)} |")
    return [*lines, ""]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _root_cause(result: DrillResult) -> list[str]:
    phases = phases_of(result)
    lines = ["## Root Cause Analysis", "### What Happened"]
    lines.append(
        "This was a disaster-recovery drill: the harness injected the fault(s) "
        "below on purpose"
        + (f" at {hms(result, phases.t0_s)} UTC." if phases.t0_s is not None else ".")
    )
    for n, fault in enumerate(result.faults, 1):
        evidence = ", ".join(f"{k}={v}" for k, v in sorted(fault.evidence.items()))
        line = f"{n}. `{fault.type}` ({fault.family}): {fault.description}"
        if evidence:
            line += f" [{evidence}]"
        if fault.error:
            line += f" — error: {fault.error}"
        lines.append(line)
    lines.append("")
    firsts = first_failures(result, phases.t0_s)
    if firsts:
        lines.append("It broke these probes (first failure after the fault):")
        for sample in firsts:
            at = (
                ""
                if phases.t0_s is None
                else f" at t0{sample.t_s - phases.t0_s:+.2f} s"
            )
            lines.append(f"- `{sample.probe}`{at}: {sample.detail or 'failed'}")
    else:
        lines.append("No probe failed after the fault.")
    lines += ["", "### Why It Happened"]
    lines.append(
        "- The cause is the injected fault, not an organic failure: the drill "
        "broke the stack on purpose to measure detection and recovery."
    )
    if result.failed_probes:
        lines.append(
            "- Every failed probe depends on what the fault broke, with no "
            "fallback that kept it healthy: "
            + ", ".join(f"`{p}`" for p in result.failed_probes)
            + "."
        )
    return [*lines, ""]


def _impact(result: DrillResult) -> list[str]:
    phases = phases_of(result)
    outage_end = phases.recovered_s if phases.recovered_s is not None else phases.end_s
    downtime_s = 0.0 if phases.t0_s is None else outage_end - phases.t0_s
    lines = [
        "## Impact Assessment",
        "### Financial",
        f"- Loss per minute: {_money(result.loss_usd_per_min)}",
        f"- Downtime: {duration(downtime_s)} ({downtime_s / 60:.2f} min)",
        f"- Direct revenue loss: {_money(result.loss_usd_per_min)}/min x "
        f"{downtime_s / 60:.2f} min = {_money(result.impact_usd)}",
        f"- Total impact: {_money(result.impact_usd)}",
        "",
        "### Operational",
        f"- Severity observed {_sev(result.severity_observed)}, expected "
        f"{_sev(result.severity_expected)}{_severity_note(result)}",
    ]
    before, n_before = success_rate(result, None, phases.t0_s)
    during, n_during = success_rate(result, phases.t0_s, outage_end)
    after, n_after = success_rate(result, outage_end, None)
    lines.append(
        f"- Workload success rate: {_pct(before)} before the fault ({n_before} "
        f"requests), {_pct(during)} during the outage ({n_during}), {_pct(after)} "
        f"after recovery ({n_after})"
    )
    rpo = "n/a" if result.rpo_s is None else f"{result.rpo_s:.2f} s"
    lines.append(f"- Acknowledged writes lost: {result.lost_writes} (RPO {rpo})")
    lines.append("- Failed probes: " + (", ".join(result.failed_probes) or "none"))
    return [*lines, ""]


def _sev(severity: Severity | None) -> str:
    if severity is None:
        return "none"
    return f"{severity.value} ({SEVERITY_LABELS[severity]})"


def _severity_note(result: DrillResult) -> str:
    seen, expected = result.severity_observed, result.severity_expected
    if seen is None or expected is None or seen == expected:
        return " (as expected)" if seen is not None and seen == expected else ""
    worse = seen.value < expected.value
    return (
        " — worse than expected: the fault broke more than the scenario assumed"
        if worse
        else " — milder than expected"
    )


def effectiveness(result: DrillResult) -> tuple[list[str], list[str]]:
    """What went well and what could be improved, from the measured phases."""
    good: list[str] = []
    bad: list[str] = []
    phases = phases_of(result)
    if result.detection_s is None:
        if phases.t0_s is not None:
            bad.append("The fault was never detected: add a probe that watches it")
    elif result.detection_s <= DETECTION_TARGET_S:
        good.append(
            f"Rapid detection: {duration(result.detection_s)} after the fault "
            f"(target under {DETECTION_TARGET_S:g} s)"
        )
    else:
        bad.append(
            f"Slow detection: {duration(result.detection_s)} after the fault "
            f"(target under {DETECTION_TARGET_S:g} s)"
        )
    if result.rto_s is not None and result.rto_s <= result.budget_s:
        share = result.rto_s / result.budget_s * 100 if result.budget_s else 0.0
        good.append(
            f"Recovered in {duration(result.rto_s)}, within the budget of "
            f"{duration(result.budget_s)} ({share:.0f}% of it)"
        )
    elif result.rto_s is not None:
        bad.append(
            f"Recovered in {duration(result.rto_s)}, over the budget of "
            f"{duration(result.budget_s)}"
        )
    elif result.detection_s is not None:
        bad.append(f"Not recovered within the budget of {duration(result.budget_s)}")
    _step_effectiveness(result, good, bad)
    for check in result.data_checks:
        (good if check.ok else bad).append(
            f"Data check {'passed' if check.ok else 'FAILED'}: {check.name}"
            + (f" ({check.detail})" if check.detail else "")
        )
    seen, expected = result.severity_observed, result.severity_expected
    if seen is not None and expected is not None and seen != expected:
        bad.append(
            f"Observed severity {seen.value} differs from the expected "
            f"{expected.value}: revisit the scenario's classification"
        )
    return (
        good or ["Nothing measured stood out as done well"],
        bad or ["Nothing measured needs improvement"],
    )


def _step_effectiveness(result: DrillResult, good: list[str], bad: list[str]) -> None:
    if result.steps and all(s.ok for s in result.steps):
        good.append(f"All {len(result.steps)} recovery step(s) exited 0")
    for step in result.steps:
        if step.killed_by_budget:
            bad.append(f"Step `{step.name}` was still running at the budget and killed")
        elif not step.ok:
            code = _exit(step)
            code = f"exit {code}" if code.isdigit() or code[1:].isdigit() else code
            bad.append(f"Step `{step.name}` failed ({code})")
        if is_long(step, result.budget_s):
            bad.append(f"Step `{step.name}` took {duration(step.duration_s)}")
        sleep_s = fixed_sleep_s(step)
        if sleep_s is not None:
            bad.append(
                f"Step `{step.name}` waits on a fixed `sleep {sleep_s:g}` instead of "
                "a readiness wait"
            )


def _effectiveness(result: DrillResult) -> list[str]:
    good, bad = effectiveness(result)
    return [
        "## Response Effectiveness",
        "### What Went Well",
        *_bullets(good),
        "",
        "### What Could Be Improved",
        *_bullets(bad),
        "",
    ]


def prevention(result: DrillResult) -> tuple[list[str], list[str], list[str]]:
    """Immediate, short-term and long-term actions, by fault family and failures."""
    immediate: list[str] = []
    short: list[str] = []
    long: list[str] = []
    for step in result.steps:
        if not step.ok:
            immediate.append(f"Fix recovery step `{step.name}` and rerun this drill")
        sleep_s = fixed_sleep_s(step)
        if sleep_s is not None:
            immediate.append(
                f"Replace the fixed `sleep {sleep_s:g}` in `{step.name}` with a "
                "readiness wait"
            )
    if result.lost_writes:
        immediate.append(
            f"Find why {result.lost_writes} acknowledged write(s) were lost "
            "(synchronous commit, backups, replication)"
        )
    for check in result.data_checks:
        if not check.ok and check.name != "acknowledged writes preserved":
            immediate.append(f"Close the gap behind the failed check: {check.name}")
    if result.rto_s is None and result.detection_s is not None:
        immediate.append("Shorten the recovery plan until it fits the budget")
    if result.detection_s is not None and result.detection_s > DETECTION_TARGET_S:
        short.append("Add a faster probe or alert for this failure")
    for family in sorted({f.family for f in result.faults}):
        now, soon, later = _PREVENTION.get(family, ([], [], []))
        immediate += now
        short += soon
        long += later
    short.append(f"Repeat the `{result.scenario}` drill after each fix")
    long.append("Track RTO and detection time per scenario in the drill history")
    return immediate, short, long


def _prevention(result: DrillResult) -> list[str]:
    immediate, short, long = prevention(result)
    return [
        "## Preventive Measures",
        "### Immediate Actions (24-48 hours)",
        *_boxes(immediate),
        "",
        "### Short-term Actions (1-4 weeks)",
        *_boxes(short),
        "",
        "### Long-term Actions (1-6 months)",
        *_boxes(long),
        "",
    ]


def _lessons(result: DrillResult) -> list[str]:
    lessons: list[str] = []
    firsts = first_failures(result, phases_of(result).t0_s)
    if result.detection_s is not None and firsts:
        lessons.append(
            f"Detection took {duration(result.detection_s)}; "
            f"`{firsts[0].probe}` caught the fault first"
        )
    if result.rto_s is not None:
        lessons.append(
            f"The recovery plan for `{result.scenario}` restores service in "
            f"{duration(result.rto_s)} against a budget of {duration(result.budget_s)}"
        )
    elif result.detection_s is not None:
        lessons.append("The recovery plan as written does not restore service in time")
    seen, expected = result.severity_observed, result.severity_expected
    if seen is not None and expected is not None and seen != expected:
        lessons.append(
            f"This failure is a {seen.value} in practice, not the {expected.value} "
            "the scenario expected"
        )
    if result.rpo_s is not None:
        lessons.append(
            f"{result.lost_writes} acknowledged write(s) lost (RPO "
            f"{result.rpo_s:.2f} s)"
        )
    if result.impact_usd:
        lessons.append(
            f"At {_money(result.loss_usd_per_min)}/minute this outage cost "
            f"{_money(result.impact_usd)}"
        )
    if not lessons:
        lessons.append(f"The drill was {result.outcome.value}: see the reasons above")
    return [
        "## Lessons Learned",
        *(f"{n}. {text}" for n, text in enumerate(lessons, 1)),
        "",
    ]


def render_markdown(result: DrillResult, *, now: datetime | None = None) -> str:
    """The runbook's Incident Report Template filled from a drill result.

    `now` stamps the report (default: the current UTC time); pass a fixed
    datetime for reproducible output.
    """
    stamp = now or datetime.now(UTC)
    lines = [
        *_header(result, stamp),
        *_summary(result),
        *_timeline(result),
        *_root_cause(result),
        *_impact(result),
        *_effectiveness(result),
        *_prevention(result),
        *_lessons(result),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


# The notification and the status update.


def title(result: DrillResult) -> str:
    """A one-line incident title: the scenario and its faults."""
    faults = "; ".join(f.description for f in result.faults) or "no fault"
    return f"{result.scenario} drill: {faults}"


def _severity_line(result: DrillResult) -> str:
    severity = result.severity_observed or result.severity_expected
    if severity is None:
        return "none"
    return f"{severity.value} - {SEVERITY_LABELS[severity]}"


def _status(result: DrillResult) -> str:
    if result.rto_s is not None:
        return f"Resolved (drill {result.outcome.value})"
    if result.detection_s is None:
        return f"Closed: nothing to resolve (drill {result.outcome.value})"
    return f"Unresolved within the budget (drill {result.outcome.value})"


def render_notification(result: DrillResult) -> str:
    """The runbook's Incident Notification Template filled in from a drill result."""
    phases = phases_of(result)
    severity = result.severity_observed or result.severity_expected
    started = (
        "not started (no fault injected)"
        if phases.t0_s is None
        else f"{wall(result, phases.t0_s):%Y-%m-%d %H:%M:%S} UTC"
    )
    outage_end = phases.recovered_s if phases.recovered_s is not None else phases.end_s
    during, _ = success_rate(result, phases.t0_s, outage_end)
    impact = [
        "Failing: " + (", ".join(result.failed_probes) or "nothing"),
        f"Estimated revenue loss: {_money(result.loss_usd_per_min)}/minute "
        f"({_money(result.impact_usd)} in total)",
        f"Workload success rate during the outage: {_pct(during)}",
    ]
    actions = [f"Injected (drill): {f.description}" for f in result.faults]
    actions += [
        f"Ran {s.name}: exit {_exit(s)} after {duration(s.duration_s)}"
        for s in result.steps
    ]
    immediate, _, _ = prevention(result)
    eta = (
        f"resolved after {duration(result.rto_s)}"
        if result.rto_s is not None
        else f"not resolved within the budget of {duration(result.budget_s)}"
    )
    lines = [
        f"INCIDENT ALERT: [{severity.value if severity else 'P?'}] - {title(result)}",
        "",
        f"Incident ID: {result.incident_id}",
        f"Severity: {_severity_line(result)}",
        f"Status: {_status(result)}",
        f"Started: {started}",
        "Commander: drill harness (scheduled disaster-recovery drill)",
        "",
        "IMPACT:",
        *_bullets(impact),
        "",
        "ACTIONS TAKEN:",
        *_bullets(actions or ["No action taken"]),
        "",
        "NEXT STEPS:",
        *_bullets(immediate[:3]),
        f"- ETA for resolution: {eta}",
        "- Next update: with the full incident report",
    ]
    return "\n".join(lines) + "\n"


def render_status_update(result: DrillResult) -> str:
    """The runbook's Status Update Template filled in from a drill result."""
    phases = phases_of(result)
    at_s = phases.recovered_s if phases.recovered_s is not None else phases.end_s
    done = sum(s.ok for s in result.steps)
    progress = (
        100
        if result.rto_s is not None
        else (round(done / len(result.steps) * 100) if result.steps else 0)
    )
    after, _ = success_rate(result, at_s, None)
    restored = result.rto_s is not None
    did = [f"Root cause identified: {root_cause_text(result)}"]
    did += [f"{s.name}: exit {_exit(s)}" for s in result.steps]
    current = [
        "Systems fully restored (steady state back)"
        if restored
        else "Systems NOT restored within the budget",
        f"Workload success rate after this point: {_pct(after)}",
        "No further revenue loss"
        if restored
        else f"Revenue loss continues at {_money(result.loss_usd_per_min)}/minute",
    ]
    checks = [
        f"Data check {c.name}: {'passed' if c.ok else 'FAILED'}"
        for c in result.data_checks
    ]
    lines = [
        f"INCIDENT UPDATE: {result.incident_id} - {title(result)}",
        "",
        f"Time: {wall(result, at_s):%Y-%m-%d %H:%M:%S} UTC",
        f"Status: {'Resolved' if restored else 'In Progress'}",
        f"Progress: {progress}% complete ({done} of {len(result.steps)} steps ok)",
        "",
        "WHAT WE'VE DONE:",
        *_bullets(did),
        "",
        "CURRENT STATUS:",
        *_bullets(current),
        "",
        "NEXT ACTIONS:",
        *_bullets([*checks, "Full system validation", "Post-incident review"]),
        "",
        "ETA: "
        + ("resolved" if restored else "unknown: the recovery plan did not finish"),
        "Next update: with the full incident report",
    ]
    return "\n".join(lines) + "\n"
