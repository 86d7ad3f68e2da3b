"""Black-box tests of the erigon stand-in's /_standin/ controls, each seen to act."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.standins.test_erigon_support import Erigon, erigon, wait_until

pytestmark = pytest.mark.timeout(60)

STAGES = [
    "OtterSync", "Headers", "BlockHashes", "Bodies", "Senders", "Execution",
    "CustomTrace", "WitnessProcessing", "TxLookup", "Finish",
]  # fmt: skip


@pytest.fixture
def node(tmp_path) -> Iterator[Erigon]:
    with erigon(tmp_path, "--catchup-ms", "500") as running:
        yield running


def health_json(node: Erigon, check: str) -> dict[str, str]:
    headers = {"X-ERIGON-HEALTHCHECK": check}
    answer: dict[str, str] = httpx.get(
        node.url + "/health", headers=headers, timeout=10
    ).json()
    return answer


def health_status(node: Erigon, check: str) -> int:
    headers = {"X-ERIGON-HEALTHCHECK": check}
    return httpx.get(node.url + "/health", headers=headers, timeout=10).status_code


def timed(call: Callable[[], object]) -> float:
    start = time.monotonic()
    call()
    return time.monotonic() - start


def test_state_reports_every_field_when_asked(node):
    state = node.control("state").json()
    assert state == {
        "chain": "ethereum",
        "chain_id": 1,
        "head": state["head"],
        "syncing": False,
        "sync_stalled": False,
        "peers": 25,
        "delay_ms": 0,
        "block_time_ms": 100,
    }
    assert abs(state["head"] - node.head()) <= 5


def test_stalled_sync_stops_the_head_and_reports_stages_when_stalled(node):
    response = node.control("sync", {"stalled": True})
    assert response.status_code == 200
    assert response.json()["sync_stalled"] is True

    frozen = node.head()
    time.sleep(0.5)
    assert node.head() == frozen, "the head moved while sync was stalled"

    progress = node.result("eth_syncing")
    assert int(progress["currentBlock"], 16) == frozen
    assert int(progress["highestBlock"], 16) >= frozen + 4
    assert progress["startingBlock"] == "0x0"
    assert [s["stage_name"] for s in progress["stages"]] == STAGES
    assert health_status(node, "synced") == 500
    assert node.control("state").json()["syncing"] is True
    # Timestamps are whole seconds: the frozen head falls behind "now" within
    # a second of the stall.
    wait_until(
        lambda: health_status(node, "max_seconds_behind0") == 500,
        timeout_s=3,
        what="max_seconds_behind0 failing while stalled",
    )
    assert node.head() == frozen
    frozen_ts = int(
        node.result("eth_getBlockByNumber", ["latest", False])["timestamp"], 16
    )
    message = health_json(node, "max_seconds_behind0")["max_seconds_behind"]
    found = re.fullmatch(
        r"ERROR: timestamp too old: got ts: (\d+), need: (\d+)", message
    )
    assert found, message
    assert int(found[1]) == frozen_ts and int(found[2]) > frozen_ts


def test_unstalled_sync_catches_up_to_the_network_when_released(node):
    node.control("sync", {"stalled": True})
    time.sleep(0.6)
    highest = int(node.result("eth_syncing")["highestBlock"], 16)

    node.control("sync", {"stalled": False})
    took_s = wait_until(
        lambda: node.result("eth_syncing") is False,
        timeout_s=5,
        what="eth_syncing false after the stall ends",
    )
    assert took_s < 3, f"catch-up took {took_s:.2f} s, configured 0.5 s"
    assert node.head() >= highest
    assert health_status(node, "synced") == 200


def test_zero_peers_fail_min_peer_count_and_stop_the_head_when_set(node):
    response = node.control("peers", {"count": 0})
    assert response.json()["peers"] == 0
    assert node.result("net_peerCount") == "0x0"
    assert health_status(node, "min_peer_count1") == 500

    frozen = node.head()
    time.sleep(0.4)
    assert node.head() == frozen, "a node with no peers kept making blocks"

    node.control("peers", {"count": 40})
    assert node.result("net_peerCount") == "0x28"
    assert health_status(node, "min_peer_count30") == 200
    wait_until(lambda: node.head() > frozen + 3, timeout_s=5, what="head moving again")


def test_latency_delays_rpc_and_health_when_set_and_clears_at_zero(node):
    node.control("latency", {"delay_ms": 300})
    rpc_s = timed(node.head)
    health_s = timed(lambda: health_status(node, "synced"))
    assert rpc_s >= 0.3, f"RPC took {rpc_s:.3f} s with a 300 ms delay"
    assert health_s >= 0.3, f"/health took {health_s:.3f} s with a 300 ms delay"
    assert node.control("state").json()["delay_ms"] == 300
    # Readiness (bare GET /) and the controls themselves are not delayed.
    bare_s = min(timed(lambda: httpx.get(node.url, timeout=10)) for _ in range(3))
    assert bare_s < 0.15, f"bare GET / took {bare_s:.3f} s"

    node.control("latency", {"delay_ms": 0})
    cleared_s = min(timed(node.head) for _ in range(3))
    assert cleared_s < 0.15, f"RPC took {cleared_s:.3f} s after clearing the delay"


@pytest.mark.parametrize(
    ("path", "body", "mentions"),
    [
        ("sync", {"stalled": "yes"}, "stalled"),
        ("sync", {}, "stalled"),
        ("peers", {"count": -1}, "count"),
        ("peers", {"count": 3, "extra": 1}, "extra"),
        ("latency", {"delay_ms": "slow"}, "delay_ms"),
        ("latency", [1], "body"),
    ],
)
def test_bad_control_body_is_400_with_a_message_when_invalid(
    node, path, body, mentions
):
    response = node.control(path, body)
    assert response.status_code == 400
    message = response.json()["error"]
    assert f"POST /_standin/{path}" in message and mentions in message
    assert node.control("state").json()["sync_stalled"] is False


def test_control_body_that_is_not_json_is_400_when_sent(node):
    response = httpx.post(node.url + "/_standin/peers", content=b"{oops", timeout=10)
    assert response.status_code == 400
    assert "not JSON" in response.json()["error"]


def test_control_answers_405_and_404_when_method_or_path_is_wrong(node):
    assert httpx.post(node.url + "/_standin/state", json={}).status_code == 405
    assert httpx.get(node.url + "/_standin/peers").status_code == 405
    assert httpx.get(node.url + "/_standin/nothing").status_code == 404
