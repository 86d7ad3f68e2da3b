"""The `drill` pytest plugin via pytester: settings, marker, failures, JUnit.

Inner sessions that run drills reuse the outer session's stack: DRILL_STATE_DIR
points at it, so the plugin's `drill_stack` finds a stack up and starts none.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.runtime.local import LocalRuntime

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.timeout(120)

SHOW_SETTINGS = """
import json

def test_show(drill_settings):
    print("SETTINGS " + json.dumps({
        "runtime": drill_settings.runtime,
        "budget_s": drill_settings.budget_s,
        "reports_dir": str(drill_settings.reports_dir),
        "seed": drill_settings.seed,
    }))
"""

INI = """
[pytest]
drill_budget = 30
drill_seed = 11
drill_reports = ini-reports
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DRILL_RUNTIME", "DRILL_BUDGET", "DRILL_REPORTS", "DRILL_SEED"):
        monkeypatch.delenv(name, raising=False)


def settings_of(pytester: pytest.Pytester, *args: str) -> dict[str, object]:
    pytester.makepyfile(test_show=SHOW_SETTINGS)
    result = pytester.runpytest("-s", *args)
    result.assert_outcomes(passed=1)
    line = next(x for x in result.outlines if "SETTINGS " in x)
    found: dict[str, object] = json.loads(line.split("SETTINGS ", 1)[1])
    return found


def test_settings_default_when_nothing_sets_them(pytester: pytest.Pytester):
    found = settings_of(pytester)
    assert found == {
        "runtime": "local",
        "budget_s": None,
        "reports_dir": str(pytester.path / "reports"),
        "seed": None,
    }


def test_settings_come_from_the_ini_file_when_only_it_sets_them(
    pytester: pytest.Pytester,
):
    pytester.makeini(INI)
    found = settings_of(pytester)
    assert found["budget_s"] == 30.0
    assert found["seed"] == 11
    assert found["reports_dir"] == str(pytester.path / "ini-reports")


def test_settings_prefer_env_over_ini_and_cli_over_env_when_all_set_them(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    pytester.makeini(INI)
    monkeypatch.setenv("DRILL_BUDGET", "45")
    monkeypatch.setenv("DRILL_SEED", "22")
    found = settings_of(pytester, "--drill-seed=33")
    assert found["budget_s"] == 45.0, "env beats ini"
    assert found["seed"] == 33, "CLI beats env"
    assert found["reports_dir"] == str(pytester.path / "ini-reports")


@pytest.mark.parametrize(
    ("args", "env", "ini", "expected"),
    [
        (
            [],
            {"DRILL_BUDGET": "abc"},
            "",
            "--drill-budget 'abc' (from the DRILL_BUDGET environment variable) "
            "is not a number of seconds",
        ),
        (
            ["--drill-budget=-3"],
            {},
            "",
            "--drill-budget '-3' (from the command line) is not a number of seconds",
        ),
        (
            [],
            {},
            "[pytest]\ndrill_seed = twelve\n",
            "--drill-seed 'twelve' (from drill_seed in tox.ini) is not a whole number",
        ),
        (
            ["--drill-runtime=docker"],
            {},
            "",
            "--drill-runtime 'docker' (from the command line) is not built yet",
        ),
        (
            [],
            {"DRILL_RUNTIME": "k8s"},
            "",
            "--drill-runtime 'k8s' (from the DRILL_RUNTIME environment variable) "
            "is not a runtime",
        ),
    ],
    ids=["env-budget", "cli-budget", "ini-seed", "docker", "env-runtime"],
)
def test_bad_setting_is_a_usage_error_naming_its_source_when_given(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    ini: str,
    expected: str,
):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if ini:
        pytester.path.joinpath("tox.ini").write_text(ini)
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert expected in result.stderr.str()


def test_drill_marker_is_registered_when_the_plugin_loads(pytester: pytest.Pytester):
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.drill(scenario=None, budget_s=None):*"])


PASSING_YAML = """\
name: route_cut_ok
description: cut the Base RPC route; the plan restores it at once
severity: P1
faults:
  - {type: outage, edges: [erigon-base]}
probes:
  - {type: chain_health, chain: base}
baseline_s: 1
recovery:
  - run: >-
      curl -s -f -X POST "$DRILL_PROXY_API/proxies/erigon-base"
      -d '{"enabled": true}'
    timeout_s: 30
data: {writes_preserved: false}
"""

DRILL_TESTS = """
import pytest

NEVER_RECOVERS = {
    "name": "route_cut_ignored",
    "description": "cut the Base RPC route; the plan does nothing",
    "severity": "P1",
    "faults": [{"type": "outage", "edges": ["erigon-base"]}],
    "probes": [{"type": "chain_health", "chain": "base"}],
    "baseline_s": 1,
    "recovery": [{"run": "true"}],
    "data": {"writes_preserved": False},
}

@pytest.mark.drill(scenario="route_cut_ok.yaml")
def test_marked_only():
    pass

@pytest.mark.drill(budget_s=5)
def test_never_recovers(run_drill):
    run_drill(NEVER_RECOVERS)
"""


def test_drills_pass_fail_and_carry_junit_properties_when_run_by_pytest(
    pytester: pytest.Pytester,
    stack: LocalRuntime,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("DRILL_STATE_DIR", str(stack.store.directory))
    pytester.path.joinpath("route_cut_ok.yaml").write_text(PASSING_YAML)
    pytester.makepyfile(test_drills=DRILL_TESTS)
    xml_path = pytester.path / "out.xml"
    result = pytester.runpytest(
        f"--junitxml={xml_path}", "--drill-budget=60", "--drill-seed=9"
    )
    result.assert_outcomes(passed=1, failed=1)

    cases = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in ET.parse(xml_path).iter("testcase")
    }
    ok, bad = cases["test_marked_only"], cases["test_never_recovers"]
    for props in (ok, bad):
        assert {"rto_s", "detection_s", "rpo_s", "severity_observed", "outcome"} <= set(
            props
        )
        assert Path(str(props["report"])).is_file(), "reports published"
        assert props["seed"] == "9"
    assert ok["outcome"] == "PASSED"
    assert ok["budget_s"] == "60.0", "--drill-budget applies without a marker budget"
    assert float(str(ok["rto_s"])) < 60
    assert bad["outcome"] == "FAILED"
    assert bad["budget_s"] == "5.0", "the marker's budget beats --drill-budget"
    assert bad["rto_s"] == ""
    assert str(bad["incident_id"]).endswith("route_cut_ignored")

    # The failure is one paragraph, without a traceback.
    failure = next(c for c in ET.parse(xml_path).iter("failure"))
    text = failure.get("message", "") + (failure.text or "")
    paragraph = [line for line in result.outlines if "drill route_cut_ignored" in line]
    assert len(paragraph) >= 1, result.outlines
    line = paragraph[0]
    assert "FAILED in the verify phase" in line
    assert "no RTO (the steady state never came back) against a budget of 5s" in line
    assert "failed probes: chain_health" in line
    assert "budget exceeded" in line
    assert f"report {bad['report']}" in line
    assert "Traceback" not in text and "def test_never_recovers" not in text
