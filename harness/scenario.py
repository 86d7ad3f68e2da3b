"""Scenario files: pydantic models of a drill's definition, and loading them.

A scenario names its faults, the probes that define the steady state, the
workload, the recovery plan and the budget. Files are YAML; every problem is
reported with the file, the field path and the bad value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import UsageError
from harness.faults import AnyFaultSpec
from harness.paths import PROJECT_ROOT
from harness.probes import AnyProbeSpec
from harness.recovery import AnyStepSpec
from harness.severity import DEFAULT_LOSS_USD_PER_MIN, Severity
from harness.workload import WorkloadSpec

SCENARIOS_ENV = "DRILL_SCENARIOS"
QUARTERLY = (
    "database_failure",
    "network_outage",
    "security_breach",
    "node_cluster_failure",
)
"""The runbook's quarterly DR drill scenarios."""


class ScenarioError(UsageError):
    """A scenario file that cannot be read or does not validate."""


class DataSpec(BaseModel):
    """What "nothing lost" means for this scenario."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    writes_preserved: bool = True
    rpo_budget_s: float = Field(0.0, ge=0)
    backup: bool = False


class Scenario(BaseModel):
    """One drill's definition, as a scenario file gives it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$", max_length=80)]
    description: str
    severity: Severity
    tags: list[str] = Field(default_factory=list)
    faults: Annotated[list[AnyFaultSpec], Field(min_length=1)]
    probes: Annotated[list[AnyProbeSpec], Field(min_length=1)]
    workload: WorkloadSpec = Field(default_factory=WorkloadSpec)
    baseline_s: float = Field(2.0, gt=0, le=300)
    detection_window_s: float = Field(30.0, gt=0, le=3600)
    poll_interval_s: float = Field(0.25, ge=0.05, le=10)
    response_delay_s: float = Field(0.0, ge=0, le=3600)
    recovery: Annotated[list[AnyStepSpec], Field(min_length=1)]
    budget_s: float = Field(300.0, gt=0, le=86400)
    stable_polls: int = Field(3, ge=1, le=100)
    data: DataSpec = DataSpec()
    loss_usd_per_min: float = Field(DEFAULT_LOSS_USD_PER_MIN, ge=0)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario file."""

    file: str
    where: str
    message: str

    def line(self) -> str:
        """`file: field.path: message`."""
        return (
            f"{self.file}: {self.where}: {self.message}"
            if self.where
            else f"{self.file}: {self.message}"
        )


def scenarios_dir() -> Path:
    """`$DRILL_SCENARIOS`, else the repository's `scenarios/`."""
    return Path(os.environ.get(SCENARIOS_ENV, PROJECT_ROOT / "scenarios"))


def available() -> dict[str, Path]:
    """Every scenario file by scenario name (the file's stem)."""
    directory = scenarios_dir()
    return {p.stem: p for p in sorted(directory.glob("*.yaml"))}


def resolve(name_or_path: str) -> Path:
    """A scenario file from a name in the scenarios directory or a path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ScenarioError(
                f"scenario file {name_or_path!r} does not exist",
                hint="give a path to a .yaml file or a name from `drill list`",
            )
        return path
    found = available()
    if name_or_path not in found:
        raise ScenarioError(
            f"unknown scenario {name_or_path!r} (looked in {scenarios_dir()})",
            hint="choose one of: " + ", ".join(found)
            if found
            else f"put scenario files in {scenarios_dir()} or set {SCENARIOS_ENV}",
        )
    return found[name_or_path]


def load(name_or_path: str) -> Scenario:
    """Load and validate one scenario; ScenarioError lists every problem."""
    path = resolve(name_or_path)
    scenario, problems = _load_path(path)
    if scenario is None:
        lines = "; ".join(p.line() for p in problems)
        raise ScenarioError(
            f"invalid scenario: {lines}",
            hint="fix the file (`drill validate FILE` lists "
            "each problem; `drill schema` gives the format)",
        )
    return scenario


def from_data(data: dict[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate an already-parsed scenario (a replayed journal, a generated one)."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        lines = "; ".join(p.line() for p in _problems(source, exc))
        raise ScenarioError(f"invalid scenario: {lines}") from None


def validate(path: Path) -> list[Problem]:
    """Every problem with one scenario file; empty when it is valid."""
    return _load_path(path)[1]


def _load_path(path: Path) -> tuple[Scenario | None, list[Problem]]:
    name = str(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        return None, [Problem(name, "", f"cannot read it ({exc.strerror})")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [Problem(name, where, f"not valid YAML: {problem}")]
    if not isinstance(data, dict):
        return None, [
            Problem(
                name,
                "",
                f"expected a mapping of fields at the top, got {type(data).__name__}",
            )
        ]
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        return None, _problems(name, exc)
    if scenario.name != path.stem:
        return None, [
            Problem(
                name,
                "name",
                f"{scenario.name!r} differs from the file name {path.stem!r}",
            )
        ]
    return scenario, []


def _problems(source: str, exc: ValidationError) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        value = error.get("input")
        shown = repr(value) if not isinstance(value, dict | list) else ""
        got = f" (got {shown})" if shown and error["type"] != "missing" else ""
        problems.append(Problem(source, where, f"{error['msg']}{got}"))
    return problems


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file."""
    return Scenario.model_json_schema()
