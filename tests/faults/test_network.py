"""Network faults through the shared stack's fault proxy: each acts, each reverts."""

from __future__ import annotations

import time

import httpx
import pytest
from pydantic import ValidationError

from harness.faults.network import (
    Bandwidth,
    BandwidthSpec,
    Latency,
    LatencySpec,
    LimitData,
    LimitDataSpec,
    Outage,
    OutageSpec,
    Partition,
    PartitionSpec,
    ResetPeer,
    ResetPeerSpec,
    Slicer,
    SlicerSpec,
    Timeout,
    TimeoutSpec,
)
from harness.stack import CHAINS

from .support import (
    assert_ready,
    block_number,
    injected,
    median_ms,
    rpc,
    sql_as_app,
    wait_until,
)

pytestmark = pytest.mark.timeout(60)

TOLERANCE_MS = 60.0
"""Slack on latency measurements: scheduling on a shared 2-core machine."""


def _toxics(ctx, route: str) -> set[str]:
    return {t.name for t in ctx.proxy.get(route).toxics}


def test_latency_spec_names_the_pattern_and_routes_when_it_matches_nothing():
    with pytest.raises(ValidationError) as caught:
        LatencySpec(edges=["mev-api_to_erigon-*"], latency_ms=100)
    message = str(caught.value)
    assert "'mev-api_to_erigon-*' matches no route" in message
    assert "mev-api_to_postgres" in message


def test_partition_spec_lists_the_edges_when_two_services_share_none():
    with pytest.raises(ValidationError, match="no edge between 'mev-boost' and"):
        PartitionSpec(a="mev-boost", b="postgres")


def test_latency_delays_rpc_by_the_latency_then_not_when_reverted(stack, ctx):
    url = stack.endpoints().rpc["ethereum"]
    with httpx.Client() as http:
        baseline_ms = median_ms(lambda: rpc(url, "eth_blockNumber", client=http))
        fault = Latency(
            LatencySpec(edges="erigon-ethereum", latency_ms=150, jitter_ms=10), ctx
        )
        with injected(fault):
            assert _toxics(ctx, "erigon-ethereum") == {fault.toxic_name("downstream")}
            slow_ms = median_ms(lambda: rpc(url, "eth_blockNumber", client=http))
        after_ms = median_ms(lambda: rpc(url, "eth_blockNumber", client=http))
    added_ms = slow_ms - baseline_ms
    assert 140 - TOLERANCE_MS / 2 <= added_ms <= 160 + TOLERANCE_MS, (
        f"added {added_ms:.0f} ms, expected 150 +- 10 ms"
    )
    assert after_ms - baseline_ms < TOLERANCE_MS, f"{after_ms:.0f} ms after revert"
    assert _toxics(ctx, "erigon-ethereum") == set()


def test_latency_on_both_streams_delays_each_way_when_stream_is_both(stack, ctx):
    url = stack.endpoints().rpc["base"]
    with httpx.Client() as http:
        baseline_ms = median_ms(lambda: rpc(url, "eth_chainId", client=http), 3)
        spec = LatencySpec(edges=["erigon-base"], latency_ms=100, stream="both")
        fault = Latency(spec, ctx)
        with injected(fault):
            slow_ms = median_ms(lambda: rpc(url, "eth_chainId", client=http), 3)
    added_ms = slow_ms - baseline_ms
    assert 200 - TOLERANCE_MS / 2 <= added_ms <= 200 + TOLERANCE_MS, (
        f"added {added_ms:.0f} ms, expected 200 ms (100 each way)"
    )


def test_latency_revert_removes_only_its_own_toxic_when_two_share_a_route(ctx):
    first = Latency(LatencySpec(edges="mev-api_to_postgres", latency_ms=1), ctx)
    second = Latency(LatencySpec(edges="mev-api_to_postgres", latency_ms=2), ctx)
    try:
        first.inject()
        second.inject()
        first.revert()
        assert _toxics(ctx, "mev-api_to_postgres") == {second.toxic_name("downstream")}
    finally:
        first.revert()
        second.revert()
    assert _toxics(ctx, "mev-api_to_postgres") == set()


@pytest.mark.parametrize(
    ("chain", "fault_of", "error", "timeout_s"),
    [
        pytest.param(
            "arbitrum",
            lambda ctx: Outage(OutageSpec(edges=["erigon-arbitrum"]), ctx),
            httpx.ConnectError,
            1.0,
            id="outage_refuses_connections",
        ),
        pytest.param(
            "optimism",
            lambda ctx: Timeout(
                TimeoutSpec(edges="erigon-optimism", timeout_ms=0), ctx
            ),
            httpx.ReadTimeout,
            0.5,
            id="timeout_leaves_requests_unanswered",
        ),
        pytest.param(
            "ethereum",
            lambda ctx: ResetPeer(
                ResetPeerSpec(edges="erigon-ethereum", stream="upstream"), ctx
            ),
            httpx.TransportError,
            2.0,
            id="reset_peer_resets_connections",
        ),
        pytest.param(
            "arbitrum",
            lambda ctx: LimitData(
                LimitDataSpec(edges="erigon-arbitrum", bytes=20), ctx
            ),
            httpx.TransportError,
            2.0,
            id="limit_data_cuts_answers_short",
        ),
    ],
)
def test_fault_breaks_a_chain_rpc_then_not_when_reverted_twice(
    stack, ctx, chain, fault_of, error, timeout_s
):
    url = stack.endpoints().rpc[chain]
    fault = fault_of(ctx)
    with injected(fault), pytest.raises(error):
        block_number(url, timeout_s=timeout_s)
    assert block_number(url) > 0


def test_outage_expands_a_glob_to_every_matching_edge_when_given_a_pattern(ctx):
    edges = {f"mev-artemis_to_erigon-{c.name}" for c in CHAINS}
    fault = Outage(OutageSpec(edges="mev-artemis_to_erigon-*"), ctx)
    with injected(fault):
        routes = ctx.proxy.list()
        assert {n for n, p in routes.items() if not p.enabled} == edges
        assert set(fault.evidence()["routes"].split(",")) == edges
    assert all(p.enabled for p in ctx.proxy.list().values())


def _blocks_batch(url: str, http: httpx.Client, count: int = 20) -> int:
    body = [
        {
            "jsonrpc": "2.0",
            "id": i,
            "method": "eth_getBlockByNumber",
            "params": [hex(i + 1), False],
        }
        for i in range(count)
    ]
    answer = http.post(url, json=body, timeout=10)
    assert len(answer.json()) == count
    return len(answer.content)


def test_bandwidth_paces_a_large_answer_to_the_rate_then_not_when_reverted(stack, ctx):
    url = stack.endpoints().rpc["polygon"]
    rate_kbps = 40
    fault = Bandwidth(BandwidthSpec(edges="erigon-polygon", rate_kbps=rate_kbps), ctx)
    with httpx.Client() as http:
        with injected(fault):
            started = time.perf_counter()
            size_bytes = _blocks_batch(url, http)
            slow_s = time.perf_counter() - started
        started = time.perf_counter()
        _blocks_batch(url, http)
        fast_s = time.perf_counter() - started
    expected_s = size_bytes / (rate_kbps * 1000)
    assert expected_s >= 0.3, f"answer too small to measure: {size_bytes} bytes"
    assert slow_s >= expected_s * 0.7, f"{slow_s:.2f} s, expected ~{expected_s:.2f}"
    assert fast_s < expected_s / 3, f"{fast_s:.2f} s after revert"


def test_slicer_delivers_intact_answers_in_delayed_pieces_when_injected(stack, ctx):
    url = stack.endpoints().rpc["base"]
    spec = SlicerSpec(
        edges="erigon-base", average_size_bytes=100, size_variation_bytes=10,
        delay_us=5000,
    )  # fmt: skip
    fault = Slicer(spec, ctx)
    with httpx.Client() as http, injected(fault):
        started = time.perf_counter()
        size_bytes = _blocks_batch(url, http, count=5)
        sliced_s = time.perf_counter() - started
    pieces = size_bytes // 110
    assert sliced_s >= pieces * 0.005 * 0.7, (
        f"{sliced_s:.3f} s for ~{pieces} pieces 5 ms apart"
    )


def _api_health(stack) -> int:
    return httpx.get(f"{stack.endpoints().mev_api}/health", timeout=5).status_code


def test_partition_cuts_the_api_from_postgres_but_not_other_clients_until_reverted(
    stack, ctx
):
    fault = Partition(PartitionSpec(a="mev-api", b="postgres"), ctx)
    assert fault.describe() == (
        "partitioned mev-api from postgres (cut mev-api_to_postgres)"
    )
    with injected(fault):
        assert not ctx.proxy.get("mev-api_to_postgres").enabled
        assert _api_health(stack) == 503
        # Postgres itself is up: other clients still reach it.
        assert sql_as_app(stack) == (1,)
    assert wait_until(lambda: _api_health(stack) == 200, timeout_s=10)
    assert_ready(stack, "mev-api")
