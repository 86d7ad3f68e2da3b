"""The service-control interface every runtime implements.

Faults, probes and recovery plans talk to this interface only, so that they
never know whether a service is a local process or a container.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from harness.runtime.endpoints import Endpoints, Secrets
from harness.runtime.environment import recovery_env

SecretName = Literal["api_key", "db_password"]
"""A credential the runtime can rotate."""

ConfigName = Literal["mev_api_keys"]
"""A service configuration file faults may tamper with and recovery restores."""

ServiceState = Literal["running", "paused", "stopped", "exited"]
"""running; paused (frozen); stopped on purpose; exited without being stopped."""


@dataclass(frozen=True)
class Health:
    """One service's health as the runtime sees it.

    `ready`: its readiness check answered as a healthy service does (only
    ever true while running).
    """

    service: str
    state: ServiceState
    ready: bool
    detail: str = ""

    @property
    def running(self) -> bool:
        """The process or container exists and is not paused."""
        return self.state == "running"


class Runtime(ABC):
    """Brings the whole stack up and down and controls its services by name.

    Service names are those of `harness.stack.SERVICES`. Signals are named
    (`"SIGKILL"`) so that the interface holds for processes and containers.
    """

    name: str

    @abstractmethod
    def up(self) -> Endpoints:
        """Start every service and the fault proxy; return once all are ready."""

    @abstractmethod
    def down(self) -> None:
        """Stop every service and the fault proxy; safe to call twice."""

    @abstractmethod
    def endpoints(self) -> Endpoints:
        """Where clients reach the stack (through the fault proxy)."""

    @abstractmethod
    def secrets(self) -> Secrets:
        """The credentials generated for this run."""

    @abstractmethod
    def start(self, service: str, *, wait: bool = True) -> None:
        """Start a stopped service; with `wait`, return once it is ready."""

    @abstractmethod
    def stop(self, service: str, *, timeout_s: float = 10.0) -> None:
        """Stop a service gracefully, forcing it after `timeout_s` seconds."""

    @abstractmethod
    def kill(self, service: str, signal: str = "SIGKILL") -> None:
        """Send a signal to a service's main process, as `kill -s` would."""

    @abstractmethod
    def pause(self, service: str) -> None:
        """Freeze a service: it keeps its sockets but answers nothing."""

    @abstractmethod
    def resume(self, service: str) -> None:
        """Thaw a paused service."""

    def restart(self, service: str, *, wait: bool = True) -> None:
        """Stop then start a service."""
        self.stop(service)
        self.start(service, wait=wait)

    @abstractmethod
    def logs(self, service: str, *, tail_lines: int | None = None) -> str:
        """A service's log output, all of it or the last `tail_lines` lines."""

    @abstractmethod
    def audit_records(self, limit: int = 200) -> list[dict[str, Any]]:
        """The MEV API's newest `limit` audit records, newest first.

        Read where the service keeps them, so they are there when it is down.
        """

    @abstractmethod
    def health(self, service: str) -> Health:
        """Whether a service is running and passes its readiness check."""

    @abstractmethod
    def wait_ready(self, service: str, *, timeout_s: float = 30.0) -> None:
        """Block until a service is ready; raise ServiceNotReady on timeout."""

    @abstractmethod
    def path_dirs(self) -> list[str]:
        """Directories to put first on a recovery script's PATH (the shims)."""

    @abstractmethod
    def control_env(self) -> dict[str, str]:
        """Variables the shims need to find this stack."""

    @abstractmethod
    def rotate_secret(self, name: SecretName) -> None:
        """Replace a credential and make every service use the new one.

        `api_key`: a new admin key; every other key is revoked.
        `db_password`: a new password for mev_user; the services that connect
        to Postgres are restarted with it. Sessions already open stay open.
        """

    @abstractmethod
    def admin_database_url(self) -> str:
        """A superuser connection to mev_db, for faults and built-in actions."""

    @abstractmethod
    def admin_libpq_env(self) -> dict[str, str]:
        """libpq variables (PGHOST, PGPORT, PGUSER) for the Postgres superuser."""

    @abstractmethod
    def config_path(self, name: ConfigName) -> Path:
        """Where a service's configuration file is, on this machine."""

    def recovery_env(self) -> dict[str, str]:
        """Everything a recovery script gets: endpoints, libpq, shims first."""
        return recovery_env(
            self.endpoints(),
            self.secrets(),
            path_dirs=self.path_dirs(),
            control=self.control_env(),
        )
