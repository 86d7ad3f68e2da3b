"""The Prometheus textfile: parsed back with a small strict parser of the format."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.metrics import default_db_path, record
from harness.reports.prometheus import escape_label_value, write_textfile
from harness.result import Outcome
from tests.test_metrics import make_result

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
_SAMPLE = re.compile(
    rf"^(?P<name>{_NAME})(?P<labels>\{{(?:{_LABEL})(?:,{_LABEL})*\}})?"
    r" (?P<value>[-+]?(?:[0-9.]+(?:e[-+]?[0-9]+)?|inf|nan|Inf|NaN))$"
)
_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def parse(text: str) -> Samples:
    """Parse the exposition format strictly: every family has HELP then TYPE
    before its samples, and every sample line is well formed."""
    assert text.endswith("\n")
    samples: Samples = {}
    typed: dict[str, str] = {}
    helped: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split(" ")[2])
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name in helped, f"TYPE before HELP for {name}"
            assert kind in {"gauge", "counter", "untyped"}
            typed[name] = kind
        else:
            match = _SAMPLE.match(line)
            assert match, f"malformed sample line: {line!r}"
            name = match["name"]
            assert name in typed, f"sample {name} before its TYPE"
            labels = tuple(
                (k, _unescape(v)) for k, v in _PAIR.findall(match["labels"] or "")
            )
            key = (name, labels)
            assert key not in samples, f"duplicate series {key}"
            samples[key] = float(match["value"])
    return samples


T1 = datetime(2026, 12, 1, 10, tzinfo=UTC)
T2 = datetime(2026, 12, 2, 10, tzinfo=UTC)


def test_textfile_has_latest_drill_per_scenario_when_written_from_results(
    tmp_path: Path,
):
    results = [
        make_result("INC_1", "database_failure", T1, rto_s=5.0, detection_s=1.0),
        make_result("INC_2", "database_failure", T2, rto_s=7.5, detection_s=0.5),
        make_result("INC_3", "network_outage", T2, rto_s=None, outcome=Outcome.FAILED),
    ]
    path = write_textfile(results, tmp_path / "drill.prom")
    samples = parse(path.read_text())
    db = (("scenario", "database_failure"),)
    assert samples[("drill_rto_seconds", db)] == 7.5
    assert samples[("drill_detection_seconds", db)] == 0.5
    assert samples[("drill_rpo_seconds", db)] == 0.0
    assert ("drill_rto_seconds", (("scenario", "network_outage"),)) not in samples
    net = ("scenario", "network_outage")
    assert samples[("drill_outcome", (net, ("outcome", "FAILED")))] == 1.0
    assert samples[("drill_outcome", (net, ("outcome", "PASSED")))] == 0.0
    stamp = T2.timestamp() - 2.0  # started_at is 2 s before t0
    assert samples[("drill_last_run_timestamp_seconds", db)] == stamp
    # 2 of 3 drills passed.
    assert samples[("drill_pass_rate", ())] == pytest.approx(2 / 3)
    assert [p.name for p in tmp_path.iterdir()] == ["drill.prom"]


def test_textfile_escapes_label_values_when_scenario_has_quotes_and_newlines(
    tmp_path: Path,
):
    odd = 'we"ird\\name\nx'
    path = write_textfile([make_result("INC_9", odd, T1)], tmp_path / "d.prom")
    text = path.read_text()
    assert escape_label_value(odd) == 'we\\"ird\\\\name\\nx'
    samples = parse(text)
    assert samples[("drill_rto_seconds", (("scenario", odd),))] == 90.0


def test_textfile_reads_the_history_when_given_a_db_path(tmp_path: Path):
    db = default_db_path(tmp_path)
    record(make_result("INC_1", "relays_down", T1, rto_s=3.0), db)
    record(make_result("INC_2", "relays_down", T2, rto_s=4.0), db)
    samples = parse(write_textfile(db, tmp_path / "out" / "drill.prom").read_text())
    assert samples[("drill_rto_seconds", (("scenario", "relays_down"),))] == 4.0
    assert samples[("drill_pass_rate", ())] == 1.0


def test_textfile_replaces_the_old_file_whole_when_rewritten(tmp_path: Path):
    target = tmp_path / "drill.prom"
    target.write_text("stale\n")
    write_textfile([make_result("INC_1", "sync_stall", T1)], target)
    assert "stale" not in target.read_text()
    parse(target.read_text())
