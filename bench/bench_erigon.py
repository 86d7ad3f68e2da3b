"""Benchmark: the erigon stand-in's eth_blockNumber rate vs a hello-world, same stack.

Starts two servers as subprocesses on free ports, both through
`harness.standins._serve.serve` (uvicorn + uvloop + httptools + Starlette):

- the erigon stand-in, answering `eth_blockNumber`;
- a bare Starlette hello-world (one route, a fixed text response).

Then drives each with the same load generator: CONNECTIONS keep-alive raw
socket clients in one asyncio loop, each sending the same POST and waiting for
the answer before sending the next. Rounds alternate between the two servers
so that noise from other processes falls on both; the median rate per server
is compared with the 70% target. Bounded: about 30 s in all.

Run: `.venv/bin/python bench/bench_erigon.py [--rounds 4] [--round-s 3]`.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.70
CONNECTIONS = 8
WARMUP_S = 0.5
READY_TIMEOUT_S = 15.0

BODY = b'{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}'
REQUEST = (
    b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)


def serve_hello(port: int) -> None:
    """Serve the hello-world on `port` (run in the child process)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from harness.standins._serve import serve

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("Hello, world!")

    app = Starlette(routes=[Route("/", hello, methods=["GET", "POST"])])
    serve(app, "127.0.0.1", port, "warning")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    """Poll a bodiless GET / until it answers 200 (the runtime's readiness check)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server on port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"server on port {port} not ready within {READY_TIMEOUT_S} s")


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line[15:])
    return 0


class _Client(asyncio.Protocol):
    """One keep-alive connection: send, read one full response, repeat."""

    def __init__(self, counter: list[int], stop: asyncio.Event) -> None:
        self.counter = counter
        self.stop = stop
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.status_ok = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(REQUEST)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            end = head_end + 4 + _content_length(head)
            if len(self.buffer) < end:
                return
            self.status_ok &= head.startswith(b"http/1.1 200")
            self.buffer = self.buffer[end:]
            self.counter[0] += 1
            if self.stop.is_set():
                assert self.transport is not None
                self.transport.close()
                return
            assert self.transport is not None
            self.transport.write(REQUEST)


async def _drive(port: int, duration_s: float) -> float:
    """Requests per second over `duration_s`, after a warm-up."""
    loop = asyncio.get_running_loop()
    counter = [0]
    stop = asyncio.Event()
    clients = []
    for _ in range(CONNECTIONS):
        _, client = await loop.create_connection(
            lambda: _Client(counter, stop), "127.0.0.1", port
        )
        clients.append(client)
    await asyncio.sleep(WARMUP_S)
    start_count, start_s = counter[0], time.perf_counter()
    await asyncio.sleep(duration_s)
    done, elapsed_s = counter[0] - start_count, time.perf_counter() - start_s
    stop.set()
    await asyncio.sleep(0.05)
    if not all(c.status_ok for c in clients):
        raise SystemExit(f"server on port {port} answered something other than 200")
    return done / elapsed_s


def measure(port: int, duration_s: float) -> float:
    """One round against `port`: its request rate in requests per second."""
    try:
        import uvloop

        return uvloop.run(_drive(port, duration_s))
    except ImportError:
        return asyncio.run(_drive(port, duration_s))


def main() -> int:
    """Run the benchmark; exit 0 on PASS, 1 on MISS."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="rounds per server")
    parser.add_argument("--round-s", type=float, default=3.0, help="seconds a round")
    parser.add_argument("--hello-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hello_port:
        serve_hello(args.hello_port)
        return 0

    erigon_port, hello_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="bench-erigon-") as data_dir:
        procs = {
            "erigon": subprocess.Popen(
                [sys.executable, "-m", "harness.standins.erigon",
                 "--chain", "ethereum", "--port", str(erigon_port),
                 "--data-dir", data_dir, "--log-level", "warning"],
                cwd=REPO_ROOT,
            ),
            "hello": subprocess.Popen(
                [sys.executable, __file__, "--hello-port", str(hello_port)],
                cwd=REPO_ROOT,
            ),
        }  # fmt: skip
        ports = {"erigon": erigon_port, "hello": hello_port}
        try:
            for name, proc in procs.items():
                wait_ready(ports[name], proc)
            rates: dict[str, list[float]] = {"hello": [], "erigon": []}
            for i in range(args.rounds):
                order = ("hello", "erigon") if i % 2 == 0 else ("erigon", "hello")
                for name in order:
                    rates[name].append(measure(ports[name], args.round_s))
        finally:
            for proc in procs.values():
                proc.terminate()
            for proc in procs.values():
                proc.wait(timeout=10)

    if not all(rates["hello"]) or not all(rates["erigon"]):
        raise SystemExit(f"a round measured no answers at all: {rates}")
    hello = statistics.median(rates["hello"])
    erigon = statistics.median(rates["erigon"])
    ratio = erigon / hello
    verdict = "PASS" if ratio >= TARGET_RATIO else "MISS"
    sys.stdout.write(
        f"hello-world      {hello:9.0f} req/s  (rounds: "
        + ", ".join(f"{r:.0f}" for r in rates["hello"])
        + ")\n"
        f"eth_blockNumber  {erigon:9.0f} req/s  (rounds: "
        + ", ".join(f"{r:.0f}" for r in rates["erigon"])
        + ")\n"
        f"ratio            {ratio:9.1%}  target >= {TARGET_RATIO:.0%}: {verdict}\n"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    raise SystemExit(main())
