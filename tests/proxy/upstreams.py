"""Small loopback upstream servers for the proxy tests, and socket helpers."""

from __future__ import annotations

import queue
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

TIMEOUT_S = 5.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Resets and aborted connections are what these tests provoke.
        pass


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


def _payload_handler(payload: bytes) -> type[socketserver.BaseRequestHandler]:
    class _Payload(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.sendall(payload)

    return _Payload


@contextmanager
def serving(handler: type[socketserver.BaseRequestHandler]) -> Iterator[int]:
    """Run a threaded TCP server on a free 127.0.0.1 port; yield the port."""
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def echo_server() -> Iterator[int]:
    """An upstream that echoes every byte back; yields its port."""
    with serving(_Echo) as port:
        yield port


@contextmanager
def payload_server(payload: bytes) -> Iterator[int]:
    """An upstream that sends `payload` to each client, then closes; yields its port."""
    with serving(_payload_handler(payload)) as port:
        yield port


@contextmanager
def recording_server() -> Iterator[tuple[int, queue.Queue[bytes]]]:
    """An upstream that reads until EOF and queues what each connection sent."""
    received: queue.Queue[bytes] = queue.Queue()

    class _Record(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data = b""
            try:
                while piece := self.request.recv(65536):
                    data += piece
            finally:
                received.put(data)

    with serving(_Record) as port:
        yield port, received


def connect(port: int) -> socket.socket:
    """A client socket to 127.0.0.1:`port` with a 5 s timeout."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, nbytes: int) -> bytes:
    """Read exactly `nbytes`; AssertionError if the peer closes first."""
    data = b""
    while len(data) < nbytes:
        piece = sock.recv(nbytes - len(data))
        assert piece, f"closed after {len(data)} of {nbytes} bytes"
        data += piece
    return data


def recv_until_closed(sock: socket.socket) -> bytes:
    """Read until the peer closes (EOF); the bytes read."""
    data = b""
    while piece := sock.recv(65536):
        data += piece
    return data


def round_trip_s(sock: socket.socket, nbytes: int = 16) -> float:
    """Send `nbytes` through an echo path and read them back; seconds taken."""
    start = time.monotonic()
    sock.sendall(b"x" * nbytes)
    recv_exactly(sock, nbytes)
    return time.monotonic() - start


def is_closed(sock: socket.socket) -> bool:
    """Whether the peer closed (EOF or reset) before the socket's timeout."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
