"""The catalogue as a whole: every fault registered, parsed by type, and safe
to revert before (or without) inject."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from pydantic import TypeAdapter, ValidationError

from harness.faults import REGISTRY, AnyFaultSpec, build
from harness.stack import SERVICES

from .support import assert_ready

pytestmark = pytest.mark.timeout(60)

ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyFaultSpec)

EXAMPLES: dict[str, dict[str, Any]] = {
    "kill_service": {"service": "erigon"},
    "stop_service": {"service": ["relay-a"]},
    "pause_service": {"service": "mev-boost"},
    "sync_stall": {"chain": "all"},
    "peers_zero": {"chain": ["base", "polygon"]},
    "relays_down": {},
    "bundle_rejection": {"rate": 0.97},
    "engine_crash": {},
    "kill_postgres": {"signal": "SIGTERM"},
    "stop_postgres": {},
    "connection_exhaustion": {"connections": "all"},
    "terminate_backends": {},
    "drop_table": {"table": "opportunities"},
    "corrupt_table": {"rows": 3},
    "hold_lock": {"table": "strategies", "mode": "SHARE"},
    "latency": {"edges": ["erigon-*"], "latency_ms": 150, "jitter_ms": 10},
    "outage": {"edges": ["erigon-*", "mev-artemis_to_erigon-*"]},
    "timeout": {"edges": "mev-api_to_postgres", "timeout_ms": 0},
    "bandwidth": {"edges": "mev-boost_to_relay-*", "rate_kbps": 10},
    "reset_peer": {"edges": "postgres", "timeout_ms": 100},
    "slicer": {"edges": "mev-api", "average_size_bytes": 10},
    "limit_data": {"edges": "relay-a", "bytes": 100},
    "partition": {"a": "mev-artemis", "b": "erigon-*"},
    "leaked_api_key": {"attacker_rate_per_s": 4},
    "leaked_db_password": {},
    "rogue_db_role": {"role": "backdoor"},
    "tampered_config": {"config": "mev_api_keys"},
}


def test_registry_and_spec_union_hold_the_same_faults_when_imported():
    in_union = {get_args(m.model_fields["type"].annotation)[0] for m in _members()}
    assert in_union == set(REGISTRY) == set(EXAMPLES)
    assert {cls.family for cls in REGISTRY.values()} == {
        "database",
        "network",
        "security",
        "cluster",
    }


def _members() -> tuple[Any, ...]:
    union = get_args(AnyFaultSpec)[0]
    return get_args(union)


@pytest.mark.parametrize("fault_type", sorted(EXAMPLES))
def test_spec_union_parses_each_fault_by_type_when_given_a_scenario_entry(
    fault_type,
):
    spec = ADAPTER.validate_python({"type": fault_type, **EXAMPLES[fault_type]})
    assert type(spec) is REGISTRY[fault_type].spec_model


def test_spec_union_rejects_an_unknown_field_naming_it_when_misspelt():
    with pytest.raises(ValidationError, match="latency_sec"):
        ADAPTER.validate_python(
            {"type": "latency", "edges": "postgres", "latency_sec": 1}
        )


def test_spec_union_names_the_choices_when_the_type_is_unknown():
    with pytest.raises(ValidationError, match="'kill_service'"):
        ADAPTER.validate_python({"type": "kill_everything"})


def test_spec_union_has_a_json_schema_when_asked():
    schema = ADAPTER.json_schema()
    assert set(schema["discriminator"]["mapping"]) == set(EXAMPLES)


@pytest.mark.parametrize("fault_type", sorted(EXAMPLES))
def test_revert_is_a_safe_no_op_when_the_fault_never_took_effect(
    fault_type, stack, ctx
):
    spec = ADAPTER.validate_python({"type": fault_type, **EXAMPLES[fault_type]})
    fault = build(spec, ctx)
    line = fault.describe()
    assert line and "\n" not in line
    fault.revert()
    fault.revert()
    assert fault.security_checks() == []
    assert all(p.enabled and not p.toxics for p in ctx.proxy.list().values())
    states = {s.name: stack.health(s.name).state for s in SERVICES}
    assert set(states.values()) == {"running"}, states


def test_stack_is_healthy_when_the_fault_tests_are_done(stack):
    assert_ready(stack, *(s.name for s in SERVICES))
