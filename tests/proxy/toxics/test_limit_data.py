"""The limit_data toxic on real TCP: the connection closes after `bytes` bytes."""

from __future__ import annotations

import pytest

from harness.proxy.client import ProxyClient
from tests.proxy.upstreams import (
    connect,
    is_closed,
    recording_server,
    recv_until_closed,
)

pytestmark = pytest.mark.timeout(30)


def test_limit_data_closes_after_limit_when_downstream(
    client: ProxyClient, echo_port: int
) -> None:
    proxy = client.create("capped", f"127.0.0.1:{echo_port}")
    client.add_toxic("capped", "limit_data", attributes={"bytes": 1000})

    with connect(proxy.listen_port) as sock:
        sock.sendall(bytes(range(256)) * 20)
        received = recv_until_closed(sock)

    assert received == (bytes(range(256)) * 20)[:1000]


def test_limit_data_caps_what_upstream_receives_when_upstream(
    client: ProxyClient,
) -> None:
    with recording_server() as (upstream, received):
        proxy = client.create("capped", f"127.0.0.1:{upstream}")
        client.add_toxic(
            "capped", "limit_data", stream="upstream", attributes={"bytes": 100}
        )

        with connect(proxy.listen_port) as sock:
            sock.sendall(b"u" * 500)
            # EOF, or a reset if the proxy closed with our bytes unread.
            assert is_closed(sock)

        assert received.get(timeout=5) == b"u" * 100


def test_limit_data_counts_bytes_across_writes_when_connection_open(
    client: ProxyClient, echo_port: int
) -> None:
    proxy = client.create("capped", f"127.0.0.1:{echo_port}")
    client.add_toxic("capped", "limit_data", attributes={"bytes": 10})

    with connect(proxy.listen_port) as sock:
        sock.sendall(b"123456")
        assert sock.recv(100) == b"123456"
        sock.sendall(b"789abc")
        assert recv_until_closed(sock) == b"789a"
