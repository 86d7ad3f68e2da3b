"""Ports: finding free ones and proving the runbook's are available."""

from __future__ import annotations

import contextlib
import socket

from harness.errors import PortInUse

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A port the kernel reports free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_ports(count: int, host: str = HOST) -> list[int]:
    """`count` distinct free ports, all held open until chosen."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(
                socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            )
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def ensure_free(port: int, owner: str, host: str = HOST) -> None:
    """Raise PortInUse when `port` cannot be bound; `owner` names who needs it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortInUse(
                f"port {port} on {host} (for {owner}) is already in use "
                f"({exc.strerror})",
                hint="stop whatever holds it (`ss -ltnp 'sport = :"
                f"{port}'` shows it), or run `drill up --ports auto` for free ports",
            ) from None
