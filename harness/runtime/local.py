"""The local runtime: every stand-in a process on this machine, no Docker.

The state file is the source of truth, so that `drill up` can return while
the stack keeps running, and `drill status`, `drill down` and the `systemctl`
shim, each in a process of its own, can control it.
"""

from __future__ import annotations

import logging
import os
import secrets as tokens
import shutil
import signal as signal_module
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from harness import stack
from harness.errors import (
    ServiceNotReady,
    StackAlreadyUp,
    StackError,
    StackNotUp,
    StateCorrupt,
)
from harness.runtime import plan, process, readiness
from harness.runtime.base import ConfigName, Health, Runtime, SecretName
from harness.runtime.endpoints import Endpoints, Secrets
from harness.runtime.shim import write_shims
from harness.runtime.state import ProcessRecord, StackState, StateStore
from harness.standins.mev_api.audit import recent_records

log = logging.getLogger(__name__)

RUN_DIR_ENV = "DRILL_RUN_DIR"
"""Set in every process the runtime starts: `drill down --force` finds them by it."""

ProgressCallback = Callable[[str, str], None]
"""Called with (service, event) where event is starting, ready or failed."""

POLL_S = 0.02


class LocalRuntime(Runtime):
    """Runs the stack as local processes recorded in a state file."""

    name = "local"

    def __init__(
        self,
        store: StateStore | None = None,
        options: plan.PlanOptions | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.store = store or StateStore()
        self.options = options or plan.PlanOptions()
        self._progress = on_progress or (lambda service, event: None)

    # The whole stack.

    def up(self) -> Endpoints:
        """Start the fault proxy and every service; return once all are ready.

        Raises StackAlreadyUp, PortInUse, PostgresNotFound or ServiceNotReady;
        on any failure (and on Ctrl-C) whatever was started is stopped again.
        With free ports, a port taken by someone else between choosing and
        binding it is retried with new ports (up to three attempts).
        """
        attempts = 3 if self.options.ports == "auto" else 1
        for attempt in range(1, attempts + 1):
            try:
                return self._up_once()
            except StackError as exc:
                if (
                    attempt == attempts
                    or "address already in use" not in exc.message.lower()
                ):
                    raise
                log.warning(
                    "a free port was taken before it was bound; "
                    "retrying with new ports (attempt %d)",
                    attempt + 1,
                )
        raise AssertionError("unreachable")

    def _up_once(self) -> Endpoints:
        from harness.standins.postgres import find_pg_bin

        with self.store.lock():
            self._refuse_if_running()
            pg_bin = find_pg_bin(self.options.pg_bin)
            run_dir = self.store.directory / "run"
            shutil.rmtree(run_dir, ignore_errors=True)
            run_dir.mkdir(parents=True)
            run_dir.chmod(0o711)
            state = plan.build(run_dir, pg_bin, self.options)
            state.owner_pid = os.getpid()
            try:
                self._start_all(state)
            except BaseException:
                self._teardown(state, graceful=False)
                self.store.clear()
                shutil.rmtree(run_dir, ignore_errors=True)
                raise
        return state.endpoints

    def is_up(self) -> bool:
        """True when the state file records a stack with a process still alive."""
        try:
            state = self.store.load()
        except StateCorrupt:
            return False
        return state is not None and any(_alive(r) for _, r in self._records(state))

    def _refuse_if_running(self) -> None:
        state = self.store.load()
        if state is None:
            return
        alive = [name for name, rec in self._records(state) if _alive(rec)]
        if alive:
            raise StackAlreadyUp(
                f"a stack is already up (state file {self.store.state_path}; "
                f"running: {', '.join(alive)})",
                hint="use it (`drill status`), or bring it down with `drill down`",
            )
        log.info("clearing the state of a stack that is no longer running")
        self.store.clear()

    def _start_all(self, state: StackState) -> None:
        secrets = self._make_secrets(Path(state.run_dir))
        write_shims(
            Path(state.run_dir) / "bin", self.store.directory, self.options.python
        )
        self.store.save(state)

        # Everything starts at once: services retry their upstreams, so the
        # proxy's routes only have to exist by the time readiness is checked.
        for name, rec in self._records(state):
            self._progress(name, "starting")
            self._spawn(state, rec, secrets)
        self.store.save(state)
        self._await_ready("fault-proxy", state.proxy, secrets)
        self._populate(state)
        self._progress("fault-proxy", "ready")

        def wait(item: tuple[str, ProcessRecord]) -> None:
            name, rec = item
            try:
                self._await_ready(name, rec, secrets)
            except ServiceNotReady:
                self._progress(name, "failed")
                raise
            self._progress(name, "ready")

        with ThreadPoolExecutor(max_workers=len(state.services)) as pool:
            for future in [pool.submit(wait, item) for item in state.services.items()]:
                future.result()

    @staticmethod
    def _populate(state: StackState) -> None:
        url = f"{state.endpoints.proxy_api}/populate"
        response = httpx.post(url, json=state.proxies, timeout=10)
        if response.status_code != 201:
            raise StackError(
                f"the fault proxy refused its routes with HTTP "
                f"{response.status_code}: {response.text.strip()}",
                hint=f"read {state.proxy.spec.log_path}",
            )

    def _make_secrets(self, run_dir: Path) -> Secrets:
        from harness.standins.mev_api import new_keys_file

        db_password = tokens.token_urlsafe(24)
        _write_private(run_dir / "db_password", db_password)
        api_key = new_keys_file(run_dir / "keys.json", label="admin")
        secrets = Secrets(db_password=db_password, api_key=api_key)
        self.store.save_secrets(secrets)
        return secrets

    def rotate_secret(self, name: SecretName) -> None:
        """A new admin API key, or a new database password (see Runtime)."""
        from harness.standins.mev_api import new_keys_file

        state = self._state()
        run_dir = Path(state.run_dir)
        old = self.secrets()
        if name == "api_key":
            key = new_keys_file(run_dir / "keys.json", label="admin")
            self.store.save_secrets(old.model_copy(update={"api_key": key}))
            return
        import psycopg
        from psycopg import sql

        password = tokens.token_urlsafe(24)
        with psycopg.connect(
            self.admin_database_url(), autocommit=True, connect_timeout=5
        ) as conn:
            conn.execute(
                sql.SQL("ALTER ROLE mev_user PASSWORD {}").format(sql.Literal(password))
            )
        _write_private(run_dir / "db_password", password)
        self.store.save_secrets(old.model_copy(update={"db_password": password}))
        for service in ("mev-api", "mev-artemis"):
            self.restart(service)

    def admin_database_url(self) -> str:
        """The superuser over the Postgres unix socket in the run directory."""
        env = self.admin_libpq_env()
        return (
            f"postgresql:///mev_db?host={env['PGHOST']}&port={env['PGPORT']}"
            f"&user={env['PGUSER']}"
        )

    def admin_libpq_env(self) -> dict[str, str]:
        """The superuser `postgres` over the unix socket (trusted, no password)."""
        state = self._state()
        argv = state.services["postgres"].spec.argv
        return {
            "PGHOST": argv[argv.index("--socket-dir") + 1],
            "PGPORT": argv[argv.index("--port") + 1],
            "PGUSER": "postgres",
        }

    def config_path(self, name: ConfigName) -> Path:
        """The mev-api keys file in the run directory."""
        return Path(self._state().run_dir) / "keys.json"

    def down(self) -> None:
        """Stop every service, then the proxy; remove the run directory."""
        with self.store.lock():
            state = self.store.load()
            if state is not None:
                self._teardown(state, graceful=True)
                shutil.rmtree(state.run_dir, ignore_errors=True)
            self.store.clear()

    def force_down(self) -> list[int]:
        """Kill everything a (possibly killed) run left behind; return the pids.

        Uses the state file when it is readable, and also finds strays by the
        run-directory marker in their environment.
        """
        run_dir = self.store.directory / "run"
        with self.store.lock():
            try:
                state = self.store.load()
            except StateCorrupt:
                state = None
            if state is not None:
                self._teardown(state, graceful=False)
            killed = _kill_marked(str(run_dir))
            shutil.rmtree(run_dir, ignore_errors=True)
            self.store.clear()
        return killed

    def _teardown(self, state: StackState, *, graceful: bool) -> None:
        timeout_s = 10.0 if graceful else 0.0

        def stop(rec: ProcessRecord) -> None:
            proc = _identity(rec)
            if proc is not None:
                process.terminate(
                    proc,
                    stop_signal=process.signal_named(rec.spec.stop_signal),
                    timeout_s=timeout_s,
                )
            rec.pid = rec.start_ticks = None

        with ThreadPoolExecutor(max_workers=len(state.services)) as pool:
            list(pool.map(stop, state.services.values()))
        stop(state.proxy)

    # One service.

    def endpoints(self) -> Endpoints:
        """Where clients reach the running stack."""
        return self._state().endpoints

    def secrets(self) -> Secrets:
        """This run's credentials."""
        found = self.store.load_secrets()
        if found is None:
            raise StackNotUp(
                "no secrets recorded: no stack is up",
                hint="bring one up with `drill up`",
            )
        return found

    def start(self, service: str, *, wait: bool = True) -> None:
        """Start a stopped service (no-op when running); wait until ready."""
        stack.service(service)
        with self.store.lock():
            state = self._state()
            rec = state.services[service]
            if not _alive(rec):
                self._spawn(state, rec, self.secrets())
                self.store.save(state)
        if wait:
            self.wait_ready(service, timeout_s=rec.spec.start_timeout_s)

    def stop(self, service: str, *, timeout_s: float = 10.0) -> None:
        """Stop a service with its stop signal, SIGKILL after `timeout_s`."""
        stack.service(service)
        with self.store.lock():
            state = self._state()
            rec = state.services[service]
            proc = _identity(rec)
            if proc is not None:
                process.terminate(
                    proc,
                    stop_signal=process.signal_named(rec.spec.stop_signal),
                    timeout_s=timeout_s,
                )
            rec.pid = rec.start_ticks = None
            self.store.save(state)

    def kill(self, service: str, signal: str = "SIGKILL") -> None:
        """Send `signal` to the service's main process.

        With SIGKILL, return once the process is gone, so that what follows
        (a restart, a probe) never sees it half-dead.
        """
        proc = self._running(service)
        sig = process.signal_named(signal)
        kids = process.descendants(proc.pid)
        process.send(proc, sig)
        if sig is signal_module.SIGKILL:
            process.wait_gone(proc, 5.0)
            # A frozen child left behind could never notice its parent died.
            process.thaw(proc, also=kids)

    def pause(self, service: str) -> None:
        """Freeze the service with SIGSTOP: its process group and descendants."""
        proc = self._running(service)
        process.freeze(proc)
        # Signals land asynchronously; return only once the freeze took hold.
        _wait_for(lambda: process.is_stopped(proc), timeout_s=2.0)

    def resume(self, service: str) -> None:
        """Thaw the service with SIGCONT: its process group and descendants."""
        proc = self._running(service)
        process.thaw(proc)
        _wait_for(lambda: not process.is_stopped(proc), timeout_s=2.0)

    def logs(self, service: str, *, tail_lines: int | None = None) -> str:
        """The service's log file (the fault proxy's for `fault-proxy`)."""
        state = self._state()
        rec = state.proxy if service == "fault-proxy" else self._record(state, service)
        return _read_log(Path(rec.spec.log_path), tail_lines)

    def audit_records(self, limit: int = 200) -> list[dict[str, Any]]:
        """The audit log file the MEV API appends to, newest records first."""
        path = plan.audit_log_path(Path(self._state().run_dir))
        return recent_records(path, limit)

    def health(self, service: str) -> Health:
        """Running (alive and not frozen) and ready (its readiness check)."""
        state = self._state()
        rec = state.proxy if service == "fault-proxy" else self._record(state, service)
        proc = _identity(rec)
        if proc is None:
            return Health(service, "stopped", ready=False, detail="stopped")
        if not process.is_alive(proc):
            return Health(service, "exited", ready=False, detail="exited")
        if process.is_stopped(proc):
            return Health(service, "paused", ready=False, detail="paused")
        detail = readiness.check(rec.spec.ready, self.store.load_secrets())
        return Health(service, "running", ready=not detail, detail=detail)

    def wait_ready(self, service: str, *, timeout_s: float = 30.0) -> None:
        """Block until the service is ready; ServiceNotReady on timeout or exit."""
        state = self._state()
        self._await_ready(
            service,
            self._record(state, service),
            self.store.load_secrets(),
            timeout_s=timeout_s,
        )

    def path_dirs(self) -> list[str]:
        """The shim directory, then the Postgres client tools' directory."""
        state = self._state()
        argv = state.services["postgres"].spec.argv
        pg_bin = argv[argv.index("--pg-bin") + 1]
        return [str(Path(state.run_dir) / "bin"), pg_bin]

    def control_env(self) -> dict[str, str]:
        """DRILL_STATE_DIR, so the shims control this stack and no other."""
        return {"DRILL_STATE_DIR": str(self.store.directory)}

    # Helpers.

    def _state(self) -> StackState:
        state = self.store.load()
        if state is None:
            raise StackNotUp(
                f"no stack is up (no state file at {self.store.state_path})",
                hint="bring one up with `drill up`",
            )
        return state

    @staticmethod
    def _record(state: StackState, service: str) -> ProcessRecord:
        stack.service(service)
        return state.services[service]

    @staticmethod
    def _records(state: StackState) -> list[tuple[str, ProcessRecord]]:
        return [("fault-proxy", state.proxy), *state.services.items()]

    def _running(self, service: str) -> process.ProcessId:
        rec = self._record(self._state(), service)
        proc = _identity(rec)
        if proc is None or not process.is_alive(proc):
            raise StackError(
                f"service {service!r} is not running",
                hint=f"start it with `systemctl start {service}`",
            )
        return proc

    def _spawn(self, state: StackState, rec: ProcessRecord, secrets: Secrets) -> None:
        env = dict(os.environ)
        env.update(rec.spec.env)
        env[RUN_DIR_ENV] = state.run_dir
        env["PYTHONUNBUFFERED"] = "1"
        for var, field in rec.spec.secret_env.items():
            env[var] = getattr(secrets, field)
        proc = process.spawn(rec.spec.argv, env=env, log_path=Path(rec.spec.log_path))
        rec.pid, rec.start_ticks, rec.started_at = (
            proc.pid,
            proc.start_ticks,
            time.time(),
        )

    def _await_ready(
        self,
        name: str,
        rec: ProcessRecord,
        secrets: Secrets | None,
        timeout_s: float | None = None,
    ) -> None:
        limit_s = rec.spec.start_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + limit_s
        observed = "never checked"
        while time.monotonic() < deadline:
            proc = _identity(rec)
            if proc is None or not process.is_alive(proc):
                raise self._not_ready(name, rec, "the process exited", limit_s)
            observed = readiness.check(rec.spec.ready, secrets, timeout_s=0.5)
            if not observed:
                return
            time.sleep(POLL_S)
        raise self._not_ready(name, rec, f"last check: {observed}", limit_s)

    @staticmethod
    def _not_ready(
        name: str, rec: ProcessRecord, why: str, limit_s: float
    ) -> ServiceNotReady:
        tail = _read_log(Path(rec.spec.log_path), 5).strip().replace("\n", " | ")
        return ServiceNotReady(
            f"{name} was not ready within {limit_s:.0f}s "
            f"(awaited {rec.spec.ready.kind} {rec.spec.ready.url}; {why}); "
            f"log tail: {tail or '(empty)'}",
            hint=f"read {rec.spec.log_path}",
        )


def _identity(rec: ProcessRecord) -> process.ProcessId | None:
    if rec.pid is None or rec.start_ticks is None:
        return None
    return process.ProcessId(rec.pid, rec.start_ticks)


def _alive(rec: ProcessRecord) -> bool:
    proc = _identity(rec)
    return proc is not None and process.is_alive(proc)


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _wait_for(condition: Callable[[], bool], *, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def _read_log(path: Path, tail_lines: int | None) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    if tail_lines is None:
        return text
    return "\n".join(text.splitlines()[-tail_lines:])


def _kill_marked(run_dir: str) -> list[int]:
    """SIGKILL every process whose environment carries this run's marker."""
    marker = f"{RUN_DIR_ENV}={run_dir}".encode()
    killed = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            try:
                os.kill(int(entry.name), 9)
                killed.append(int(entry.name))
            except ProcessLookupError:
                pass
    return killed
