"""What every probe is: a validated spec and a `check` that says ok or not, and why.

The steady state of a scenario is "every one of its probes is ok". Each probe
names the impact its failure stands for, from which the observed severity is
derived with the runbook's classification matrix.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from harness.context import DrillContext
from harness.severity import Impact


class ProbeSpec(BaseModel):
    """Base of every probe's spec; subclasses add `type: Literal[...]` and fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    timeout_s: float = 1.0


@dataclass(frozen=True)
class ProbeResult:
    """One check: ok or not, a short reason, and the measured value if any."""

    ok: bool
    detail: str = ""
    value: float | None = None


SpecT = TypeVar("SpecT", bound=ProbeSpec)


class Probe(ABC, Generic[SpecT]):
    """A steady-state check, run every poll; never raises, never hangs.

    `check` must return within the spec's `timeout_s` (plus a little) and
    turn every failure, including an exception, into `ProbeResult(ok=False)`.
    """

    spec_model: ClassVar[type[ProbeSpec]]

    def __init__(self, spec: SpecT, ctx: DrillContext) -> None:
        self.spec = spec
        self.ctx = ctx

    @property
    @abstractmethod
    def name(self) -> str:
        """A stable label, e.g. `chain_head:ethereum`."""

    @property
    @abstractmethod
    def impact(self) -> Impact:
        """What its failure means, for the severity matrix."""

    @property
    def subject(self) -> str:
        """What the probe watches when it matters to severity (the chain)."""
        return ""

    @abstractmethod
    def check(self) -> ProbeResult:
        """Run once; never raise."""

    def close(self) -> None:
        """Release clients; called once at the end of the drill."""


REGISTRY: dict[str, type[Probe[ProbeSpec]]] = {}


def register(cls: type[Probe[SpecT]]) -> type[Probe[SpecT]]:
    """Class decorator: make a probe available by its spec's `type` name."""
    name = cls.spec_model.model_fields["type"].default
    if not isinstance(name, str) or name in REGISTRY:
        raise TypeError(f"probe {cls.__name__} needs a unique `type` default")
    REGISTRY[name] = cls  # type: ignore[assignment]
    return cls


def build(spec: ProbeSpec, ctx: DrillContext) -> Probe[ProbeSpec]:
    """The probe a spec describes."""
    return REGISTRY[spec.type](spec, ctx)
