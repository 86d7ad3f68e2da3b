"""A team's own recovery script under regression: a worked example.

To put your script under regression, copy this file and change three things:

1. `faults`: what breaks (see `drill schema` for every fault type).
2. `probes`: the steady state your script must bring back.
3. `recovery`: your script, run unchanged (`run:` takes a command line,
   relative to the repository; it gets the stack's endpoints, credentials and
   the `systemctl`/`sudo`/`drill` shims in its environment; see `drill env`).

Then `pytest drills/test_my_runbook.py`. The drill fails, naming the phase,
RTO against budget and the failed probes, whenever a change to the script
(or to the stack) makes recovery slower than the budget or loses data. A
scenario can equally live in a YAML file: `run_drill("path/to/file.yaml")`,
or `@pytest.mark.drill(scenario="path/to/file.yaml")` on a test that only
needs the result.
"""

from __future__ import annotations

import pytest

from harness.pytest_plugin import RunDrill

pytestmark = pytest.mark.timeout(300)

MY_RUNBOOK = {
    "name": "my_runbook_base_node",
    "description": "The Base node crashes; our script restarts it.",
    "severity": "P1",
    "faults": [{"type": "kill_service", "service": "erigon-base", "signal": "SIGKILL"}],
    "probes": [
        {"type": "chain_head", "chain": "base"},
        {"type": "chain_health", "chain": "base"},
    ],
    "recovery": [
        {"run": "fixtures/runbooks/single_chain_node.sh base", "timeout_s": 120},
        {"wait_for": "steady_state", "timeout_s": 60},
    ],
    "budget_s": 180,
}


def test_my_runbook_restores_the_base_node_when_it_crashes(
    run_drill: RunDrill,
) -> None:
    result = run_drill(MY_RUNBOOK)
    assert result.rto_s is not None and result.rto_s <= result.budget_s
    assert all(step.ok for step in result.steps)
