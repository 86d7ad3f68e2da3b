"""The reset_peer toxic on real TCP: a reset (ECONNRESET) after `timeout` ms."""

from __future__ import annotations

import time

import pytest

from harness.proxy.client import ProxyClient, Stream
from tests.proxy.upstreams import connect, recv_exactly

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_reset_peer_resets_connection_after_timeout_when_data_flows(
    client: ProxyClient, echo_port: int, stream: Stream
) -> None:
    proxy = client.create("rst", f"127.0.0.1:{echo_port}")
    client.add_toxic("rst", "reset_peer", stream=stream, attributes={"timeout": 200})

    with connect(proxy.listen_port) as sock:
        start = time.monotonic()
        sock.sendall(b"hello")
        with pytest.raises(ConnectionResetError):
            while sock.recv(100):
                pass
        elapsed = time.monotonic() - start

    assert 0.2 <= elapsed <= 0.5, f"reset after {elapsed:.3f} s, expected 0.200 s"


def test_reset_peer_waits_for_data_when_connection_idle(
    client: ProxyClient, echo_port: int
) -> None:
    proxy = client.create("rst", f"127.0.0.1:{echo_port}")
    client.add_toxic("rst", "reset_peer", attributes={"timeout": 0})

    with connect(proxy.listen_port) as sock:
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(100)
        client.remove_toxic("rst", "reset_peer_downstream")
        sock.settimeout(5)
        sock.sendall(b"alive")
        assert recv_exactly(sock, 5) == b"alive"
