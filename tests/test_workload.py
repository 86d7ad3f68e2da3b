"""The workload against the shared stack: samples, acknowledged writes, RPO, stop."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import psycopg
import pytest
from pydantic import ValidationError

from harness.context import DrillContext
from harness.runtime.local import LocalRuntime
from harness.standins.relay import is_transaction
from harness.timeline import Timeline
from harness.workload import (
    REQUEST_TIMEOUT_S,
    AckedWrite,
    Workload,
    WorkloadSpec,
    bundle_tx,
    rpo_s,
)

from .probes.support import assert_stack_healthy, wait_until

pytestmark = pytest.mark.timeout(60)

OPS = {"eth_blockNumber", "opportunities", "eth_sendBundle", "write"}


@pytest.fixture
def ctx_seed() -> int:
    """The workload tests' rng seed."""
    return 11


@pytest.fixture
def ctx(stack: LocalRuntime, ctx: DrillContext) -> Iterator[DrillContext]:
    """The shared drill context; the stack must be healthy after the test."""
    yield ctx
    assert_stack_healthy(stack, ctx)


@pytest.fixture
def run(ctx: DrillContext) -> Iterator[tuple[Workload, Timeline]]:
    """A workload of two searchers every 50 ms, stopped after the test."""
    timeline = Timeline()
    workload = Workload(WorkloadSpec(searchers=2, interval_ms=50), ctx, timeline)
    workload.start()
    try:
        yield workload, timeline
    finally:
        workload.stop()


def delete_rows(stack: LocalRuntime, writes: list[AckedWrite]) -> None:
    """Delete acknowledged rows behind the workload's back, as superuser."""
    with psycopg.connect(stack.admin_database_url(), autocommit=True) as admin:
        for write in writes:
            admin.execute(
                "DELETE FROM drill_writes WHERE client = %s AND seq = %s",
                (write.client, write.seq),
            )


def test_workload_spec_rejects_an_unknown_field_when_validated():
    with pytest.raises(ValidationError, match="extra_forbidden"):
        WorkloadSpec.model_validate({"searchers": 2, "clients": 3})


def test_bundle_tx_is_a_transaction_the_relay_accepts_when_generated():
    rng = random.Random(3)
    for _ in range(50):
        raw = bytes.fromhex(bundle_tx(rng)[2:])
        assert is_transaction(raw)


def test_workload_records_every_operation_when_the_stack_is_healthy(
    run: tuple[Workload, Timeline],
):
    workload, timeline = run
    wait_until(
        lambda: (
            {s.op for s in workload.samples()} >= OPS and len(workload.samples()) > 40
        ),
        what="every kind of request sampled",
    )
    workload.stop()

    samples = workload.samples()
    failed = [s for s in samples if not s.ok]
    assert failed == [], f"requests failed on a healthy stack: {failed[:3]}"
    assert {s.client for s in samples} == set(workload.clients)
    assert all(0 < s.latency_ms < REQUEST_TIMEOUT_S * 1000 for s in samples)
    assert all(0 <= s.t_s <= timeline.now() for s in samples)
    assert workload.success_rate(0.0, timeline.now() + 1) == 1.0


def test_workload_success_rate_is_none_when_the_window_has_no_request(
    run: tuple[Workload, Timeline],
):
    workload, timeline = run
    wait_until(lambda: len(workload.samples()) > 5, what="a few samples")

    assert workload.success_rate(-10.0, -5.0) is None
    assert workload.success_rate(timeline.now() + 60, timeline.now() + 70) is None


def test_check_writes_finds_every_acknowledged_write_when_nothing_was_lost(
    stack: LocalRuntime, run: tuple[Workload, Timeline]
):
    workload, timeline = run
    wait_until(lambda: len(workload.acked_writes()) >= 10, what="10 writes acked")
    workload.stop()
    acked = workload.acked_writes()

    check = workload.check_writes(timeline.now())

    assert check.ok, check
    assert (check.acked, check.lost, check.rpo_s) == (len(acked), [], 0.0)
    with psycopg.connect(stack.admin_database_url()) as admin:
        row = admin.execute(
            "SELECT count(*) FROM drill_writes WHERE client = ANY(%s)",
            (workload.clients,),
        ).fetchone()
    assert row is not None and row[0] >= len(acked)


def test_check_writes_reports_lost_writes_and_rpo_when_acked_rows_are_deleted(
    stack: LocalRuntime, run: tuple[Workload, Timeline]
):
    workload, timeline = run
    wait_until(lambda: len(workload.acked_writes()) >= 12, what="12 writes acked")
    workload.stop()
    acked = workload.acked_writes()
    gone = [acked[3], acked[4], acked[7]]
    delete_rows(stack, gone)
    t0_s = timeline.now()

    check = workload.check_writes(t0_s)

    assert not check.ok
    assert check.acked == len(acked)
    assert check.lost == gone
    # RPO: the span from the earliest to the latest lost write, plus one interval.
    interval_s = workload.spec.interval_ms / 1000
    assert check.rpo_s == pytest.approx(acked[7].t_s - acked[3].t_s + interval_s)
    one = rpo_s([acked[4]], interval_s)
    assert one == pytest.approx(interval_s), "one lost write is one interval"


def test_workload_stop_returns_promptly_when_the_api_is_paused(
    stack: LocalRuntime, run: tuple[Workload, Timeline]
):
    workload, _ = run

    stack.pause("mev-api")
    try:
        wait_until(
            lambda: any(
                s.op == "opportunities" and not s.ok for s in workload.samples()
            ),
            what="a request to the paused API timed out",
        )
        started = time.monotonic()
        workload.stop()
        stop_s = time.monotonic() - started
    finally:
        stack.resume("mev-api")

    limit_s = REQUEST_TIMEOUT_S + 0.5
    assert stop_s < limit_s, f"stop took {stop_s:.2f} s, limit {limit_s} s"
    timed_out = [s for s in workload.samples() if s.op == "opportunities" and not s.ok]
    assert timed_out[0].latency_ms >= REQUEST_TIMEOUT_S * 1000 * 0.9
    assert "no answer in time" in timed_out[0].detail


def test_write_is_not_acknowledged_when_its_commit_never_returns(
    ctx: DrillContext, run: tuple[Workload, Timeline]
):
    workload, timeline = run
    wait_until(lambda: len(workload.acked_writes()) >= 2, what="writes acked")

    # A timeout toxic with no timeout holds every byte: commits never return.
    ctx.proxy.add_toxic("postgres", "timeout", name="workload_test", attributes={})
    try:
        wait_until(
            lambda: any(s.op == "write" and not s.ok for s in workload.samples()),
            what="a write timed out",
        )
        started = time.monotonic()
        workload.stop()
        stop_s = time.monotonic() - started
    finally:
        ctx.proxy.remove_toxic("postgres", "workload_test")

    assert stop_s < REQUEST_TIMEOUT_S + 0.5, f"stop took {stop_s:.2f} s"
    failed = [s for s in workload.samples() if s.op == "write" and not s.ok]
    assert all(s.detail.startswith("seq ") for s in failed), failed
    failed_writes = {(s.client, int(s.detail.split(":")[0].split()[1])) for s in failed}
    acked = {(w.client, w.seq) for w in workload.acked_writes()}
    assert failed_writes and not failed_writes & acked
    check = workload.check_writes(timeline.now())
    assert check.ok, check
