"""Black-box tests of the mev-artemis stand-in: real Postgres, relay and chain heads.

Chain heads come from a small JSON-RPC server in this module (eth_chainId and
an eth_blockNumber that grows with time), so that these tests do not depend on
the erigon stand-in. Rows are told apart from other tests' rows by block
numbers drawn from a range no other test uses.
"""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import PostgresLauncher, PostgresServer, stop_process

pytestmark = pytest.mark.timeout(90)

BLOCK_TIME_S = 0.2
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


class FakeChain:
    """A JSON-RPC server whose head grows by one every BLOCK_TIME_S."""

    def __init__(self, chain_id: int, first_block: int) -> None:
        self.chain_id = chain_id
        self.first_block = first_block
        self.started = time.monotonic()
        self.port = free_port()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def head(self) -> int:
        return self.first_block + int((time.monotonic() - self.started) / BLOCK_TIME_S)

    def start(self) -> None:
        chain = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                call = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                result = {
                    "eth_chainId": hex(chain.chain_id),
                    "eth_blockNumber": hex(chain.head()),
                }[call["method"]]
                body = json.dumps(
                    {"jsonrpc": "2.0", "id": call["id"], "result": result}
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextmanager
def fake_chains(first_block: int) -> Iterator[dict[str, FakeChain]]:
    chains = {
        "ethereum": FakeChain(1, first_block),
        "base": FakeChain(8453, first_block),
    }
    for c in chains.values():
        c.start()
    try:
        yield chains
    finally:
        for c in chains.values():
            c.stop()


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


@dataclass
class Artemis:
    """A running artemis and what it follows."""

    control: str
    chains: dict[str, FakeChain]
    relay_port: int
    database_url: str
    first_block: int

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = httpx.get(f"{self.control}/_standin/state").json()
        return state

    def rows(self, *columns: str, where: str = "TRUE") -> list[tuple[Any, ...]]:
        """This run's opportunities (told apart by their block range), oldest first."""
        sql = (
            f"SELECT {', '.join(columns)} FROM opportunities "
            f"WHERE block_number BETWEEN %s AND %s AND ({where}) ORDER BY id"
        )
        span = (self.first_block, self.first_block + 1_000_000)
        with psycopg.connect(self.database_url, connect_timeout=3) as conn:
            return conn.execute(sql, span).fetchall()

    def count(self, where: str = "TRUE") -> int:
        return len(self.rows("id", where=where))

    def last_id(self) -> int:
        return max((i for (i,) in self.rows("id")), default=0)


@contextmanager
def artemis(database_url: str, relay_port: int) -> Iterator[Artemis]:
    """Artemis following two fake chains and the relay on `relay_port`."""
    first_block = random.randrange(10**9, 2 * 10**9, 10**6)
    control_port = free_port()
    with fake_chains(first_block) as chains:
        rpc = ",".join(f"{name}={c.url}" for name, c in chains.items())
        args = ["harness.standins.artemis", "--rpc", rpc]
        args += ["--database-url", database_url, "--control-port", str(control_port)]
        args += ["--relays", f"relay-a=http://127.0.0.1:{relay_port}"]
        args += ["--poll-ms", str(POLL_MS)]
        control = f"http://127.0.0.1:{control_port}"
        with process(args, f"{control}/_standin/state"):
            yield Artemis(control, chains, relay_port, database_url, first_block)


@pytest.fixture(scope="module")
def healthy(postgres_server: PostgresServer) -> Iterator[Artemis]:
    port = free_port()
    with relay(port), artemis(postgres_server.url, port) as running:
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
    assert state["chains"]["ethereum"]["head"] >= healthy.first_block
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
    relay_state = httpx.get(f"http://127.0.0.1:{healthy.relay_port}/_standin/state")
    state = healthy.state()

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
    with relay(port) as relay_proc, artemis(postgres_server.url, port) as running:
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
    with relay(port), artemis(server.url, port) as running:
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
        assert state["chains"]["ethereum"]["ok"] is True
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
