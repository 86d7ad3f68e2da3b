"""Black-box tests of the relay stand-in, run as a process on a free port."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.timeout(60)

PARENT_HASH = "0x" + "ab" * 32
PROPOSER = "0x" + "cd" * 48


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def relay_process(name: str = "relay-a", *extra: str) -> Iterator[str]:
    """Run a relay stand-in; yields its base URL once status answers 200."""
    port = free_port()
    with tempfile.TemporaryFile() as stderr:
        cmd = [sys.executable, "-m", "harness.standins.relay", "--name", name]
        proc = subprocess.Popen([*cmd, "--port", str(port), *extra], stderr=stderr)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 15
            while True:
                if proc.poll() is not None:
                    stderr.seek(0)
                    pytest.fail(f"relay exited {proc.returncode}: {stderr.read()!r}")
                try:
                    if httpx.get(f"{url}/eth/v1/builder/status").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail("relay not ready within 15 s")
                time.sleep(0.05)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def relay() -> Iterator[str]:
    with relay_process("relay-a") as url:
        yield url


def tx(n: int) -> str:
    """A raw typed (EIP-1559) transaction shape: 0x02 then one RLP list."""
    body = n.to_bytes(8, "big")
    return "0x02" + bytes([0xC0 + len(body)]).hex() + body.hex()


def rpc(url: str, method: str, params: Any) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}
    response = httpx.post(url, json=body)
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    assert answer["id"] == 7
    return answer


def send_bundle(url: str, txs: list[str], block: int) -> dict[str, Any]:
    return rpc(url, "eth_sendBundle", [{"txs": txs, "blockNumber": hex(block)}])


def stats(url: str, bundle_hash: str, block: int) -> dict[str, Any]:
    params = [{"bundleHash": bundle_hash, "blockNumber": hex(block)}]
    answer = rpc(url, "flashbots_getBundleStatsV2", params)
    result: dict[str, Any] = answer["result"]
    return result


def test_relay_bundle_hash_is_deterministic_when_same_txs_are_sent(
    relay: str,
) -> None:
    first = send_bundle(relay, [tx(1), tx(2)], 100)["result"]["bundleHash"]
    again = send_bundle(relay, [tx(1), tx(2)], 101)["result"]["bundleHash"]
    other = send_bundle(relay, [tx(2), tx(1)], 100)["result"]["bundleHash"]

    assert first == again
    assert first != other
    assert first.startswith("0x") and len(first) == 66


def test_relay_answers_bundle_already_known_when_sent_twice_for_a_block(
    relay: str,
) -> None:
    send_bundle(relay, [tx(10)], 200)

    answer = send_bundle(relay, [tx(10)], 200)

    assert answer["error"] == {"code": -32000, "message": "bundle already known"}


@pytest.mark.parametrize(
    ("bundle", "message"),
    [
        ({"txs": ["0xzz"], "blockNumber": "0x1"}, "unable to decode bundle"),
        ({"txs": ["0x0102"], "blockNumber": "0x1"}, "unable to decode bundle"),
        ({"txs": [], "blockNumber": "0x1"}, "unable to decode bundle"),
        ({"txs": [tx(3)], "blockNumber": "12"}, "unable to decode bundle"),
        ({"txs": [tx(3)]}, "unable to decode bundle"),
        ({"txs": [tx(3)], "blockNumber": "0x1", "x": 1}, "unable to decode bundle"),
        ({"txs": [tx(i) for i in range(101)], "blockNumber": "0x1"}, "too large"),
    ],
)
def test_relay_refuses_bundle_with_32000_when_bundle_is_malformed(
    relay: str, bundle: dict[str, Any], message: str
) -> None:
    answer = rpc(relay, "eth_sendBundle", [bundle])

    assert answer["error"]["code"] == -32000
    assert message in answer["error"]["message"]


def test_relay_refuses_bundle_when_over_300000_bytes(relay: str) -> None:
    payload = bytes(150_100)
    size = len(payload).to_bytes(3, "big")
    big_tx = "0x02" + (bytes([0xF7 + 3]) + size + payload).hex()

    answer = send_bundle(relay, [big_tx, big_tx], 300)

    assert answer["error"]["code"] == -32000
    assert "300000" in answer["error"]["message"]


def test_relay_stats_show_sealed_bundle_when_rejection_rate_is_zero(
    relay: str,
) -> None:
    bundle_hash = send_bundle(relay, [tx(20)], 400)["result"]["bundleHash"]

    result = stats(relay, bundle_hash, 400)

    assert result["isSimulated"] is True
    assert result["isHighPriority"] is True
    assert result["receivedAt"].endswith("Z")
    assert result["simulatedAt"] >= result["receivedAt"]
    assert result["consideredByBuildersAt"]
    assert result["sealedByBuildersAt"]
    assert {"pubkey", "timestamp"} == set(result["sealedByBuildersAt"][0])


def test_relay_stats_answer_error_when_bundle_is_unknown(relay: str) -> None:
    params = [{"bundleHash": "0x" + "00" * 32, "blockNumber": "0x1"}]

    answer = rpc(relay, "flashbots_getBundleStatsV2", params)

    assert answer["error"]["code"] == -32000


def test_relay_never_seals_and_refuses_some_when_rejection_rate_is_one() -> None:
    with relay_process("relay-b") as url:
        set_rate = httpx.post(f"{url}/_standin/rejection", json={"rate": 1.0})
        assert set_rate.status_code == 200

        answers = [send_bundle(url, [tx(1000 + i)], 500) for i in range(40)]

        refused = [a for a in answers if "error" in a]
        accepted = [a["result"]["bundleHash"] for a in answers if "result" in a]
        assert refused, "a >90% rejection incident also refuses some bundles"
        assert accepted, "most bundles still get a bundleHash"
        assert all(a["error"]["code"] == -32000 for a in refused)
        for bundle_hash in accepted:
            assert stats(url, bundle_hash, 500)["sealedByBuildersAt"] == []
        state = httpx.get(f"{url}/_standin/state").json()
        assert state["bundles_received"] == 40
        assert state["bundles_included"] == 0
        assert state["bundles_rejected"] == 40
        assert state["rejection_rate"] == 1.0


def test_relay_inclusion_is_reproducible_when_seed_and_rate_are_fixed() -> None:
    outcomes = []
    for _ in range(2):
        with relay_process("relay-a", "--rejection-rate", "0.5", "--seed", "3") as url:
            hashes = [
                send_bundle(url, [tx(2000 + i)], 600)["result"]["bundleHash"]
                for i in range(20)
            ]
            outcomes.append(
                [bool(stats(url, h, 600)["sealedByBuildersAt"]) for h in hashes]
            )

    assert outcomes[0] == outcomes[1]
    assert 0 < sum(outcomes[0]) < 20


def test_relay_rejects_control_with_400_when_rate_is_out_of_range(relay: str) -> None:
    response = httpx.post(f"{relay}/_standin/rejection", json={"rate": 1.5})

    assert response.status_code == 400
    assert httpx.get(f"{relay}/_standin/state").json()["rejection_rate"] == 0.0


def test_relay_answers_jsonrpc_errors_when_call_is_bad(relay: str) -> None:
    parse = httpx.post(relay, content=b"{not json").json()
    unknown = rpc(relay, "eth_foo", [])

    assert parse["error"]["code"] == -32700
    assert unknown["error"] == {
        "code": -32601,
        "message": "the method eth_foo does not exist/is not available",
    }


def header_url(base: str, slot: int | str, parent: str = PARENT_HASH) -> str:
    return f"{base}/eth/v1/builder/header/{slot}/{parent}/{PROPOSER}"


def test_relay_header_is_a_deneb_bid_on_the_requested_parent_when_bids_on(
    relay: str,
) -> None:
    response = httpx.get(header_url(relay, 123))

    assert response.status_code == 200
    bid = response.json()
    assert bid["version"] == "deneb"
    message = bid["data"]["message"]
    header = message["header"]
    assert header["parent_hash"] == PARENT_HASH
    assert len(header["block_hash"]) == 66
    assert len(header["logs_bloom"]) == 2 + 512
    assert {"blob_gas_used", "excess_blob_gas", "withdrawals_root"} <= set(header)
    assert message["blob_kzg_commitments"] == []
    assert int(message["value"]) > 0
    assert len(message["pubkey"]) == 98
    assert len(bid["data"]["signature"]) == 2 + 192


def test_relay_bid_value_differs_when_slot_or_relay_differs(relay: str) -> None:
    a_1 = httpx.get(header_url(relay, 1)).json()["data"]["message"]["value"]
    a_2 = httpx.get(header_url(relay, 2)).json()["data"]["message"]["value"]
    with relay_process("relay-b") as other:
        b_1 = httpx.get(header_url(other, 1)).json()["data"]["message"]["value"]

    assert a_1 != a_2
    assert a_1 != b_1


@pytest.mark.parametrize(
    ("slot", "parent", "message"),
    [
        ("x1", PARENT_HASH, "invalid slot"),
        ("1", "0x1234", "invalid hash"),
    ],
)
def test_relay_header_answers_400_when_path_is_invalid(
    relay: str, slot: str, parent: str, message: str
) -> None:
    response = httpx.get(header_url(relay, slot, parent))

    assert response.status_code == 400
    assert response.json() == {"code": 400, "message": message}


def test_relay_header_answers_204_when_bids_are_disabled() -> None:
    with relay_process("relay-a") as url:
        off = httpx.post(f"{url}/_standin/bids", json={"enabled": False})
        disabled = httpx.get(header_url(url, 5))
        httpx.post(f"{url}/_standin/bids", json={"enabled": True})
        enabled = httpx.get(header_url(url, 5))

    assert off.json()["bids_enabled"] is False
    assert disabled.status_code == 204
    assert disabled.content == b""
    assert enabled.status_code == 200


def blinded_block(block_hash: str) -> dict[str, Any]:
    return {
        "message": {
            "slot": "77",
            "proposer_index": "1",
            "body": {"execution_payload_header": {"block_hash": block_hash}},
        },
        "signature": "0x" + "11" * 96,
    }


def test_relay_returns_payload_when_block_hash_was_bid(relay: str) -> None:
    header = httpx.get(header_url(relay, 77)).json()["data"]["message"]["header"]

    response = httpx.post(
        f"{relay}/eth/v1/builder/blinded_blocks",
        json=blinded_block(header["block_hash"]),
    )

    assert response.status_code == 200
    payload = response.json()["data"]["execution_payload"]
    assert payload["block_hash"] == header["block_hash"]
    assert payload["parent_hash"] == PARENT_HASH
    assert payload["transactions"]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"message": {}}',
        b'{"message": {"body": {"execution_payload_header": {"block_hash": "0x12"}}},'
        b' "signature": "0x00"}',
    ],
)
def test_relay_blinded_blocks_answers_400_when_body_is_bad(
    relay: str, body: bytes
) -> None:
    response = httpx.post(f"{relay}/eth/v1/builder/blinded_blocks", content=body)

    assert response.status_code == 400
    assert response.json()["code"] == 400


def test_relay_blinded_blocks_answers_400_when_block_was_never_bid(relay: str) -> None:
    body = blinded_block("0x" + "99" * 32)

    response = httpx.post(f"{relay}/eth/v1/builder/blinded_blocks", json=body)

    assert response.status_code == 400


def registration(pubkey: str = PROPOSER) -> dict[str, Any]:
    return {
        "message": {
            "fee_recipient": "0x" + "aa" * 20,
            "gas_limit": "30000000",
            "timestamp": "1700000000",
            "pubkey": pubkey,
        },
        "signature": "0x" + "bb" * 96,
    }


def test_relay_validators_answers_200_when_registrations_are_valid(
    relay: str,
) -> None:
    response = httpx.post(
        f"{relay}/eth/v1/builder/validators", json=[registration(), registration()]
    )

    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"not": "a list"},
        [registration(pubkey="0x1234")],
        [{"message": registration()["message"]}],
    ],
)
def test_relay_validators_answers_400_when_registrations_are_invalid(
    relay: str, body: Any
) -> None:
    response = httpx.post(f"{relay}/eth/v1/builder/validators", json=body)

    assert response.status_code == 400
    assert response.json()["code"] == 400
