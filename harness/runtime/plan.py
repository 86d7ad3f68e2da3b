"""The local runtime's plan: which process each service is, on which ports.

Turns the topology of `harness.stack` into process specs, fault-proxy routes
and client endpoints. Every client-facing port and every service-to-service
edge is a route through the fault proxy.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.errors import UsageError
from harness.paths import fixtures_dir
from harness.runtime.endpoints import DatabaseEndpoint, Endpoints
from harness.runtime.ports import HOST, ensure_free, free_ports
from harness.runtime.state import ProcessRecord, ProcessSpec, ReadyCheck, StackState
from harness.stack import (
    CHAINS,
    EDGES,
    PROXY_API_PORT,
    RELAYS,
    SERVICES,
    Kind,
    Service,
)

PortsMode = Literal["runbook", "auto"]


def ports_mode(value: str) -> PortsMode:
    """`--ports` as given on a command line; UsageError naming the choices."""
    if value == "runbook":
        return "runbook"
    if value == "auto":
        return "auto"
    raise UsageError(
        f"--ports {value!r} is not a choice",
        hint="use --ports runbook or --ports auto",
    )


@dataclass(frozen=True)
class PlanOptions:
    """Choices for one local stack."""

    ports: PortsMode = "runbook"
    block_time_ms: int = 1000
    pg_bin: str | None = None
    python: str = sys.executable


def audit_log_path(run_dir: Path) -> Path:
    """Where the MEV API of the stack in `run_dir` appends its audit records."""
    return run_dir / "logs" / "mev-api-audit.jsonl"


def _http(port: int, path: str = "/") -> str:
    return f"http://{HOST}:{port}{path}"


def build(run_dir: Path, pg_bin: Path, options: PlanOptions) -> StackState:
    """The whole stack's state before anything runs.

    Raises PortInUse when a runbook port is taken (ports="runbook").
    """
    public = _public_ports(options.ports)
    internal = dict(
        zip([s.name for s in SERVICES], free_ports(len(SERVICES)), strict=True)
    )
    edge_ports = dict(
        zip([e.proxy_name for e in EDGES], free_ports(len(EDGES)), strict=True)
    )

    proxies: list[dict[str, object]] = []
    for svc in SERVICES:
        if svc.port is not None:
            proxies.append(
                {
                    "name": svc.name,
                    "listen": f"{HOST}:{public[svc.name]}",
                    "upstream": f"{HOST}:{internal[svc.name]}",
                    "enabled": True,
                }
            )
    for edge in EDGES:
        proxies.append(
            {
                "name": edge.proxy_name,
                "listen": f"{HOST}:{edge_ports[edge.proxy_name]}",
                "upstream": f"{HOST}:{internal[edge.server]}",
                "enabled": True,
            }
        )

    ctx = _Context(run_dir, pg_bin, options, internal, edge_ports)
    services = {svc.name: ProcessRecord(spec=ctx.spec(svc)) for svc in SERVICES}
    proxy = ProcessRecord(
        spec=ProcessSpec(
            argv=[
                options.python,
                "-m",
                "harness.proxy",
                "--host",
                HOST,
                "--port",
                str(public["proxy"]),
            ],
            log_path=str(run_dir / "logs" / "fault-proxy.log"),
            ready=ReadyCheck(kind="http", url=_http(public["proxy"], "/version")),
        )
    )
    endpoints = Endpoints(
        proxy_api=_http(public["proxy"]).rstrip("/"),
        rpc={c.name: _http(public[f"erigon-{c.name}"]).rstrip("/") for c in CHAINS},
        mev_boost=_http(public["mev-boost"]).rstrip("/"),
        mev_api=_http(public["mev-api"]).rstrip("/"),
        relays={r: _http(public[r]).rstrip("/") for r in RELAYS},
        database=DatabaseEndpoint(host=HOST, port=public["postgres"]),
    )
    return StackState(
        run_dir=str(run_dir),
        owner_pid=0,
        created_at=time.time(),
        endpoints=endpoints,
        proxy=proxy,
        services=services,
        proxies=proxies,
    )


def _db_url(host_port: str) -> str:
    # No password: processes get it as PGPASSWORD, never in argv.
    return f"postgresql://mev_user@{host_port}/mev_db"


def _public_ports(mode: PortsMode) -> dict[str, int]:
    wanted = {s.name: s.port for s in SERVICES if s.port is not None}
    wanted["proxy"] = PROXY_API_PORT
    if mode == "auto":
        return dict(zip(wanted, free_ports(len(wanted)), strict=True))
    for name, port in wanted.items():
        ensure_free(port, "the fault proxy API" if name == "proxy" else name)
    return wanted


@dataclass(frozen=True)
class _Context:
    run_dir: Path
    pg_bin: Path
    options: PlanOptions
    internal: dict[str, int]
    edge_ports: dict[str, int]

    def edge(self, client: str, server: str) -> str:
        """The `host:port` where `client` reaches `server` through the proxy."""
        return f"{HOST}:{self.edge_ports[f'{client}_to_{server}']}"

    def spec(self, svc: Service) -> ProcessSpec:
        port = self.internal[svc.name]
        logs = self.run_dir / "logs"
        data = self.run_dir / "data" / svc.name
        module = ["-m", f"harness.standins.{svc.kind.value}"]
        base = [self.options.python, *module, "--host", HOST, "--port", str(port)]
        edge = self.edge
        log_path = str(logs / f"{svc.name}.log")

        if svc.kind is Kind.ERIGON:
            assert svc.chain is not None
            return ProcessSpec(
                argv=[
                    *base,
                    "--chain",
                    svc.chain.name,
                    "--data-dir",
                    str(data),
                    "--block-time-ms",
                    str(self.options.block_time_ms),
                ],
                log_path=log_path,
                ready=ReadyCheck(kind="http", url=_http(port)),
            )
        if svc.kind is Kind.RELAY:
            return ProcessSpec(
                argv=[*base, "--name", svc.name],
                log_path=log_path,
                ready=ReadyCheck(
                    kind="http", url=_http(port, "/eth/v1/builder/status")
                ),
            )
        if svc.kind is Kind.MEV_BOOST:
            relays = ",".join("http://" + edge("mev-boost", r) for r in RELAYS)
            return ProcessSpec(
                argv=[*base, "--relays", relays, "--relay-check"],
                log_path=log_path,
                ready=ReadyCheck(
                    kind="http", url=_http(port, "/eth/v1/builder/status")
                ),
            )
        if svc.kind is Kind.POSTGRES:
            fixtures = fixtures_dir() / "postgres"
            return ProcessSpec(
                argv=[
                    *base,
                    "--data-dir",
                    str(data),
                    "--socket-dir",
                    str(self.run_dir / "pg-socket"),
                    "--password-file",
                    str(self.run_dir / "db_password"),
                    "--schema",
                    str(fixtures / "schema.sql"),
                    "--seed",
                    str(fixtures / "seed.sql"),
                    "--pg-bin",
                    str(self.pg_bin),
                ],
                log_path=log_path,
                stop_signal="SIGINT",
                ready=ReadyCheck(kind="postgres", url=_db_url(f"{HOST}:{port}")),
                start_timeout_s=60.0,
            )
        if svc.kind is Kind.MEV_API:
            return ProcessSpec(
                argv=[
                    *base,
                    "--database-url",
                    _db_url(edge("mev-api", "postgres")),
                    "--keys-file",
                    str(self.run_dir / "keys.json"),
                    "--audit-log",
                    str(audit_log_path(self.run_dir)),
                ],
                secret_env={"PGPASSWORD": "db_password"},
                log_path=log_path,
                ready=ReadyCheck(kind="http", url=_http(port, "/health")),
            )
        # The strategy engine has no clients; --port is its control port.
        rpc = ",".join(
            f"{c.name}=http://{edge('mev-artemis', f'erigon-{c.name}')}" for c in CHAINS
        )
        relays = ",".join(f"{r}=http://{edge('mev-artemis', r)}" for r in RELAYS)
        return ProcessSpec(
            argv=[
                self.options.python,
                *module,
                "--host",
                HOST,
                "--control-port",
                str(port),
                "--rpc",
                rpc,
                "--database-url",
                _db_url(edge("mev-artemis", "postgres")),
                "--relays",
                relays,
            ],
            secret_env={"PGPASSWORD": "db_password"},
            log_path=log_path,
            ready=ReadyCheck(kind="http", url=_http(port, "/_standin/state")),
        )
