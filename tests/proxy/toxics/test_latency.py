"""The latency toxic on real TCP: each chunk is delayed by latency +- jitter."""

from __future__ import annotations

import pytest

from harness.proxy.client import ProxyClient, Stream
from tests.proxy.upstreams import connect, round_trip_s

pytestmark = pytest.mark.timeout(30)

TOLERANCE_S = 0.15


@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_latency_delays_each_round_trip_when_added(
    client: ProxyClient, echo_port: int, stream: Stream
) -> None:
    proxy = client.create("lag", f"127.0.0.1:{echo_port}")
    client.add_toxic("lag", "latency", stream=stream, attributes={"latency": 200})

    with connect(proxy.listen_port) as sock:
        measured = [round_trip_s(sock) for _ in range(3)]

    for rtt in measured:
        assert 0.2 <= rtt <= 0.2 + TOLERANCE_S, (
            f"round trip {rtt:.3f} s, expected 0.200 s (+{TOLERANCE_S} s tolerance)"
        )


def test_latency_jitter_keeps_delay_within_bounds_when_set(
    client: ProxyClient, echo_port: int
) -> None:
    proxy = client.create("jit", f"127.0.0.1:{echo_port}")
    client.add_toxic("jit", "latency", attributes={"latency": 150, "jitter": 100})

    with connect(proxy.listen_port) as sock:
        measured = [round_trip_s(sock) for _ in range(6)]

    assert all(0.05 <= rtt <= 0.25 + TOLERANCE_S for rtt in measured), (
        f"round trips {[round(r, 3) for r in measured]} s, expected 0.050..0.250 s"
    )


def test_latency_update_changes_delay_on_open_connection(
    client: ProxyClient, echo_port: int
) -> None:
    proxy = client.create("lag", f"127.0.0.1:{echo_port}")
    client.add_toxic("lag", "latency", attributes={"latency": 400})

    with connect(proxy.listen_port) as sock:
        client.update_toxic("lag", "latency_downstream", attributes={"latency": 50})
        rtt = round_trip_s(sock)

    assert 0.05 <= rtt <= 0.05 + TOLERANCE_S, (
        f"round trip {rtt:.3f} s, expected 0.050 s"
    )
