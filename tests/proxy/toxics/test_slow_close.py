"""The slow_close toxic on real TCP: the close comes `delay` ms after the end."""

from __future__ import annotations

import time

import pytest

from harness.proxy.client import ProxyClient
from tests.proxy.upstreams import connect, payload_server, recv_exactly

pytestmark = pytest.mark.timeout(30)


def test_slow_close_delays_close_but_not_data_when_upstream_closes(
    client: ProxyClient,
) -> None:
    with payload_server(b"bye") as upstream:
        proxy = client.create("lingering", f"127.0.0.1:{upstream}")
        client.add_toxic("lingering", "slow_close", attributes={"delay": 400})

        with connect(proxy.listen_port) as sock:
            start = time.monotonic()
            data = recv_exactly(sock, 3)
            data_s = time.monotonic() - start
            assert sock.recv(1) == b""
            close_s = time.monotonic() - start

    assert data == b"bye"
    assert data_s < 0.2, f"data took {data_s:.3f} s, expected at once"
    assert 0.4 <= close_s <= 0.6, f"closed after {close_s:.3f} s, expected 0.400 s"


def test_slow_close_is_absent_when_toxicity_zero(client: ProxyClient) -> None:
    with payload_server(b"bye") as upstream:
        proxy = client.create("lingering", f"127.0.0.1:{upstream}")
        client.add_toxic(
            "lingering", "slow_close", toxicity=0.0, attributes={"delay": 400}
        )

        with connect(proxy.listen_port) as sock:
            start = time.monotonic()
            recv_exactly(sock, 3)
            assert sock.recv(1) == b""
            close_s = time.monotonic() - start

    assert close_s < 0.2, f"closed after {close_s:.3f} s, expected at once"
