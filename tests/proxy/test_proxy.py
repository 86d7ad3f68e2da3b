"""Proxies over real TCP: pass-through, enable and disable, restarts, populate."""

from __future__ import annotations

import os

import pytest

from harness.proxy.client import ProxyClient, ProxySpec
from tests.proxy.upstreams import (
    connect,
    free_port,
    is_closed,
    payload_server,
    recv_exactly,
    recv_until_closed,
)

pytestmark = pytest.mark.timeout(30)


def test_proxy_passes_bytes_unchanged_both_ways_when_no_toxics(
    client: ProxyClient, echo_port: int
) -> None:
    proxy = client.create("echo", f"127.0.0.1:{echo_port}")
    payload = os.urandom(3_000_000)

    with connect(proxy.listen_port) as sock:
        sock.sendall(payload)
        echoed = recv_exactly(sock, len(payload))

    assert echoed == payload


def test_proxy_closes_client_when_upstream_closes(client: ProxyClient) -> None:
    with payload_server(b"hello and bye") as upstream:
        proxy = client.create("bye", f"127.0.0.1:{upstream}")
        with connect(proxy.listen_port) as sock:
            assert recv_until_closed(sock) == b"hello and bye"


def test_proxy_closes_client_when_upstream_refuses(client: ProxyClient) -> None:
    proxy = client.create("nowhere", f"127.0.0.1:{free_port()}")

    with connect(proxy.listen_port) as sock:
        assert is_closed(sock)


def test_disable_refuses_new_and_closes_open_connections_when_enabled_false(
    client: ProxyClient, echo_port: int
) -> None:
    proxy = client.create("gate", f"127.0.0.1:{echo_port}")
    sock = connect(proxy.listen_port)
    sock.sendall(b"ping")
    assert recv_exactly(sock, 4) == b"ping"

    disabled = client.update("gate", enabled=False)

    assert disabled.enabled is False
    assert is_closed(sock), "the open connection should be closed"
    sock.close()
    with pytest.raises(ConnectionRefusedError):
        connect(proxy.listen_port)


def test_enable_reopens_same_address_when_reenabled(
    client: ProxyClient, echo_port: int
) -> None:
    proxy = client.create("gate", f"127.0.0.1:{echo_port}")
    client.update("gate", enabled=False)

    again = client.update("gate", enabled=True)

    assert again.listen == proxy.listen
    with connect(again.listen_port) as sock:
        sock.sendall(b"back")
        assert recv_exactly(sock, 4) == b"back"


def test_listen_change_restarts_on_new_address_and_drops_old_connections(
    client: ProxyClient, echo_port: int
) -> None:
    proxy = client.create("mover", f"127.0.0.1:{echo_port}")
    old = connect(proxy.listen_port)
    new_port = free_port()

    moved = client.update("mover", listen=f"127.0.0.1:{new_port}")

    assert moved.listen == f"127.0.0.1:{new_port}"
    assert moved.enabled is True
    assert is_closed(old)
    old.close()
    with pytest.raises(ConnectionRefusedError):
        connect(proxy.listen_port)
    with connect(new_port) as sock:
        sock.sendall(b"new")
        assert recv_exactly(sock, 3) == b"new"


def test_upstream_change_sends_new_connections_to_new_upstream(
    client: ProxyClient,
) -> None:
    with payload_server(b"A") as first, payload_server(b"B") as second:
        proxy = client.create("switch", f"127.0.0.1:{first}")
        with connect(proxy.listen_port) as sock:
            assert recv_until_closed(sock) == b"A"

        client.update("switch", upstream=f"127.0.0.1:{second}")

        with connect(proxy.listen_port) as sock:
            assert recv_until_closed(sock) == b"B"


def test_delete_closes_open_connections_when_proxy_removed(
    client: ProxyClient, echo_port: int
) -> None:
    proxy = client.create("doomed", f"127.0.0.1:{echo_port}")

    with connect(proxy.listen_port) as sock:
        client.delete("doomed")
        assert is_closed(sock)


def test_populate_keeps_proxy_and_its_toxics_when_addresses_unchanged(
    client: ProxyClient, echo_port: int
) -> None:
    spec = ProxySpec(
        name="stable",
        listen=f"127.0.0.1:{free_port()}",
        upstream=f"127.0.0.1:{echo_port}",
    )
    (first,) = client.populate([spec])
    client.add_toxic("stable", "latency", attributes={"latency": 1})
    sock = connect(first.listen_port)

    (second,) = client.populate([spec])

    assert second.listen == first.listen
    assert [t.name for t in second.toxics] == ["latency_downstream"]
    sock.sendall(b"still")
    assert recv_exactly(sock, 5) == b"still", "populate must not drop connections"
    sock.close()


def test_populate_replaces_proxy_when_upstream_differs(
    client: ProxyClient, echo_port: int
) -> None:
    listen = f"127.0.0.1:{free_port()}"
    client.populate(
        [ProxySpec(name="r", listen=listen, upstream=f"127.0.0.1:{echo_port}")]
    )
    client.add_toxic("r", "latency", attributes={"latency": 1})

    (replaced,) = client.populate(
        [ProxySpec(name="r", listen=listen, upstream="127.0.0.1:9")]
    )

    assert replaced.upstream == "127.0.0.1:9"
    assert replaced.listen == listen
    assert replaced.toxics == ()


def test_reset_reenables_proxy_when_disabled(
    client: ProxyClient, echo_port: int
) -> None:
    proxy = client.create("r", f"127.0.0.1:{echo_port}")
    client.update("r", enabled=False)

    client.reset()

    with connect(proxy.listen_port) as sock:
        sock.sendall(b"up")
        assert recv_exactly(sock, 2) == b"up"


def test_disable_closes_connections_while_toxics_hold_their_data(
    client: ProxyClient, echo_port: int
) -> None:
    proxy = client.create("held", f"127.0.0.1:{echo_port}")
    client.add_toxic("held", "latency", attributes={"latency": 5000})

    with connect(proxy.listen_port) as sock:
        sock.sendall(b"never echoed")
        client.update("held", enabled=False)
        # EOF, or a reset when the close beat the proxy reading our bytes;
        # either way the held bytes never come back.
        assert is_closed(sock)
