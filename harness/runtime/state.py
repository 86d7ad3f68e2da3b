"""The state file: what a running stack is made of, so any process can control it.

`drill up` writes it; `drill status`, `drill down`, the `systemctl` shim and a
later `drill down --force` read it. Writers hold an exclusive file lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import StateCorrupt
from harness.runtime.endpoints import Endpoints, Secrets

STATE_DIR_ENV = "DRILL_STATE_DIR"


def default_state_dir() -> Path:
    """`$DRILL_STATE_DIR`, else /tmp/drill-<uid>.

    Not under the home directory: the Postgres stand-in runs as an unprivileged
    user when started as root and must be able to reach its data directory.
    """
    explicit = os.environ.get(STATE_DIR_ENV)
    if explicit:
        return Path(explicit).resolve()
    return Path(f"/tmp/drill-{os.getuid()}")


class ReadyCheck(BaseModel):
    """How to tell that a service is ready: an HTTP GET or a SQL `SELECT 1`."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["http", "postgres"]
    url: str


class ProcessSpec(BaseModel):
    """Everything needed to (re)start one process, minus its secrets.

    `secret_env` maps an environment variable to a field of `Secrets`; the
    value is filled in at spawn time so the state file holds no secret.
    """

    model_config = ConfigDict(extra="forbid")

    argv: list[str]
    env: dict[str, str] = Field(default_factory=dict)
    secret_env: dict[str, str] = Field(default_factory=dict)
    log_path: str
    stop_signal: str = "SIGTERM"
    ready: ReadyCheck
    start_timeout_s: float = 30.0


class ProcessRecord(BaseModel):
    """A process of the stack: its spec and, when running, its identity."""

    model_config = ConfigDict(extra="forbid")

    spec: ProcessSpec
    pid: int | None = None
    start_ticks: int | None = None
    started_at: float | None = None


class StackState(BaseModel):
    """The whole running stack as recorded on disk."""

    model_config = ConfigDict(extra="forbid")

    runtime: str = "local"
    run_dir: str
    owner_pid: int
    created_at: float
    endpoints: Endpoints
    proxy: ProcessRecord
    services: dict[str, ProcessRecord]
    proxies: list[dict[str, object]] = Field(default_factory=list)


class StateStore:
    """Reads and writes the state file and the secrets file under one directory."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or default_state_dir()
        self.state_path = self.directory / "stack.json"
        self.secrets_path = self.directory / "secrets.json"
        self._lock_path = self.directory / "stack.lock"

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the exclusive lock that serialises every change to the state."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o711)
        with self._lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def load(self) -> StackState | None:
        """The recorded stack, or None when there is none."""
        try:
            text = self.state_path.read_text()
        except FileNotFoundError:
            return None
        try:
            return StackState.model_validate_json(text)
        except ValueError as exc:
            first = str(exc).splitlines()[0]
            raise StateCorrupt(
                f"the state file {self.state_path} is unreadable ({first})",
                hint="run `drill down --force` to clean up after the broken run",
            ) from None

    def save(self, state: StackState) -> None:
        """Write the state atomically."""
        _write_atomic(self.state_path, state.model_dump_json(indent=2), 0o644)

    def load_secrets(self) -> Secrets | None:
        """This run's secrets, or None when there are none."""
        try:
            return Secrets.model_validate_json(self.secrets_path.read_text())
        except FileNotFoundError:
            return None

    def save_secrets(self, secrets: Secrets) -> None:
        """Write the secrets readable by the owner only."""
        _write_atomic(self.secrets_path, secrets.model_dump_json(), 0o600)

    def clear(self) -> None:
        """Forget the recorded stack (the run directory is removed separately)."""
        for path in (self.state_path, self.secrets_path):
            path.unlink(missing_ok=True)


def _write_atomic(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def dumps_public(state: StackState) -> str:
    """The state as JSON for display; it holds no secret by construction."""
    return json.dumps(state.model_dump(mode="json"), indent=2)
