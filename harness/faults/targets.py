"""What a fault can aim at: services, units, chains, relays and fault-proxy routes.

Every name in a fault's spec is checked against the topology in
`harness.stack` when the scenario is loaded, so a typo fails validation with
the bad value and the choices, before anything is broken. The validators keep
the value as written; the `resolve_*` functions turn it into service names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from fnmatch import fnmatchcase
from typing import Annotated

from pydantic import AfterValidator

from harness.errors import DrillError, UnknownService, UsageError
from harness.stack import (
    CHAINS,
    EDGES,
    GROUP_UNITS,
    RELAYS,
    SERVICES,
    Edge,
    services_for_unit,
)

SERVICE_NAMES: tuple[str, ...] = tuple(s.name for s in SERVICES)
UNIT_NAMES: tuple[str, ...] = tuple(
    sorted({s.unit for s in SERVICES} | set(GROUP_UNITS))
)
CHAIN_NAMES: tuple[str, ...] = tuple(c.name for c in CHAINS)
ALL = "all"
"""Stands for every chain where a chain or chains are asked for."""


def proxy_names() -> tuple[str, ...]:
    """Every fault-proxy route of the topology: public ports, then edges."""
    public = tuple(s.name for s in SERVICES if s.port is not None)
    return public + tuple(e.proxy_name for e in EDGES)


def as_list(value: str | Sequence[str]) -> list[str]:
    """One name or several, as a list."""
    return [value] if isinstance(value, str) else list(value)


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


def _nonempty(names: list[str], what: str) -> list[str]:
    if not names:
        raise ValueError(f"give at least one {what}")
    return names


def _checked_by(
    resolve: Callable[[str | list[str]], object],
) -> Callable[[str | list[str]], str | list[str]]:
    """A pydantic validator: `resolve` must accept the value, kept as written.

    The resolver's error becomes the ValueError pydantic reports with the
    field's path.
    """

    def check(value: str | list[str]) -> str | list[str]:
        try:
            resolve(value)
        except DrillError as exc:
            raise ValueError(exc.line()) from None
        return value

    return check


def _is_pattern(name: str) -> bool:
    return any(char in name for char in "*?[")


# Services and units.


def resolve_services(value: str | Sequence[str]) -> tuple[str, ...]:
    """Service names for service or unit names (`erigon` is every chain's node).

    Raises UnknownService naming the bad value and the choices.
    """
    found: list[str] = []
    for name in _nonempty(as_list(value), "service"):
        try:
            found.extend(services_for_unit(name))
        except UnknownService:
            raise UnknownService(
                f"unknown service or unit {name!r}",
                hint=f"choose a service ({', '.join(SERVICE_NAMES)}) "
                f"or a unit ({', '.join(UNIT_NAMES)})",
            ) from None
    return _unique(found)


ServiceNames = Annotated[str | list[str], AfterValidator(_checked_by(resolve_services))]
"""A service or unit name, or a list of them (e.g. `erigon`, `[relay-a, mev-boost]`)."""


# Chains.


def resolve_chains(value: str | Sequence[str]) -> tuple[str, ...]:
    """Chain names; `all` stands for every chain. Raises UnknownService."""
    found: list[str] = []
    for name in _nonempty(as_list(value), "chain"):
        if name == ALL:
            found.extend(CHAIN_NAMES)
        elif name in CHAIN_NAMES:
            found.append(name)
        else:
            raise UnknownService(
                f"unknown chain {name!r}",
                hint=f"choose one of: {', '.join(CHAIN_NAMES)} (or {ALL})",
            )
    return _unique(found)


ChainNames = Annotated[str | list[str], AfterValidator(_checked_by(resolve_chains))]
"""A chain name, a list of them, or `all`."""


# Relays.


def resolve_relays(value: str | Sequence[str]) -> tuple[str, ...]:
    """Relay service names (`relay-a`, `relay-b`). Raises UnknownService."""
    names = _nonempty(as_list(value), "relay")
    for name in names:
        if name not in RELAYS:
            raise UnknownService(
                f"unknown relay {name!r}", hint=f"choose one of: {', '.join(RELAYS)}"
            )
    return _unique(names)


RelayNames = Annotated[str | list[str], AfterValidator(_checked_by(resolve_relays))]
"""A relay service name or a list of them."""


# Fault-proxy routes.


def expand_proxies(
    value: str | Sequence[str], available: Sequence[str], *, source: str
) -> tuple[str, ...]:
    """Route names for exact names and glob patterns (`mev-artemis_to_erigon-*`).

    `available` is what they are matched against; `source` says where that
    list came from, for the error. Raises UsageError when a name or pattern
    matches nothing.
    """
    found: list[str] = []
    for name in _nonempty(as_list(value), "edge"):
        matches = [p for p in available if fnmatchcase(p, name)]
        if not matches:
            kind = "pattern" if _is_pattern(name) else "edge"
            raise UsageError(
                f"{kind} {name!r} matches no route of {source}",
                hint=f"choose from: {', '.join(available)}",
            )
        found.extend(matches)
    return _unique(found)


def _topology_routes(value: str | Sequence[str]) -> tuple[str, ...]:
    return expand_proxies(value, proxy_names(), source="the stack's topology")


ProxyPatterns = Annotated[
    str | list[str], AfterValidator(_checked_by(_topology_routes))
]
"""Fault-proxy routes: a service's public route (`erigon-base`), an edge
(`mev-api_to_postgres`), or glob patterns of them (`erigon-*`)."""


# Partitions.


def _check_service_pattern(value: str) -> str:
    if not any(fnmatchcase(name, value) for name in SERVICE_NAMES):
        raise ValueError(
            f"service {value!r} matches no service; "
            f"choose from: {', '.join(SERVICE_NAMES)} (glob patterns allowed)"
        )
    return value


ServicePattern = Annotated[str, AfterValidator(_check_service_pattern)]
"""A service name or a glob pattern of service names (`erigon-*`)."""


def edges_between(a: str, b: str) -> tuple[Edge, ...]:
    """Every edge from a service matching `a` to one matching `b`, or back."""
    return tuple(
        e
        for e in EDGES
        if (fnmatchcase(e.client, a) and fnmatchcase(e.server, b))
        or (fnmatchcase(e.client, b) and fnmatchcase(e.server, a))
    )


def edge_pairs() -> str:
    """The topology's edges as `client-server` pairs, for error messages."""
    return ", ".join(f"{e.client}->{e.server}" for e in EDGES)
