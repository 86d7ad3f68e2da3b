"""Benchmark: the drill engine's detection time, its overhead, the quarterly drill.

Targets (issue #3), each printed as measured value, ratio to target, PASS/MISS:
- detection time at most one poll interval plus 100 ms, for a killed process
  and for a proxy outage;
- harness overhead per drill (wall time minus the time the scenario itself
  waits: the baseline window, the outage until recovery, the stable polls)
  of 2 s or less;
- the four quarterly scenarios with their runbooks in 90 s or less of wall time.

Runs on its own stack on free ports; bounded (a few minutes).

    .venv/bin/python bench/bench_engine.py [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import scenario as scenarios
from harness.engine import DrillOptions, run_drill
from harness.result import DrillResult, Outcome
from harness.runtime.local import LocalRuntime
from harness.runtime.plan import PlanOptions
from harness.runtime.state import StateStore

POLL_S = 0.25
DETECT_TARGET_S = POLL_S + 0.1
OVERHEAD_TARGET_S = 2.0
QUARTERLY_TARGET_S = 90.0

KILLED: dict[str, Any] = {
    "name": "bench_killed",
    "description": "kill one chain node; detection of a dead process",
    "severity": "P1",
    "faults": [{"type": "kill_service", "service": "erigon-base"}],
    "probes": [{"type": "chain_health", "chain": "base"}],
    "recovery": [{"run": "systemctl start erigon@base", "timeout_s": 60}],
    "data": {"writes_preserved": False},
}
OUTAGE: dict[str, Any] = {
    "name": "bench_outage",
    "description": "disable one proxy route; detection of a network outage",
    "severity": "P1",
    "faults": [{"type": "outage", "edges": ["erigon-base"]}],
    "probes": [{"type": "chain_health", "chain": "base"}],
    "recovery": [{"action": "reset_proxy", "timeout_s": 30}],
    "data": {"writes_preserved": False},
}


def verdict(value: float, target: float) -> str:
    outcome = "PASS" if value <= target else "MISS"
    return f"ratio {value / target:.2f} of target -> {outcome}"


def timed(
    runtime: LocalRuntime, data: dict[str, Any], reports: Path
) -> tuple[DrillResult, float]:
    scenario = scenarios.from_data(data)
    started = time.perf_counter()
    result = run_drill(scenario, runtime, DrillOptions(reports_dir=reports, seed=1))
    return result, time.perf_counter() - started


def waited_s(result: DrillResult) -> float:
    """The time the scenario itself asks to wait: baseline, outage, stable polls."""
    source = result.scenario_source
    baseline = float(str(source["baseline_s"]))
    stable = int(str(source["stable_polls"])) * float(str(source["poll_interval_s"]))
    return baseline + (result.rto_s or 0.0) + stable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    state_dir = Path(tempfile.mkdtemp(prefix="drill-bench-", dir="/tmp"))
    state_dir.chmod(0o711)
    reports = state_dir / "reports"
    runtime = LocalRuntime(StateStore(state_dir), PlanOptions(ports="auto"))
    runtime.up()
    try:
        for label, data in (("killed process", KILLED), ("proxy outage", OUTAGE)):
            detections, overheads = [], []
            for _ in range(args.runs):
                result, wall = timed(runtime, data, reports)
                if result.outcome is not Outcome.PASSED or result.detection_s is None:
                    raise SystemExit(
                        f"{label} drill {result.outcome}: {result.reasons}"
                    )
                detections.append(result.detection_s)
                overheads.append(wall - waited_s(result))
            worst = max(detections)
            print(
                f"detection, {label}: median {statistics.median(detections):.3f}s, "
                f"worst {worst:.3f}s of {args.runs} vs {DETECT_TARGET_S:.2f}s: "
                f"{verdict(worst, DETECT_TARGET_S)}"
            )
            overhead = statistics.median(overheads)
            print(
                f"harness overhead per drill, {label}: median {overhead:.2f}s "
                f"(max {max(overheads):.2f}s) vs {OVERHEAD_TARGET_S:.1f}s: "
                f"{verdict(overhead, OVERHEAD_TARGET_S)}"
            )

        started = time.perf_counter()
        for name in scenarios.QUARTERLY:
            result, wall = timed(
                runtime, scenarios.load(name).model_dump(mode="json"), reports
            )
            print(
                f"  {name}: {result.outcome.value} in {wall:.1f}s (RTO {result.rto_s}s)"
            )
        total = time.perf_counter() - started
        print(
            f"quarterly four, wall time: {total:.1f}s vs {QUARTERLY_TARGET_S:.0f}s: "
            f"{verdict(total, QUARTERLY_TARGET_S)}"
        )
    finally:
        runtime.down()
        shutil.rmtree(state_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
