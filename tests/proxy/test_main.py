"""`python -m harness.proxy`: flags, start time, clean stop on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.proxy.client import ProxyClient
from tests.proxy.process import REPO_ROOT, start_proxy_server, stop_proxy_server
from tests.proxy.upstreams import connect

pytestmark = pytest.mark.timeout(30)

START_BUDGET_S = 1.5


def test_main_answers_version_quickly_and_stops_cleanly_on_sigterm(
    tmp_path: Path, echo_port: int
) -> None:
    server = start_proxy_server(tmp_path / "proxy.log")
    with ProxyClient(server.url) as client:
        proxy = client.create("p", f"127.0.0.1:{echo_port}")
    sock = connect(proxy.listen_port)

    code = stop_proxy_server(server)

    assert server.started_in_s < START_BUDGET_S, (
        f"ready after {server.started_in_s:.3f} s, budget {START_BUDGET_S} s"
    )
    # uvicorn re-raises SIGTERM after its shutdown: the exit is -SIGTERM.
    assert code in (0, -signal.SIGTERM)
    assert sock.recv(1) == b"", "its proxies' connections close with it"
    sock.close()
    assert "stopped proxy p" in (tmp_path / "proxy.log").read_text()


def test_main_help_names_the_flags() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "harness.proxy", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )

    assert result.stdout.startswith("usage: python -m harness.proxy")
    for flag in ("--host", "--port", "--log-level"):
        assert flag in result.stdout
