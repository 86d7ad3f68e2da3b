"""The fault catalogue: database, network, security and cluster faults.

Importing the package registers every fault; `AnyFaultSpec` is the
discriminated union (on `type`) that scenario files are validated with.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from harness.faults.base import REGISTRY, Fault, FaultSpec, build, register
from harness.faults.cluster import (
    BundleRejectionSpec,
    EngineCrashSpec,
    KillServiceSpec,
    PauseServiceSpec,
    PeersZeroSpec,
    RelaysDownSpec,
    StopServiceSpec,
    SyncStallSpec,
)
from harness.faults.database import (
    ConnectionExhaustionSpec,
    CorruptTableSpec,
    DropTableSpec,
    HoldLockSpec,
    KillPostgresSpec,
    StopPostgresSpec,
    TerminateBackendsSpec,
)
from harness.faults.network import (
    BandwidthSpec,
    LatencySpec,
    LimitDataSpec,
    OutageSpec,
    PartitionSpec,
    ResetPeerSpec,
    SlicerSpec,
    TimeoutSpec,
)
from harness.faults.security import (
    LeakedApiKeySpec,
    LeakedDbPasswordSpec,
    RogueDbRoleSpec,
    TamperedConfigSpec,
)

AnyFaultSpec = Annotated[
    KillServiceSpec
    | StopServiceSpec
    | PauseServiceSpec
    | SyncStallSpec
    | PeersZeroSpec
    | RelaysDownSpec
    | BundleRejectionSpec
    | EngineCrashSpec
    | KillPostgresSpec
    | StopPostgresSpec
    | ConnectionExhaustionSpec
    | TerminateBackendsSpec
    | DropTableSpec
    | CorruptTableSpec
    | HoldLockSpec
    | LatencySpec
    | OutageSpec
    | TimeoutSpec
    | BandwidthSpec
    | ResetPeerSpec
    | SlicerSpec
    | LimitDataSpec
    | PartitionSpec
    | LeakedApiKeySpec
    | LeakedDbPasswordSpec
    | RogueDbRoleSpec
    | TamperedConfigSpec,
    Field(discriminator="type"),
]
"""Any fault's spec, told apart by its `type`."""

__all__ = ["REGISTRY", "AnyFaultSpec", "Fault", "FaultSpec", "build", "register"]
