"""The evidence bundle, collected from the shared stack: layout, manifest, redaction."""

from __future__ import annotations

import csv
import hashlib
import json
import random
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness import scenario as scenarios
from harness.context import DrillContext
from harness.engine import DrillOptions, run_drill
from harness.evidence import LAYOUT, SUMMARY_NAME, EvidenceCollector
from harness.proxy.client import ProxyClient
from harness.result import (
    DataCheck,
    DrillResult,
    FaultRecord,
    Outcome,
    ProbeSample,
    StepResult,
    WorkloadSample,
)
from harness.severity import Severity
from harness.stack import SERVICES
from harness.timeline import Event

pytestmark = pytest.mark.timeout(60)

PHASE_LIMIT_S = 6.0
"""A phase must finish within this, whatever the stack does (deadline 3 s)."""


WORKLOAD = (  # t_s, client, op, ok, latency_ms
    (0.1, "s1", "opportunities", True, 10.0),
    (0.2, "s1", "opportunities", True, 40.0),
    (0.3, "s2", "opportunities", False, 30.0),
    (0.4, "s2", "opportunities", True, 20.0),
    (0.5, "s2", "eth_blockNumber", True, 5.0),
)


def make_result(secret: str = "") -> DrillResult:
    """A security drill's result; `secret` is planted in a step's output."""
    at = datetime(2026, 12, 3, 16, 40, 2, tzinfo=UTC)
    return DrillResult(
        incident_id="INC_20261203_164002_security_breach",
        scenario="security_breach",
        description="the admin key leaks",
        outcome=Outcome.PASSED,
        started_at=at,
        seed=7,
        runtime="local",
        budget_s=300,
        detection_s=0.4,
        rto_s=6.5,
        rpo_s=0.0,
        severity_expected=Severity.P1,
        severity_observed=Severity.P1,
        impact_usd=54.17,
        loss_usd_per_min=500,
        faults=[
            FaultRecord(
                type="leaked_api_key",
                family="security",
                description="leaked the MEV API admin key",
                injected_s=2.2,
                reverted_s=9.2,
                evidence={"key_id": "k1", "attacker_successes": "1"},
            ),
            FaultRecord(type="latency", family="network", description="slow relay"),
        ],
        steps=[
            StepResult(
                name="rotate",
                kind="run",
                command="drill secrets rotate api_key",
                started_s=3.0,
                duration_s=1.0,
                exit_code=0,
                output=f"new key {secret}",
            )
        ],
        data_checks=[
            DataCheck(name="acknowledged writes preserved", ok=True),
            DataCheck(name="leaked API key rejected", ok=True, detail="HTTP 401"),
            DataCheck(name="attacker out", ok=True),
        ],
        timeline=[
            Event(t_s=0.1, at=at, kind="drill_start"),
            Event(t_s=2.6, at=at, kind="detected", detail="api_keys_known failed"),
        ],
        probes=[
            ProbeSample(t_s=0.2, probe="mev_api_health", ok=True, detail="healthy"),
            ProbeSample(t_s=2.6, probe="mev_api_health", ok=False, detail="a, b"),
            ProbeSample(t_s=2.6, probe="sql_select1", ok=True, value=1.5),
        ],
        workload=[
            WorkloadSample(t_s=t, client=c, op=op, ok=ok, latency_ms=ms)
            for t, c, op, ok, ms in WORKLOAD
        ],
    )


def load_summary(evidence: Path) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads((evidence / SUMMARY_NAME).read_text())
    return summary


def timed(call: Any, *args: Any) -> tuple[Any, float]:
    started = time.monotonic()
    value = call(*args)
    return value, time.monotonic() - started


def test_at_detection_snapshot_shows_toxic_and_disabled_proxy_when_they_are_in_place(
    ctx, tmp_path
):
    toxic_proxy, disabled_proxy = "relay-b", "mev-artemis_to_erigon-polygon"
    ctx.proxy.add_toxic(
        toxic_proxy, "latency", name="evidence_latency", attributes={"latency": 5}
    )
    ctx.proxy.update(disabled_proxy, enabled=False)
    try:
        collector = EvidenceCollector(ctx, tmp_path)
        _, elapsed_s = timed(collector.at_detection)
    finally:
        ctx.proxy.remove_toxic(toxic_proxy, "evidence_latency")
        ctx.proxy.update(disabled_proxy, enabled=True)

    evidence = tmp_path / "evidence"
    proxies = json.loads(
        (evidence / "network_diagnostics/proxies_at_detection.json").read_text()
    )
    assert [t["name"] for t in proxies[toxic_proxy]["toxics"]] == ["evidence_latency"]
    assert proxies[toxic_proxy]["toxics"][0]["attributes"]["latency"] == 5
    assert proxies[disabled_proxy]["enabled"] is False
    assert proxies["mev-api"]["enabled"] is True and proxies["mev-api"]["toxics"] == []
    services = json.loads(
        (evidence / "system_logs/services_at_detection.json").read_text()
    )
    assert set(services) == {s.name for s in SERVICES}
    assert all(h["state"] == "running" for h in services.values()), services
    assert collector.errors == []
    assert elapsed_s < PHASE_LIMIT_S, f"at_detection took {elapsed_s:.2f}s"


def test_at_end_writes_the_runbook_layout_with_a_matching_manifest_when_stack_is_up(
    ctx, stack, tmp_path
):
    # One authenticated request, so that the audit log has a record of ours.
    key = stack.secrets().api_key
    answer = httpx.get(
        f"{stack.endpoints().mev_api}/api/v1/opportunities",
        headers={"X-API-Key": key},
        timeout=5,
    )
    assert answer.status_code == 200
    collector = EvidenceCollector(ctx, tmp_path)
    collector.at_detection()
    result = make_result()
    evidence, elapsed_s = timed(collector.at_end, result)

    assert evidence == tmp_path / "evidence"
    for name in LAYOUT:
        assert any((evidence / name).iterdir()), f"{name}/ is empty"
    summary = load_summary(evidence)
    assert summary["errors"] == []
    files = {
        p.relative_to(evidence).as_posix(): p
        for p in evidence.rglob("*")
        if p.is_file() and p.name != SUMMARY_NAME
    }
    manifest = {entry["path"]: entry for entry in summary["manifest"]}
    assert set(manifest) == set(files)
    for path, entry in manifest.items():
        data = files[path].read_bytes()
        assert entry["size_bytes"] == len(data), path
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), path
    assert {f"application_logs/{s.name}.log" for s in SERVICES} < set(files)
    assert "application_logs/fault-proxy.log" in files
    assert summary["incident_id"] == result.incident_id
    assert (summary["outcome"], summary["rto_s"], summary["rpo_s"]) == (
        "PASSED",
        6.5,
        0.0,
    )
    assert summary["severity_observed"] == "P1"
    assert summary["started_at"] == "2026-12-03T16:40:02+00:00"
    assert elapsed_s < PHASE_LIMIT_S, f"at_end took {elapsed_s:.2f}s"


def test_at_end_metrics_parse_and_summarise_as_worked_out_by_hand_when_given_samples(
    ctx, tmp_path
):
    evidence = EvidenceCollector(ctx, tmp_path).at_end(make_result())
    metrics = evidence / "performance_metrics"

    with (metrics / "probes.csv").open(newline="") as f:
        probes = list(csv.DictReader(f))
    with (metrics / "workload.csv").open(newline="") as f:
        workload = list(csv.DictReader(f))
    assert len(probes) == 3 and len(workload) == 5
    assert probes[1] == {
        "t_s": "2.6",
        "probe": "mev_api_health",
        "ok": "False",
        "value": "",
        "detail": "a, b",
    }
    assert workload[2]["latency_ms"] == "30.0" and workload[2]["ok"] == "False"

    summary = json.loads((metrics / "summary.json").read_text())
    # opportunities: 3 of 4 ok; latencies 10, 20, 30, 40 -> p50 25, p95 38.5.
    assert summary["workload"]["opportunities"] == {
        "requests": 4,
        "ok": 3,
        "success_rate": 0.75,
        "latency_p50_ms": 25.0,
        "latency_p95_ms": 38.5,
    }
    assert summary["workload"]["eth_blockNumber"]["latency_p95_ms"] == 5.0
    assert summary["probes"]["mev_api_health"] == {
        "polls": 2,
        "failures": 1,
        "pass_rate": 0.5,
    }

    security = evidence / "security_analysis"
    checked = json.loads((security / "credentials_checked.json").read_text())
    assert [c["name"] for c in checked] == ["leaked API key rejected", "attacker out"]
    faults = json.loads((security / "security_faults.json").read_text())
    assert [f["type"] for f in faults] == ["leaked_api_key"]
    assert faults[0]["evidence"]["key_id"] == "k1"
    host = json.loads((evidence / "system_logs/host.json").read_text())
    assert host["runtime"] == "local"
    assert host["memory_kib"]["MemTotal"] > 0
    timeline = json.loads((evidence / "system_logs/timeline.json").read_text())
    assert [e["kind"] for e in timeline] == ["drill_start", "detected"]


def test_evidence_redacts_every_secret_when_a_log_line_and_the_result_hold_one(
    ctx, stack, tmp_path
):
    secrets = stack.secrets()
    planted = f"evidence-{secrets.api_key}"
    # The fault proxy logs each proxy it starts by name: a real log line.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        upstream = f"127.0.0.1:{sock.getsockname()[1]}"
    ctx.proxy.create(planted, upstream)
    try:
        assert planted in stack.logs("fault-proxy"), "the plant did not reach the log"
        evidence = EvidenceCollector(ctx, tmp_path).at_end(
            make_result(secret=secrets.db_password)
        )
    finally:
        ctx.proxy.delete(planted)

    proxy_log = (evidence / "application_logs/fault-proxy.log").read_text()
    assert "started proxy evidence-***" in proxy_log
    proxies = (evidence / "network_diagnostics/proxies_at_end.json").read_text()
    assert '"evidence-***"' in proxies
    for path in evidence.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for value in secrets.values():
                assert value.encode() not in data, f"a secret is in {path}"


def test_at_end_keeps_the_audit_log_when_the_mev_api_is_stopped(ctx, stack, tmp_path):
    # A request of ours that only the audit file can still tell about.
    answer = httpx.get(
        f"{stack.endpoints().mev_api}/api/v1/opportunities?limit=3",
        headers={"X-API-Key": stack.secrets().api_key},
        timeout=5,
    )
    assert answer.status_code == 200
    stack.stop("mev-api")
    try:
        evidence, elapsed_s = timed(
            EvidenceCollector(ctx, tmp_path).at_end, make_result()
        )
    finally:
        stack.start("mev-api")

    summary = load_summary(evidence)
    assert summary["errors"] == []
    audit = (evidence / "security_analysis/audit.jsonl").read_text().splitlines()
    newest = json.loads(audit[-1])
    assert (newest["path"], newest["status"]) == ("/api/v1/opportunities", 200)
    services = json.loads((evidence / "system_logs/services_at_end.json").read_text())
    assert services["mev-api"]["state"] == "stopped"
    assert services["postgres"]["ready"] is True
    assert (evidence / "application_logs/mev-api.log").stat().st_size > 0
    assert elapsed_s < PHASE_LIMIT_S, f"at_end took {elapsed_s:.2f}s"


def test_at_detection_gives_up_by_its_deadline_when_the_proxy_api_never_answers(
    stack, tmp_path
):
    # A listener that accepts connections and never answers a request.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with ProxyClient(url) as proxy:
            ctx = DrillContext(stack, proxy, tmp_path, random.Random(1))
            collector = EvidenceCollector(ctx, tmp_path, timeout_s=1.0, deadline_s=1.5)
            _, elapsed_s = timed(collector.at_detection)

    assert elapsed_s < 3.0, f"at_detection took {elapsed_s:.2f}s with a silent proxy"
    assert len(collector.errors) == 1
    assert collector.errors[0].startswith("network_diagnostics/proxies_at_detection")
    assert not (
        tmp_path / "evidence/network_diagnostics/proxies_at_detection.json"
    ).exists()
    assert (tmp_path / "evidence/system_logs/services_at_detection.json").exists()


def test_evidence_of_a_real_drill_lists_its_credential_checks_when_a_key_leaked(
    ctx, stack, tmp_path
):
    before = stack.secrets()
    collector = EvidenceCollector(ctx, tmp_path)
    options = DrillOptions(reports_dir=tmp_path / "reports", seed=7)
    result = run_drill(scenarios.load("leaked_api_key"), stack, options)
    evidence = collector.at_end(result)

    assert result.outcome is Outcome.PASSED, result.reasons
    checked = json.loads(
        (evidence / "security_analysis/credentials_checked.json").read_text()
    )
    assert {"leaked API key rejected", "attacker out"} <= {c["name"] for c in checked}
    faults = json.loads(
        (evidence / "security_analysis/security_faults.json").read_text()
    )
    assert faults[0]["type"] == "leaked_api_key" and faults[0]["evidence"]
    audit = (evidence / "security_analysis/audit.jsonl").read_text().splitlines()
    statuses = {json.loads(line)["status"] for line in audit}
    assert 401 in statuses, "the attacker's rejected requests are not in the audit"
    with (evidence / "performance_metrics/workload.csv").open(newline="") as f:
        assert len(list(csv.DictReader(f))) == len(result.workload)
    # The key was rotated by the recovery: the old and the new are both redacted.
    secrets = {*before.values(), *stack.secrets().values()}
    for path in evidence.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not [s for s in secrets if s.encode() in data], path


def test_application_log_keeps_only_its_newest_whole_lines_when_over_the_tail_limit(
    ctx, stack, tmp_path
):
    collector = EvidenceCollector(ctx, tmp_path, log_tail_bytes=300)
    evidence = collector.at_end(make_result())

    full = stack.logs("fault-proxy")
    assert len(full.encode()) > 300, "the proxy log is too short for this test"
    kept = (evidence / "application_logs/fault-proxy.log").read_text()
    assert 0 < len(kept.encode()) <= 300
    assert full.endswith(kept)
    assert full[: len(full) - len(kept)].endswith("\n"), "a partial line was kept"
