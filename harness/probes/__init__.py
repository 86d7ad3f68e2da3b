"""Steady-state probes: chains, services, the database, freshness, security.

Importing the package registers every probe; `AnyProbeSpec` is the union of
their specs, told apart by `type`, for scenario files.
"""

from typing import Annotated

from pydantic import Field

from harness.probes.base import REGISTRY, Probe, ProbeResult, ProbeSpec, build
from harness.probes.chain import ChainHeadSpec, ChainHealthSpec, RpcLatencySpec
from harness.probes.database import SqlSelect1Spec
from harness.probes.freshness import OpportunitiesFreshSpec
from harness.probes.security import (
    ApiKeysKnownSpec,
    DbSessionsCleanSpec,
    RolesCleanSpec,
    StrategiesIntactSpec,
)
from harness.probes.services import (
    BundleAcceptanceSpec,
    MevApiHealthSpec,
    MevApiLatencySpec,
    MevBoostStatusSpec,
)

AnyProbeSpec = Annotated[
    ChainHeadSpec
    | ChainHealthSpec
    | RpcLatencySpec
    | MevBoostStatusSpec
    | BundleAcceptanceSpec
    | MevApiHealthSpec
    | MevApiLatencySpec
    | SqlSelect1Spec
    | OpportunitiesFreshSpec
    | StrategiesIntactSpec
    | RolesCleanSpec
    | DbSessionsCleanSpec
    | ApiKeysKnownSpec,
    Field(discriminator="type"),
]
"""Any probe's spec, chosen by its `type` field."""

__all__ = [
    "REGISTRY",
    "AnyProbeSpec",
    "ApiKeysKnownSpec",
    "BundleAcceptanceSpec",
    "ChainHeadSpec",
    "ChainHealthSpec",
    "DbSessionsCleanSpec",
    "MevApiHealthSpec",
    "MevApiLatencySpec",
    "MevBoostStatusSpec",
    "OpportunitiesFreshSpec",
    "Probe",
    "ProbeResult",
    "ProbeSpec",
    "RolesCleanSpec",
    "RpcLatencySpec",
    "SqlSelect1Spec",
    "StrategiesIntactSpec",
    "build",
]
