"""One proxy: a listener, its upstream, and the connections it carries.

Each accepted client gets a connection to the upstream and two links, one a
direction. Disabling the proxy closes the listener (new clients are refused)
and every open connection, as Toxiproxy does.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import Any, cast

from harness.proxy.api_errors import internal
from harness.proxy.link import Link
from harness.proxy.stream import Direction
from harness.proxy.toxic_collection import ToxicCollection

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
"""Where a listen address without a host binds (Toxiproxy: every interface)."""

WRITE_HIGH_BYTES = 1024 * 1024
"""A destination transport pauses its source above this much buffered (1 MiB)."""

WRITE_LOW_BYTES = 256 * 1024
"""... and resumes it below this much (256 KiB)."""

READ_MIN_BYTES = 16 * 1024
"""A connection's first read buffer (16 KiB): small for request/response."""

READ_MAX_BYTES = 1024 * 1024
"""Read buffers double while reads fill them, up to 1 MiB for bulk transfers."""

LISTEN_BACKLOG = 1024


def split_host_port(address: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` as (host, port); ValueError when malformed."""
    host, sep, port = address.rpartition(":")
    if not sep:
        raise ValueError(f"address {address}: missing port in address")
    host = host.removeprefix("[").removesuffix("]")
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"address {address}: invalid port")
    return host, int(port)


def format_address(sockname: Any) -> str:
    """A socket address as Go prints it: `127.0.0.1:8545`, `[::1]:8545`."""
    host, port = sockname[0], sockname[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bind_listener(listen: str) -> socket.socket:
    """A listening TCP socket for `listen`, or 500 worded like Go's net.Listen.

    An empty host binds 127.0.0.1 and an empty address 127.0.0.1:0 (Toxiproxy
    binds every interface; this stack never listens beyond loopback).
    """
    try:
        host, port = split_host_port(listen or ":0")
    except ValueError as exc:
        raise internal(f"listen tcp: {exc}") from None
    try:
        infos = socket.getaddrinfo(host or DEFAULT_HOST, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise internal(f"listen tcp: lookup {host}: {exc.strerror}") from None
    # Like Go, prefer IPv4 when a name has both (localhost).
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        raise internal(f"listen tcp {listen}: bind: {reason}") from None
    sock.setblocking(False)
    return sock


class Proxy:
    """A named proxy from `listen` to `upstream` (both `host:port`).

    Created disabled; `start()` binds the listener. `listen` always shows
    the bound address once started, so port 0 reads as the real port.
    """

    def __init__(self, name: str, listen: str, upstream: str) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.toxics = ToxicCollection()
        self.connections: set[Connection] = set()
        self._server: asyncio.AbstractServer | None = None

    def to_json(self) -> dict[str, Any]:
        """The proxy's JSON object, keys in Toxiproxy's order."""
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [spec.to_json() for spec in self.toxics.specs()],
        }

    async def start(self) -> None:
        """Bind and accept clients; 500 ApiError when the address is unusable."""
        if self.enabled:
            return
        sock = bind_listener(self.listen)
        self.listen = format_address(sock.getsockname())
        loop = asyncio.get_running_loop()
        # Enabled before serving: clients of a disabled proxy are refused.
        self.enabled = True
        try:
            self._server = await loop.create_server(
                lambda: _Side(Connection(self), client=True), sock=sock
            )
        except OSError as exc:
            self.enabled = False
            sock.close()
            raise internal(f"listen tcp {self.listen}: {exc}") from None
        log.info("started proxy %s on %s to %s", self.name, self.listen, self.upstream)

    def stop(self) -> None:
        """Close the listener and every open connection; no-op when stopped."""
        if not self.enabled:
            return
        self.enabled = False
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self.connections):
            conn.abort()
        log.info("stopped proxy %s on %s", self.name, self.listen)

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        """Apply a partial update: a new address restarts, `enabled` starts or stops.

        On a failed start the proxy stays disabled with its new addresses.
        """
        if listen != self.listen or upstream != self.upstream:
            self.stop()
            self.listen, self.upstream = listen, upstream
        if enabled and not self.enabled:
            await self.start()
        elif not enabled:
            self.stop()


class Connection:
    """A client, its upstream connection, and the two links between them."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.client: _Side | None = None
        self.server: _Side | None = None
        self.links: list[Link] = []
        self._dial: asyncio.Task[None] | None = None
        self._lost: set[_Side] = set()
        self._done = False

    def client_made(self, side: _Side) -> None:
        """A client was accepted: dial the upstream (the side holds early data)."""
        self.client = side
        if not self.proxy.enabled:
            # Accepted just before the listener closed: the proxy is down.
            side.transport.abort()
            return
        log.debug(
            "proxy %s: client %s",
            self.proxy.name,
            side.transport.get_extra_info("peername"),
        )
        self.proxy.connections.add(self)
        self._dial = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            host, port = split_host_port(self.proxy.upstream)
            await loop.create_connection(
                lambda: _Side(self, client=False), host or DEFAULT_HOST, port
            )
        except (OSError, ValueError) as exc:
            log.warning(
                "proxy %s: cannot connect to upstream %s: %s",
                self.proxy.name,
                self.proxy.upstream,
                exc,
            )
            self.abort()

    def server_made(self, side: _Side) -> None:
        """The upstream answered: link the two sockets and let data flow."""
        client = self.client
        if self._done or client is None:
            side.transport.abort()
            return
        self.server = side
        name = self.proxy.name
        log.debug("proxy %s: connected to upstream %s", name, self.proxy.upstream)
        up = Link(
            Direction.UPSTREAM, client.transport, side.transport, self.reset, name
        )
        down = Link(
            Direction.DOWNSTREAM, side.transport, client.transport, self.reset, name
        )
        up.peer, down.peer = down, up
        client.reader, client.writer = up, down
        side.reader, side.writer = down, up
        self.links = [up, down]
        for link in self.links:
            self.proxy.toxics.attach(link)
        client.flush_early()

    def side_lost(self, side: _Side) -> None:
        """A socket closed: its reader ends, its writer stops; maybe all done."""
        self._lost.add(side)
        if side.reader is not None:
            side.reader.source_ended()
        if side.writer is not None:
            side.writer.end_output()
        if side is self.client and self.server is None:
            self.abort()
        if self.client in self._lost and (
            self.server is None or self.server in self._lost
        ):
            self._finish()

    def abort(self) -> None:
        """Close both sockets now (proxy disabled, or upstream unreachable)."""
        self._finish()
        for side in (self.client, self.server):
            if side is not None and not side.transport.is_closing():
                side.transport.abort()

    def reset(self) -> None:
        """Close both sockets with RST: SO_LINGER on, zero timeout."""
        linger = struct.pack("ii", 1, 0)
        for side in (self.client, self.server):
            if side is None or side.transport.is_closing():
                continue
            sock = side.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        self.abort()

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        if self._dial is not None and not self._dial.done():
            self._dial.cancel()
        for link in self.links:
            self.proxy.toxics.detach(link)
            link.stop()
        self.proxy.connections.discard(self)


class _Side(asyncio.BufferedProtocol):
    """One socket of a connection, the client's or the upstream's.

    Reads go straight into a buffer that is reused while the destination
    takes each read whole; when the destination keeps a reference to it
    (a partial write), the next read gets a fresh buffer. A read that fills
    the buffer doubles the next one, so bulk transfers read big.
    """

    transport: asyncio.Transport

    def __init__(self, conn: Connection, *, client: bool) -> None:
        self.conn = conn
        self.is_client = client
        self.reader: Link | None = None
        self.writer: Link | None = None
        self._buffer = bytearray(READ_MIN_BYTES)
        self._next_bytes = READ_MIN_BYTES
        self._lent = False
        self._early: list[bytes] = []
        self._early_eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(WRITE_HIGH_BYTES, WRITE_LOW_BYTES)
        if self.is_client:
            self.conn.client_made(self)
        else:
            self.conn.server_made(self)

    def get_buffer(self, sizehint: int) -> bytearray:
        if self._lent:
            self._buffer = bytearray(self._next_bytes)
            self._lent = False
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        reader = self.reader
        if reader is not None:
            self._lent = reader.feed(memoryview(self._buffer)[:nbytes])
            if nbytes == self._next_bytes < READ_MAX_BYTES:
                self._next_bytes *= 2
                self._lent = True
        else:
            # The upstream is not connected yet: keep the data, read no more.
            self._early.append(bytes(memoryview(self._buffer)[:nbytes]))
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        if self.reader is not None:
            self.reader.source_ended()
        else:
            self._early_eof = True
        return True

    def flush_early(self) -> None:
        """Links exist now: pass on what arrived before, then read on."""
        assert self.reader is not None
        for data in self._early:
            self.reader.feed(memoryview(data))
        self._early.clear()
        if self._early_eof:
            self.reader.source_ended()
        elif not self.transport.is_closing():
            self.transport.resume_reading()

    def pause_writing(self) -> None:
        if self.writer is not None:
            self.writer.dst_full(True)

    def resume_writing(self) -> None:
        if self.writer is not None:
            self.writer.dst_full(False)

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.side_lost(self)
