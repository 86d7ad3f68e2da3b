"""Helpers for tests over the shared stack: polling probes, checking the stack."""

from __future__ import annotations

import time
from collections.abc import Callable

from harness.context import DrillContext
from harness.probes import Probe, ProbeResult, ProbeSpec
from harness.runtime.base import Runtime
from harness.stack import SERVICES

POLL_S = 0.1


def poll_probe(
    probe: Probe[ProbeSpec], *, ok: bool, timeout_s: float = 10.0
) -> ProbeResult:
    """Check until the probe's verdict is `ok`; fail the test with the last result."""
    deadline = time.monotonic() + timeout_s
    result = probe.check()
    while result.ok is not ok and time.monotonic() < deadline:
        time.sleep(POLL_S)
        result = probe.check()
    assert result.ok is ok, (
        f"{probe.name} was not {'ok' if ok else 'failing'} within {timeout_s} s; "
        f"last: {result}"
    )
    return result


def wait_until(
    condition: Callable[[], bool], *, timeout_s: float = 10.0, what: str
) -> None:
    """Poll `condition` until true; fail the test naming `what` when it never is."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not {what} within {timeout_s} s"
        time.sleep(POLL_S)


def stack_problems(runtime: Runtime, ctx: DrillContext) -> list[str]:
    """What keeps the stack from being as a test found it: unready services, toxics."""
    problems = []
    for service in SERVICES:
        health = runtime.health(service.name)
        if not health.ready:
            problems.append(f"{service.name}: {health.state} {health.detail}")
    for name, proxy in ctx.proxy.list().items():
        if not proxy.enabled or proxy.toxics:
            toxics = [t.name for t in proxy.toxics]
            problems.append(f"proxy {name}: enabled={proxy.enabled} toxics={toxics}")
    return problems


def assert_stack_healthy(
    runtime: Runtime, ctx: DrillContext, timeout_s: float = 30.0
) -> None:
    """Every service ready and no proxy disabled or toxic, within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    problems = stack_problems(runtime, ctx)
    while problems and time.monotonic() < deadline:
        time.sleep(0.2)
        problems = stack_problems(runtime, ctx)
    assert not problems, f"the stack is not healthy after the test: {problems}"
