"""Runs one drill, phase by phase, and decides its outcome honestly.

Baseline -> inject -> detect -> respond -> verify -> check data -> clean up.
Clean-up always runs. Nothing below this module imports it; its only output
is the `DrillResult` (and the journal written from it).
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from harness import backup, stack
from harness.context import DrillContext
from harness.errors import DrillError
from harness.evidence import EvidenceCollector
from harness.faults import base as faults
from harness.paths import PROJECT_ROOT
from harness.probes import base as probes
from harness.proxy.client import ProxyClient
from harness.recovery import RecoveryRunner
from harness.reports.journal import write_journal
from harness.result import DataCheck, DrillResult, FaultRecord, Outcome, StepResult
from harness.runtime.base import Runtime
from harness.scenario import Scenario
from harness.severity import Impact, classify, impact_usd
from harness.steady import SteadyState
from harness.timeline import Clock, Timeline
from harness.workload import Workload

log = logging.getLogger(__name__)

EventCallback = Callable[[str, str], None]
"""Called with (event kind, detail) as the drill moves through its phases."""

LOW_SUCCESS_RATE = 0.40
"""The runbook's P2 threshold: MEV success rate under 40%."""


@dataclass
class DrillOptions:
    """How to run a drill (the scenario says what to run)."""

    reports_dir: Path = Path("reports")
    seed: int | None = None
    budget_s: float | None = None
    base_dir: Path = PROJECT_ROOT
    baseline_timeout_s: float = 30.0
    restore_timeout_s: float = 60.0
    on_event: EventCallback | None = None
    clock: Clock = field(default_factory=Clock)

    def __post_init__(self) -> None:
        if self.budget_s is not None and self.budget_s <= 0:
            raise ValueError(f"budget_s must be above 0, got {self.budget_s:g}")


def run_drill(
    scenario: Scenario, runtime: Runtime, options: DrillOptions
) -> DrillResult:
    """Run one drill against a running stack; return (and journal) its result."""
    return _Drill(scenario, runtime, options).run()


class _Drill:
    def __init__(self, scenario: Scenario, runtime: Runtime, options: DrillOptions):
        self.scenario = scenario
        self.runtime = runtime
        self.options = options
        self.seed = (
            options.seed if options.seed is not None else random.randrange(2**31)
        )
        self.budget_s = options.budget_s or scenario.budget_s
        self.timeline = Timeline(options.clock)
        self.incident_id = _incident_id(
            self.timeline.started_at, scenario.name, options.reports_dir
        )
        self.work_dir = options.reports_dir / self.incident_id
        self.invalid: list[str] = []
        self.failed: list[str] = []
        self.fault_records: list[FaultRecord] = []
        self.steps: list[StepResult] = []
        self.checks: list[DataCheck] = []
        self.secrets_seen: set[str] = set()
        self.t0: float | None = None
        self.detected_s: float | None = None
        self.recovered_s: float | None = None
        self.rpo_s: float | None = None
        self.lost_writes = 0

    def event(self, kind: str, detail: str = "") -> None:
        self.timeline.mark(kind, detail)
        log.info("%s: %s %s", self.scenario.name, kind, detail)
        if self.options.on_event:
            self.options.on_event(kind, detail)

    def run(self) -> DrillResult:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._remember_secrets()
        ctx = DrillContext(
            runtime=self.runtime,
            proxy=ProxyClient(self.runtime.endpoints().proxy_api),
            work_dir=self.work_dir,
            rng=random.Random(self.seed),
        )
        built = [faults.build(spec, ctx) for spec in self.scenario.faults]
        self.fault_records = [
            FaultRecord(type=f.spec.type, family=f.family, description=f.describe())
            for f in built
        ]
        self.evidence = EvidenceCollector(ctx, self.work_dir)
        steady = SteadyState(
            [probes.build(s, ctx) for s in self.scenario.probes],
            self.timeline,
            interval_s=self.scenario.poll_interval_s,
        )
        workload = Workload(self.scenario.workload, ctx, self.timeline)
        self.event("drill_start", f"scenario {self.scenario.name}, seed {self.seed}")
        try:
            self._phases(ctx, built, steady, workload)
        finally:
            self._clean_up(ctx, built, steady, workload)
        result = self._result(steady, workload)
        self._remember_secrets()
        write_journal(result, self.work_dir, self.secrets_seen)
        # After clean-up: the logs hold the whole drill; the health snapshot
        # taken at detection shows the stack broken.
        self.evidence.at_end(result)
        return result

    # The phases.

    def _phases(
        self,
        ctx: DrillContext,
        built: list[faults.Fault[faults.FaultSpec]],
        steady: SteadyState,
        workload: Workload,
    ) -> None:
        if not self._baseline(ctx, steady, workload):
            return
        if not self._inject(built):
            return
        assert self.t0 is not None
        if not self._detect(steady):
            return
        self._respond(ctx, steady)
        self._verify(steady)
        self._check_data(built, workload)

    def _baseline(
        self, ctx: DrillContext, steady: SteadyState, workload: Workload
    ) -> bool:
        self.event(
            "baseline", f"steady state must hold for {self.scenario.baseline_s}s"
        )
        workload.start()
        steady.start()
        until = self.timeline.now() + self.options.baseline_timeout_s
        held, poll = steady.holds(self.scenario.baseline_s, until_s=until)
        if not held:
            what = (
                ", ".join(
                    f"{name} ({poll.results[name].detail})" for name in poll.failed()
                )
                if poll
                else "no probe answered"
            )
            self.invalid.append(
                f"unhealthy baseline: the steady state did not hold "
                f"before the fault: {what}"
            )
            self.event("baseline_failed", what)
            return False
        if self.scenario.data.backup:
            path = backup.take_backup(ctx, self.work_dir / "backups")
            self.event("backup", f"took {path.name}")
        self.event("baseline_ok")
        return True

    def _inject(self, built: list[faults.Fault[faults.FaultSpec]]) -> bool:
        self.event("inject", "; ".join(f.describe() for f in built))
        for fault, record in zip(built, self.fault_records, strict=True):
            try:
                fault.inject()
            except Exception as exc:
                record.error = _one_line(exc)
                self.invalid.append(
                    f"fault {record.type} could not be injected: {record.error}"
                )
                self.event("inject_failed", record.error)
                return False
            record.injected_s = round(self.timeline.now(), 4)
            record.evidence = fault.evidence()
        self.t0 = self.timeline.now()
        self.event("injected", "t0")
        return True

    def _detect(self, steady: SteadyState) -> bool:
        assert self.t0 is not None
        until = self.t0 + self.scenario.detection_window_s
        poll = steady.first_failure(after_s=self.t0, until_s=until)
        if poll is None:
            self.invalid.append(
                f"fault never detected: no probe failed within "
                f"{self.scenario.detection_window_s:g}s of injection, so the drill "
                f"measured nothing (add a probe that watches what the fault breaks)"
            )
            self.event("not_detected")
            return False
        self.detected_s = max(poll.first_failed_s() or poll.ended_s, self.t0)
        self.evidence.at_detection()
        self.timeline.mark("detected", ", ".join(poll.failed()), t_s=self.detected_s)
        if self.options.on_event:
            self.options.on_event("detected", ", ".join(poll.failed()))
        return True

    def _respond(self, ctx: DrillContext, steady: SteadyState) -> None:
        assert self.t0 is not None
        deadline = self.t0 + self.budget_s
        if self.scenario.response_delay_s:
            self.event("paging", f"response delay {self.scenario.response_delay_s:g}s")
            self.options.clock.sleep(
                min(
                    self.scenario.response_delay_s,
                    max(0.0, deadline - self.timeline.now()),
                )
            )
        self.event("response_start", f"{len(self.scenario.recovery)} step(s)")
        env = self.runtime.recovery_env()
        env.update(
            {
                "DRILL_BACKUP_DIR": str(self.work_dir / "backups"),
                "DRILL_INCIDENT_ID": self.incident_id,
                "DRILL_SCENARIO": self.scenario.name,
            }
        )

        def wait_for(target: str, until_s: float) -> bool:
            probe = None if target == "steady_state" else target
            return (
                steady.stable_since(
                    self.scenario.stable_polls,
                    after_s=self.timeline.now(),
                    until_s=until_s,
                    probe=probe,
                )
                is not None
            )

        runner = RecoveryRunner(
            ctx,
            env,
            self.options.base_dir,
            self.timeline,
            on_step=lambda step: self.event(
                "step_end", f"{step.name}: exit {step.exit_code}"
            ),
        )
        self.steps = runner.run(
            self.scenario.recovery, deadline_s=deadline, wait_for=wait_for
        )
        for spec, step in zip(self.scenario.recovery, self.steps, strict=False):
            if not step.killed_by_budget and spec.continue_on_error:
                continue
            if step.killed_by_budget:
                self.failed.append(
                    f"budget exceeded: step {step.name!r} was still "
                    f"running at {self.budget_s:g}s and was killed"
                )
            elif not step.ok:
                why = "timed out" if step.timed_out else f"exited {step.exit_code}"
                self.failed.append(f"recovery step {step.name!r} failed ({why})")
        self.event("response_end")

    def _step_done(self, step: StepResult) -> None:
        # The runner marks steps on the timeline itself; this only tells the user.
        if self.options.on_event:
            self.options.on_event("step_end", f"{step.name}: exit {step.exit_code}")

    def _verify(self, steady: SteadyState) -> None:
        assert self.t0 is not None and self.detected_s is not None
        deadline = self.t0 + self.budget_s
        grace = self.scenario.stable_polls * self.scenario.poll_interval_s + 2.0
        back = steady.stable_since(
            self.scenario.stable_polls,
            after_s=self.detected_s,
            until_s=deadline + grace,
        )
        if back is None or back - self.t0 > self.budget_s:
            self.failed.append(
                f"budget exceeded: the steady state was not back within "
                f"{self.budget_s:g}s of the fault"
            )
            self.event("not_recovered")
            return
        self.recovered_s = back
        self.timeline.mark("recovered", f"RTO {back - self.t0:.2f}s", t_s=back)
        if self.options.on_event:
            self.options.on_event("recovered", f"RTO {back - self.t0:.2f}s")

    def _check_data(
        self, built: list[faults.Fault[faults.FaultSpec]], workload: Workload
    ) -> None:
        assert self.t0 is not None
        self.event("check_data")
        workload.stop()
        if self.scenario.data.writes_preserved:
            check = workload.check_writes(self.t0)
            self.lost_writes = len(check.lost)
            self.rpo_s = check.rpo_s
            budget = self.scenario.data.rpo_budget_s
            # With no RPO budget, any lost acknowledged write fails the drill.
            ok = (
                not check.error
                and check.rpo_s <= budget
                and (budget > 0 or not check.lost)
            )
            detail = (
                f"{check.acked} acknowledged, {len(check.lost)} lost, "
                f"RPO {check.rpo_s:.2f}s (budget {budget:g}s)"
            )
            if check.error:
                detail += f"; could not read them back: {check.error}"
            self.checks.append(
                DataCheck(name="acknowledged writes preserved", ok=ok, detail=detail)
            )
            if not ok:
                self.failed.append(f"data lost: {detail}")
        for fault in built:
            for result in fault.security_checks():
                self.checks.append(result)
                if not result.ok:
                    self.failed.append(
                        f"security check failed: {result.name}: {result.detail}"
                    )

    # Clean-up: always, whatever happened above.

    def _clean_up(
        self,
        ctx: DrillContext,
        built: list[faults.Fault[faults.FaultSpec]],
        steady: SteadyState,
        workload: Workload,
    ) -> None:
        self.event("clean_up")
        workload.stop()
        steady.stop()
        for fault, record in reversed(
            list(zip(built, self.fault_records, strict=True))
        ):
            try:
                fault.revert()
                record.reverted_s = round(self.timeline.now(), 4)
            except Exception as exc:
                record.error = (
                    record.error + "; " if record.error else ""
                ) + f"revert failed: {_one_line(exc)}"
                log.error("reverting %s failed: %s", record.type, exc)
        try:
            ctx.proxy.reset()
        except DrillError as exc:
            log.error("resetting the fault proxy failed: %s", exc.line())
        _restore_stack(self.runtime, self.options.restore_timeout_s)
        ctx.proxy.close()
        self.event("done")

    # The result.

    def _result(self, steady: SteadyState, workload: Workload) -> DrillResult:
        t0 = self.t0
        detection_s = (
            None
            if t0 is None or self.detected_s is None
            else round(self.detected_s - t0, 4)
        )
        rto_s = (
            None
            if t0 is None or self.recovered_s is None
            else round(self.recovered_s - t0, 4)
        )
        outage_end = (
            self.recovered_s if self.recovered_s is not None else self.timeline.now()
        )
        downtime_s = 0.0 if t0 is None or self.detected_s is None else outage_end - t0
        loss = impact_usd(downtime_s, self.scenario.loss_usd_per_min)
        failures = self._failures(steady, workload, outage_end)
        outcome = (
            Outcome.INVALID
            if self.invalid
            else (Outcome.FAILED if self.failed else Outcome.PASSED)
        )
        return DrillResult(
            incident_id=self.incident_id,
            scenario=self.scenario.name,
            description=self.scenario.description,
            outcome=outcome,
            reasons=self.invalid + self.failed,
            started_at=self.timeline.started_at,
            seed=self.seed,
            runtime=self.runtime.name,
            budget_s=self.budget_s,
            detection_s=detection_s,
            rto_s=rto_s,
            rpo_s=None if self.rpo_s is None else round(self.rpo_s, 4),
            lost_writes=self.lost_writes,
            severity_expected=self.scenario.severity,
            severity_observed=None
            if t0 is None
            else classify(failures, chains_total=len(stack.CHAINS), loss_usd=loss),
            impact_usd=loss,
            loss_usd_per_min=self.scenario.loss_usd_per_min,
            failed_probes=sorted(
                {name for _, name in self._failed_probes(steady, outage_end)}
            ),
            faults=self.fault_records,
            steps=self.steps,
            data_checks=self.checks,
            timeline=self.timeline.events(),
            probes=steady.samples(),
            workload=workload.samples(),
            scenario_source=self.scenario.model_dump(mode="json"),
            report_dir=str(self.work_dir),
        )

    def _failed_probes(
        self, steady: SteadyState, outage_end: float
    ) -> list[tuple[probes.Probe[probes.ProbeSpec], str]]:
        if self.t0 is None:
            return []
        by_name = {p.name: p for p in steady.probes}
        seen: list[tuple[probes.Probe[probes.ProbeSpec], str]] = []
        for poll in steady.polls():
            if self.t0 <= poll.ended_s and poll.started_s <= outage_end:
                seen.extend((by_name[name], name) for name in poll.failed())
        return seen

    def _failures(
        self, steady: SteadyState, workload: Workload, outage_end: float
    ) -> list[tuple[Impact, str]]:
        found = {
            (probe.impact, probe.subject)
            for probe, _ in self._failed_probes(steady, outage_end)
        }
        if self.t0 is not None and self.detected_s is not None:
            rate = workload.success_rate(self.t0, outage_end)
            if rate is not None and rate < LOW_SUCCESS_RATE:
                found.add((Impact.LOW_SUCCESS_RATE, ""))
        return sorted(found)

    def _remember_secrets(self) -> None:
        with contextlib.suppress(DrillError):
            self.secrets_seen.update(self.runtime.secrets().values())


def _restore_stack(runtime: Runtime, timeout_s: float) -> None:
    """Bring every service back to running, so the next drill starts healthy."""
    for svc in stack.SERVICES:
        try:
            health = runtime.health(svc.name)
            if health.state == "paused":
                runtime.resume(svc.name)
            elif health.state in ("stopped", "exited"):
                log.info("clean-up: starting %s (%s)", svc.name, health.state)
                runtime.start(svc.name, wait=False)
        except DrillError as exc:
            log.error("clean-up could not restore %s: %s", svc.name, exc.line())
    deadline = time.monotonic() + timeout_s
    for svc in stack.SERVICES:
        try:
            runtime.wait_ready(
                svc.name, timeout_s=max(1.0, deadline - time.monotonic())
            )
        except DrillError as exc:
            log.error("clean-up: %s", exc.line())


def _incident_id(started: datetime, scenario: str, reports_dir: Path) -> str:
    base = f"INC_{started.astimezone(UTC):%Y%m%d_%H%M%S}_{scenario}"
    candidate, n = base, 2
    while (reports_dir / candidate).exists():
        candidate, n = f"{base}_{n}", n + 1
    return candidate


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, DrillError):
        return exc.line()
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
