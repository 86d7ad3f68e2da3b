"""Helpers for the erigon stand-in tests: run it as a process, call it, build raw txs.

No tests here; the test_erigon_* modules import these.
"""

from __future__ import annotations

import os
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
from typing import IO, Any

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 15.0
BLOCK_TIME_MS = 100


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Erigon:
    """A running stand-in: its URL, process and captured stderr."""

    url: str
    port: int
    proc: subprocess.Popen[bytes]
    stderr: IO[bytes]
    data_dir: Path

    def rpc(self, method: str, params: Any = None, msg_id: int = 1) -> Any:
        """Call `method`; returns the whole response object (result or error)."""
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            body["params"] = params
        response = httpx.post(self.url, json=body, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def result(self, method: str, params: Any = None) -> Any:
        """Call `method` and return its result; fails the test on an error."""
        answer = self.rpc(method, params)
        assert "error" not in answer, answer
        return answer["result"]

    def head(self) -> int:
        """eth_blockNumber as an int."""
        return int(self.result("eth_blockNumber"), 16)

    def control(self, path: str, body: Any = None) -> httpx.Response:
        """GET (no body) or POST (JSON body) a /_standin/ endpoint."""
        url = f"{self.url}/_standin/{path}"
        if body is None:
            return httpx.get(url, timeout=10)
        return httpx.post(url, json=body, timeout=10)

    def log(self) -> str:
        """What the process wrote to stderr so far."""
        self.stderr.flush()
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")


def wait_until(
    condition: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.02
) -> float:
    """Poll `condition` until true; returns the seconds it took, fails after timeout."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout_s:
            pytest.fail(f"{what}: not within {timeout_s} s")
        time.sleep(poll_s)
    return time.monotonic() - start


def run_erigon(
    data_dir: Path,
    *extra: str,
    chain: str = "ethereum",
    block_time_ms: int = BLOCK_TIME_MS,
) -> subprocess.CompletedProcess[bytes]:
    """Run the stand-in expecting it to exit by itself (bad flag, bad data dir)."""
    cmd = [
        sys.executable, "-m", "harness.standins.erigon", "--chain", chain,
        "--port", str(free_port()), "--data-dir", str(data_dir),
        "--block-time-ms", str(block_time_ms), *extra,
    ]  # fmt: skip
    return subprocess.run(
        cmd, cwd=REPO_ROOT, capture_output=True, timeout=30, check=False
    )


@contextmanager
def erigon(
    data_dir: Path,
    *extra: str,
    chain: str = "ethereum",
    block_time_ms: int = BLOCK_TIME_MS,
) -> Iterator[Erigon]:
    """Start the stand-in on a free port; yields once `GET /` answers 200.

    Stops it with SIGTERM on exit (unless the test already stopped it).
    """
    port = free_port()
    cmd = [
        sys.executable, "-m", "harness.standins.erigon", "--chain", chain,
        "--port", str(port), "--data-dir", str(data_dir),
        "--block-time-ms", str(block_time_ms), *extra,
    ]  # fmt: skip
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stderr=stderr)
        node = Erigon(f"http://127.0.0.1:{port}", port, proc, stderr, data_dir)
        try:
            _wait_ready(node)
            yield node
        finally:
            stop(node)


def _wait_ready(node: Erigon) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if node.proc.poll() is not None:
            pytest.fail(f"erigon exited with {node.proc.returncode}:\n{node.log()}")
        try:
            if httpx.get(node.url + "/", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"erigon not ready within {READY_TIMEOUT_S} s:\n{node.log()}")
        time.sleep(0.02)


def stop(node: Erigon, sig: int = signal.SIGTERM) -> int:
    """Send `sig` (if still running) and wait; returns the exit code."""
    if node.proc.poll() is None:
        os.kill(node.proc.pid, sig)
        try:
            node.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            node.proc.kill()
            node.proc.wait(timeout=10)
    return node.proc.returncode


def raw_http(port: int, request: bytes, timeout_s: float = 5.0) -> bytes:
    """Send raw bytes over one connection; returns everything read until close."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


# -- raw transactions -------------------------------------------------------------

RLP = int | bytes | list["RLP"]


def rlp(item: RLP) -> bytes:
    """RLP-encode ints (big-endian, minimal), bytes and lists."""
    if isinstance(item, int):
        item = item.to_bytes((item.bit_length() + 7) // 8, "big") if item else b""
    if isinstance(item, bytes):
        if len(item) == 1 and item[0] < 0x80:
            return item
        return _length_prefix(len(item), 0x80) + item
    payload = b"".join(rlp(x) for x in item)
    return _length_prefix(len(payload), 0xC0) + payload


def _length_prefix(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes([offset + length])
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(size)]) + size


SIG_R = 0x1B5E176D927F8E9AB405058B2D2457392DA3E20F328B16DDABCEBC33EAAC5FEA
SIG_S = 0x4BA69724E8F69DE52F0125AD8B3C5C2CEF33019BAC3249E2C0A2192766D1721C
RECIPIENT = bytes.fromhex("3535353535353535353535353535353535353535")


def dynamic_fee_tx(
    nonce: int,
    chain_id: int = 1,
    max_fee_wei: int = 30 * 10**9,
    gas: int = 21_000,
) -> str:
    """A raw EIP-1559 transaction (type 2) as 0x-hex; the signature is not real."""
    fields: list[RLP] = [
        chain_id, nonce, 10**9, max_fee_wei, gas, RECIPIENT, 10**15, b"", [],
        0, SIG_R, SIG_S,
    ]  # fmt: skip
    return "0x02" + rlp(fields).hex()


def legacy_tx(nonce: int, v: int) -> str:
    """A raw legacy transaction; v 27/28 is unprotected, 35+ carries a chain id."""
    fields: list[RLP] = [
        nonce, 20 * 10**9, 21_000, RECIPIENT, 10**15, b"", v, SIG_R, SIG_S,
    ]  # fmt: skip
    return "0x" + rlp(fields).hex()
