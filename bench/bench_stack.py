"""Benchmark: the local stack's cold start time and memory, against the targets.

Targets (issue #2): the whole local stack ready in 3 s or less from cold, and
using 600 MB RSS or less. Prints each measurement, its ratio to the target,
and PASS or MISS. Bounded: a few start/stop cycles, about a minute in all.

    .venv/bin/python bench/bench_stack.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

READY_TARGET_S = 3.0
RSS_TARGET_MB = 600.0


def drill(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A private cache: the first run starts with no Postgres cluster template.
    env = {
        **os.environ,
        "DRILL_STATE_DIR": str(state_dir),
        "XDG_CACHE_HOME": str(state_dir / "cache"),
    }
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def marked(run_dir: Path) -> list[int]:
    """Every process of the stack: those carrying the run's marker and all their
    descendants (Postgres overwrites its children's environment with their
    process titles, so they carry no readable marker)."""
    marker = f"DRILL_RUN_DIR={run_dir}".encode()
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    found = set()
    for pid in pids:
        try:
            if marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                found.add(pid)
        except OSError:
            continue
    parents = {pid: _parent(pid) for pid in pids}
    grew = True
    while grew:
        children = {pid for pid, ppid in parents.items() if ppid in found}
        grew = not children <= found
        found |= children
    return sorted(found)


def memory_mb(pids: list[int]) -> tuple[float, float]:
    """Sum of RSS and of PSS (shared pages split fairly) in MB."""
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            continue
    return rss / 1024, pss / 1024


def one_run(state_dir: Path) -> tuple[float, float, float, int]:
    started = time.perf_counter()
    up = drill(state_dir, "up", "--ports", "auto", "--quiet")
    elapsed = time.perf_counter() - started
    if up.returncode != 0:
        sys.exit(f"drill up failed ({up.returncode}): {up.stderr.strip()}")
    time.sleep(2.0)  # let the strategy engine settle into its steady state
    pids = marked(state_dir / "run")
    rss, pss = memory_mb(pids)
    drill(state_dir, "down")
    return elapsed, rss, pss, len(pids)


def verdict(value: float, target: float) -> str:
    outcome = "PASS" if value <= target else "MISS"
    return f"ratio {value / target:.2f} of target -> {outcome}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    state_dir = Path(tempfile.mkdtemp(prefix="drill-bench-", dir="/tmp"))
    state_dir.chmod(0o711)
    times, rsss, psss = [], [], []
    try:
        for n in range(args.runs):
            elapsed, rss, pss, count = one_run(state_dir)
            times.append(elapsed)
            rsss.append(rss)
            psss.append(pss)
            print(
                f"run {n + 1}: ready in {elapsed:.2f} s; {count} processes, "
                f"RSS {rss:.0f} MB, PSS {pss:.0f} MB"
            )
    finally:
        drill(state_dir, "down", "--force")
        shutil.rmtree(state_dir, ignore_errors=True)

    print(
        f"stack ready from cold (no cluster template yet): {times[0]:.2f} s vs "
        f"{READY_TARGET_S:.1f} s: {verdict(times[0], READY_TARGET_S)}"
    )
    ready = statistics.median(times)
    print(
        f"stack ready, median of {len(times)}: {ready:.2f} s "
        f"(min {min(times):.2f}, max {max(times):.2f}) vs {READY_TARGET_S:.1f} s: "
        f"{verdict(ready, READY_TARGET_S)}"
    )
    rss = max(rsss)
    print(
        f"stack memory, worst RSS sum: {rss:.0f} MB (PSS {max(psss):.0f} MB) vs "
        f"{RSS_TARGET_MB:.0f} MB: {verdict(rss, RSS_TARGET_MB)}"
    )


if __name__ == "__main__":
    main()
