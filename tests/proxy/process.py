"""The fault proxy as a real process, for the tests: start it, wait until it answers."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.proxy.upstreams import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ProxyServer:
    """A running `python -m harness.proxy` and where its API answers."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    started_in_s: float


def start_proxy_server(log_path: Path) -> ProxyServer:
    """Start the fault proxy on a free port; return once GET /version answers."""
    port = free_port()
    start = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "harness.proxy", "--port", str(port)],
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    while time.monotonic() - start < START_TIMEOUT_S:
        if process.poll() is not None:
            pytest.fail(
                f"fault proxy exited {process.returncode}: {log_path.read_text()}"
            )
        try:
            httpx.get(f"{url}/version", timeout=1).raise_for_status()
            return ProxyServer(url, port, process, time.monotonic() - start)
        except httpx.HTTPError:
            time.sleep(0.02)
    process.kill()
    pytest.fail(
        f"fault proxy not ready after {START_TIMEOUT_S} s: {log_path.read_text()}"
    )


def stop_proxy_server(server: ProxyServer) -> int:
    """SIGTERM, then SIGKILL after 5 s; the exit code."""
    server.process.terminate()
    try:
        return server.process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        server.process.kill()
        return server.process.wait()
