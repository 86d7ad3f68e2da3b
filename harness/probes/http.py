"""HTTP and JSON-RPC calls with deadlines, shared by the probes and the workload."""

from __future__ import annotations

import time
from typing import Any

import httpx

USER_AGENT = "drill-harness"

MIN_REQUEST_TIMEOUT_S = 0.05
"""The shortest timeout a request is given, even when the deadline is spent."""


class RpcFailed(Exception):
    """A JSON-RPC call answered, but not with a result (HTTP error or RPC error)."""


class Deadline:
    """A point in monotonic time; `remaining_s` counts down to it (seconds)."""

    def __init__(self, budget_s: float) -> None:
        self._end = time.monotonic() + budget_s

    def remaining_s(self) -> float:
        """Seconds left, never below MIN_REQUEST_TIMEOUT_S."""
        return max(MIN_REQUEST_TIMEOUT_S, self._end - time.monotonic())

    def expired(self) -> bool:
        """Whether the deadline has passed."""
        return time.monotonic() >= self._end


def new_client(timeout_s: float) -> httpx.Client:
    """A thread-safe client; `timeout_s` bounds connect, read and write each.

    No retries and no redirects: a probe reports what one request saw.
    """
    return httpx.Client(
        timeout=httpx.Timeout(timeout_s),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
    )


def rpc_call(
    client: httpx.Client,
    url: str,
    method: str,
    params: list[Any] | None = None,
    *,
    timeout_s: float,
) -> Any:
    """The `result` of one JSON-RPC 2.0 call; RpcFailed when there is none."""
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
    response = client.post(url, json=body, timeout=timeout_s)
    if response.status_code != 200:
        raise RpcFailed(f"{method}: HTTP {response.status_code}")
    answer = response.json()
    if not isinstance(answer, dict):
        raise RpcFailed(f"{method}: expected a JSON object, got {answer!r:.80}")
    if "error" in answer:
        error = answer["error"]
        if isinstance(error, dict):
            raise RpcFailed(f"{method}: {error.get('message')} ({error.get('code')})")
        raise RpcFailed(f"{method}: {error!r:.80}")
    if "result" not in answer:
        raise RpcFailed(f"{method}: the answer has neither result nor error")
    return answer["result"]


def parse_quantity(value: Any) -> int:
    """A JSON-RPC hex quantity (`"0x1a"`) as an int; ValueError when malformed."""
    if not isinstance(value, str) or not value.startswith("0x") or len(value) < 3:
        raise ValueError(f"not a hex quantity: {value!r:.40}")
    return int(value[2:], 16)
