"""The bandwidth toxic on real TCP: a direction is paced at `rate` KB/s."""

from __future__ import annotations

import time

import pytest

from harness.proxy.client import ProxyClient
from tests.proxy.upstreams import (
    connect,
    payload_server,
    recv_exactly,
    recv_until_closed,
)

pytestmark = pytest.mark.timeout(30)

PAYLOAD_BYTES = 50_000
RATE_KB_S = 100  # 50 kB at 100 kB/s: 0.5 s


def test_bandwidth_paces_download_at_rate_when_downstream(client: ProxyClient) -> None:
    with payload_server(b"d" * PAYLOAD_BYTES) as upstream:
        proxy = client.create("slow", f"127.0.0.1:{upstream}")
        client.add_toxic("slow", "bandwidth", attributes={"rate": RATE_KB_S})

        with connect(proxy.listen_port) as sock:
            start = time.monotonic()
            data = recv_until_closed(sock)
            elapsed = time.monotonic() - start

    rate = len(data) / elapsed / 1000
    assert len(data) == PAYLOAD_BYTES
    assert 0.4 <= elapsed <= 0.8, (
        f"{PAYLOAD_BYTES} B took {elapsed:.3f} s ({rate:.0f} kB/s),"
        f" expected 0.5 s at {RATE_KB_S} kB/s"
    )


def test_bandwidth_paces_upload_at_rate_when_upstream(
    client: ProxyClient, echo_port: int
) -> None:
    proxy = client.create("slow", f"127.0.0.1:{echo_port}")
    client.add_toxic(
        "slow", "bandwidth", stream="upstream", attributes={"rate": RATE_KB_S}
    )

    with connect(proxy.listen_port) as sock:
        start = time.monotonic()
        sock.sendall(b"u" * PAYLOAD_BYTES)
        recv_exactly(sock, PAYLOAD_BYTES)
        elapsed = time.monotonic() - start

    assert 0.4 <= elapsed <= 0.8, (
        f"{PAYLOAD_BYTES} B echoed in {elapsed:.3f} s,"
        f" expected 0.5 s at {RATE_KB_S} kB/s"
    )


def test_bandwidth_is_unlimited_when_toxic_removed(client: ProxyClient) -> None:
    with payload_server(b"d" * PAYLOAD_BYTES) as upstream:
        proxy = client.create("slow", f"127.0.0.1:{upstream}")
        client.add_toxic("slow", "bandwidth", attributes={"rate": RATE_KB_S})
        client.remove_toxic("slow", "bandwidth_downstream")

        with connect(proxy.listen_port) as sock:
            start = time.monotonic()
            assert len(recv_until_closed(sock)) == PAYLOAD_BYTES
            elapsed = time.monotonic() - start

    assert elapsed < 0.2, f"took {elapsed:.3f} s without the toxic, expected < 0.2 s"
