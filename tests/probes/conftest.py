"""Fixtures for probe tests: a drill context on the shared stack, probes by spec."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import TypeAdapter

from harness.context import DrillContext
from harness.probes import AnyProbeSpec, Probe, ProbeSpec, build
from harness.runtime.local import LocalRuntime

from .support import assert_stack_healthy

MakeProbe = Callable[..., Probe[ProbeSpec]]

_SPECS: TypeAdapter[Any] = TypeAdapter(AnyProbeSpec)


@pytest.fixture
def ctx(stack: LocalRuntime, ctx: DrillContext) -> Iterator[DrillContext]:
    """The shared drill context; the stack must be healthy after the test."""
    yield ctx
    assert_stack_healthy(stack, ctx)


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
