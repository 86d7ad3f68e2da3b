"""Black-box tests of the mev-boost stand-in against real relay stand-in processes."""

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
STATUS = "/eth/v1/builder/status"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(proc: subprocess.Popen[bytes], url: str, stderr: Any) -> None:
    """Poll `url` until it answers 200; fail with the process's stderr if it dies."""
    deadline = time.monotonic() + 15
    while True:
        if proc.poll() is not None:
            stderr.seek(0)
            pytest.fail(f"{proc.args!r} exited {proc.returncode}: {stderr.read()!r}")
        try:
            if httpx.get(url).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{url} not ready within 15 s")
        time.sleep(0.05)


@contextmanager
def standin(
    module: str, port: int, *args: str, ready_path: str = STATUS
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `python -m harness.standins.<module>` until the block ends.

    Ready when `ready_path` answers 200.
    """
    with tempfile.TemporaryFile() as stderr:
        cmd = [sys.executable, "-m", f"harness.standins.{module}", "--port", str(port)]
        proc = subprocess.Popen([*cmd, *args], stderr=stderr)
        try:
            wait_ready(proc, f"http://127.0.0.1:{port}{ready_path}", stderr)
            yield proc
        finally:
            stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def relay(name: str, port: int | None = None) -> Iterator[str]:
    port = port or free_port()
    with standin("relay", port, "--name", name):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def boost(relays: list[str], *args: str) -> Iterator[str]:
    port = free_port()
    # Ready on `/`: with --relay-check, status is 503 while relays are down.
    relay_list = ",".join(relays)
    with standin("mev_boost", port, "--relays", relay_list, *args, ready_path="/"):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def silent_relay() -> Iterator[str]:
    """A TCP port whose backlog accepts connections that never get an answer."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture(scope="module")
def relays() -> Iterator[list[str]]:
    with relay("relay-a") as a, relay("relay-b") as b:
        yield [a, b]


@pytest.fixture(scope="module")
def mev_boost(relays: list[str]) -> Iterator[str]:
    with boost(relays, "--relay-check") as url:
        yield url


def header_path(slot: int | str = 42, parent: str = PARENT_HASH) -> str:
    return f"/eth/v1/builder/header/{slot}/{parent}/{PROPOSER}"


def bid_value(url: str, slot: int) -> int:
    return int(httpx.get(url + header_path(slot)).json()["data"]["message"]["value"])


def test_mev_boost_root_and_status_answer_empty_object_with_version_header(
    mev_boost: str,
) -> None:
    root = httpx.get(mev_boost + "/")
    status = httpx.get(mev_boost + STATUS)

    assert root.status_code == 200
    assert root.json() == {}
    assert status.status_code == 200
    assert status.json() == {}
    assert status.headers["x-mevboost-version"]


def test_mev_boost_header_returns_the_highest_bid_when_two_relays_bid(
    relays: list[str], mev_boost: str
) -> None:
    for slot in range(100, 106):
        direct = {url: bid_value(url, slot) for url in relays}

        response = httpx.get(mev_boost + header_path(slot))

        assert response.status_code == 200
        assert response.headers["eth-consensus-version"] == "deneb"
        chosen = int(response.json()["data"]["message"]["value"])
        assert chosen == max(direct.values()), f"slot {slot}: {direct}"
        assert response.json()["data"]["message"]["header"]["parent_hash"] == (
            PARENT_HASH
        )


@pytest.mark.parametrize(
    ("slot", "parent", "pubkey", "message"),
    [
        ("abc", PARENT_HASH, PROPOSER, "invalid slot"),
        ("-1", PARENT_HASH, PROPOSER, "invalid slot"),
        ("1", PARENT_HASH, "0x1234", "invalid pubkey"),
        ("1", "0x1234", PROPOSER, "invalid hash"),
    ],
)
def test_mev_boost_header_answers_400_when_path_is_invalid(
    mev_boost: str, slot: str, parent: str, pubkey: str, message: str
) -> None:
    path = f"/eth/v1/builder/header/{slot}/{parent}/{pubkey}"

    response = httpx.get(mev_boost + path)

    assert response.status_code == 400
    assert response.json() == {"code": 400, "message": message}


def test_mev_boost_header_answers_204_when_bids_are_disabled_on_all_relays() -> None:
    with relay("relay-a") as a, relay("relay-b") as b, boost([a, b]) as url:
        for r in (a, b):
            httpx.post(f"{r}/_standin/bids", json={"enabled": False})
        none = httpx.get(url + header_path())
        httpx.post(f"{b}/_standin/bids", json={"enabled": True})
        one = httpx.get(url + header_path())

        assert none.status_code == 204
        assert none.content == b""
        assert one.status_code == 200
        assert one.json()["data"]["message"]["value"] == str(bid_value(b, 42))


def test_mev_boost_header_answers_204_when_every_bid_is_below_min_bid(
    relays: list[str],
) -> None:
    highest_eth = max(bid_value(r, 42) for r in relays) / 10**18

    with boost(relays, "--min-bid-eth", f"{highest_eth + 0.001:.6f}") as high:
        below = httpx.get(high + header_path())
    with boost(relays, "--min-bid-eth", f"{highest_eth - 0.001:.6f}") as low:
        above = httpx.get(low + header_path())

    assert below.status_code == 204
    assert above.status_code == 200


def test_mev_boost_header_ignores_bid_when_relay_pubkey_does_not_match(
    relays: list[str],
) -> None:
    wrong = "0x" + "ee" * 48
    url = relays[0].replace("http://", f"http://{wrong}@")

    with boost([url]) as mismatched:
        response = httpx.get(mismatched + header_path())

    assert response.status_code == 204


def test_mev_boost_header_answers_within_timeout_when_a_relay_never_answers(
    relays: list[str],
) -> None:
    timeout_ms = 400
    with (
        silent_relay() as slow,
        boost([relays[0], slow], "--timeout-getheader-ms", str(timeout_ms)) as url,
    ):
        started = time.monotonic()
        response = httpx.get(url + header_path(), timeout=5)
        elapsed_ms = (time.monotonic() - started) * 1000

    assert response.status_code == 200
    assert int(response.json()["data"]["message"]["value"]) == bid_value(relays[0], 42)
    # Tolerance: process scheduling on a shared 2-core host.
    assert elapsed_ms < timeout_ms + 600, (
        f"took {elapsed_ms:.0f} ms, limit {timeout_ms}"
    )
    assert elapsed_ms >= timeout_ms * 0.9, f"took {elapsed_ms:.0f} ms"


def test_mev_boost_status_is_503_when_relays_are_killed_and_200_on_return() -> None:
    port_a, port_b = free_port(), free_port()
    urls = [f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"]
    with boost(urls, "--relay-check", "--timeout-getheader-ms", "300") as url:
        with (
            standin("relay", port_a, "--name", "relay-a") as proc_a,
            standin("relay", port_b, "--name", "relay-b") as proc_b,
        ):
            up = httpx.get(url + STATUS)
            proc_a.kill()
            proc_a.wait()
            one_left = httpx.get(url + STATUS)
            proc_b.kill()
            proc_b.wait()
            down = httpx.get(url + STATUS)
        with relay("relay-b", port_b):
            back = httpx.get(url + STATUS)

    assert up.status_code == 200
    assert one_left.status_code == 200
    assert down.status_code == 503
    assert down.json() == {"code": 503, "message": "all relays are unavailable"}
    assert back.status_code == 200


def registration() -> dict[str, Any]:
    return {
        "message": {
            "fee_recipient": "0x" + "aa" * 20,
            "gas_limit": "30000000",
            "timestamp": "1700000000",
            "pubkey": PROPOSER,
        },
        "signature": "0x" + "bb" * 96,
    }


def test_mev_boost_validators_answers_200_when_a_relay_accepts(
    relays: list[str], mev_boost: str
) -> None:
    before = [httpx.get(f"{r}/_standin/state").json() for r in relays]

    response = httpx.post(
        mev_boost + "/eth/v1/builder/validators", json=[registration()]
    )

    assert response.status_code == 200
    assert response.json() == {}
    after = [httpx.get(f"{r}/_standin/state").json() for r in relays]
    gained = [
        a["validators_registered"] - b["validators_registered"]
        for a, b in zip(after, before, strict=True)
    ]
    assert max(gained) == 1


@pytest.mark.parametrize("body", [b"{not json", b'{"an": "object"}', b"[{}]"])
def test_mev_boost_validators_answers_400_when_body_is_bad(
    mev_boost: str, body: bytes
) -> None:
    response = httpx.post(mev_boost + "/eth/v1/builder/validators", content=body)

    assert response.status_code == 400
    assert response.json()["code"] == 400


def test_mev_boost_validators_answers_502_when_all_relays_are_down() -> None:
    closed = [f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"]
    with boost(closed) as url:
        response = httpx.post(url + "/eth/v1/builder/validators", json=[registration()])

    assert response.status_code == 502
    assert response.json() == {"code": 502, "message": "no successful relay response"}


def blinded_block(slot: int, block_hash: str) -> dict[str, Any]:
    return {
        "message": {
            "slot": str(slot),
            "proposer_index": "1",
            "body": {"execution_payload_header": {"block_hash": block_hash}},
        },
        "signature": "0x" + "11" * 96,
    }


def test_mev_boost_returns_payload_when_block_hash_came_from_a_relay_bid(
    mev_boost: str,
) -> None:
    bid = httpx.get(mev_boost + header_path(55)).json()
    block_hash = bid["data"]["message"]["header"]["block_hash"]

    response = httpx.post(
        mev_boost + "/eth/v1/builder/blinded_blocks", json=blinded_block(55, block_hash)
    )

    assert response.status_code == 200
    assert response.json()["data"]["execution_payload"]["block_hash"] == block_hash


def test_mev_boost_blinded_blocks_answers_502_when_no_relay_has_the_payload(
    mev_boost: str,
) -> None:
    body = blinded_block(56, "0x" + "99" * 32)

    response = httpx.post(mev_boost + "/eth/v1/builder/blinded_blocks", json=body)

    assert response.status_code == 502
    assert response.json() == {"code": 502, "message": "no successful relay response"}


@pytest.mark.parametrize(
    "body", [b"{not json", b'{"message": {"slot": "1"}, "signature": "0x00"}']
)
def test_mev_boost_blinded_blocks_answers_400_when_body_cannot_be_decoded(
    mev_boost: str, body: bytes
) -> None:
    response = httpx.post(mev_boost + "/eth/v1/builder/blinded_blocks", content=body)

    assert response.status_code == 400
    assert response.json()["code"] == 400
