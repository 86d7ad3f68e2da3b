"""The toxics: one module a toxic, and the registry that finds them by type name."""

from __future__ import annotations

from harness.proxy.toxics.bandwidth import BandwidthToxic
from harness.proxy.toxics.base import Stub, Toxic
from harness.proxy.toxics.latency import LatencyToxic
from harness.proxy.toxics.limit_data import LimitDataToxic
from harness.proxy.toxics.noop import NoopToxic
from harness.proxy.toxics.reset_peer import ResetPeerToxic
from harness.proxy.toxics.slicer import SlicerToxic
from harness.proxy.toxics.slow_close import SlowCloseToxic
from harness.proxy.toxics.timeout import TimeoutToxic

REGISTRY: dict[str, type[Toxic]] = {
    cls.kind: cls
    for cls in (
        LatencyToxic,
        BandwidthToxic,
        SlowCloseToxic,
        TimeoutToxic,
        ResetPeerToxic,
        SlicerToxic,
        LimitDataToxic,
        NoopToxic,
    )
}
"""Toxic classes by the API's `type` name."""

__all__ = ["REGISTRY", "Stub", "Toxic"]
