"""The stack's topology: its services, chains, ports and the edges between them.

This module knows nothing about where the stack runs; every runtime reads it.
Service names are stable identifiers (`erigon-ethereum`, `mev-api`); unit names
are the runbook's systemd units (`erigon@ethereum`, `mev-infra`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from harness.errors import UnknownService


class Kind(StrEnum):
    """What a service is; decides its process and its readiness check."""

    ERIGON = "erigon"
    MEV_BOOST = "mev_boost"
    RELAY = "relay"
    ARTEMIS = "artemis"
    MEV_API = "mev_api"
    POSTGRES = "postgres"


@dataclass(frozen=True)
class Chain:
    """One blockchain an erigon stand-in serves."""

    name: str
    chain_id: int
    port: int


CHAINS: tuple[Chain, ...] = (
    Chain("ethereum", 1, 8545),
    Chain("arbitrum", 42161, 8590),
    Chain("optimism", 10, 8591),
    Chain("base", 8453, 8592),
    Chain("polygon", 137, 8593),
)


@dataclass(frozen=True)
class Service:
    """One service of the stack.

    `port` is the client-facing port (the runbook's, served by the fault proxy)
    or None for a worker with no clients. `chain` is set for erigon nodes.
    """

    name: str
    unit: str
    kind: Kind
    port: int | None
    chain: Chain | None = None


def _erigon(chain: Chain) -> Service:
    return Service(
        f"erigon-{chain.name}", f"erigon@{chain.name}", Kind.ERIGON, chain.port, chain
    )


RELAYS: tuple[str, ...] = ("relay-a", "relay-b")

SERVICES: tuple[Service, ...] = (
    *(_erigon(c) for c in CHAINS),
    Service("relay-a", "mev-relay@a", Kind.RELAY, 18551),
    Service("relay-b", "mev-relay@b", Kind.RELAY, 18552),
    Service("mev-boost", "mev-boost", Kind.MEV_BOOST, 18550),
    Service("postgres", "postgresql", Kind.POSTGRES, 5432),
    Service("mev-api", "mev-infra", Kind.MEV_API, 8082),
    Service("mev-artemis", "mev-artemis", Kind.ARTEMIS, None),
)

PROXY_API_PORT = 8474
"""The fault proxy's Toxiproxy-compatible API port."""


@dataclass(frozen=True)
class Edge:
    """A service-to-service connection; each goes through its own proxy."""

    client: str
    server: str

    @property
    def proxy_name(self) -> str:
        """The fault proxy's name for this edge, e.g. `mev-api_to_postgres`."""
        return f"{self.client}_to_{self.server}"


EDGES: tuple[Edge, ...] = (
    *(Edge("mev-boost", r) for r in RELAYS),
    *(Edge("mev-artemis", f"erigon-{c.name}") for c in CHAINS),
    Edge("mev-artemis", "postgres"),
    *(Edge("mev-artemis", r) for r in RELAYS),
    Edge("mev-api", "postgres"),
)

# Units that stand for several services: `systemctl restart erigon` restarts
# every chain, as on a host where erigon.service wraps the five nodes.
GROUP_UNITS: dict[str, tuple[str, ...]] = {
    "erigon": tuple(f"erigon-{c.name}" for c in CHAINS),
    "mev-relay": RELAYS,
}

UNIT_ALIASES: dict[str, str] = {
    "postgres": "postgresql",
    "mev-api": "mev-infra",
}


def service(name: str) -> Service:
    """The service called `name`, or UnknownService naming the choices."""
    for s in SERVICES:
        if s.name == name:
            return s
    raise UnknownService(
        f"unknown service {name!r}",
        hint="choose one of: " + ", ".join(s.name for s in SERVICES),
    )


def chain(name: str) -> Chain:
    """The chain called `name`, or UnknownService naming the choices."""
    for c in CHAINS:
        if c.name == name:
            return c
    raise UnknownService(
        f"unknown chain {name!r}",
        hint="choose one of: " + ", ".join(c.name for c in CHAINS),
    )


def services_for_unit(unit: str) -> tuple[str, ...]:
    """The service names a systemd unit name controls.

    Accepts `erigon` (all chains), `erigon@<chain>`, `mev-boost`, `mev-artemis`,
    `mev-infra`, `postgresql`, an optional `.service` suffix, and service names.
    """
    bare = unit.removesuffix(".service")
    bare = UNIT_ALIASES.get(bare, bare)
    if bare in GROUP_UNITS:
        return GROUP_UNITS[bare]
    if bare.startswith("erigon@"):
        return (f"erigon-{chain(bare.split('@', 1)[1]).name}",)
    for s in SERVICES:
        if bare in (s.unit, s.name):
            return (s.name,)
    units = sorted({s.unit for s in SERVICES} | set(GROUP_UNITS))
    raise UnknownService(
        f"unknown unit {unit!r}", hint="choose one of: " + ", ".join(units)
    )
