"""A drill's evidence bundle, collected from the live stack in the runbook's layout.

`<incident dir>/evidence/` holds system_logs/, application_logs/,
performance_metrics/, network_diagnostics/, security_analysis/ and
incident_summary.json (with a manifest of every file, its size and sha256).
The engine calls `at_detection` right after detection and `at_end` after the
data checks, before clean-up. Every step is best-effort and bounded: what
cannot be collected within the deadline is recorded in the summary's
`errors`, never raised. Every secret value is redacted from every file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import platform
import shutil
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import asdict
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from harness.context import DrillContext
from harness.proxy.client import ProxyClient, ProxyInfo
from harness.reports.journal import redact
from harness.result import DrillResult, ProbeSample, WorkloadSample
from harness.runtime.base import Health
from harness.stack import SERVICES

log = logging.getLogger(__name__)

T = TypeVar("T")

EVIDENCE_DIR = "evidence"
SUMMARY_NAME = "incident_summary.json"
SYSTEM_LOGS = "system_logs"
APPLICATION_LOGS = "application_logs"
PERFORMANCE_METRICS = "performance_metrics"
NETWORK_DIAGNOSTICS = "network_diagnostics"
SECURITY_ANALYSIS = "security_analysis"
LAYOUT = (
    SYSTEM_LOGS,
    APPLICATION_LOGS,
    PERFORMANCE_METRICS,
    NETWORK_DIAGNOSTICS,
    SECURITY_ANALYSIS,
)
"""The runbook's evidence directories, in its order."""

PROXY_LOG_NAME = "fault-proxy"
"""The runtime's log name of the fault proxy."""

LOG_TAIL_BYTES = 2 * 1024 * 1024
"""At most this much of each service's log is kept (its newest lines)."""

DEFAULT_TIMEOUT_S = 2.0
"""Each HTTP call (the proxy API) gives up after this long."""

DEFAULT_DEADLINE_S = 3.0
"""Each phase waits at most this long for everything it asks the stack."""

AUDIT_LIMIT = 1000
"""Audit records asked of the MEV API (its maximum page)."""

CREDENTIAL_WORDS = ("key", "password", "attacker", "role", "credential", "secret")
"""A data check whose name holds one of these is a credential check."""

_MAX_WORKERS = 16


class EvidenceCollector:
    """Collects one drill's evidence under `<directory>/evidence/`.

    `directory` is the drill's incident directory. `timeout_s` (default 2 s)
    bounds each HTTP call; `deadline_s` (default 3 s) bounds how long a phase
    waits for the stack in total (health checks, logs, proxy and audit run in
    parallel). Each service's log keeps its newest whole lines within
    `log_tail_bytes` (default 2 MiB). Secrets are re-read at each phase and
    every value ever seen is redacted, since recovery may rotate them.
    """

    def __init__(
        self,
        ctx: DrillContext,
        directory: Path,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        deadline_s: float = DEFAULT_DEADLINE_S,
        log_tail_bytes: int = LOG_TAIL_BYTES,
    ) -> None:
        self.ctx = ctx
        self.directory = directory / EVIDENCE_DIR
        self.timeout_s = timeout_s
        self.deadline_s = deadline_s
        self.log_tail_bytes = log_tail_bytes
        self.errors: list[str] = []
        self.collected_at: dict[str, str] = {}
        self.collection_s: dict[str, float] = {}
        self._secrets: set[str] = set()
        self._remember_secrets()

    # The engine's two calls.

    def at_detection(self) -> None:
        """Snapshot the fault proxy and each service's health; never raises."""
        started = time.monotonic()
        try:
            self._remember_secrets()
            self._make_layout()
            batch = _Batch(self.deadline_s)
            proxies = batch.submit(self._proxies)
            health = {
                s.name: batch.submit(partial(self._health, s.name)) for s in SERVICES
            }
            batch.wait()
            self._write_proxies("proxies_at_detection.json", proxies)
            self._write_health("services_at_detection.json", health)
        except Exception as exc:  # the drill must go on whatever happens here
            self._error("at_detection", exc)
        self._finish_phase("at_detection", started)

    def at_end(self, result: DrillResult) -> Path:
        """Write the whole bundle and its summary; return the evidence directory."""
        started = time.monotonic()
        try:
            self._remember_secrets()
            self._make_layout()
            self._collect_live(result)
            self._write_metrics(result)
            self._write_security(result)
            self._write_system(result)
        except Exception as exc:  # the drill must go on whatever happens here
            self._error("at_end", exc)
        self._finish_phase("at_end", started)
        try:
            self._write_summary(result)
        except Exception as exc:
            log.error("evidence summary not written in %s: %s", self.directory, exc)
        log.info(
            "evidence of %s in %s (%d error(s))",
            result.incident_id,
            self.directory,
            len(self.errors),
        )
        return self.directory

    # What needs the live stack.

    def _collect_live(self, result: DrillResult) -> None:
        batch = _Batch(self.deadline_s)
        names = [s.name for s in SERVICES] + [PROXY_LOG_NAME]
        logs = {name: batch.submit(partial(self._logs, name)) for name in names}
        proxies = batch.submit(self._proxies)
        audit = batch.submit(self._audit)
        health = {s.name: batch.submit(partial(self._health, s.name)) for s in SERVICES}
        batch.wait()

        for name, future in logs.items():
            path = f"{APPLICATION_LOGS}/{name}.log"
            text = self._outcome(future, path)
            if text is not None:
                self._write_text(path, _tail(text, self.log_tail_bytes))
        self._write_proxies("proxies_at_end.json", proxies)
        self._write_health("services_at_end.json", health)
        records = self._outcome(audit, f"{SECURITY_ANALYSIS}/audit.jsonl")
        if records is not None:
            lines = [json.dumps(r, sort_keys=True) for r in reversed(records)]
            self._write_text(f"{SECURITY_ANALYSIS}/audit.jsonl", _lines(lines))

    def _proxies(self) -> dict[str, ProxyInfo]:
        with ProxyClient(self.ctx.proxy.url, timeout_s=self.timeout_s) as client:
            return client.list()

    def _health(self, service: str) -> Health:
        return self.ctx.runtime.health(service)

    def _logs(self, service: str) -> str:
        return self.ctx.runtime.logs(service)

    def _audit(self) -> list[dict[str, Any]]:
        """The MEV API's newest audit records, newest first, from the runtime.

        Read where the API keeps them, so they are there when it is down.
        """
        return self.ctx.runtime.audit_records(AUDIT_LIMIT)

    # What the result holds.

    def _write_metrics(self, result: DrillResult) -> None:
        self._write_text(
            f"{PERFORMANCE_METRICS}/probes.csv", _probes_csv(result.probes)
        )
        self._write_text(
            f"{PERFORMANCE_METRICS}/workload.csv", _workload_csv(result.workload)
        )
        self._write_json(
            f"{PERFORMANCE_METRICS}/summary.json",
            {
                "probes": probe_summary(result.probes),
                "workload": workload_summary(result.workload),
            },
        )

    def _write_security(self, result: DrillResult) -> None:
        checked = [
            check.model_dump(mode="json")
            for check in result.data_checks
            if any(word in check.name.lower() for word in CREDENTIAL_WORDS)
        ]
        self._write_json(f"{SECURITY_ANALYSIS}/credentials_checked.json", checked)
        faults = [
            {
                "type": fault.type,
                "description": fault.description,
                "evidence": fault.evidence,
                "error": fault.error,
            }
            for fault in result.faults
            if fault.family == "security"
        ]
        self._write_json(f"{SECURITY_ANALYSIS}/security_faults.json", faults)

    def _write_system(self, result: DrillResult) -> None:
        self._write_json(f"{SYSTEM_LOGS}/host.json", self._host_facts())
        events = [event.model_dump(mode="json") for event in result.timeline]
        self._write_json(f"{SYSTEM_LOGS}/timeline.json", events)
        lines = [
            f"{e.t_s:9.3f}s  {e.at.isoformat()}  {e.kind}  {e.detail}".rstrip()
            for e in result.timeline
        ]
        self._write_text(f"{SYSTEM_LOGS}/timeline.log", _lines(lines))

    def _host_facts(self) -> dict[str, Any]:
        uname = platform.uname()
        facts: dict[str, Any] = {
            "runtime": getattr(
                self.ctx.runtime, "name", type(self.ctx.runtime).__name__
            ),
            "uname": {
                "system": uname.system,
                "node": uname.node,
                "release": uname.release,
                "version": uname.version,
                "machine": uname.machine,
            },
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
        }
        for key, read in (
            ("uptime_s", _uptime_s),
            ("load_average", os.getloadavg),
            ("memory_kib", _meminfo_kib),
            ("reports_disk", self._disk_usage),
        ):
            try:
                facts[key] = read()
            except Exception as exc:
                self._error(f"{SYSTEM_LOGS}/host.json {key}", exc)
        return facts

    def _disk_usage(self) -> dict[str, Any]:
        reports_dir = self.directory.parent.parent
        usage = shutil.disk_usage(reports_dir)
        return {
            "path": str(reports_dir),
            "total_bytes": usage.total,
            "used_bytes": usage.used,
            "free_bytes": usage.free,
            "incident_bytes": _tree_bytes(self.directory.parent),
        }

    def _write_summary(self, result: DrillResult) -> None:
        manifest = [
            {
                "path": path.relative_to(self.directory).as_posix(),
                "size_bytes": path.stat().st_size,
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            }
            for path in sorted(self.directory.rglob("*"))
            if path.is_file() and path.name != SUMMARY_NAME
        ]
        summary = {
            "incident_id": result.incident_id,
            "scenario": result.scenario,
            "description": result.description,
            "outcome": result.outcome.value,
            "reasons": result.reasons,
            "severity_expected": result.severity_expected,
            "severity_observed": result.severity_observed,
            "detection_s": result.detection_s,
            "rto_s": result.rto_s,
            "rpo_s": result.rpo_s,
            "lost_writes": result.lost_writes,
            "budget_s": result.budget_s,
            "impact_usd": result.impact_usd,
            "runtime": result.runtime,
            "seed": result.seed,
            "started_at": result.started_at.isoformat(),
            "faults": [
                fault.model_dump(mode="json", exclude={"evidence"})
                for fault in result.faults
            ],
            "collected_at": self.collected_at,
            "collection_s": self.collection_s,
            "errors": self.errors,
            "manifest": manifest,
        }
        self._write_json(SUMMARY_NAME, summary)

    # Writing, redaction and errors.

    def _remember_secrets(self) -> None:
        try:
            self._secrets.update(self.ctx.secrets().values())
        except Exception as exc:
            self._error("secrets", exc)

    def _make_layout(self) -> None:
        for name in LAYOUT:
            (self.directory / name).mkdir(parents=True, exist_ok=True)

    def _write_text(self, relative: str, text: str) -> None:
        """Write `text`, redacted, to `relative`; an OSError becomes an error."""
        path = self.directory / relative
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(redact(text, self._secrets))
        except OSError as exc:
            self._error(relative, exc)

    def _write_json(self, relative: str, value: object) -> None:
        self._write_text(relative, json.dumps(value, indent=2, default=str) + "\n")

    def _write_proxies(self, name: str, future: Future[dict[str, ProxyInfo]]) -> None:
        relative = f"{NETWORK_DIAGNOSTICS}/{name}"
        proxies = self._outcome(future, relative)
        if proxies is not None:
            snapshot = {
                n: p.model_dump(mode="json") for n, p in sorted(proxies.items())
            }
            self._write_json(relative, snapshot)

    def _write_health(self, name: str, futures: dict[str, Future[Health]]) -> None:
        snapshot: dict[str, object] = {}
        for service, future in futures.items():
            health = self._outcome(future, f"{SYSTEM_LOGS}/{name} {service}")
            if health is None:
                snapshot[service] = {"service": service, "state": "unknown"}
            else:
                snapshot[service] = {**asdict(health), "running": health.running}
        self._write_json(f"{SYSTEM_LOGS}/{name}", snapshot)

    def _outcome(self, future: Future[T], what: str) -> T | None:
        """The future's value, or None with an error when it failed or is late."""
        if not future.done():
            self.errors.append(
                redact(f"{what}: no answer within {self.deadline_s:g}s", self._secrets)
            )
            return None
        exc = future.exception()
        if exc is not None:
            self._error(what, exc)
            return None
        return future.result()

    def _error(self, what: str, exc: BaseException) -> None:
        message = redact(f"{what}: {type(exc).__name__}: {exc}", self._secrets)
        log.warning("evidence: %s", message)
        self.errors.append(message)

    def _finish_phase(self, phase: str, started: float) -> None:
        self.collected_at[phase] = datetime.now(UTC).isoformat()
        self.collection_s[phase] = round(time.monotonic() - started, 3)


class _Batch:
    """Calls run in parallel; `wait` returns by the deadline, done or not."""

    def __init__(self, deadline_s: float) -> None:
        self.deadline_s = deadline_s
        self._pool = ThreadPoolExecutor(_MAX_WORKERS, thread_name_prefix="evidence")
        self._futures: list[Future[Any]] = []

    def submit(self, call: Callable[[], T]) -> Future[T]:
        future = self._pool.submit(call)
        self._futures.append(future)
        return future

    def wait(self) -> None:
        wait(self._futures, timeout=self.deadline_s)
        # A call past the deadline is left to finish on its own (each has
        # its own timeout); its result is then ignored.
        self._pool.shutdown(wait=False, cancel_futures=True)


# Performance metrics.


def probe_summary(samples: Iterable[ProbeSample]) -> dict[str, dict[str, Any]]:
    """Per probe: polls, failures and pass rate (0..1, None with no polls)."""
    summary: dict[str, dict[str, Any]] = {}
    for sample in samples:
        entry = summary.setdefault(sample.probe, {"polls": 0, "failures": 0})
        entry["polls"] += 1
        entry["failures"] += 0 if sample.ok else 1
    for entry in summary.values():
        entry["pass_rate"] = round(1 - entry["failures"] / entry["polls"], 4)
    return summary


def workload_summary(samples: Iterable[WorkloadSample]) -> dict[str, dict[str, Any]]:
    """Per workload op: requests, successes, success rate (0..1) and latency
    p50/p95 in milliseconds over every request of the op (linear interpolation)."""
    by_op: dict[str, list[WorkloadSample]] = {}
    for sample in samples:
        by_op.setdefault(sample.op, []).append(sample)
    summary: dict[str, dict[str, Any]] = {}
    for op, group in sorted(by_op.items()):
        latencies_ms = sorted(s.latency_ms for s in group)
        ok = sum(1 for s in group if s.ok)
        summary[op] = {
            "requests": len(group),
            "ok": ok,
            "success_rate": round(ok / len(group), 4),
            "latency_p50_ms": round(percentile(latencies_ms, 0.50), 3),
            "latency_p95_ms": round(percentile(latencies_ms, 0.95), 3),
        }
    return summary


def percentile(sorted_values: list[float], q: float) -> float:
    """The `q` quantile (0..1) of ascending, non-empty values, linearly interpolated."""
    position = (len(sorted_values) - 1) * q
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def _probes_csv(samples: Iterable[ProbeSample]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["t_s", "probe", "ok", "value", "detail"])
    for s in samples:
        writer.writerow(
            [s.t_s, s.probe, s.ok, "" if s.value is None else s.value, s.detail]
        )
    return out.getvalue()


def _workload_csv(samples: Iterable[WorkloadSample]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["t_s", "client", "op", "ok", "latency_ms", "detail"])
    for s in samples:
        writer.writerow([s.t_s, s.client, s.op, s.ok, s.latency_ms, s.detail])
    return out.getvalue()


# Host facts and small helpers.


def _uptime_s() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


def _meminfo_kib() -> dict[str, int]:
    wanted = ("MemTotal", "MemFree", "MemAvailable", "SwapTotal", "SwapFree")
    facts: dict[str, int] = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in wanted:
            facts[key] = int(rest.split()[0])
    return facts


def _tree_bytes(root: Path) -> int:
    total = 0
    for path in root.rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:
            continue
    return total


def _tail(text: str, max_bytes: int) -> str:
    """The newest whole lines of `text` that fit in `max_bytes` (UTF-8)."""
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    cut = data[-max_bytes:]
    newline = cut.find(b"\n")
    return cut[newline + 1 :].decode(errors="replace")


def _lines(lines: Iterable[str]) -> str:
    text = "\n".join(lines)
    return text + "\n" if text else ""
