"""Fixtures of the fault tests: a drill context on the shared session stack."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    pass


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: restarts services or rotates secrets (several seconds)"
    )


@pytest.fixture
def ctx_seed() -> int:
    """The fault tests' rng seed (the runbook's example incident date)."""
    return 20250717
