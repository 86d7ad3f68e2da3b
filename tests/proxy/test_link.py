"""Links: toxics come and go on open connections, toxicity, chains, no lost bytes."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.proxy.client import ProxyClient
from tests.proxy.upstreams import connect, recv_exactly, round_trip_s

pytestmark = pytest.mark.timeout(30)

FAST_S = 0.1


def test_toxic_added_acts_on_already_open_connection(
    client: ProxyClient, echo_port: int
) -> None:
    proxy = client.create("live", f"127.0.0.1:{echo_port}")

    with connect(proxy.listen_port) as sock:
        before = round_trip_s(sock)
        client.add_toxic("live", "latency", attributes={"latency": 200})
        after = round_trip_s(sock)

    assert before < FAST_S, f"round trip {before:.3f} s before the toxic"
    assert after >= 0.2, f"round trip {after:.3f} s with 200 ms latency added"


def test_toxic_removed_stops_acting_on_already_open_connection(
    client: ProxyClient, echo_port: int
) -> None:
    proxy = client.create("live", f"127.0.0.1:{echo_port}")
    client.add_toxic("live", "latency", attributes={"latency": 200})

    with connect(proxy.listen_port) as sock:
        slow = round_trip_s(sock)
        client.remove_toxic("live", "latency_downstream")
        fast = round_trip_s(sock)

    assert slow >= 0.2, f"round trip {slow:.3f} s with 200 ms latency"
    assert fast < FAST_S, f"round trip {fast:.3f} s after removal, expected < 0.1 s"


def test_removed_toxic_hands_on_held_data_in_order_when_removed_mid_delay(
    client: ProxyClient, echo_port: int
) -> None:
    proxy = client.create("held", f"127.0.0.1:{echo_port}")
    client.add_toxic("held", "latency", attributes={"latency": 2000})
    first, second = os.urandom(5000), os.urandom(5000)

    with connect(proxy.listen_port) as sock:
        sock.sendall(first)
        time.sleep(0.1)
        start = time.monotonic()
        client.remove_toxic("held", "latency_downstream")
        sock.sendall(second)
        received = recv_exactly(sock, len(first) + len(second))
        elapsed = time.monotonic() - start

    assert received == first + second
    assert elapsed < 0.5, f"held data took {elapsed:.3f} s after the removal"


def test_toxicity_zero_means_no_effect_when_toxic_present(
    client: ProxyClient, echo_port: int
) -> None:
    proxy = client.create("mild", f"127.0.0.1:{echo_port}")
    client.add_toxic("mild", "latency", toxicity=0.0, attributes={"latency": 500})

    with connect(proxy.listen_port) as sock:
        rtt = round_trip_s(sock)

    assert rtt < FAST_S, f"round trip {rtt:.3f} s with toxicity 0, expected < 0.1 s"


def test_toxicity_is_rolled_per_connection_when_fractional(
    client: ProxyClient, echo_port: int
) -> None:
    proxy = client.create("coin", f"127.0.0.1:{echo_port}")
    client.add_toxic("coin", "latency", toxicity=0.5, attributes={"latency": 150})

    delayed = []
    for _ in range(16):
        with connect(proxy.listen_port) as sock:
            delayed.append(round_trip_s(sock) >= 0.15)

    # All 16 the same has probability 2 * 0.5**16, about 3e-5.
    assert any(delayed) and not all(delayed), delayed


def test_toxics_chain_in_order_when_two_on_one_stream(
    client: ProxyClient, echo_port: int
) -> None:
    proxy = client.create("chain", f"127.0.0.1:{echo_port}")
    client.add_toxic("chain", "latency", name="a", attributes={"latency": 100})
    client.add_toxic("chain", "latency", name="b", attributes={"latency": 100})
    client.add_toxic("chain", "latency", stream="upstream", attributes={"latency": 50})

    with connect(proxy.listen_port) as sock:
        rtt = round_trip_s(sock)

    assert 0.25 <= rtt <= 0.4, f"round trip {rtt:.3f} s, expected 0.250 s"


def test_large_transfer_is_intact_when_toxic_added_and_removed_midway(
    client: ProxyClient, echo_port: int
) -> None:
    proxy = client.create("busy", f"127.0.0.1:{echo_port}")
    payload = os.urandom(4_000_000)

    with connect(proxy.listen_port) as sock, ThreadPoolExecutor(1) as pool:
        received = pool.submit(recv_exactly, sock, len(payload))
        sock.sendall(payload[:1_000_000])
        client.add_toxic("busy", "slicer", attributes={"average_size": 30000})
        sock.sendall(payload[1_000_000:2_000_000])
        client.add_toxic("busy", "latency", attributes={"latency": 10})
        sock.sendall(payload[2_000_000:3_000_000])
        client.remove_toxic("busy", "slicer_downstream")
        sock.sendall(payload[3_000_000:])
        client.remove_toxic("busy", "latency_downstream")

        assert received.result(timeout=20) == payload
