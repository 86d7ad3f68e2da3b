"""Cluster faults: kill, stop or pause services, stall a chain, drop its peers,
take the relays down, make them reject bundles, crash the strategy engine.

Process-level faults act through the runtime; the others through the
stand-ins' `/_standin/` control endpoints, reached on their public routes.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import Field

from harness.context import DrillContext
from harness.faults.base import Fault, FaultSpec, register
from harness.faults.lifecycle import (
    KillSignal,
    control,
    in_parallel,
    is_gone,
    kill_and_wait,
    start_missing,
)
from harness.faults.targets import (
    ChainNames,
    RelayNames,
    ServiceNames,
    resolve_chains,
    resolve_relays,
    resolve_services,
)
from harness.stack import RELAYS

log = logging.getLogger(__name__)


# Process-level faults.


class KillServiceSpec(FaultSpec):
    """Kill services with a signal: names or units (`erigon` is every chain)."""

    type: Literal["kill_service"] = "kill_service"
    service: ServiceNames
    signal: KillSignal = "SIGKILL"


@register
class KillService(Fault[KillServiceSpec]):
    """Signal each service and wait until it has exited; revert starts them."""

    family = "cluster"
    spec_model = KillServiceSpec

    @property
    def services(self) -> tuple[str, ...]:
        """The services this fault kills."""
        return resolve_services(self.spec.service)

    def inject(self) -> None:
        """Send the signal; return once every service has exited."""
        kill_and_wait(self.ctx.runtime, self.services, self.spec.signal)

    def revert(self) -> None:
        """Start every one of the services that is not running."""
        start_missing(self.ctx.runtime, self.services)

    def describe(self) -> str:
        """E.g. `killed postgres with SIGKILL`."""
        return f"killed {', '.join(self.services)} with {self.spec.signal}"

    def evidence(self) -> dict[str, str]:
        """The services and the signal."""
        return {"services": ",".join(self.services), "signal": self.spec.signal}


class StopServiceSpec(FaultSpec):
    """Stop services gracefully, as `systemctl stop` does."""

    type: Literal["stop_service"] = "stop_service"
    service: ServiceNames


@register
class StopService(Fault[StopServiceSpec]):
    """Stop each service (its stop signal, SIGKILL after 10 s); revert starts them."""

    family = "cluster"
    spec_model = StopServiceSpec

    @property
    def services(self) -> tuple[str, ...]:
        """The services this fault stops."""
        return resolve_services(self.spec.service)

    def inject(self) -> None:
        """Stop every service; return once each has exited."""
        in_parallel(self.ctx.runtime.stop, self.services)

    def revert(self) -> None:
        """Start every one of the services that is not running."""
        start_missing(self.ctx.runtime, self.services)

    def describe(self) -> str:
        """E.g. `stopped relay-a`."""
        return f"stopped {', '.join(self.services)}"

    def evidence(self) -> dict[str, str]:
        """The services."""
        return {"services": ",".join(self.services)}


class PauseServiceSpec(FaultSpec):
    """Freeze services: they keep their sockets but answer nothing."""

    type: Literal["pause_service"] = "pause_service"
    service: ServiceNames


@register
class PauseService(Fault[PauseServiceSpec]):
    """Pause each service (SIGSTOP on a local stack); revert resumes them."""

    family = "cluster"
    spec_model = PauseServiceSpec

    def __init__(self, spec: PauseServiceSpec, ctx: DrillContext) -> None:
        super().__init__(spec, ctx)
        self._paused: list[str] = []

    @property
    def services(self) -> tuple[str, ...]:
        """The services this fault pauses."""
        return resolve_services(self.spec.service)

    def inject(self) -> None:
        """Pause every service; return once each is frozen."""
        for service in self.services:
            self._paused.append(service)
            self.ctx.runtime.pause(service)

    def revert(self) -> None:
        """Resume the services this fault paused that are still paused."""
        runtime = self.ctx.runtime
        for service in list(self._paused):
            if runtime.health(service).state == "paused":
                runtime.resume(service)
            self._paused.remove(service)

    def describe(self) -> str:
        """E.g. `paused erigon-base`."""
        return f"paused {', '.join(self.services)}"

    def evidence(self) -> dict[str, str]:
        """The services."""
        return {"services": ",".join(self.services)}


class EngineCrashSpec(FaultSpec):
    """The strategy engine (mev-artemis) crashes: killed with SIGKILL."""

    type: Literal["engine_crash"] = "engine_crash"


@register
class EngineCrash(Fault[EngineCrashSpec]):
    """SIGKILL mev-artemis and wait until it is gone; revert starts it."""

    family = "cluster"
    spec_model = EngineCrashSpec
    service = "mev-artemis"

    def inject(self) -> None:
        """Kill the engine; return once it has exited."""
        kill_and_wait(self.ctx.runtime, [self.service], "SIGKILL")

    def revert(self) -> None:
        """Start the engine if it is not running."""
        start_missing(self.ctx.runtime, [self.service])

    def describe(self) -> str:
        """One line."""
        return f"crashed the strategy engine ({self.service}, SIGKILL)"

    def evidence(self) -> dict[str, str]:
        """The service and the signal."""
        return {"services": self.service, "signal": "SIGKILL"}


class RelaysDownSpec(FaultSpec):
    """Stop relays, so that mev-boost's status answers 503 (default: both)."""

    type: Literal["relays_down"] = "relays_down"
    relays: RelayNames = Field(default_factory=lambda: list(RELAYS))


@register
class RelaysDown(Fault[RelaysDownSpec]):
    """Stop the relay services; revert starts them."""

    family = "cluster"
    spec_model = RelaysDownSpec

    @property
    def relays(self) -> tuple[str, ...]:
        """The relay services this fault stops."""
        return resolve_relays(self.spec.relays)

    def inject(self) -> None:
        """Stop every relay; return once each has exited."""
        in_parallel(self.ctx.runtime.stop, self.relays)

    def revert(self) -> None:
        """Start every relay that is not running."""
        start_missing(self.ctx.runtime, self.relays)

    def describe(self) -> str:
        """E.g. `stopped relays relay-a, relay-b`."""
        return f"stopped relays {', '.join(self.relays)}"

    def evidence(self) -> dict[str, str]:
        """The relays."""
        return {"relays": ",".join(self.relays)}


# Control-endpoint faults.


class SyncStallSpec(FaultSpec):
    """Stall chain sync: the head stops moving and eth_syncing reports stages."""

    type: Literal["sync_stall"] = "sync_stall"
    chain: ChainNames


@register
class SyncStall(Fault[SyncStallSpec]):
    """POST /_standin/sync {"stalled": true} to each chain's erigon node."""

    family = "cluster"
    spec_model = SyncStallSpec

    def __init__(self, spec: SyncStallSpec, ctx: DrillContext) -> None:
        super().__init__(spec, ctx)
        self._stalled: list[str] = []

    @property
    def chains(self) -> tuple[str, ...]:
        """The chains this fault stalls."""
        return resolve_chains(self.spec.chain)

    def _set(self, chain: str, stalled: bool) -> None:
        url = f"{self.ctx.endpoints.rpc[chain]}/_standin/sync"
        state = control("POST", url, {"stalled": stalled})
        if state.get("sync_stalled") is not stalled:
            log.warning("erigon-%s reports sync_stalled=%r after POST %s",
                        chain, state.get("sync_stalled"), url)  # fmt: skip

    def inject(self) -> None:
        """Stall every chain; return once each node reports it stalled."""
        for chain in self.chains:
            self._stalled.append(chain)
            self._set(chain, True)

    def revert(self) -> None:
        """Let every chain this fault stalled sync again.

        A node that is not running is skipped: it starts unstalled.
        """
        for chain in list(self._stalled):
            if not is_gone(self.ctx.runtime, f"erigon-{chain}"):
                self._set(chain, False)
            self._stalled.remove(chain)

    def describe(self) -> str:
        """E.g. `stalled sync on polygon`."""
        return f"stalled sync on {', '.join(self.chains)}"

    def evidence(self) -> dict[str, str]:
        """The chains."""
        return {"chains": ",".join(self.chains)}


class PeersZeroSpec(FaultSpec):
    """Set chains' peer counts (default 0: the node is isolated)."""

    type: Literal["peers_zero"] = "peers_zero"
    chain: ChainNames
    count: int = Field(default=0, ge=0, le=10_000)


@register
class PeersZero(Fault[PeersZeroSpec]):
    """POST /_standin/peers {"count": N}; revert restores each previous count."""

    family = "cluster"
    spec_model = PeersZeroSpec

    def __init__(self, spec: PeersZeroSpec, ctx: DrillContext) -> None:
        super().__init__(spec, ctx)
        self._previous: dict[str, int] = {}
        self._pending: list[str] = []

    @property
    def chains(self) -> tuple[str, ...]:
        """The chains whose peers this fault sets."""
        return resolve_chains(self.spec.chain)

    def _url(self, chain: str, path: str) -> str:
        return f"{self.ctx.endpoints.rpc[chain]}/_standin/{path}"

    def inject(self) -> None:
        """Read each chain's peer count, then set the new one."""
        for chain in self.chains:
            before = control("GET", self._url(chain, "state"))
            self._previous[chain] = int(before["peers"])
            self._pending.append(chain)
            control("POST", self._url(chain, "peers"), {"count": self.spec.count})

    def revert(self) -> None:
        """Give every chain back the peer count it had before inject."""
        for chain in list(self._pending):
            if not is_gone(self.ctx.runtime, f"erigon-{chain}"):
                count = self._previous[chain]
                control("POST", self._url(chain, "peers"), {"count": count})
            self._pending.remove(chain)

    def describe(self) -> str:
        """E.g. `set peers to 0 on ethereum`."""
        return f"set peers to {self.spec.count} on {', '.join(self.chains)}"

    def evidence(self) -> dict[str, str]:
        """The chains and the counts before and after."""
        before = ",".join(f"{c}={n}" for c, n in self._previous.items())
        return {
            "chains": ",".join(self.chains),
            "peers": str(self.spec.count),
            "peers_before": before,
        }


class BundleRejectionSpec(FaultSpec):
    """Make relays reject a fraction of bundles (0.0-1.0; default 0.95, both)."""

    type: Literal["bundle_rejection"] = "bundle_rejection"
    rate: float = Field(default=0.95, ge=0.0, le=1.0)
    relays: RelayNames = Field(default_factory=lambda: list(RELAYS))


@register
class BundleRejection(Fault[BundleRejectionSpec]):
    """POST /_standin/rejection {"rate": r}; revert restores each previous rate."""

    family = "cluster"
    spec_model = BundleRejectionSpec

    def __init__(self, spec: BundleRejectionSpec, ctx: DrillContext) -> None:
        super().__init__(spec, ctx)
        self._previous: dict[str, float] = {}
        self._pending: list[str] = []

    @property
    def relays(self) -> tuple[str, ...]:
        """The relays this fault changes."""
        return resolve_relays(self.spec.relays)

    def _url(self, relay: str, path: str) -> str:
        return f"{self.ctx.endpoints.relays[relay]}/_standin/{path}"

    def inject(self) -> None:
        """Read each relay's rejection rate, then set the new one."""
        for relay in self.relays:
            before = control("GET", self._url(relay, "state"))
            self._previous[relay] = float(before["rejection_rate"])
            self._pending.append(relay)
            control("POST", self._url(relay, "rejection"), {"rate": self.spec.rate})

    def revert(self) -> None:
        """Give every relay back the rejection rate it had before inject."""
        for relay in list(self._pending):
            if not is_gone(self.ctx.runtime, relay):
                rate = self._previous[relay]
                control("POST", self._url(relay, "rejection"), {"rate": rate})
            self._pending.remove(relay)

    def describe(self) -> str:
        """E.g. `relays relay-a, relay-b reject 95% of bundles`."""
        return f"relays {', '.join(self.relays)} reject {self.spec.rate:.0%} of bundles"

    def evidence(self) -> dict[str, str]:
        """The relays and the rates before and after."""
        before = ",".join(f"{r}={v:g}" for r, v in self._previous.items())
        return {
            "relays": ",".join(self.relays),
            "rejection_rate": f"{self.spec.rate:g}",
            "rejection_rate_before": before,
        }
