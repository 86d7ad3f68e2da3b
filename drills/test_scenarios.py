"""One drill per scenario file in scenarios/: the runbook's regression suite."""

from __future__ import annotations

import pytest

from harness import scenario as scenarios
from harness.pytest_plugin import RunDrill

pytestmark = pytest.mark.timeout(900)

NAMES = list(scenarios.available())


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_scenario_recovers_within_budget_when_drilled(
    name: str, run_drill: RunDrill
) -> None:
    result = run_drill(name)
    assert result.outcome.value == "PASSED"
