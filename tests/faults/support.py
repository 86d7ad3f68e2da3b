"""Real clients and bounded waits the fault tests share."""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg

from harness.faults.base import Fault
from harness.runtime.base import Runtime


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    """Poll every 50 ms; True as soon as `condition` holds, else its last value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@contextlib.contextmanager
def injected(fault: Fault[Any]) -> Iterator[None]:
    """Inject `fault` for the block; on leaving, revert it twice.

    The second revert checks that revert is idempotent, as every fault's must be.
    """
    try:
        fault.inject()
        yield
    finally:
        fault.revert()
        fault.revert()


def assert_ready(runtime: Runtime, *services: str, timeout_s: float = 20.0) -> None:
    """Wait (bounded) until every service is ready; fail naming those that are not."""
    deadline = time.monotonic() + timeout_s
    for service in services:
        left = max(0.1, deadline - time.monotonic())
        ready = wait_until(_ready(runtime, service), timeout_s=left)
        health = runtime.health(service)
        assert ready, f"{service} not ready: {health.state} {health.detail}"


def _ready(runtime: Runtime, service: str) -> Callable[[], bool]:
    return lambda: runtime.health(service).ready


def rpc(url: str, method: str, params: list[Any] | None = None, **kw: Any) -> Any:
    """One JSON-RPC call's result; raises httpx errors as they come."""
    timeout_s = kw.pop("timeout_s", 2.0)
    client: httpx.Client | None = kw.pop("client", None)
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
    post = client.post if client is not None else httpx.post
    answer = post(url, json=body, timeout=timeout_s)
    return answer.json()["result"]


def block_number(url: str, timeout_s: float = 2.0) -> int:
    """eth_blockNumber as an int."""
    return int(rpc(url, "eth_blockNumber", timeout_s=timeout_s), 16)


def median_ms(call: Callable[[], object], times: int = 5) -> float:
    """The median wall time of `call` in milliseconds."""
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def sql_as_app(runtime: Runtime, query: str = "SELECT 1", timeout_s: int = 3) -> Any:
    """Run one query as mev_user through the public endpoint; its first row."""
    db = runtime.endpoints().database
    with psycopg.connect(
        db.url(), password=runtime.secrets().db_password, connect_timeout=timeout_s
    ) as conn:
        return conn.execute(query).fetchone()


def sql_as_admin(runtime: Runtime, query: str, params: Any = ()) -> list[Any]:
    """Run one query as the superuser; every row."""
    with psycopg.connect(
        runtime.admin_database_url(), autocommit=True, connect_timeout=5
    ) as conn:
        return conn.execute(query, params).fetchall()
