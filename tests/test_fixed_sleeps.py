"""Fixed sleeps in recovery steps: counted at the top level, not in loops."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.fixed_sleeps import in_step, in_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("systemctl restart erigon; sleep 30", [30.0]),
        ("systemctl restart erigon && sleep 30s && curl x", [30.0]),
        ("sleep 2.5\nsleep 10", [2.5, 10.0]),
        ('sleep "$WAIT_INTERVAL_S"', []),
        ("# sleep 30 was here", []),
        ("echo '# not a comment' # sleep 40", []),
        ("until curl -sf x; do sleep 1; done", []),
        ("while true; do\n  curl x && break\n  sleep 2\ndone\nsleep 5", [5.0]),
        ("for i in 1 2 3\ndo\n  sleep 1\ndone", []),
        ("nosleep 30; sleep30; sleep 3x", []),
    ],
)
def test_in_text_finds_top_level_literal_sleeps_when_given_shell(
    text: str, expected: list[float]
) -> None:
    assert in_text(text) == expected


def test_in_step_reads_the_script_it_runs_when_named_by_path_or_shell(
    tmp_path: Path,
) -> None:
    (tmp_path / "fix.sh").write_text("systemctl restart erigon\nsleep 30\n")

    assert in_step("./fix.sh", tmp_path) == [30.0]
    assert in_step(f"bash -e {tmp_path / 'fix.sh'} ethereum", Path("/")) == [30.0]
    assert in_step("fix.sh; sleep 5", tmp_path) == [5.0, 30.0]
    assert in_step("missing.sh", tmp_path) == []
    assert in_step("echo 'unbalanced", tmp_path) == []


def test_in_step_skips_a_script_when_it_is_too_big_to_be_one(tmp_path: Path) -> None:
    big = tmp_path / "tool"
    big.write_bytes(b"sleep 30\n" + b"x" * 300_000)
    assert in_step(str(big), tmp_path) == []
