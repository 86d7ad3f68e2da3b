"""A proxy's toxics, per direction, and the open links they act on."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from harness.proxy.api_errors import (
    invalid_stream,
    invalid_toxic_type,
    toxic_already_exists,
    toxic_not_found,
)
from harness.proxy.bodies import ToxicBody, decode, type_error
from harness.proxy.link import Link, ToxicSpec
from harness.proxy.stream import Direction
from harness.proxy.toxics import REGISTRY, Toxic


class ToxicCollection:
    """The toxics of one proxy; every change reaches the links already open.

    Toxics of a direction apply in the order they were added. Names are
    unique across both directions.
    """

    def __init__(self) -> None:
        self._chain: dict[Direction, list[ToxicSpec]] = {d: [] for d in Direction}
        self._links: set[Link] = set()

    def specs(self) -> list[ToxicSpec]:
        """Every toxic, upstream ones first (Toxiproxy's order)."""
        return [*self._chain[Direction.UPSTREAM], *self._chain[Direction.DOWNSTREAM]]

    def get(self, name: str) -> ToxicSpec:
        """The toxic called `name`, or 404 toxic not found."""
        for spec in self.specs():
            if spec.name == name:
                return spec
        raise toxic_not_found()

    def add(self, raw: Any) -> ToxicSpec:
        """Create a toxic from a request body; checks in Toxiproxy's order.

        Defaults: stream downstream, toxicity 1.0, name `<type>_<stream>`.
        """
        body = decode(ToxicBody, raw, "toxics.ToxicWrapper")
        stream = "downstream" if body.stream is None else body.stream
        try:
            direction = Direction(stream.lower())
        except ValueError:
            raise invalid_stream() from None
        kind = body.type or ""
        name = body.name or f"{kind}_{stream}"
        cls = REGISTRY.get(kind)
        if cls is None:
            raise invalid_toxic_type()
        if any(spec.name == name for spec in self.specs()):
            raise toxic_already_exists()
        toxic = _attributes(cls, body.attributes or {})
        toxicity = 1.0 if body.toxicity is None else body.toxicity
        spec = ToxicSpec(name, kind, stream, direction, toxicity, toxic)
        self._chain[direction].append(spec)
        for link in self._links_of(direction):
            link.add_toxic(spec)
        return spec

    def update(self, name: str, raw: Any) -> ToxicSpec:
        """Change a toxic's attributes (merged) and toxicity; the rest stays."""
        old = self.get(name)
        body = decode(ToxicBody, raw, "toxics.ToxicWrapper")
        merged = {**old.toxic.model_dump(), **(body.attributes or {})}
        toxic = _attributes(type(old.toxic), merged)
        toxicity = old.toxicity if body.toxicity is None else body.toxicity
        spec = ToxicSpec(old.name, old.type, old.stream, old.direction, toxicity, toxic)
        chain = self._chain[old.direction]
        chain[chain.index(old)] = spec
        for link in self._links_of(old.direction):
            link.update_toxic(spec)
        return spec

    def remove(self, name: str) -> None:
        """Remove a toxic from the proxy and from every open link."""
        spec = self.get(name)
        self._chain[spec.direction].remove(spec)
        for link in self._links_of(spec.direction):
            link.remove_toxic(spec.name)

    def reset(self) -> None:
        """Remove every toxic."""
        for spec in self.specs():
            self.remove(spec.name)

    def attach(self, link: Link) -> None:
        """A new link: give it the toxics of its direction, then track it."""
        for spec in self._chain[link.direction]:
            link.add_toxic(spec)
        self._links.add(link)

    def detach(self, link: Link) -> None:
        """A link whose connection is gone; no-op when not attached."""
        self._links.discard(link)

    def _links_of(self, direction: Direction) -> list[Link]:
        return [link for link in self._links if link.direction is direction]


def _attributes(cls: type[Toxic], attributes: dict[str, Any]) -> Toxic:
    try:
        return cls.model_validate(attributes)
    except ValidationError as exc:
        raise type_error(exc, f"{cls.__name__}.attributes") from None
