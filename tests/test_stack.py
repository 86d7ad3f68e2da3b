"""The stack's topology: units resolve to services; unknown names teach."""

from __future__ import annotations

import pytest

from harness import stack
from harness.errors import UnknownService


def test_unit_erigon_controls_every_chain_when_given_without_instance():
    assert stack.services_for_unit("erigon") == tuple(
        f"erigon-{c.name}" for c in stack.CHAINS
    )


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("erigon@base", ("erigon-base",)),
        ("erigon@polygon.service", ("erigon-polygon",)),
        ("mev-infra", ("mev-api",)),
        ("mev-api", ("mev-api",)),
        ("postgresql", ("postgres",)),
        ("postgres", ("postgres",)),
        ("mev-boost.service", ("mev-boost",)),
        ("mev-artemis", ("mev-artemis",)),
        ("mev-relay@a", ("relay-a",)),
    ],
)
def test_unit_resolves_to_its_services_when_named_as_the_runbook_does(unit, expected):
    assert stack.services_for_unit(unit) == expected


def test_unknown_unit_error_names_the_value_and_the_choices_when_unit_is_unknown():
    with pytest.raises(UnknownService) as caught:
        stack.services_for_unit("erigon-classic")
    line = caught.value.line()
    assert "'erigon-classic'" in line
    assert "mev-infra" in line


def test_unknown_chain_is_rejected_when_instance_names_no_chain():
    with pytest.raises(UnknownService, match="unknown chain 'solana'"):
        stack.services_for_unit("erigon@solana")


def test_every_edge_names_services_of_the_stack_when_topology_is_built():
    names = {s.name for s in stack.SERVICES}
    for edge in stack.EDGES:
        assert edge.client in names
        assert edge.server in names


def test_runbook_ports_are_distinct_when_every_service_is_listed():
    ports = [s.port for s in stack.SERVICES if s.port is not None]
    assert len(ports) == len(set(ports))
    assert stack.PROXY_API_PORT not in ports
