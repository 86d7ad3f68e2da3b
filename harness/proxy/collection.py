"""Every proxy of the server by name: create, populate, update, delete, reset."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

from harness.proxy.api_errors import (
    bad_request_body,
    internal,
    missing_field,
    proxy_already_exists,
    proxy_not_found,
)
from harness.proxy.bodies import ProxyBody, decode
from harness.proxy.proxy import DEFAULT_HOST, Proxy, format_address, split_host_port


class ProxyCollection:
    """The server's proxies. Mutations hold `lock`: starting one awaits."""

    def __init__(self) -> None:
        self._proxies: dict[str, Proxy] = {}
        self.lock = asyncio.Lock()

    def all(self) -> list[Proxy]:
        """Every proxy, sorted by name."""
        return [self._proxies[name] for name in sorted(self._proxies)]

    def get(self, name: str) -> Proxy:
        """The proxy called `name`, or 404 proxy not found."""
        proxy = self._proxies.get(name)
        if proxy is None:
            raise proxy_not_found()
        return proxy

    async def create(self, raw: Any) -> Proxy:
        """POST /proxies: a new proxy, started unless `enabled` is false."""
        body = decode(ProxyBody, raw, "toxiproxy.Proxy")
        if not body.name:
            raise missing_field("name")
        if not body.upstream:
            raise missing_field("upstream")
        if body.name in self._proxies:
            raise proxy_already_exists()
        proxy = Proxy(body.name, body.listen or "", body.upstream)
        if body.enabled is not False:
            await proxy.start()
        self._proxies[proxy.name] = proxy
        return proxy

    async def populate(self, raw: Any) -> list[Proxy]:
        """POST /populate: create or replace proxies whose addresses differ.

        A proxy whose listen and upstream already match is kept as it is,
        toxics and all, so populating twice changes nothing. The whole
        request is checked before anything changes.
        """
        if not isinstance(raw, list):
            kind = "object" if isinstance(raw, dict) else type(raw).__name__
            raise bad_request_body(
                f"json: cannot unmarshal {kind} into Go value of type []toxiproxy.Proxy"
            )
        wanted: dict[str, tuple[str, str, bool | None]] = {}
        for number, item in enumerate(raw, start=1):
            body = decode(ProxyBody, item, "toxiproxy.Proxy")
            if not body.name:
                raise missing_field(f"name at proxy {number}")
            if not body.upstream:
                raise missing_field(f"upstream at proxy {number}")
            if body.name in wanted:
                raise internal(f"duplicate proxy name {json.dumps(body.name)}")
            wanted[body.name] = (body.listen or "", body.upstream, body.enabled)
        return [
            await self._add_or_replace(name, listen, upstream, enabled)
            for name, (listen, upstream, enabled) in wanted.items()
        ]

    async def _add_or_replace(
        self, name: str, listen: str, upstream: str, enabled: bool | None
    ) -> Proxy:
        existing = self._proxies.get(name)
        if existing is not None:
            if existing.upstream == upstream and _same_listen(existing.listen, listen):
                return existing
            existing.stop()
            del self._proxies[name]
        proxy = Proxy(name, listen, upstream)
        if enabled is not False:
            await proxy.start()
        self._proxies[name] = proxy
        return proxy

    async def update(self, name: str, raw: Any) -> Proxy:
        """POST|PATCH /proxies/{name}: change listen, upstream and/or enabled."""
        proxy = self.get(name)
        body = decode(ProxyBody, raw, "toxiproxy.Proxy")
        await proxy.update(
            proxy.listen if body.listen is None else body.listen,
            proxy.upstream if body.upstream is None else body.upstream,
            proxy.enabled if body.enabled is None else body.enabled,
        )
        return proxy

    def delete(self, name: str) -> None:
        """DELETE /proxies/{name}: stop it and forget it."""
        proxy = self.get(name)
        proxy.stop()
        del self._proxies[name]

    async def reset(self) -> None:
        """POST /reset: enable every proxy and remove every toxic."""
        for proxy in self.all():
            await proxy.start()
            proxy.toxics.reset()

    def stop_all(self) -> None:
        """Stop every proxy (server shutdown)."""
        for proxy in self._proxies.values():
            proxy.stop()


def _same_listen(bound: str, requested: str) -> bool:
    """Whether `requested` names the address `bound` (Go resolves it first).

    Port 0 never matches a bound port, as in Toxiproxy: it asks for a new one.
    """
    if bound == requested:
        return True
    try:
        host, port = split_host_port(requested)
        infos = socket.getaddrinfo(host or DEFAULT_HOST, port, type=socket.SOCK_STREAM)
    except (ValueError, OSError):
        return False
    return any(format_address(info[4]) == bound for info in infos)
