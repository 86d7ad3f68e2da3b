"""Fixtures: the fault proxy as a real process, started once, reset per test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from harness.proxy.client import ProxyClient
from tests.proxy.process import ProxyServer, start_proxy_server, stop_proxy_server
from tests.proxy.upstreams import echo_server


@pytest.fixture(scope="session")
def proxy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyServer]:
    """The fault proxy process, shared by every test of the session."""
    server = start_proxy_server(tmp_path_factory.mktemp("proxy") / "proxy.log")
    yield server
    stop_proxy_server(server)


@pytest.fixture
def client(proxy_server: ProxyServer) -> Iterator[ProxyClient]:
    """Our client of the shared proxy; every proxy is deleted after the test."""
    with ProxyClient(proxy_server.url, timeout_s=5) as proxy_client:
        yield proxy_client
        for name in proxy_client.list():
            proxy_client.delete(name)


@pytest.fixture
def api(proxy_server: ProxyServer, client: ProxyClient) -> Iterator[httpx.Client]:
    """Raw httpx against the shared proxy, for exact codes, bodies and headers."""
    with httpx.Client(base_url=proxy_server.url, timeout=5) as http:
        yield http


@pytest.fixture(scope="session")
def echo_port() -> Iterator[int]:
    """A loopback echo server shared by the session."""
    with echo_server() as port:
        yield port
