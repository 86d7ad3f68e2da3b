"""Property-based chaos campaigns: hypothesis generates fault schedules.

A campaign asks one question of a recovery plan: under any schedule of faults
drawn from a safe, always-revertible part of the catalogue, does the stack
recover within the budget with nothing lost? A schedule that breaks the plan
is shrunk by hypothesis to the smallest one that still does, printed, and
saved as a scenario file that `drill run FILE` accepts.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, given, reject, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from harness import scenario as scenarios
from harness.console import console
from harness.engine import DrillOptions, run_drill
from harness.errors import UsageError
from harness.result import DrillResult, Outcome
from harness.runtime.base import Runtime
from harness.stack import CHAINS, Kind, service

log = logging.getLogger(__name__)

EXAMPLES_ENV = "DRILL_CAMPAIGN_EXAMPLES"
MAX_TIME_ENV = "DRILL_CAMPAIGN_MAX_S"
DEFAULT_EXAMPLES = 20
DEFAULT_MAX_TIME_S = 900.0

FaultSpecData = dict[str, Any]
ProbeSpecData = dict[str, Any]

CHAIN_NODES: tuple[str, ...] = tuple(f"erigon-{c.name}" for c in CHAINS)
DOWN_TARGETS: tuple[str, ...] = (*CHAIN_NODES, "mev-artemis")
"""Services whose loss a probe notices at once and a restart repairs.

A single relay is left out: mev-boost answers while the other relay does,
so no probe of the steady state would notice it (the drill would be INVALID).
"""

SERVICE_DOWN = ("kill_service", "stop_service")
"""The "service down" kinds: a process is gone until something starts it."""

SERVICE_OUT = (*SERVICE_DOWN, "pause_service")
"""Kinds that take one service out (gone or frozen) until it is restarted."""

RESTARTABLE = (*SERVICE_OUT, "sync_stall", "kill_postgres")
"""Kinds a plan that restarts the affected units repairs."""

NETWORK = ("outage", "latency", "partition")
"""Kinds that live in the fault proxy: a `reset_proxy` action repairs them."""

PARTITIONS: tuple[tuple[str, str], ...] = (
    ("mev-api", "postgres"),
    ("mev-artemis", "postgres"),
)
"""Service pairs a partition may cut; a probe notices each one."""

ALL_KINDS = (*RESTARTABLE, "peers_zero", *NETWORK, "relays_down", "bundle_rejection")
"""Every kind a campaign can draw; each is reverted by clean-up."""


KIND_GROUPS: dict[str, tuple[str, ...]] = {
    "service-down": SERVICE_DOWN,
    "restartable": RESTARTABLE,
    "network": NETWORK,
    "all": ALL_KINDS,
}
"""Names for sets of kinds, usable wherever a list of kinds is given."""


def kinds_from(text: str, source: str = "--kinds") -> tuple[str, ...]:
    """Kinds named in `text`: comma-separated kinds or group names.

    UsageError naming `source` for an unknown name or an empty list.
    """
    chosen: list[str] = []
    for name in (part.strip() for part in text.split(",")):
        if not name:
            continue
        group = KIND_GROUPS.get(name, (name,))
        for kind in group:
            if kind not in ALL_KINDS:
                raise UsageError(
                    f"unknown fault kind {name!r} in {source}",
                    hint="choose from: " + ", ".join([*KIND_GROUPS, *ALL_KINDS]),
                )
            if kind not in chosen:
                chosen.append(kind)
    if not chosen:
        raise UsageError(f"{source} names no fault kind", hint="e.g. service-down")
    return tuple(chosen)


@dataclass(frozen=True)
class Schedule:
    """A generated fault schedule: specs in injection order, then a delay.

    `response_delay_s` is how long every fault stays in place before the
    recovery plan may act.
    """

    faults: list[FaultSpecData]
    response_delay_s: float = 0.0

    def describe(self) -> str:
        """One line, e.g. `kill_service erigon-base + sync_stall polygon; 0.0 s`."""
        parts = [f"{f['type']} {_target(f)}".rstrip() for f in self.faults]
        return f"{' + '.join(parts)}; response delay {self.response_delay_s:.1f} s"

    def key(self) -> str:
        """A stable identity for comparing schedules."""
        return repr((self.faults, self.response_delay_s))


def _target(fault: FaultSpecData) -> str:
    if "a" in fault:
        return f"{fault['a']}|{fault['b']}"
    for name in ("service", "chain", "edges", "relays"):
        if name in fault:
            value = fault[name]
            return ",".join(value) if isinstance(value, list) else str(value)
    return ""


# Strategies.


def _fault_of(kind: str) -> st.SearchStrategy[FaultSpecData]:
    chains = st.sampled_from([c.name for c in CHAINS])
    if kind in SERVICE_OUT:
        return st.builds(
            lambda s: {"type": kind, "service": s}, st.sampled_from(DOWN_TARGETS)
        )
    if kind == "kill_postgres":
        return st.just({"type": "kill_postgres"})
    if kind == "partition":
        return st.builds(
            lambda pair: {"type": "partition", "a": pair[0], "b": pair[1]},
            st.sampled_from(PARTITIONS),
        )
    if kind in ("sync_stall", "peers_zero"):
        return st.builds(lambda c: {"type": kind, "chain": c}, chains)
    if kind == "outage":
        return st.builds(lambda n: {"type": "outage", "edges": [n]}, _routes())
    if kind == "latency":
        return st.builds(
            lambda c, ms: {
                "type": "latency",
                "edges": [f"erigon-{c}"],
                "latency_ms": ms,
            },
            chains,
            st.sampled_from([300, 600, 1200]),
        )
    if kind == "relays_down":
        return st.just({"type": "relays_down"})
    if kind == "bundle_rejection":
        return st.builds(
            lambda r: {"type": "bundle_rejection", "rate": r},
            st.sampled_from([1.0, 0.95]),
        )
    raise UsageError(
        f"unknown campaign fault kind {kind!r}",
        hint="choose from: " + ", ".join(ALL_KINDS),
    )


def _routes() -> st.SearchStrategy[str]:
    """Public chain routes and the strategy engine's edges to the chains."""
    public = [f"erigon-{c.name}" for c in CHAINS]
    edges = [f"mev-artemis_to_erigon-{c.name}" for c in CHAINS]
    return st.sampled_from(public + edges)


def fault_specs(
    kinds: Sequence[str] = SERVICE_DOWN,
) -> st.SearchStrategy[FaultSpecData]:
    """One fault spec (a scenario's `faults` entry) of one of `kinds`.

    Kinds shrink towards the first one named, targets towards the first chain.
    """
    if not kinds:
        raise UsageError("a campaign needs at least one fault kind")
    return st.one_of(*(_fault_of(k) for k in kinds))


def schedules(
    kinds: Sequence[str] = SERVICE_DOWN,
    *,
    max_faults: int = 3,
    max_response_delay_s: float = 2.0,
) -> st.SearchStrategy[Schedule]:
    """Schedules of 1 to `max_faults` (3) faults of `kinds`, in order.

    Targets repeat, so two faults may overlap on one service (a stall and a
    kill of one node) or hit two; two service-down faults never share a
    service, since the second could not be injected. The response delay
    (0 to `max_response_delay_s`, 2.0 s, in 0.5 s steps) is how long the
    faults stay before the plan acts; it shrinks to 0.
    """
    steps = int(max_response_delay_s / 0.5)
    delays = st.integers(0, max(steps, 0)).map(lambda n: n * 0.5)
    return st.builds(
        Schedule,
        st.lists(
            fault_specs(kinds), min_size=1, max_size=max_faults, unique_by=_overlap
        ),
        delays,
    )


def _overlap(fault: FaultSpecData) -> str:
    """Two service-down faults on one service cannot both be injected."""
    if fault["type"] in SERVICE_DOWN:
        return f"down:{fault['service']}"
    return repr(sorted(fault.items()))


# Schedules as scenarios.


def probes_for(fault: FaultSpecData) -> list[ProbeSpecData]:
    """Probes that notice `fault` and watch the services it targets."""
    kind = fault["type"]
    if kind in SERVICE_OUT:
        target = service(fault["service"])
        if target.kind is Kind.ERIGON and target.chain is not None:
            return [{"type": "chain_head", "chain": target.chain.name}]
        if target.kind is Kind.ARTEMIS:
            return [{"type": "opportunities_fresh", "max_age_s": 3.0}]
        if target.kind in (Kind.RELAY, Kind.MEV_BOOST):
            return [{"type": "mev_boost_status"}]
        if target.kind is Kind.MEV_API:
            return [{"type": "mev_api_health"}]
        return [{"type": "sql_select1"}]
    if kind == "sync_stall":
        return [{"type": "chain_head", "chain": fault["chain"]}]
    if kind == "peers_zero":
        return [{"type": "chain_health", "chain": fault["chain"]}]
    if kind == "kill_postgres":
        return [{"type": "sql_select1"}]
    if kind == "partition":
        if fault["a"] == "mev-artemis":
            return [{"type": "opportunities_fresh", "max_age_s": 3.0}]
        return [{"type": "mev_api_health"}]
    if kind in NETWORK:
        route = fault["edges"][0]
        chain = route.rsplit("erigon-", 1)[-1]
        if route.startswith("mev-artemis_to_"):
            return [{"type": "opportunities_fresh", "max_age_s": 3.0, "chain": chain}]
        if kind == "latency":
            return [{"type": "rpc_latency", "chain": chain, "max_ms": 150.0}]
        return [{"type": "chain_head", "chain": chain}]
    if kind == "relays_down":
        return [{"type": "mev_boost_status"}]
    return [{"type": "bundle_acceptance"}]


def schedule_to_scenario(
    schedule: Schedule,
    recovery_steps: Sequence[dict[str, Any]],
    name: str,
    *,
    budget_s: float = 10.0,
    check_writes: bool = True,
) -> dict[str, Any]:
    """A full scenario dict for `schedule`, recovered by `recovery_steps`.

    Probes watch every targeted service (duplicates dropped). Timings are
    short (0.5 s baseline, 0.1 s polls, 2 stable polls) so a campaign runs
    many drills; `budget_s` (10) bounds each recovery. With `check_writes`
    (default) a searcher writes and every acknowledged write must survive.
    """
    probes: list[ProbeSpecData] = []
    for fault in schedule.faults:
        for probe in probes_for(fault):
            if probe not in probes:
                probes.append(probe)
    return {
        "name": name,
        "description": f"Campaign schedule: {schedule.describe()}.",
        "severity": "P2",
        "tags": ["campaign"],
        "faults": [dict(f) for f in schedule.faults],
        "probes": probes,
        "workload": {"searchers": 1, "writes": check_writes},
        "baseline_s": 0.5,
        "poll_interval_s": 0.1,
        "stable_polls": 2,
        "detection_window_s": 5.0,
        "response_delay_s": schedule.response_delay_s,
        "recovery": [dict(s) for s in recovery_steps],
        "budget_s": budget_s,
        "data": {"writes_preserved": check_writes, "rpo_budget_s": 0},
    }


# The campaign runner.


@dataclass(frozen=True)
class CampaignFailure:
    """The smallest failing schedule hypothesis found, and where it is saved."""

    schedule: Schedule
    scenario: dict[str, Any]
    outcome: Outcome
    reasons: list[str]
    path: Path


@dataclass
class CampaignResult:
    """What a campaign ran and, if the plan broke, the shrunk schedule."""

    drills: list[tuple[Schedule, Outcome]] = field(default_factory=list)
    failure: CampaignFailure | None = None
    elapsed_s: float = 0.0
    timed_out: bool = False

    @property
    def passed(self) -> bool:
        """No generated schedule broke the recovery plan."""
        return self.failure is None


class _ScheduleFailed(AssertionError):
    def __init__(self, schedule: Schedule, result: DrillResult) -> None:
        super().__init__(f"{schedule.describe()}: {result.outcome}: {result.reasons}")
        self.schedule = schedule
        self.result = result


def _setting(value: float | None, env: str, default: float) -> float:
    """The explicit value, else the environment variable, else the default."""
    if value is not None:
        return value
    raw = os.environ.get(env)
    if raw is None or raw == "":
        return default
    try:
        parsed = float(raw)
    except ValueError:
        raise UsageError(
            f"{env}={raw!r} is not a number", hint=f"set {env} to e.g. {default:g}"
        ) from None
    if parsed <= 0:
        raise UsageError(f"{env}={raw!r} must be above 0", hint=f"e.g. {default:g}")
    return parsed


def run_campaign(
    runtime: Runtime,
    recovery_steps: Sequence[dict[str, Any]],
    *,
    max_examples: int | None = None,
    reports_dir: Path,
    seed: int | None = None,
    max_time_s: float | None = None,
    kinds: Sequence[str] = SERVICE_DOWN,
    max_faults: int = 3,
    budget_s: float = 10.0,
    check_writes: bool = True,
    name: str = "campaign",
    on_drill: Callable[[int, Schedule, DrillResult], None] | None = None,
) -> CampaignResult:
    """Run drills on generated schedules until one fails or the limits are hit.

    `max_examples` (else $DRILL_CAMPAIGN_EXAMPLES, else 20) bounds the
    schedules generated; `max_time_s` (else $DRILL_CAMPAIGN_MAX_S, else 900)
    bounds wall time: past it no new drill starts and shrinking stops with
    the smallest failure found so far. A seed makes the schedules repeat.
    The shrunk failure is printed and saved to `<reports_dir>/campaign/<name>.yaml`.
    `on_drill(number, schedule, result)` is called as each drill ends.
    """
    examples = int(_setting(max_examples, EXAMPLES_ENV, DEFAULT_EXAMPLES))
    limit_s = _setting(max_time_s, MAX_TIME_ENV, DEFAULT_MAX_TIME_S)
    outcome = CampaignResult()
    started = time.monotonic()
    failing: dict[str, DrillResult] = {}

    def drill(schedule: Schedule) -> None:
        # Hypothesis tells failures apart by where they are raised: one place.
        result = failing.get(schedule.key())
        if result is None:
            if time.monotonic() - started > limit_s:
                outcome.timed_out = True
                reject()
            result = _run_one(schedule)
        if result.outcome is Outcome.INVALID and schedule.key() not in failing:
            # Nothing was measured (a fault could not be injected on top of
            # another, a baseline was unhealthy): no verdict on the plan.
            reject()
        if result.outcome is not Outcome.PASSED:
            failing[schedule.key()] = result
            raise _ScheduleFailed(schedule, result)

    def _run_one(schedule: Schedule) -> DrillResult:
        number = len(outcome.drills) + 1
        data = schedule_to_scenario(
            schedule,
            recovery_steps,
            f"{name}-{number}",
            budget_s=budget_s,
            check_writes=check_writes,
        )
        options = DrillOptions(reports_dir=reports_dir / "campaign", seed=seed)
        result = run_drill(scenarios.from_data(data), runtime, options)
        outcome.drills.append((schedule, result.outcome))
        log.info(
            "campaign drill %d: %s: %s", number, schedule.describe(), result.outcome
        )
        if on_drill is not None:
            on_drill(number, schedule, result)
        return result

    test = given(schedules(kinds, max_faults=max_faults))(drill)
    test = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=seed is not None,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate, Phase.shrink],
        print_blob=False,
    )(test)
    if seed is not None:
        test = hypothesis_seed(seed)(test)

    try:
        test()
    except _ScheduleFailed as failed:
        outcome.failure = _save(
            failed, recovery_steps, reports_dir, name, budget_s, check_writes
        )
        _print(outcome.failure)
    outcome.elapsed_s = time.monotonic() - started
    return outcome


def _save(
    failed: _ScheduleFailed,
    recovery_steps: Sequence[dict[str, Any]],
    reports_dir: Path,
    name: str,
    budget_s: float,
    check_writes: bool,
) -> CampaignFailure:
    data = schedule_to_scenario(
        failed.schedule,
        recovery_steps,
        name,
        budget_s=budget_s,
        check_writes=check_writes,
    )
    scenarios.from_data(data, source=f"campaign {name}")
    path = reports_dir / "campaign" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return CampaignFailure(
        schedule=failed.schedule,
        scenario=data,
        outcome=failed.result.outcome,
        reasons=list(failed.result.reasons),
        path=path,
    )


def _print(failure: CampaignFailure) -> None:
    out = console()
    out.print(f"[bold red]campaign found a failing schedule[/] ({failure.outcome})")
    out.print(f"  smallest: {failure.schedule.describe()}")
    for reason in failure.reasons:
        out.print(f"  reason: {reason}")
    out.print(f"  saved: {failure.path}  (run it again: drill run {failure.path})")
