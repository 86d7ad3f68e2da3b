"""Scenario files: every shipped one validates; problems name file, field and value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import scenario as scenarios
from harness.scenario import ScenarioError

from .stack_support import drill

VALID = """\
name: {name}
description: kill the base node
severity: P1
faults:
  - {{type: kill_service, service: erigon-base}}
probes:
  - {{type: chain_head, chain: base}}
recovery:
  - {{run: systemctl start erigon@base}}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", sorted(scenarios.available()))
def test_shipped_scenario_validates_when_loaded(name):
    loaded = scenarios.load(name)
    assert loaded.name == name
    assert loaded.budget_s == 300


def test_quarterly_scenarios_are_all_shipped_when_listed():
    assert set(scenarios.QUARTERLY) <= set(scenarios.available())
    assert len(scenarios.available()) >= 12


def test_defaults_follow_the_design_when_a_scenario_omits_them(tmp_path):
    loaded = scenarios.load(str(write(tmp_path, "ok", VALID.format(name="ok"))))
    assert (loaded.budget_s, loaded.stable_polls, loaded.poll_interval_s) == (
        300,
        3,
        0.25,
    )
    assert loaded.data.writes_preserved


def test_validation_names_field_path_and_value_when_a_chain_is_unknown(tmp_path):
    text = VALID.format(name="bad").replace("chain: base", "chain: solana")
    problems = scenarios.validate(write(tmp_path, "bad", text))
    lines = [p.line() for p in problems]
    assert any("probes.0.chain_head" in line and "solana" in line for line in lines), (
        lines
    )


def test_validation_reports_every_problem_when_several_fields_are_wrong(tmp_path):
    text = (
        VALID.format(name="bad2").replace("severity: P1", "severity: P9")
        + "budget_s: -5\nsurprise: 1\n"
    )
    problems = scenarios.validate(write(tmp_path, "bad2", text))
    wheres = {p.where for p in problems}
    assert {"severity", "budget_s", "surprise"} <= wheres, wheres
    assert all(p.file.endswith("bad2.yaml") for p in problems)


def test_validation_gives_line_and_column_when_yaml_is_malformed(tmp_path):
    problems = scenarios.validate(write(tmp_path, "broken", "name: [unclosed\n"))
    assert len(problems) == 1
    assert problems[0].where.startswith("line ")
    assert "not valid YAML" in problems[0].message


def test_load_refuses_a_file_whose_name_differs_from_its_scenario(tmp_path):
    path = write(tmp_path, "other", VALID.format(name="mismatch"))
    with pytest.raises(ScenarioError, match="differs from the file name"):
        scenarios.load(str(path))


def test_unknown_scenario_name_lists_the_choices_when_loaded():
    with pytest.raises(ScenarioError) as caught:
        scenarios.load("no_such_scenario")
    assert "database_failure" in caught.value.line()


def test_cli_validate_exits_two_with_one_line_per_problem_when_invalid(tmp_path):
    text = VALID.format(name="bad3").replace("severity: P1", "severity: P9")
    path = write(tmp_path, "bad3", text)
    result = drill(tmp_path, "validate", str(path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        line for line in result.stderr.strip().splitlines() if "bad3.yaml: " in line
    ]
    assert "severity" in result.stderr and "'P9'" in result.stderr


def test_cli_schema_prints_a_json_schema_with_every_fault_type_when_asked(tmp_path):
    result = drill(tmp_path, "schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    text = json.dumps(schema)
    for fault in ("kill_service", "outage", "leaked_api_key", "drop_table"):
        assert f'"{fault}"' in text
    assert "recovery" in schema["properties"]
