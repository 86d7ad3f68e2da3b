"""Black-box tests of the mev-artemis stand-in: real Postgres, relays and erigons.

Every artemis here follows its own erigon stand-ins, on chains no other artemis
of the same test run follows at the same time, so that its rows are told apart
from other tests' rows by chain and by id.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import PostgresLauncher, PostgresServer, stop_process

pytestmark = pytest.mark.timeout(90)

BLOCK_TIME_MS = 200
POLL_MS = 50


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def eventually(check: Callable[[], Any], what: str, timeout_s: float = 10.0) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    pytest.fail(f"{what} not seen within {timeout_s} s (last: {last!r})")


@contextmanager
def process(args: list[str], ready_url: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run a stand-in; yields once `ready_url` answers 200."""
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen([sys.executable, "-m", *args], stderr=stderr)
        try:
            deadline = time.monotonic() + 15
            while True:
                if proc.poll() is not None:
                    stderr.seek(0)
                    pytest.fail(
                        f"{args[0]} exited {proc.returncode}: {stderr.read()!r}"
                    )
                try:
                    if httpx.get(ready_url).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"{ready_url} not ready within 15 s")
                time.sleep(0.05)
            yield proc
        finally:
            stop_process(proc)


@contextmanager
def relay(port: int, name: str = "relay-a") -> Iterator[subprocess.Popen[bytes]]:
    args = ["harness.standins.relay", "--name", name, "--port", str(port)]
    url = f"http://127.0.0.1:{port}/eth/v1/builder/status"
    with process(args, url) as proc:
        yield proc


class Erigon:
    """An erigon stand-in process that can be stopped and started again."""

    def __init__(self, chain: str, data_dir: Path) -> None:
        self.chain = chain
        self.data_dir = data_dir
        self.port = free_port()
        self._running: contextlib.ExitStack | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def head(self) -> int:
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
        return int(httpx.post(self.url, json=body).json()["result"], 16)

    def start(self) -> None:
        args = ["harness.standins.erigon", "--chain", self.chain]
        args += ["--port", str(self.port), "--data-dir", str(self.data_dir)]
        args += ["--block-time-ms", str(BLOCK_TIME_MS), "--log-level", "warning"]
        self._running = contextlib.ExitStack()
        self._running.enter_context(process(args, self.url + "/"))

    def stop(self) -> None:
        if self._running is not None:
            self._running.close()
            self._running = None


@contextmanager
def erigons(*chains: str) -> Iterator[dict[str, Erigon]]:
    with tempfile.TemporaryDirectory(prefix="artemis-test-") as base:
        nodes = {c: Erigon(c, Path(base) / c) for c in chains}
        try:
            for node in nodes.values():
                node.start()
            yield nodes
        finally:
            for node in nodes.values():
                node.stop()


@dataclass
class Artemis:
    """A running artemis and what it follows."""

    control: str
    chains: dict[str, Erigon]
    relay_port: int
    database_url: str
    since_id: int

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = httpx.get(f"{self.control}/_standin/state").json()
        return state

    def rows(self, *columns: str, where: str = "TRUE") -> list[tuple[Any, ...]]:
        """This artemis's opportunities (its chains, after its start), oldest first."""
        sql = (
            f"SELECT {', '.join(columns)} FROM opportunities "
            f"WHERE chain = ANY(%s) AND id > %s AND ({where}) ORDER BY id"
        )
        with psycopg.connect(self.database_url, connect_timeout=3) as conn:
            return conn.execute(sql, (list(self.chains), self.since_id)).fetchall()

    def count(self, where: str = "TRUE") -> int:
        return len(self.rows("id", where=where))

    def last_id(self) -> int:
        return max((i for (i,) in self.rows("id")), default=self.since_id)


def max_id(database_url: str) -> int:
    with psycopg.connect(database_url, connect_timeout=3) as conn:
        row = conn.execute("SELECT COALESCE(max(id), 0) FROM opportunities").fetchone()
    return int(row[0]) if row else 0


@contextmanager
def artemis(database_url: str, relay_port: int, *chains: str) -> Iterator[Artemis]:
    """Artemis following erigon stand-ins of `chains` and the relay on `relay_port`."""
    control_port = free_port()
    with erigons(*chains) as nodes:
        rpc = ",".join(f"{name}={node.url}" for name, node in nodes.items())
        args = ["harness.standins.artemis", "--rpc", rpc]
        args += ["--database-url", database_url, "--control-port", str(control_port)]
        args += ["--relays", f"relay-a=http://127.0.0.1:{relay_port}"]
        args += ["--poll-ms", str(POLL_MS)]
        control = f"http://127.0.0.1:{control_port}"
        since_id = max_id(database_url)
        with process(args, f"{control}/_standin/state"):
            yield Artemis(control, nodes, relay_port, database_url, since_id)


@pytest.fixture(scope="module")
def healthy(postgres_server: PostgresServer) -> Iterator[Artemis]:
    port = free_port()
    with relay(port), artemis(postgres_server.url, port, "ethereum", "base") as running:
        yield running


def test_artemis_writes_rows_with_increasing_blocks_when_all_is_healthy(
    healthy: Artemis,
) -> None:
    first = eventually(lambda: healthy.rows("block_number"), "first opportunities")
    eventually(
        lambda: (
            max(b for (b,) in healthy.rows("block_number")) > max(b for (b,) in first)
        ),
        "opportunities of a later block",
    )

    columns = "chain_id, chain, strategy, block_number, target_block"
    rows = healthy.rows(columns, "expected_profit_wei, gas_estimate, net_profit_wei")
    for chain_id, chain, strategy, block, target, expected, gas, net in rows:
        assert (chain, chain_id) in {("ethereum", 1), ("base", 8453)}
        assert strategy in {"arbitrage", "sandwich", "liquidation", "backrun"}
        assert target == block + 1
        assert 0 < net < expected and gas > 0
    head = healthy.chains["ethereum"].head()
    assert max(r[3] for r in rows) >= head - 10, "rows follow the chain head"
    state = healthy.state()
    assert state["database_ok"] is True
    assert state["chains"]["ethereum"]["ok"] is True
    assert abs(state["chains"]["ethereum"]["head"] - head) <= 10
    assert state["chains"]["base"]["last_head_at"] > time.time() - 5
    assert state["opportunities_written"] >= len(rows) > 0


def test_artemis_submits_bundles_that_the_relay_counts_when_relay_is_up(
    healthy: Artemis,
) -> None:
    settled = "status IN ('included', 'rejected')"
    eventually(lambda: healthy.count(settled) >= 3, "bundles with an outcome")

    rows = healthy.rows(
        "status", "bundle_hash", "relay", where="bundle_hash IS NOT NULL"
    )
    state = healthy.state()  # first: the relay's count can only grow after it
    relay_state = httpx.get(f"http://127.0.0.1:{healthy.relay_port}/_standin/state")

    assert rows
    assert all(relay == "relay-a" and len(h) == 66 for _, h, relay in rows)
    assert {s for s, _, _ in rows} <= {"submitted", "included", "rejected"}
    assert 0 < state["bundles_submitted"] <= relay_state.json()["bundles_received"]
    assert state["bundles_included"] > 0, "rejection rate 0: bundles are sealed"


def test_artemis_stops_writing_when_paused_and_resumes_when_unpaused(
    healthy: Artemis,
) -> None:
    eventually(lambda: healthy.count() > 0, "opportunities")

    paused = httpx.post(f"{healthy.control}/_standin/pause", json={"paused": True})
    time.sleep(0.3)  # let an in-flight block finish
    before = healthy.count()
    time.sleep(1.0)  # five block times
    during = healthy.count()
    httpx.post(f"{healthy.control}/_standin/pause", json={"paused": False})

    assert paused.json()["paused"] is True
    assert during == before
    eventually(lambda: healthy.count() > during, "opportunities after resume")


def test_artemis_pause_answers_400_when_body_is_bad(healthy: Artemis) -> None:
    response = httpx.post(f"{healthy.control}/_standin/pause", json={"pause": 1})

    assert response.status_code == 400
    assert healthy.state()["paused"] is False


def test_artemis_marks_bundles_rejected_when_relay_rejects_everything(
    healthy: Artemis,
) -> None:
    relay_url = f"http://127.0.0.1:{healthy.relay_port}"
    httpx.post(f"{relay_url}/_standin/rejection", json={"rate": 1.0})
    # Rows after this one were submitted at rate 1.0.
    last_id = healthy.last_id()
    try:
        where = f"id > {last_id} AND status = 'rejected'"

        def reasons() -> set[str]:
            return {r for (r,) in healthy.rows("rejection_reason", where=where)}

        # Refused bundles are marked at once, unsealed ones a block later.
        eventually(lambda: "not sealed by any builder" in reasons(), "unsealed bundles")
        seen = reasons()
        included = healthy.count(f"id > {last_id} AND status = 'included'")
    finally:
        httpx.post(f"{relay_url}/_standin/rejection", json={"rate": 0.0})

    assert seen <= {
        "not sealed by any builder",
        "unable to process bundle: simulation queue full",
    }
    assert included == 0


def test_artemis_follows_other_chains_and_recovers_when_a_chain_is_down(
    healthy: Artemis,
) -> None:
    base = healthy.chains["base"]
    base.stop()
    try:
        eventually(lambda: not healthy.state()["chains"]["base"]["ok"], "base not ok")
        last_id = healthy.last_id()
        eventually(
            lambda: healthy.count(f"id > {last_id} AND chain = 'ethereum'"),
            "ethereum rows while base is down",
        )
        assert healthy.state()["chains"]["ethereum"]["ok"] is True
    finally:
        base.start()

    eventually(lambda: healthy.state()["chains"]["base"]["ok"], "base ok again")
    last_id = healthy.last_id()
    eventually(
        lambda: healthy.count(f"id > {last_id} AND chain = 'base'"),
        "base rows after it came back",
    )


def test_artemis_keeps_writing_and_recovers_when_relay_is_killed_and_restarted(
    postgres_server: PostgresServer,
) -> None:
    port = free_port()
    with (
        relay(port) as relay_proc,
        artemis(postgres_server.url, port, "arbitrum") as running,
    ):
        eventually(
            lambda: running.count("bundle_hash IS NOT NULL"), "a submitted bundle"
        )

        relay_proc.kill()
        relay_proc.wait()
        last_id = running.last_id()
        eventually(
            lambda: running.count(f"id > {last_id} AND status = 'failed'"),
            "rows with failed submissions while the relay is down",
        )
        state = running.state()
        assert state["relays"]["relay-a"]["ok"] is False
        assert state["errors"] > 0
        assert state["last_error"]

        with relay(port):
            last_id = running.last_id()
            where = f"id > {last_id} AND bundle_hash IS NOT NULL"
            eventually(lambda: running.count(where), "submissions after relay is back")
            assert running.state()["relays"]["relay-a"]["ok"] is True


def test_artemis_keeps_running_and_resumes_when_database_stops_and_restarts(
    postgres_launcher: PostgresLauncher,
) -> None:
    server, pg = postgres_launcher.start("artemis-outage", password="outage-test-pw")
    port = free_port()
    with relay(port), artemis(server.url, port, "optimism") as running:
        eventually(running.count, "rows before the outage")

        pg.send_signal(signal.SIGINT)  # fast shutdown: ends sessions, then exits
        pg.wait(10)
        eventually(lambda: not running.state()["database_ok"], "database not ok")
        detected = running.state()["opportunities_detected"]
        eventually(
            lambda: running.state()["opportunities_detected"] > detected + 2,
            "detection going on while the database is down",
        )
        state = running.state()
        assert state["chains"]["optimism"]["ok"] is True
        assert state["bundles_submitted"] > 0
        assert "database" in (state["last_error"] or "")

        _, pg = postgres_launcher.start("artemis-outage", port=server.port)
        last_id = running.last_id()
        eventually(lambda: running.count(f"id > {last_id}"), "rows after restart")
        assert running.state()["database_ok"] is True
        stop_process(pg)


def test_artemis_refuses_to_start_when_chain_name_is_unknown() -> None:
    args = ["--rpc", "mars=http://127.0.0.1:1", "--database-url", "postgresql://x"]
    args += ["--relays", "http://127.0.0.1:2", "--control-port", "0"]

    done = subprocess.run(
        [sys.executable, "-m", "harness.standins.artemis", *args],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )

    assert done.returncode == 2
    assert "unknown chain 'mars'" in done.stderr
    assert "ethereum" in done.stderr
