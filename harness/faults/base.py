"""What every fault is: a validated spec, `inject`, and an idempotent `revert`.

One module per fault family (database, network, security, cluster), one class
per fault, each registered by its `type` name. A fault's spec is a pydantic
model with `extra="forbid"` and a `type` literal, so scenario files are
checked field by field before anything is broken.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from harness.context import DrillContext
from harness.result import DataCheck

Family = Literal["database", "network", "security", "cluster"]


class FaultSpec(BaseModel):
    """Base of every fault's spec; subclasses add `type: Literal[...]` and fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str


SpecT = TypeVar("SpecT", bound=FaultSpec)


class Fault(ABC, Generic[SpecT]):
    """A way to break the stack.

    `inject` applies it and returns once it has taken effect. `revert` undoes
    it; it is idempotent and safe on a fault that never took effect (or only
    partly), because clean-up calls it whatever happened.
    """

    family: ClassVar[Family]
    spec_model: ClassVar[type[FaultSpec]]

    def __init__(self, spec: SpecT, ctx: DrillContext) -> None:
        self.spec = spec
        self.ctx = ctx

    @abstractmethod
    def inject(self) -> None:
        """Apply the fault; return once it has taken effect."""

    @abstractmethod
    def revert(self) -> None:
        """Undo the fault; idempotent, safe if `inject` never ran."""

    @abstractmethod
    def describe(self) -> str:
        """One line for reports, e.g. `killed postgres with SIGKILL`."""

    def evidence(self) -> dict[str, str]:
        """Facts for the evidence bundle (e.g. the leaked key's id); no secrets."""
        return {}

    def security_checks(self) -> list[DataCheck]:
        """Checks, run after recovery, that the fault's credentials are revoked
        and its attacker is out; each tries the credential for real, bounded
        by a timeout. Empty for faults that leak nothing (the default)."""
        return []


REGISTRY: dict[str, type[Fault[FaultSpec]]] = {}


def register(cls: type[Fault[SpecT]]) -> type[Fault[SpecT]]:
    """Class decorator: make a fault available by its spec's `type` name."""
    type_field = cls.spec_model.model_fields["type"]
    name = type_field.default
    if not isinstance(name, str) or name in REGISTRY:
        raise TypeError(f"fault {cls.__name__} needs a unique `type` default")
    REGISTRY[name] = cls  # type: ignore[assignment]
    return cls


def build(spec: FaultSpec, ctx: DrillContext) -> Fault[FaultSpec]:
    """The fault a spec describes."""
    return REGISTRY[spec.type](spec, ctx)
