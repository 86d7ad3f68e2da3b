"""Fixtures for probe tests: a drill context on the shared stack, probes by spec."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from harness.context import DrillContext
from harness.probes import AnyProbeSpec, Probe, ProbeSpec, build
from harness.proxy.client import ProxyClient
from harness.runtime.local import LocalRuntime

from .support import assert_stack_healthy

MakeProbe = Callable[..., Probe[ProbeSpec]]

_SPECS: TypeAdapter[Any] = TypeAdapter(AnyProbeSpec)


@pytest.fixture
def ctx(stack: LocalRuntime, tmp_path: Path) -> Iterator[DrillContext]:
    """A DrillContext on the shared stack; the stack must be healthy after the test."""
    proxy = ProxyClient(stack.endpoints().proxy_api)
    context = DrillContext(
        runtime=stack, proxy=proxy, work_dir=tmp_path, rng=random.Random(7)
    )
    try:
        yield context
        assert_stack_healthy(stack, context)
    finally:
        proxy.close()


@pytest.fixture
def make_probe(ctx: DrillContext) -> Iterator[MakeProbe]:
    """Build a probe from a spec's fields (validated as a scenario file would be)."""
    made: list[Probe[ProbeSpec]] = []

    def make(**fields: Any) -> Probe[ProbeSpec]:
        probe = build(_SPECS.validate_python(fields), ctx)
        made.append(probe)
        return probe

    yield make
    for probe in made:
        probe.close()
