"""Drills as pytest tests: options, the `drill` marker, `drill_stack` and `run_drill`.

Loaded through the `pytest11` entry point in every pytest session, so it stays
inert until a test asks for one of its fixtures or carries its marker: the
harness itself is imported only then.

Settings (CLI > environment > ini > default):

==================  ===============  ==============  =====================
option              env var          ini key         default
==================  ===============  ==============  =====================
--drill-runtime     DRILL_RUNTIME    drill_runtime   local
--drill-budget      DRILL_BUDGET     drill_budget    the scenario's budget_s
--drill-reports     DRILL_REPORTS    drill_reports   reports
--drill-seed        DRILL_SEED       drill_seed      a new seed per drill
==================  ===============  ==============  =====================

A test marked ``@pytest.mark.drill(scenario=..., budget_s=...)`` that asks
for neither `run_drill` nor `drill_result` has its scenario run for it (as
if it had asked for `drill_result`); the marker's budget beats
``--drill-budget``, and an argument to `run_drill` beats both.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.result import DrillResult
    from harness.runtime.base import Runtime
    from harness.scenario import Scenario

log = logging.getLogger(__name__)

RUNTIMES = ("local", "docker")
BUILT_RUNTIMES = ("local",)
STEADY_TIMEOUT_S = 60.0
"""How long `drill_stack` waits for every service to be ready between drills."""
SETTLE_S = 10.0
"""How long a service that is running but not ready gets before a restart."""

_HELP = {
    "runtime": "Runtime the drills run on: local or docker (default: local).",
    "budget": "Recovery budget in seconds for every drill (default: the "
    "scenario's budget_s).",
    "reports": "Directory for the drills' journals and reports (default: reports).",
    "seed": "Seed for every drill's random choices (default: a new one per drill).",
}
_MARKER = (
    "drill(scenario=None, budget_s=None): run a scenario (name, file or Scenario) "
    "as a drill; a marked test that asks for neither run_drill nor drill_result "
    "gets its scenario run automatically"
)


@dataclass(frozen=True)
class DrillSettings:
    """The plugin's settings once resolved: units in names, None for "unset"."""

    runtime: str = "local"
    budget_s: float | None = None
    reports_dir: Path = Path("reports")
    seed: int | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the --drill-* options and their ini keys."""
    group = parser.getgroup("drill", "disaster-recovery drills")
    group.addoption("--drill-runtime", dest="drill_runtime", help=_HELP["runtime"])
    group.addoption("--drill-budget", dest="drill_budget", help=_HELP["budget"])
    group.addoption("--drill-reports", dest="drill_reports", help=_HELP["reports"])
    group.addoption("--drill-seed", dest="drill_seed", help=_HELP["seed"])
    for key in ("runtime", "budget", "reports", "seed"):
        parser.addini(f"drill_{key}", _HELP[key])


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker and check the settings (a bad one is a usage error)."""
    config.addinivalue_line("markers", _MARKER)
    config.stash[_SETTINGS] = resolve_settings(config)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give marked tests that run no drill themselves the `drill_result` fixture."""
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        if item.get_closest_marker("drill") is None:
            continue
        if not {"run_drill", "drill_result"} & set(item.fixturenames):
            item.fixturenames.append("drill_result")


_SETTINGS = pytest.StashKey[DrillSettings]()


def resolve_settings(config: pytest.Config) -> DrillSettings:
    """Each setting from the CLI, else the environment, else the ini file."""
    runtime = _raw(config, "runtime")
    if runtime is not None and runtime[0] not in RUNTIMES:
        raise pytest.UsageError(
            f"--drill-runtime {runtime[0]!r} ({runtime[1]}) is not a runtime; "
            f"use one of: {', '.join(RUNTIMES)}"
        )
    if runtime is not None and runtime[0] not in BUILT_RUNTIMES:
        raise pytest.UsageError(
            f"--drill-runtime {runtime[0]!r} ({runtime[1]}) is not built yet; "
            f"use --drill-runtime local"
        )
    budget = _raw(config, "budget")
    budget_s = None
    if budget is not None:
        budget_s = _positive_seconds(budget[0], budget[1])
    reports = _raw(config, "reports")
    seed = _raw(config, "seed")
    return DrillSettings(
        runtime=runtime[0] if runtime else "local",
        budget_s=budget_s,
        reports_dir=_reports_dir(config, reports),
        seed=None if seed is None else _seed(seed[0], seed[1]),
    )


def _raw(config: pytest.Config, key: str) -> tuple[str, str] | None:
    """(value, where it came from) for one setting, or None when unset."""
    cli = config.getoption(f"drill_{key}")
    if cli is not None:
        return str(cli), "from the command line"
    env = os.environ.get(f"DRILL_{key.upper()}")
    if env:
        return env, f"from the DRILL_{key.upper()} environment variable"
    ini = config.getini(f"drill_{key}")
    if ini:
        where = config.inipath.name if config.inipath else "the ini file"
        return str(ini).strip(), f"from drill_{key} in {where}"
    return None


def _positive_seconds(value: str, source: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise pytest.UsageError(
            f"--drill-budget {value!r} ({source}) is not a number of seconds; "
            f"give a positive number such as 120"
        )
    return seconds


def _seed(value: str, source: str) -> int:
    try:
        seed = int(value)
    except ValueError:
        seed = -1
    if seed < 0:
        raise pytest.UsageError(
            f"--drill-seed {value!r} ({source}) is not a whole number; "
            f"give one such as 1234"
        )
    return seed


def _reports_dir(config: pytest.Config, raw: tuple[str, str] | None) -> Path:
    if raw is None:
        return Path("reports").resolve()
    path = Path(raw[0]).expanduser()
    # An ini value is relative to its file; the others to where pytest started.
    if raw[1].startswith("from drill_") and config.inipath and not path.is_absolute():
        return (config.inipath.parent / path).resolve()
    return path.resolve()


# Fixtures.


@pytest.fixture(scope="session")
def drill_settings(pytestconfig: pytest.Config) -> DrillSettings:
    """The resolved --drill-* settings of this session."""
    return pytestconfig.stash[_SETTINGS]


@pytest.fixture(scope="session")
def drill_stack() -> Iterator[Runtime]:
    """The stack drills run on: the one that is up, else one of our own.

    With a stack up (`LocalRuntime(StateStore()).is_up()`, which honours
    DRILL_STATE_DIR) it is used and left up. Otherwise one is brought up on
    free ports under a private state directory and taken down at the end.
    """
    from harness.errors import DrillError
    from harness.runtime.local import LocalRuntime
    from harness.runtime.open import open_runtime
    from harness.runtime.plan import PlanOptions
    from harness.runtime.state import StateStore

    if LocalRuntime(StateStore()).is_up():
        yield open_runtime()
        return
    state_dir = Path(tempfile.mkdtemp(prefix="drill-pytest-", dir="/tmp"))
    # Postgres runs as an unprivileged user under root and must reach it.
    state_dir.chmod(0o711)
    runtime = LocalRuntime(StateStore(state_dir), PlanOptions(ports="auto"))
    try:
        runtime.up()
    except DrillError as exc:
        runtime.force_down()
        shutil.rmtree(state_dir, ignore_errors=True)
        pytest.fail(f"drill_stack: the stack did not come up: {exc.line()}", False)
    try:
        yield runtime
    finally:
        runtime.down()
        shutil.rmtree(state_dir, ignore_errors=True)


RunDrill = Callable[..., "DrillResult"]


@pytest.fixture
def run_drill(
    request: pytest.FixtureRequest,
    drill_stack: Runtime,
    drill_settings: DrillSettings,
) -> RunDrill:
    """A callable: `run_drill(scenario=None, *, budget_s=None, seed=None,
    check=True) -> DrillResult`.

    `scenario` is a scenario name, a file path, a `Scenario` or a dict of one;
    None takes the test's `drill` marker's. Budget: the argument, else the
    marker's `budget_s`, else --drill-budget, else the scenario's. The stack
    is brought back to its steady state first; the reports are published
    under --drill-reports and the measures recorded as JUnit properties (on
    the test's `user_properties`, as `record_property` does, without its
    warning under the default xunit2 family).
    With `check`, a drill that did not pass fails the test in one paragraph.
    """
    marker = request.node.get_closest_marker("drill")
    marked = dict(marker.kwargs) if marker else {}
    if marker and marker.args:
        marked.setdefault("scenario", marker.args[0])

    def run(
        scenario: str | Path | Scenario | dict[str, Any] | None = None,
        *,
        budget_s: float | None = None,
        seed: int | None = None,
        check: bool = True,
    ) -> DrillResult:
        from harness.engine import DrillOptions
        from harness.engine import run_drill as engine_run
        from harness.publish import publish

        chosen = _scenario(scenario if scenario is not None else marked.get("scenario"))
        budget = budget_s or marked.get("budget_s") or drill_settings.budget_s
        restore_steady_state(drill_stack)
        options = DrillOptions(
            reports_dir=drill_settings.reports_dir,
            seed=seed if seed is not None else drill_settings.seed,
            budget_s=None if budget is None else float(budget),
        )
        result = engine_run(chosen, drill_stack, options)
        publish(result, drill_settings.reports_dir)
        for name, value in junit_properties(result).items():
            request.node.user_properties.append((name, value))
        if check and result.outcome.value != "PASSED":
            pytest.fail(failure_paragraph(result), pytrace=False)
        return result

    return run


@pytest.fixture
def drill_result(run_drill: RunDrill) -> DrillResult:
    """The result of the test's `drill` marker's scenario, run before the test.

    A drill that did not pass fails the test at setup with its paragraph.
    """
    return run_drill()


def _scenario(given: object) -> Scenario:
    from harness import scenario as scenarios

    if given is None:
        pytest.fail(
            "run_drill: no scenario given and the test has no "
            "@pytest.mark.drill(scenario=...) marker naming one",
            pytrace=False,
        )
    if isinstance(given, scenarios.Scenario):
        return given
    try:
        if isinstance(given, dict):
            return scenarios.from_data(given)
        return scenarios.load(str(given))
    except scenarios.ScenarioError as exc:
        pytest.fail(f"run_drill: {exc.line()}", pytrace=False)


def restore_steady_state(runtime: Runtime, timeout_s: float = STEADY_TIMEOUT_S) -> None:
    """Bring the stack back to its steady state: proxy reset, every service ready.

    Resumes paused services, starts stopped ones, restarts one still not ready
    after `SETTLE_S`; fails the test naming what stayed unready after
    `timeout_s` seconds.
    """
    from harness.errors import DrillError
    from harness.proxy.client import ProxyClient
    from harness.stack import SERVICES

    proxy = ProxyClient(runtime.endpoints().proxy_api)
    try:
        proxy.reset()
    finally:
        proxy.close()
    deadline = time.monotonic() + timeout_s
    for service in SERVICES:
        health = runtime.health(service.name)
        if health.ready:
            continue
        log.warning("steady state: %s is %s, not ready", service.name, health.state)
        try:
            if health.state == "paused":
                runtime.resume(service.name)
            elif health.state != "running":
                runtime.start(service.name, wait=False)
            else:
                _settle_or_restart(runtime, service.name)
        except DrillError as exc:
            log.error("steady state: %s: %s", service.name, exc.line())
    unready = []
    for service in SERVICES:
        remaining_s = max(1.0, deadline - time.monotonic())
        try:
            runtime.wait_ready(service.name, timeout_s=remaining_s)
        except DrillError as exc:
            unready.append(exc.line())
    if unready:
        pytest.fail(
            "drill_stack: the stack did not return to its steady state within "
            f"{timeout_s:g}s: " + "; ".join(unready),
            pytrace=False,
        )


def _settle_or_restart(runtime: Runtime, service: str) -> None:
    from harness.errors import DrillError

    try:
        runtime.wait_ready(service, timeout_s=SETTLE_S)
    except DrillError:
        runtime.restart(service, wait=False)


# What a drill tells pytest.


def junit_properties(result: DrillResult) -> dict[str, str]:
    """The JUnit properties of one drill; an unmeasured value is ""."""

    def text(value: object) -> str:
        return "" if value is None else str(value)

    report_dir = Path(result.report_dir) if result.report_dir else None
    return {
        "scenario": result.scenario,
        "outcome": result.outcome.value,
        "rto_s": text(result.rto_s),
        "detection_s": text(result.detection_s),
        "rpo_s": text(result.rpo_s),
        "budget_s": text(result.budget_s),
        "severity_observed": text(result.severity_observed),
        "seed": text(result.seed),
        "incident_id": result.incident_id,
        "report": text(report_dir / "report.html" if report_dir else None),
    }


def failed_phase(result: DrillResult) -> str:
    """The phase a drill that did not pass went wrong in."""
    kinds = {event.kind for event in result.timeline}
    for kind, phase in (
        ("baseline_failed", "baseline"),
        ("inject_failed", "inject"),
        ("not_detected", "detect"),
    ):
        if kind in kinds:
            return phase
    if any(not step.ok for step in result.steps):
        return "respond"
    if "not_recovered" in kinds:
        return "verify"
    if any(not check.ok for check in result.data_checks):
        return "check data"
    return "clean up"


def failure_paragraph(result: DrillResult) -> str:
    """One paragraph: outcome, phase, RTO against budget, probes, reasons, report."""
    rto = (
        f"RTO {result.rto_s:.2f}s"
        if result.rto_s is not None
        else "no RTO (the steady state never came back)"
        if result.detection_s is not None
        else "no RTO (no fault was measured)"
    )
    probes = ", ".join(result.failed_probes) or "none"
    reasons = "; ".join(result.reasons) or "no reason recorded"
    report_dir = Path(result.report_dir) if result.report_dir else None
    where = (
        f"report {report_dir / 'report.html'}, journal {report_dir / 'journal.json'}"
        if report_dir
        else "no report written"
    )
    return (
        f"drill {result.scenario} {result.outcome.value} in the "
        f"{failed_phase(result)} phase: {rto} against a budget of "
        f"{result.budget_s:g}s; failed probes: {probes}; reasons: {reasons}; "
        f"seed {result.seed}; {where}."
    )
