"""Severity and impact, by the runbook's incident classification matrix.

P0: the MEV engine down, every chain down, active exploitation, data
corruption, or a loss over $10,000. P1: one chain down, bundle rejection over
90%, the API or the database down. P2: RPC latency over 100 ms, success rate
under 40%, intermittent connectivity. P3: anything minor.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

P0_LOSS_USD = 10_000.0
DEFAULT_LOSS_USD_PER_MIN = 500.0
"""The runbook's example alert: `Impact: Trading halted, $500/min revenue loss`."""


class Severity(StrEnum):
    """The runbook's priority levels."""

    P0 = "P0"
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


class Impact(StrEnum):
    """What a failing probe stands for, in the runbook's incident types."""

    ENGINE_DOWN = "engine_down"
    CHAIN_DOWN = "chain_down"
    SECURITY_BREACH = "security_breach"
    DATA_CORRUPTION = "data_corruption"
    BUNDLE_REJECTION = "bundle_rejection"
    API_DOWN = "api_down"
    DATABASE_DOWN = "database_down"
    RPC_LATENCY = "rpc_latency"
    LOW_SUCCESS_RATE = "low_success_rate"
    CONNECTIVITY = "connectivity"
    MINOR = "minor"


_P0 = {Impact.ENGINE_DOWN, Impact.SECURITY_BREACH, Impact.DATA_CORRUPTION}
_P1 = {
    Impact.CHAIN_DOWN,
    Impact.BUNDLE_REJECTION,
    Impact.API_DOWN,
    Impact.DATABASE_DOWN,
}
_P2 = {Impact.RPC_LATENCY, Impact.LOW_SUCCESS_RATE, Impact.CONNECTIVITY}


def classify(
    failures: Iterable[tuple[Impact, str]],
    *,
    chains_total: int,
    loss_usd: float = 0.0,
) -> Severity | None:
    """The observed severity from what failed, as (impact, subject) pairs.

    `subject` names the chain for CHAIN_DOWN, so that every chain down reads
    as the P0 multi-chain outage. None when nothing failed.
    """
    seen = list(failures)
    impacts = {impact for impact, _ in seen}
    chains_down = {subject for impact, subject in seen if impact is Impact.CHAIN_DOWN}
    if (
        impacts & _P0
        or loss_usd > P0_LOSS_USD
        or (chains_total and len(chains_down) >= chains_total)
    ):
        return Severity.P0
    if impacts & _P1:
        return Severity.P1
    if impacts & _P2:
        return Severity.P2
    if impacts:
        return Severity.P3
    return None


def impact_usd(downtime_s: float, loss_usd_per_min: float) -> float:
    """Revenue lost: downtime in minutes times the loss per minute."""
    return round(max(0.0, downtime_s) / 60.0 * loss_usd_per_min, 2)
