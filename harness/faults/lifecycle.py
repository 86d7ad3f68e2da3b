"""Helpers the process-level faults share: signal and wait, start what is down.

They talk to the `Runtime` interface only, so they hold for any runtime.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import httpx

from harness.errors import StackError
from harness.runtime.base import Runtime

log = logging.getLogger(__name__)

KillSignal = Literal["SIGKILL", "SIGTERM", "SIGINT", "SIGQUIT", "SIGABRT"]
"""Signals that end a process; a fault that kills waits for the exit."""

EXIT_TIMEOUT_S = 15.0
"""How long a killed or stopped service may take to exit before inject fails."""

CONTROL_TIMEOUT_S = 3.0
"""Deadline of one call to a stand-in's /_standin/ control endpoint."""

POLL_S = 0.02

GONE = ("stopped", "exited")


def wait_until(condition: Callable[[], bool], *, timeout_s: float) -> bool:
    """Poll `condition` every 20 ms for up to `timeout_s` seconds; its last value."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            return condition()
        time.sleep(POLL_S)
    return True


def is_gone(runtime: Runtime, service: str) -> bool:
    """The service's process is not there (stopped on purpose, or exited)."""
    return runtime.health(service).state in GONE


def _gone(runtime: Runtime, service: str) -> Callable[[], bool]:
    return lambda: is_gone(runtime, service)


def kill_and_wait(runtime: Runtime, services: Sequence[str], signal: str) -> None:
    """Send `signal` to every service, then wait until each has exited.

    Raises StackError when a service is not running, or outlives the signal
    for EXIT_TIMEOUT_S seconds.
    """
    for service in services:
        runtime.kill(service, signal)
    for service in services:
        if not wait_until(_gone(runtime, service), timeout_s=EXIT_TIMEOUT_S):
            state = runtime.health(service).state
            raise StackError(
                f"{service} is still {state} {EXIT_TIMEOUT_S:.0f}s after {signal}",
                hint=f"read its log (`drill logs {service}`); choose SIGKILL",
            )


def in_parallel(work: Callable[[str], Any], services: Sequence[str]) -> None:
    """Run `work` for every service at once; re-raise the first failure."""
    if not services:
        return
    with ThreadPoolExecutor(max_workers=len(services)) as pool:
        for future in [pool.submit(work, s) for s in services]:
            future.result()


def start_missing(runtime: Runtime, services: Sequence[str]) -> list[str]:
    """Start every service that is stopped or exited and wait until it is ready.

    Returns the ones it started; running and paused services are left alone.
    """
    missing = [s for s in services if is_gone(runtime, s)]
    in_parallel(lambda s: runtime.start(s, wait=True), missing)
    if missing:
        log.info("started %s", ", ".join(missing))
    return missing


def control(
    method: str, url: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Call a stand-in's control endpoint and return its JSON answer.

    Raises StackError naming the URL and what came back.
    """
    try:
        answer = httpx.request(method, url, json=body, timeout=CONTROL_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise StackError(
            f"{method} {url} failed ({type(exc).__name__}: {exc})",
            hint="is the service running and its public route through the "
            "fault proxy enabled?",
        ) from exc
    if answer.status_code != 200:
        raise StackError(
            f"{method} {url} answered HTTP {answer.status_code}: "
            f"{answer.text.strip()[:200]}",
            hint="check the control endpoint's body (see the stand-in's docs)",
        )
    result: dict[str, Any] = answer.json()
    return result
