"""Cluster faults against the shared stack: each acts, each reverts."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from harness.faults.cluster import (
    BundleRejection,
    BundleRejectionSpec,
    EngineCrash,
    EngineCrashSpec,
    KillService,
    KillServiceSpec,
    PauseService,
    PauseServiceSpec,
    PeersZero,
    PeersZeroSpec,
    RelaysDown,
    RelaysDownSpec,
    StopService,
    StopServiceSpec,
    SyncStall,
    SyncStallSpec,
)
from harness.faults.targets import resolve_services
from harness.stack import CHAINS

from .support import assert_ready, block_number, injected, rpc, sql_as_admin, wait_until

pytestmark = pytest.mark.timeout(90)

ERIGONS = tuple(f"erigon-{c.name}" for c in CHAINS)


def test_kill_service_spec_names_the_value_and_choices_when_service_unknown():
    with pytest.raises(ValidationError) as caught:
        KillServiceSpec(service=["erigon-base", "erigon-solana"])
    message = str(caught.value)
    assert "'erigon-solana'" in message
    assert "erigon-ethereum" in message and "mev-infra" in message


def test_kill_service_targets_every_chain_when_given_the_erigon_unit():
    spec = KillServiceSpec(service="erigon")
    assert resolve_services(spec.service) == ERIGONS
    assert resolve_services(["postgresql", "mev-infra"]) == ("postgres", "mev-api")
    assert spec.signal == "SIGKILL"


def test_sync_stall_spec_rejects_a_chain_naming_the_choices_when_unknown():
    with pytest.raises(ValidationError, match=r"'solana'.*ethereum, arbitrum"):
        SyncStallSpec(chain="solana")


def test_kill_service_fails_rpc_then_serves_again_when_reverted(stack, ctx):
    url = stack.endpoints().rpc["base"]
    fault = KillService(KillServiceSpec(service="erigon@base"), ctx)
    with injected(fault):
        assert stack.health("erigon-base").state == "exited"
        with pytest.raises(httpx.HTTPError):
            block_number(url, timeout_s=1)
    assert block_number(url) > 0
    assert fault.describe() == "killed erigon-base with SIGKILL"
    assert_ready(stack, "erigon-base", "mev-artemis")


@pytest.mark.slow
def test_kill_service_takes_every_chain_down_when_the_unit_is_erigon(stack, ctx):
    fault = KillService(KillServiceSpec(service="erigon", signal="SIGKILL"), ctx)
    with injected(fault):
        states = {s: stack.health(s).state for s in ERIGONS}
        assert set(states.values()) == {"exited"}, states
        for url in stack.endpoints().rpc.values():
            with pytest.raises(httpx.HTTPError):
                block_number(url, timeout_s=1)
    assert all(block_number(url) > 0 for url in stack.endpoints().rpc.values())
    assert_ready(stack, *ERIGONS, "mev-artemis")


def test_stop_service_refuses_relay_clients_then_starts_it_when_reverted(stack, ctx):
    status_url = f"{stack.endpoints().relays['relay-b']}/eth/v1/builder/status"
    fault = StopService(StopServiceSpec(service="mev-relay@b"), ctx)
    with injected(fault):
        assert stack.health("relay-b").state == "stopped"
        with pytest.raises(httpx.HTTPError):
            httpx.get(status_url, timeout=1)
    assert httpx.get(status_url, timeout=2).status_code == 200
    assert_ready(stack, "relay-b", "mev-boost")


def test_pause_service_leaves_requests_unanswered_then_resumes_when_reverted(
    stack, ctx
):
    url = stack.endpoints().rpc["optimism"]
    fault = PauseService(PauseServiceSpec(service=["erigon-optimism"]), ctx)
    with injected(fault):
        assert stack.health("erigon-optimism").state == "paused"
        with pytest.raises(httpx.TimeoutException):
            block_number(url, timeout_s=0.5)
    assert block_number(url) > 0
    assert_ready(stack, "erigon-optimism")


def _newest_opportunity_id(stack) -> int:
    rows = sql_as_admin(stack, "SELECT coalesce(max(id), 0) FROM opportunities")
    return int(rows[0][0])


def test_engine_crash_stops_new_opportunities_until_reverted(stack, ctx):
    fault = EngineCrash(EngineCrashSpec(), ctx)
    with injected(fault):
        assert stack.health("mev-artemis").state == "exited"
        # With a 200 ms block time a running engine writes rows every second.
        before = _newest_opportunity_id(stack)
        assert not wait_until(lambda: _newest_opportunity_id(stack) > before, 1.5)
    after = _newest_opportunity_id(stack)
    assert wait_until(lambda: _newest_opportunity_id(stack) > after, 10)
    assert_ready(stack, "mev-artemis")


def test_relays_down_makes_mev_boost_status_503_until_reverted(stack, ctx):
    url = f"{stack.endpoints().mev_boost}/eth/v1/builder/status"
    assert httpx.get(url, timeout=2).status_code == 200
    fault = RelaysDown(RelaysDownSpec(), ctx)
    with injected(fault):
        answer = httpx.get(url, timeout=3)
        assert answer.status_code == 503, answer.text
        assert "all relays are unavailable" in answer.text
    assert httpx.get(url, timeout=2).status_code == 200
    assert_ready(stack, "relay-a", "relay-b", "mev-boost")


def _relay_state(stack, relay: str) -> dict[str, float]:
    url = f"{stack.endpoints().relays[relay]}/_standin/state"
    state: dict[str, float] = httpx.get(url, timeout=2).json()
    return state


def test_bundle_rejection_leaves_most_bundles_unsealed_until_reverted(stack, ctx):
    relay = "relay-a"
    before = _relay_state(stack, relay)["rejection_rate"]
    fault = BundleRejection(BundleRejectionSpec(rate=0.95, relays=[relay]), ctx)
    with injected(fault):
        start = _relay_state(stack, relay)
        # The strategy engine keeps submitting bundles; watch 12 of them land.
        assert wait_until(
            lambda: (
                _relay_state(stack, relay)["bundles_received"]
                >= start["bundles_received"] + 12
            ),
            timeout_s=20,
        )
        end = _relay_state(stack, relay)
        received = end["bundles_received"] - start["bundles_received"]
        rejected = end["bundles_rejected"] - start["bundles_rejected"]
        assert rejected / received >= 0.7, f"{rejected} of {received} rejected"
    assert _relay_state(stack, relay)["rejection_rate"] == before
    assert fault.evidence()["rejection_rate_before"] == f"{relay}={before:g}"


def test_sync_stall_freezes_the_head_then_catches_up_when_reverted(stack, ctx):
    url = stack.endpoints().rpc["polygon"]
    fault = SyncStall(SyncStallSpec(chain="polygon"), ctx)
    with injected(fault):
        head = block_number(url)
        # Five block times (200 ms each) without a new head.
        assert not wait_until(lambda: block_number(url) > head, timeout_s=1.0)
        assert rpc(url, "eth_syncing") is not False
    assert wait_until(lambda: block_number(url) > head, timeout_s=5)
    assert wait_until(lambda: rpc(url, "eth_syncing") is False, timeout_s=5)
    assert_ready(stack, "erigon-polygon")


def test_peers_zero_fails_the_peer_health_check_until_reverted(stack, ctx):
    url = stack.endpoints().rpc["ethereum"]
    before = int(rpc(url, "net_peerCount"), 16)
    fault = PeersZero(PeersZeroSpec(chain=["ethereum"]), ctx)
    health = {"X-ERIGON-HEALTHCHECK": "min_peer_count1"}
    with injected(fault):
        assert rpc(url, "net_peerCount") == "0x0"
        answer = httpx.get(f"{url}/health", headers=health, timeout=2)
        assert answer.status_code == 500
        assert "not enough peers" in answer.json()["min_peer_count"]
    assert int(rpc(url, "net_peerCount"), 16) == before
    assert httpx.get(f"{url}/health", headers=health, timeout=2).status_code == 200
