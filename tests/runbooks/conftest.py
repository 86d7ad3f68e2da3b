"""Fixtures of the runbook tests: run a script with the stack's recovery env, heal."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from harness import stack as topology
from harness.errors import DrillError
from harness.paths import PROJECT_ROOT
from harness.proxy.client import ProxyClient
from harness.runtime.local import LocalRuntime

RUNBOOKS = PROJECT_ROOT / "fixtures" / "runbooks"
SCRIPT_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class ScriptRun:
    """A runbook as it ran: exit code and output (stdout and stderr together)."""

    exit_code: int
    output: str

    def lines(self, mark: str) -> list[str]:
        """The output lines that start with `mark` (e.g. ✓ or ✗)."""
        return [line for line in self.output.splitlines() if line.startswith(mark)]


RunScript = Callable[..., ScriptRun]


@pytest.fixture
def run_script(stack: LocalRuntime) -> RunScript:
    """Run fixtures/runbooks/<path> with the stack's recovery env (plus `env`)."""

    def run(path: str, *args: str, env: dict[str, str] | None = None) -> ScriptRun:
        done = subprocess.run(
            [str(RUNBOOKS / path), *args],
            env={
                **os.environ,
                **stack.recovery_env(),
                "RUNBOOK_WAIT_INTERVAL_S": "0.2",
                **(env or {}),
            },
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=SCRIPT_TIMEOUT_S,
            check=False,
        )
        return ScriptRun(done.returncode, done.stdout)

    return run


def wait_until(what: str, check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll `check` until true; fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    pytest.fail(f"{what}: not within {timeout_s} s")


def heal(stack: LocalRuntime) -> None:
    """Put the shared stack back as the tests found it: paths, relays, processes."""
    endpoints = stack.endpoints()
    with ProxyClient(endpoints.proxy_api) as proxy:
        proxy.reset()
    for relay in endpoints.relays.values():
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(f"{relay}/_standin/rejection", json={"rate": 0.0}, timeout=2)
    for chain in endpoints.rpc.values():
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(f"{chain}/_standin/sync", json={"stalled": False}, timeout=2)
    unready = []
    for service in topology.SERVICES:
        health = stack.health(service.name)
        if health.ready:
            continue
        unready.append(service.name)
        if health.state == "paused":
            stack.resume(service.name)
        elif health.state != "running":
            try:
                stack.start(service.name)
            except DrillError:
                # A killed Postgres can leave backends behind: restart clears them.
                stack.restart(service.name)
    for name in unready:
        stack.wait_ready(name, timeout_s=30)


@pytest.fixture
def healed(stack: LocalRuntime) -> Iterator[LocalRuntime]:
    """The shared stack, healed after the test whatever the test broke."""
    try:
        yield stack
    finally:
        heal(stack)


def kill_and_reap(stack: LocalRuntime, *services: str) -> None:
    """SIGKILL services and wait until the runtime sees them gone (and reaped)."""
    for service in services:
        stack.kill(service, "SIGKILL")
    for service in services:
        wait_until(
            f"{service} seen dead after SIGKILL",
            lambda s=service: stack.health(s).state != "running",  # type: ignore[misc]
        )
