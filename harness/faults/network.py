"""Network faults through the fault proxy's Toxiproxy API: toxics on routes,
outages, and partitions between services.

Routes are named as in `harness.stack`: a service's name for its public port
(`erigon-base`), `<client>_to_<server>` for an edge (`mev-api_to_postgres`).
`edges` takes names and glob patterns; patterns are expanded against the
routes the fault proxy has when the fault is injected. Every toxic a fault
adds gets a name of its own (`drill-<type>-<n>-<stream>`), so that revert
removes exactly those, and a toxic already gone is fine.
"""

from __future__ import annotations

import itertools
import logging
from abc import abstractmethod
from typing import ClassVar, Literal, TypeVar

from pydantic import Field, model_validator

from harness.context import DrillContext
from harness.errors import ProxyError, ProxyNotFound, ToxicNotFound
from harness.faults.base import Fault, FaultSpec, register
from harness.faults.targets import (
    ProxyPatterns,
    ServicePattern,
    edge_pairs,
    edges_between,
    expand_proxies,
)
from harness.proxy.client import Stream

log = logging.getLogger(__name__)

StreamChoice = Literal["downstream", "upstream", "both"]
"""downstream: server to client; upstream: client to server; or both."""

_numbers = itertools.count(1)


def _expand(ctx: DrillContext, edges: str | list[str]) -> tuple[str, ...]:
    """The live routes `edges` names, or UsageError naming what matched nothing."""
    available = list(ctx.proxy.list())
    return expand_proxies(
        edges, available, source=f"the fault proxy at {ctx.proxy.url}"
    )


class ToxicSpec(FaultSpec):
    """What every toxic fault takes: routes, direction, probability (0-1)."""

    edges: ProxyPatterns
    stream: StreamChoice = "downstream"
    toxicity: float = Field(default=1.0, ge=0.0, le=1.0)


ToxicSpecT = TypeVar("ToxicSpecT", bound=ToxicSpec)


class ToxicFault(Fault[ToxicSpecT]):
    """Adds one toxic per route and stream; revert removes exactly those."""

    family = "network"
    toxic_type: ClassVar[str]

    def __init__(self, spec: ToxicSpecT, ctx: DrillContext) -> None:
        super().__init__(spec, ctx)
        self._number = next(_numbers)
        self._added: list[tuple[str, str]] = []
        self._routes: tuple[str, ...] = ()

    @abstractmethod
    def attributes(self) -> dict[str, int]:
        """The toxic's attributes, in Toxiproxy's units."""

    def _streams(self) -> tuple[Stream, ...]:
        if self.spec.stream == "both":
            return ("upstream", "downstream")
        return (self.spec.stream,)

    def toxic_name(self, stream: Stream) -> str:
        """The name this fault gives its toxic on one stream."""
        return f"drill-{self.spec.type}-{self._number}-{stream}"

    def inject(self) -> None:
        """Add the toxic to every route; return once each route lists it."""
        proxy = self.ctx.proxy
        self._routes = _expand(self.ctx, self.spec.edges)
        for route in self._routes:
            for stream in self._streams():
                name = self.toxic_name(stream)
                # Recorded first: a lost answer still leaves a toxic to remove.
                self._added.append((route, name))
                proxy.add_toxic(
                    route,
                    self.toxic_type,
                    stream=stream,
                    name=name,
                    toxicity=self.spec.toxicity,
                    attributes=self.attributes(),
                )
        for route in self._routes:
            listed = {t.name for t in proxy.get(route).toxics}
            missing = [n for r, n in self._added if r == route and n not in listed]
            if missing:
                raise ProxyError(
                    f"route {route!r} does not list toxics {missing} after adding",
                    hint="is another client resetting the fault proxy?",
                )

    def revert(self) -> None:
        """Remove this fault's toxics; those already gone are skipped."""
        for route, name in list(self._added):
            try:
                self.ctx.proxy.remove_toxic(route, name)
            except (ToxicNotFound, ProxyNotFound):
                log.debug("toxic %s of %s already gone", name, route)
            self._added.remove((route, name))

    def _routes_text(self) -> str:
        routes = self._routes or tuple(
            [self.spec.edges] if isinstance(self.spec.edges, str) else self.spec.edges
        )
        return ", ".join(routes)

    def describe(self) -> str:
        """E.g. `latency 150 ms +- 10 ms (downstream) on erigon-ethereum`."""
        attrs = ", ".join(f"{k}={v}" for k, v in self.attributes().items())
        return (
            f"{self.toxic_type} ({attrs}; {self.spec.stream}) on {self._routes_text()}"
        )

    def evidence(self) -> dict[str, str]:
        """The routes, the toxic's type, attributes, stream and names."""
        return {
            "routes": ",".join(self._routes),
            "toxic": self.toxic_type,
            "attributes": ",".join(f"{k}={v}" for k, v in self.attributes().items()),
            "stream": self.spec.stream,
            "toxics": ",".join(sorted({n for _, n in self._added})),
        }


class LatencySpec(ToxicSpec):
    """Delay data on routes by latency_ms plus or minus jitter_ms."""

    type: Literal["latency"] = "latency"
    latency_ms: int = Field(ge=0, le=600_000)
    jitter_ms: int = Field(default=0, ge=0, le=600_000)


@register
class Latency(ToxicFault[LatencySpec]):
    """Toxiproxy `latency`."""

    spec_model = LatencySpec
    toxic_type = "latency"

    def attributes(self) -> dict[str, int]:
        """latency and jitter, in ms."""
        return {"latency": self.spec.latency_ms, "jitter": self.spec.jitter_ms}


class TimeoutSpec(ToxicSpec):
    """Drop all data; close the connection after timeout_ms (0: never)."""

    type: Literal["timeout"] = "timeout"
    timeout_ms: int = Field(default=0, ge=0, le=3_600_000)


@register
class Timeout(ToxicFault[TimeoutSpec]):
    """Toxiproxy `timeout`: a black hole."""

    spec_model = TimeoutSpec
    toxic_type = "timeout"

    def attributes(self) -> dict[str, int]:
        """timeout, in ms."""
        return {"timeout": self.spec.timeout_ms}


class BandwidthSpec(ToxicSpec):
    """Limit throughput to rate_kbps kilobytes per second (1 KB = 1000 bytes,
    Toxiproxy's unit)."""

    type: Literal["bandwidth"] = "bandwidth"
    rate_kbps: int = Field(ge=0, le=10_000_000)


@register
class Bandwidth(ToxicFault[BandwidthSpec]):
    """Toxiproxy `bandwidth`."""

    spec_model = BandwidthSpec
    toxic_type = "bandwidth"

    def attributes(self) -> dict[str, int]:
        """rate, in KB/s."""
        return {"rate": self.spec.rate_kbps}


class ResetPeerSpec(ToxicSpec):
    """On first data, wait timeout_ms, then reset the connection (RST)."""

    type: Literal["reset_peer"] = "reset_peer"
    timeout_ms: int = Field(default=0, ge=0, le=3_600_000)


@register
class ResetPeer(ToxicFault[ResetPeerSpec]):
    """Toxiproxy `reset_peer`."""

    spec_model = ResetPeerSpec
    toxic_type = "reset_peer"

    def attributes(self) -> dict[str, int]:
        """timeout, in ms."""
        return {"timeout": self.spec.timeout_ms}


class SlicerSpec(ToxicSpec):
    """Split data into pieces of about average_size_bytes (plus or minus
    size_variation_bytes), delay_us microseconds apart."""

    type: Literal["slicer"] = "slicer"
    average_size_bytes: int = Field(default=64, ge=1, le=1_000_000)
    size_variation_bytes: int = Field(default=0, ge=0, le=1_000_000)
    delay_us: int = Field(default=0, ge=0, le=10_000_000)

    @model_validator(mode="after")
    def _variation_below_size(self) -> SlicerSpec:
        if self.size_variation_bytes >= self.average_size_bytes:
            raise ValueError(
                f"size_variation_bytes ({self.size_variation_bytes}) must be "
                f"below average_size_bytes ({self.average_size_bytes})"
            )
        return self


@register
class Slicer(ToxicFault[SlicerSpec]):
    """Toxiproxy `slicer`."""

    spec_model = SlicerSpec
    toxic_type = "slicer"

    def attributes(self) -> dict[str, int]:
        """average_size and size_variation in bytes, delay in microseconds."""
        return {
            "average_size": self.spec.average_size_bytes,
            "size_variation": self.spec.size_variation_bytes,
            "delay": self.spec.delay_us,
        }


class LimitDataSpec(ToxicSpec):
    """Close each connection after it has carried `bytes` bytes."""

    type: Literal["limit_data"] = "limit_data"
    bytes: int = Field(ge=0, le=10**12)


@register
class LimitData(ToxicFault[LimitDataSpec]):
    """Toxiproxy `limit_data`."""

    spec_model = LimitDataSpec
    toxic_type = "limit_data"

    def attributes(self) -> dict[str, int]:
        """bytes."""
        return {"bytes": self.spec.bytes}


# Routes switched off.


class _Disabler:
    """Disables routes and re-enables exactly those it disabled."""

    def __init__(self, ctx: DrillContext) -> None:
        self.ctx = ctx
        self.disabled: list[str] = []

    def disable(self, routes: tuple[str, ...]) -> None:
        for route in routes:
            if not self.ctx.proxy.get(route).enabled:
                continue
            self.disabled.append(route)
            info = self.ctx.proxy.update(route, enabled=False)
            if info.enabled:
                raise ProxyError(
                    f"route {route!r} is still enabled after disabling it",
                    hint="is another client resetting the fault proxy?",
                )

    def enable(self) -> None:
        for route in list(self.disabled):
            try:
                self.ctx.proxy.update(route, enabled=True)
            except ProxyNotFound:
                log.debug("route %s is gone; nothing to enable", route)
            self.disabled.remove(route)


class OutageSpec(FaultSpec):
    """Take routes down: new connections refused, open ones closed."""

    type: Literal["outage"] = "outage"
    edges: ProxyPatterns


@register
class Outage(Fault[OutageSpec]):
    """Disable routes on the fault proxy; revert enables those it disabled."""

    family = "network"
    spec_model = OutageSpec

    def __init__(self, spec: OutageSpec, ctx: DrillContext) -> None:
        super().__init__(spec, ctx)
        self._routes: tuple[str, ...] = ()
        self._switch = _Disabler(ctx)

    def inject(self) -> None:
        """Disable every route; return once each reports disabled."""
        self._routes = _expand(self.ctx, self.spec.edges)
        self._switch.disable(self._routes)

    def revert(self) -> None:
        """Enable the routes this fault disabled."""
        self._switch.enable()

    def describe(self) -> str:
        """E.g. `outage of erigon-ethereum, erigon-base`."""
        routes = self._routes or (
            [self.spec.edges] if isinstance(self.spec.edges, str) else self.spec.edges
        )
        return f"outage of {', '.join(routes)}"

    def evidence(self) -> dict[str, str]:
        """The routes taken down."""
        return {"routes": ",".join(self._routes)}


class PartitionSpec(FaultSpec):
    """Cut every edge between two services, both directions.

    `a` and `b` are service names or glob patterns (`erigon-*`).
    """

    type: Literal["partition"] = "partition"
    a: ServicePattern
    b: ServicePattern

    @model_validator(mode="after")
    def _has_edges(self) -> PartitionSpec:
        if not edges_between(self.a, self.b):
            raise ValueError(
                f"no edge between {self.a!r} and {self.b!r}; "
                f"the stack's edges are: {edge_pairs()}"
            )
        return self


@register
class Partition(Fault[PartitionSpec]):
    """Disable the edge routes between the two services; revert enables them."""

    family = "network"
    spec_model = PartitionSpec

    def __init__(self, spec: PartitionSpec, ctx: DrillContext) -> None:
        super().__init__(spec, ctx)
        self._switch = _Disabler(ctx)

    @property
    def routes(self) -> tuple[str, ...]:
        """The edge routes between the two services."""
        return tuple(e.proxy_name for e in edges_between(self.spec.a, self.spec.b))

    def inject(self) -> None:
        """Disable every edge between them; return once each reports disabled."""
        self._switch.disable(self.routes)

    def revert(self) -> None:
        """Enable the edges this fault disabled."""
        self._switch.enable()

    def describe(self) -> str:
        """E.g. `partitioned mev-api from postgres (cut mev-api_to_postgres)`."""
        return (
            f"partitioned {self.spec.a} from {self.spec.b} "
            f"(cut {', '.join(self.routes)})"
        )

    def evidence(self) -> dict[str, str]:
        """The edges cut."""
        return {"routes": ",".join(self.routes)}
