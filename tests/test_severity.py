"""Severity from the runbook's classification matrix, and impact in dollars."""

from __future__ import annotations

import pytest

from harness.severity import Impact, Severity, classify, impact_usd


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        ([], None),
        ([(Impact.ENGINE_DOWN, "")], Severity.P0),
        ([(Impact.SECURITY_BREACH, "")], Severity.P0),
        ([(Impact.CHAIN_DOWN, c) for c in ("a", "b", "c", "d", "e")], Severity.P0),
        ([(Impact.CHAIN_DOWN, "a"), (Impact.CHAIN_DOWN, "b")], Severity.P1),
        ([(Impact.CHAIN_DOWN, "a")], Severity.P1),
        ([(Impact.BUNDLE_REJECTION, "")], Severity.P1),
        ([(Impact.API_DOWN, ""), (Impact.RPC_LATENCY, "")], Severity.P1),
        ([(Impact.RPC_LATENCY, "")], Severity.P2),
        ([(Impact.LOW_SUCCESS_RATE, "")], Severity.P2),
        ([(Impact.MINOR, "")], Severity.P3),
    ],
)
def test_classify_follows_the_runbook_matrix_when_probes_fail(failures, expected):
    assert classify(failures, chains_total=5) == expected


def test_classify_is_p0_when_the_loss_passes_ten_thousand_dollars():
    assert (
        classify([(Impact.RPC_LATENCY, "")], chains_total=5, loss_usd=10_000.01)
        is Severity.P0
    )
    assert (
        classify([(Impact.RPC_LATENCY, "")], chains_total=5, loss_usd=10_000.0)
        is Severity.P2
    )


def test_impact_is_downtime_times_loss_per_minute_when_computed():
    assert impact_usd(90.0, 500.0) == 750.0
    assert impact_usd(-1.0, 500.0) == 0.0
