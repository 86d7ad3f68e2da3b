"""The timeout toxic on real TCP: data stops; the close comes after `timeout` ms."""

from __future__ import annotations

import time

import pytest

from harness.proxy.client import ProxyClient, Stream
from tests.proxy.upstreams import connect, is_closed

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_timeout_drops_data_and_closes_after_timeout_when_set(
    client: ProxyClient, echo_port: int, stream: Stream
) -> None:
    proxy = client.create("stuck", f"127.0.0.1:{echo_port}")
    client.add_toxic("stuck", "timeout", stream=stream, attributes={"timeout": 300})

    with connect(proxy.listen_port) as sock:
        start = time.monotonic()
        sock.sendall(b"anyone?")
        received = sock.recv(100)
        elapsed = time.monotonic() - start

    assert received == b"", "no data may pass a timeout toxic"
    assert 0.3 <= elapsed <= 0.6, f"closed after {elapsed:.3f} s, expected 0.300 s"


def test_timeout_zero_holds_connection_open_without_data(
    client: ProxyClient, echo_port: int
) -> None:
    proxy = client.create("stuck", f"127.0.0.1:{echo_port}")
    client.add_toxic("stuck", "timeout", attributes={"timeout": 0})

    with connect(proxy.listen_port) as sock:
        sock.settimeout(0.5)
        sock.sendall(b"anyone?")
        with pytest.raises(TimeoutError):
            sock.recv(100)


def test_timeout_removal_closes_connections_it_held(
    client: ProxyClient, echo_port: int
) -> None:
    proxy = client.create("stuck", f"127.0.0.1:{echo_port}")
    client.add_toxic("stuck", "timeout", attributes={"timeout": 0})

    with connect(proxy.listen_port) as sock:
        sock.sendall(b"anyone?")
        time.sleep(0.05)
        client.remove_toxic("stuck", "timeout_downstream")
        assert is_closed(sock)
