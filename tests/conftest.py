"""Shared fixtures: a real Postgres stand-in on a free port, started once a session."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest

if TYPE_CHECKING:
    from harness.context import DrillContext
    from harness.runtime.local import LocalRuntime

REPO_ROOT = Path(__file__).resolve().parents[1]
POSTGRES_START_TIMEOUT_S = 30.0
STOP_GRACE_S = 5.0


@dataclass(frozen=True)
class PostgresServer:
    """A running Postgres stand-in, as the tests connect to it."""

    host: str
    port: int
    user: str
    password: str
    dbname: str
    url: str
    socket_dir: Path
    pid: int
    data_dir: Path
    password_file: Path
    log_file: Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop_process(proc: subprocess.Popen[bytes], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM, wait up to `grace_s`, then SIGKILL and wait."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace_s)


def wait_for_sql(url: str, proc: subprocess.Popen[bytes], timeout_s: float) -> str:
    """Poll `SELECT 1` over TCP; "" once it answers, else why it did not."""
    import psycopg

    deadline = time.monotonic() + timeout_s
    last_error = "no attempt"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"the process exited with {proc.returncode}"
        try:
            with psycopg.connect(url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return ""
        except psycopg.OperationalError as exc:
            last_error = str(exc).strip()
        time.sleep(0.02)
    return f"not ready after {timeout_s} s ({last_error})"


class PostgresLauncher:
    """Starts Postgres stand-ins as processes under one traversable base dir."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.cache_dir = base_dir / "cache"
        self._procs: list[subprocess.Popen[bytes]] = []

    def command(self, name: str, port: int, *extra: str) -> list[str]:
        """The launcher's command line for instance `name` (dirs under base)."""
        home = self.base_dir / name
        return [
            sys.executable, "-m", "harness.standins.postgres",
            "--port", str(port),
            "--data-dir", str(home / "data"),
            "--socket-dir", str(home / "sock"),
            "--password-file", str(home / "password"),
            "--cache-dir", str(self.cache_dir),
            *extra,
        ]  # fmt: skip

    def start(
        self,
        name: str,
        *,
        password: str | None = None,
        port: int | None = None,
        extra: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> tuple[PostgresServer, subprocess.Popen[bytes]]:
        """Start (or restart) instance `name` and wait until SQL answers."""
        home = self.base_dir / name
        home.mkdir(exist_ok=True)
        password_file = home / "password"
        if password is not None:
            password_file.write_text(password + "\n")
        password = password_file.read_text().rstrip("\n")
        log_file = home / "postgres.log"
        # A free port can be taken by another process before we bind it.
        for _ in range(3):
            chosen = port or free_port()
            log_offset = log_file.stat().st_size if log_file.exists() else 0
            proc = self._spawn(name, chosen, extra, env, log_file)
            url = (
                f"postgresql://mev_user:{quote(password, safe='')}@127.0.0.1:"
                f"{chosen}/mev_db"
            )
            problem = wait_for_sql(url, proc, POSTGRES_START_TIMEOUT_S)
            new_log = log_file.read_bytes()[log_offset:].decode(errors="replace")
            if not problem:
                break
            if port is not None or "already in use" not in new_log:
                pytest.fail(f"postgres stand-in {name}: {problem}:\n{new_log}")
        else:
            pytest.fail(f"postgres stand-in {name}: no free port in 3 tries")
        server = PostgresServer(
            host="127.0.0.1",
            port=chosen,
            user="mev_user",
            password=password,
            dbname="mev_db",
            url=url,
            socket_dir=home / "sock",
            pid=proc.pid,
            data_dir=home / "data",
            password_file=password_file,
            log_file=log_file,
        )
        return server, proc

    def _spawn(
        self,
        name: str,
        port: int,
        extra: tuple[str, ...],
        env: dict[str, str] | None,
        log_file: Path,
    ) -> subprocess.Popen[bytes]:
        with log_file.open("ab") as log:
            proc = subprocess.Popen(
                self.command(name, port, *extra),
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )
        self._procs.append(proc)
        return proc

    def stop_all(self) -> None:
        """Stop every instance this launcher started (SIGTERM to all first)."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self._procs:
            stop_process(proc)


@pytest.fixture(scope="session")
def postgres_launcher() -> Iterator[PostgresLauncher]:
    """A factory for Postgres stand-ins; everything it started stops at the end.

    The base dir is made under /tmp with o+x so that, when the tests run as
    root, the unprivileged user Postgres runs as can reach its data dir.
    """
    base_dir = Path(tempfile.mkdtemp(prefix="drill-test-pg-"))
    base_dir.chmod(0o711)
    launcher = PostgresLauncher(base_dir)
    try:
        yield launcher
    finally:
        launcher.stop_all()
        shutil.rmtree(base_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server(postgres_launcher: PostgresLauncher) -> Iterator[PostgresServer]:
    """One Postgres stand-in for the session: mev_db with schema and seed.

    Yields host, port, user, password, dbname, url, socket_dir and pid (plus
    data_dir, password_file and log_file). Tests that change data should use
    their own rows or their own instance from `postgres_launcher`.
    """
    server, proc = postgres_launcher.start(
        "session", password=secrets.token_urlsafe(18)
    )
    yield server
    stop_process(proc)


# A stack on free ports, shared by the runtime, systemctl and CLI tests.


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A private, traversable state directory; whatever ran there is killed after."""
    from harness.runtime.local import LocalRuntime
    from harness.runtime.state import StateStore

    from .stack_support import make_state_dir

    path = make_state_dir()
    yield path
    LocalRuntime(StateStore(path)).force_down()
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalRuntime]:
    """One stack on free ports for the session; down at the end, nothing left."""
    from harness.runtime.local import LocalRuntime
    from harness.runtime.plan import PlanOptions
    from harness.runtime.state import StateStore

    from .stack_support import make_state_dir, marked_pids

    path = make_state_dir()
    runtime = LocalRuntime(
        StateStore(path), PlanOptions(ports="auto", block_time_ms=200)
    )
    runtime.up()
    yield runtime
    runtime.down()
    left = marked_pids(path / "run")
    LocalRuntime(StateStore(path)).force_down()
    shutil.rmtree(path, ignore_errors=True)
    assert left == [], f"processes left after down: {left}"


@pytest.fixture
def ctx_seed() -> int:
    """The seed of `ctx`'s rng; a test module may override it."""
    return 7


@pytest.fixture
def ctx(stack: LocalRuntime, tmp_path: Path, ctx_seed: int) -> Iterator[DrillContext]:
    """A DrillContext on the shared stack: own work dir, seeded rng, proxy client."""
    import random

    from harness.context import DrillContext
    from harness.proxy.client import ProxyClient

    with ProxyClient(stack.endpoints().proxy_api) as proxy:
        yield DrillContext(
            runtime=stack, proxy=proxy, work_dir=tmp_path, rng=random.Random(ctx_seed)
        )
