"""The noop toxic on real TCP: data passes unchanged both ways."""

from __future__ import annotations

import os

import pytest

from harness.proxy.client import ProxyClient
from tests.proxy.upstreams import connect, recv_exactly

pytestmark = pytest.mark.timeout(30)


def test_noop_passes_data_unchanged_when_on_both_streams(
    client: ProxyClient, echo_port: int
) -> None:
    proxy = client.create("plain", f"127.0.0.1:{echo_port}")
    client.add_toxic("plain", "noop", stream="upstream")
    client.add_toxic("plain", "noop", stream="downstream")
    payload = os.urandom(1_000_000)

    with connect(proxy.listen_port) as sock:
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
