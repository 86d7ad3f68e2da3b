"""Fixtures of the fault tests: a drill context on the shared session stack."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.context import DrillContext
from harness.proxy.client import ProxyClient

if TYPE_CHECKING:
    from harness.runtime.local import LocalRuntime


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: restarts services or rotates secrets (several seconds)"
    )


@pytest.fixture
def ctx(stack: LocalRuntime, tmp_path: Path) -> Iterator[DrillContext]:
    """A DrillContext on the shared stack, with a private work directory."""
    proxy = ProxyClient(stack.endpoints().proxy_api)
    yield DrillContext(
        runtime=stack, proxy=proxy, work_dir=tmp_path, rng=random.Random(20250717)
    )
    proxy.close()
