"""The unmodified toxiproxy-python client (0.1.1) drives our proxy end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from harness.proxy.client import ProxyClient
from tests.proxy.process import ProxyServer
from tests.proxy.upstreams import connect, recv_exactly, round_trip_s

# The client uses requests without timeouts: bound every test.
pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def toxiproxy(proxy_server: ProxyServer, client: ProxyClient) -> Iterator[Toxiproxy]:
    """A toxiproxy-python server object pointed at our proxy (class attributes)."""
    saved = APIConsumer.host, APIConsumer.port
    APIConsumer.host, APIConsumer.port = "127.0.0.1", proxy_server.port
    yield Toxiproxy()
    APIConsumer.host, APIConsumer.port = saved


def test_toxiproxy_client_creates_and_lists_proxy_when_listen_port_zero(
    toxiproxy: Toxiproxy, echo_port: int
) -> None:
    proxy = toxiproxy.create(
        upstream=f"127.0.0.1:{echo_port}", name="py", listen="127.0.0.1:0"
    )

    assert proxy.name == "py"
    assert proxy.enabled is True
    assert not proxy.listen.endswith(":0")
    assert toxiproxy.running() is True
    assert set(toxiproxy.proxies()) == {"py"}
    assert toxiproxy.get_proxy("py").listen == proxy.listen
    with connect(int(proxy.listen.rsplit(":", 1)[1])) as sock:
        sock.sendall(b"hi")
        assert recv_exactly(sock, 2) == b"hi"


def test_toxiproxy_client_raises_proxy_exists_when_server_answers_409(
    toxiproxy: Toxiproxy, echo_port: int
) -> None:
    toxiproxy.create(upstream=f"127.0.0.1:{echo_port}", name="py")
    body = {"name": "py", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"}

    with pytest.raises(ProxyExists) as raised:
        APIConsumer.post("/proxies", json=body)

    assert json.loads(raised.value.args[0]) == {
        "error": "proxy already exists",
        "status": 409,
    }


def test_toxiproxy_client_raises_not_found_when_proxy_missing(
    toxiproxy: Toxiproxy,
) -> None:
    with pytest.raises(NotFound):
        APIConsumer.get("/proxies/missing")
    assert toxiproxy.get_proxy("missing") is None


def test_toxiproxy_client_toxic_acts_on_traffic_and_is_destroyed(
    toxiproxy: Toxiproxy, echo_port: int
) -> None:
    proxy = toxiproxy.create(upstream=f"127.0.0.1:{echo_port}", name="py")
    port = int(proxy.listen.rsplit(":", 1)[1])

    proxy.add_toxic(type="latency", attributes={"latency": 150})
    toxics = proxy.toxics()
    with connect(port) as sock:
        slow = round_trip_s(sock)
        destroyed = proxy.destroy_toxic("latency_downstream")
        fast = round_trip_s(sock)

    assert set(toxics) == {"latency_downstream"}
    assert toxics["latency_downstream"].attributes == {"latency": 150, "jitter": 0}
    assert toxics["latency_downstream"].toxicity == 1
    assert slow >= 0.15, f"round trip {slow:.3f} s with 150 ms latency"
    assert destroyed is True
    assert fast < 0.1, f"round trip {fast:.3f} s after destroy_toxic"
    assert proxy.toxics() == {}


def test_toxiproxy_client_raises_invalid_toxic_when_type_unknown(
    toxiproxy: Toxiproxy, echo_port: int
) -> None:
    proxy = toxiproxy.create(upstream=f"127.0.0.1:{echo_port}", name="py")

    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="gremlin")


def test_toxiproxy_client_down_refuses_connections_inside_context(
    toxiproxy: Toxiproxy, echo_port: int
) -> None:
    proxy = toxiproxy.create(upstream=f"127.0.0.1:{echo_port}", name="py")
    port = int(proxy.listen.rsplit(":", 1)[1])

    with proxy.down():
        with pytest.raises(ConnectionRefusedError):
            connect(port)
        assert toxiproxy.get_proxy("py").enabled is False

    with connect(port) as sock:
        sock.sendall(b"up")
        assert recv_exactly(sock, 2) == b"up"


def test_toxiproxy_client_reset_removes_toxics_and_reenables(
    toxiproxy: Toxiproxy, echo_port: int
) -> None:
    proxy = toxiproxy.create(upstream=f"127.0.0.1:{echo_port}", name="py")
    proxy.add_toxic(type="timeout", attributes={"timeout": 0})
    proxy.disable()

    assert toxiproxy.reset() is True

    again = toxiproxy.get_proxy("py")
    assert again.enabled is True
    assert again.toxics() == {}


def test_toxiproxy_client_populate_creates_only_missing_when_called_twice(
    toxiproxy: Toxiproxy, echo_port: int
) -> None:
    wanted = [
        {"name": "a", "upstream": f"127.0.0.1:{echo_port}", "listen": "127.0.0.1:0"},
        {"name": "b", "upstream": f"127.0.0.1:{echo_port}", "listen": "127.0.0.1:0"},
    ]

    first = toxiproxy.populate(wanted)
    listens = {name: p.listen for name, p in toxiproxy.proxies().items()}
    exact = [{**w, "listen": listens[w["name"]]} for w in wanted]
    second = toxiproxy.populate(exact)

    assert [p.name for p in first] == ["a", "b"]
    assert second == []
    assert {n: p.listen for n, p in toxiproxy.proxies().items()} == listens


def test_toxiproxy_client_version_and_destroy_all_when_proxies_exist(
    toxiproxy: Toxiproxy, echo_port: int
) -> None:
    toxiproxy.create(upstream=f"127.0.0.1:{echo_port}", name="a")
    toxiproxy.create(upstream=f"127.0.0.1:{echo_port}", name="b")

    version = toxiproxy.version()
    toxiproxy.destroy_all()

    assert json.loads(version) == {"version": "2.12.0"}
    assert toxiproxy.proxies() == {}
