"""Black-box tests of the erigon stand-in as a process: restart, crash, corruption."""

from __future__ import annotations

import json
import shutil
import signal
import time

import pytest

from harness.stack import CHAINS
from tests.standins.test_erigon_support import (
    erigon,
    run_erigon,
    stop,
    wait_until,
)

pytestmark = pytest.mark.timeout(90)

# uvicorn shuts down cleanly on SIGTERM, then re-raises the signal.
GRACEFUL_EXITS = (0, -signal.SIGTERM)

MDBX_PREFIX = (
    "mdbx_txn_begin: MDBX_CORRUPTED: Maybe free space is over on disk. "
    "Otherwise it's hardware failure."
)


def test_each_chain_answers_with_its_chain_id_when_started(tmp_path):
    for chain in CHAINS:
        with erigon(tmp_path / chain.name, chain=chain.name) as node:
            assert node.result("eth_chainId") == hex(chain.chain_id)
            assert node.result("net_version") == str(chain.chain_id)


def test_startup_is_fast_when_the_data_dir_is_new(tmp_path):
    start = time.monotonic()
    with erigon(tmp_path):
        ready_s = time.monotonic() - start
    # Well under a second on an idle machine; the bound allows for shared CPUs.
    assert ready_s < 3.0, f"ready after {ready_s:.2f} s"


def test_restart_continues_from_the_stored_head_then_syncs_when_it_was_down(tmp_path):
    with erigon(tmp_path) as node:
        time.sleep(0.3)
        last_served = node.head()
        assert stop(node) in GRACEFUL_EXITS
    stored = json.loads((tmp_path / "chaindata" / "mdbx.dat").read_text())
    stored_head = stored["record"]["head"]
    assert stored_head >= last_served

    time.sleep(1.0)  # downtime: ten blocks at 100 ms
    with erigon(tmp_path, "--catchup-ms", "1500") as node:
        progress = node.result("eth_syncing")
        assert progress is not False, "a node that was down 1 s must be behind"
        current = int(progress["currentBlock"], 16)
        highest = int(progress["highestBlock"], 16)
        assert stored_head <= current < highest
        assert highest - stored_head >= 8

        took_s = wait_until(
            lambda: node.result("eth_syncing") is False,
            timeout_s=6,
            what="eth_syncing false after the restart",
        )
        assert took_s < 3.0, f"caught up after {took_s:.2f} s, configured 1.5 s"
        assert node.head() >= highest


def test_graceful_stop_writes_the_head_when_terminated(tmp_path):
    with erigon(tmp_path) as node:
        time.sleep(0.4)
        head = node.head()
        assert stop(node, signal.SIGTERM) in GRACEFUL_EXITS
        assert "stopped at head" in node.log()
    stored = json.loads((tmp_path / "chaindata" / "mdbx.dat").read_text())
    assert stored["record"]["head"] >= head


def test_kill_9_never_leaves_a_corrupt_store_when_repeated(tmp_path):
    heads = []
    for delay_s in (0.05, 0.3, 0.55, 0.8, 0.27):
        with erigon(tmp_path) as node:
            time.sleep(delay_s)
            heads.append(node.head())
            stop(node, signal.SIGKILL)
    with erigon(tmp_path) as node:
        assert node.head() >= heads[0]
    assert not list((tmp_path / "chaindata").glob(".*.tmp"))


def test_garbage_chaindata_is_refused_with_mdbx_corrupted_when_starting(tmp_path):
    with erigon(tmp_path):
        pass
    (tmp_path / "chaindata" / "mdbx.dat").write_bytes(b"\x00\xff garbage \x13")
    result = run_erigon(tmp_path)
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert stderr.startswith(MDBX_PREFIX)
    assert "Traceback" not in stderr


def test_checksum_mismatch_is_refused_when_a_field_was_altered(tmp_path):
    with erigon(tmp_path):
        pass
    path = tmp_path / "chaindata" / "mdbx.dat"
    data = json.loads(path.read_text())
    data["record"]["head"] += 1000
    path.write_text(json.dumps(data))
    result = run_erigon(tmp_path)
    assert result.returncode == 1
    assert MDBX_PREFIX in result.stderr.decode()
    assert "checksum mismatch" in result.stderr.decode()


def test_removing_chaindata_recovers_by_catching_up_when_it_was_corrupt(tmp_path):
    with erigon(tmp_path) as node:
        time.sleep(0.5)
        head_before = node.head()
    (tmp_path / "chaindata" / "mdbx.dat").write_bytes(b"corrupt")
    assert run_erigon(tmp_path).returncode == 1

    shutil.rmtree(tmp_path / "chaindata")
    with erigon(tmp_path, "--catchup-ms", "1000") as node:
        assert node.result("eth_syncing") is not False
        wait_until(
            lambda: node.result("eth_syncing") is False,
            timeout_s=6,
            what="synced after rebuilding chaindata from snapshots",
        )
        assert node.head() > head_before


def test_unknown_chain_is_a_one_line_error_with_exit_2_when_given(tmp_path):
    result = run_erigon(tmp_path, chain="solana")
    assert result.returncode == 2
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert "unknown chain 'solana'" in lines[0] and "ethereum" in lines[0]
    assert not (tmp_path / "chaindata").exists()


def test_another_chains_data_dir_is_refused_when_reused(tmp_path):
    with erigon(tmp_path, chain="base"):
        pass
    result = run_erigon(tmp_path, chain="polygon")
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert "base (id 8453)" in stderr and "polygon (id 137)" in stderr


def test_bad_block_time_is_a_usage_error_when_zero(tmp_path):
    result = run_erigon(tmp_path, block_time_ms=0)
    assert result.returncode == 2
    assert "--block-time-ms" in result.stderr.decode()
