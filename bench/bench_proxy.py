"""Benchmark of the embedded fault proxy against a direct loopback connection.

Starts an upstream server (echo and sink, this script in another mode) and
the fault proxy (`python -m harness.proxy`) as subprocesses on free ports,
then measures, direct and through a proxy with no toxics, side by side:

- the p50 round trip of a small request/response (64 bytes each way);
- the throughput of a 100 MB upload (the sink acknowledges the last byte).

Prints the values, the ratios and PASS/MISS against the targets: at most
0.3 ms added p50 latency, at least half the direct throughput. Direct and
proxied measurements alternate so that both see the same machine (other
processes add noise); the throughput verdict uses the median ratio of the
pairs. Bounded: every socket has a timeout; a run takes a few seconds.

    .venv/bin/python bench/bench_proxy.py [--rounds 3000] [--megabytes 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MAX_ADDED_P50_MS = 0.3
MIN_THROUGHPUT_RATIO = 0.5
MESSAGE_BYTES = 64
SEND_BLOCK_BYTES = 1024 * 1024
SOCKET_TIMEOUT_S = 20.0
READY_TIMEOUT_S = 10.0

Samples = tuple[list[float], list[float]]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# The upstream server (run as a subprocess: `bench_proxy.py --serve ECHO SINK`).


class _Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]


class _Sink(asyncio.BufferedProtocol):
    """Reads an 8-byte length, then that many bytes; answers b"ok" at the end."""

    def __init__(self) -> None:
        self.buffer = bytearray(SEND_BLOCK_BYTES)
        self.header = b""
        self.remaining = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        if self.remaining < 0:
            self.header += bytes(self.buffer[:nbytes])
            if len(self.header) < 8:
                return
            (self.remaining,) = struct.unpack("!Q", self.header[:8])
            nbytes = len(self.header) - 8
        self.remaining -= nbytes
        if self.remaining == 0:
            self.transport.write(b"ok")  # type: ignore[attr-defined]


def serve_upstream(echo_port: int, sink_port: int) -> None:
    """Run the echo and sink servers until killed."""
    import uvloop

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_server(_Echo, "127.0.0.1", echo_port)
        await loop.create_server(_Sink, "127.0.0.1", sink_port)
        await asyncio.Event().wait()

    uvloop.run(main())


# The measurements (in this process, blocking sockets).


def wait_tcp(port: int) -> None:
    """Return once something accepts on 127.0.0.1:`port`."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {READY_TIMEOUT_S} s")


def api(port: int, method: str, path: str, body: object = None) -> object:
    """One request to the proxy's API; the decoded JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read() or b"null")


def round_trips_ms(direct_port: int, proxied_port: int, rounds: int) -> Samples:
    """Round trips of MESSAGE_BYTES, direct and proxied taken in turn, in ms.

    Alternating sample by sample puts both paths under the same conditions
    (CPU frequency, other processes); the first tenth of the rounds warms up.
    """
    message = b"x" * MESSAGE_BYTES
    samples: Samples = ([], [])
    socks = [
        socket.create_connection(("127.0.0.1", p)) for p in (direct_port, proxied_port)
    ]
    try:
        for sock in socks:
            sock.settimeout(SOCKET_TIMEOUT_S)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(rounds + rounds // 10):
            for sock, kept in zip(socks, samples, strict=True):
                start = time.perf_counter()
                sock.sendall(message)
                got = 0
                while got < MESSAGE_BYTES:
                    got += len(sock.recv(65536))
                if i >= rounds // 10:
                    kept.append((time.perf_counter() - start) * 1000)
    finally:
        for sock in socks:
            sock.close()
    return samples


def upload_mb_per_s(port: int, megabytes: int) -> float:
    """Send `megabytes` MB (10^6 bytes) to the sink; MB/s until it acknowledges."""
    total = megabytes * 1_000_000
    block = memoryview(os.urandom(SEND_BLOCK_BYTES))
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(SOCKET_TIMEOUT_S)
        start = time.perf_counter()
        sock.sendall(struct.pack("!Q", total))
        left = total
        while left > 0:
            piece = block[: min(left, SEND_BLOCK_BYTES)]
            sock.sendall(piece)
            left -= len(piece)
        if sock.recv(2) != b"ok":
            raise SystemExit("the sink closed without acknowledging the upload")
        return megabytes / (time.perf_counter() - start)


def verdict(ok: bool) -> str:
    """PASS or MISS."""
    return "PASS" if ok else "MISS"


def main() -> None:
    """Start the servers, measure direct and proxied, print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3000, help="round trips")
    parser.add_argument("--megabytes", type=int, default=100, help="upload size")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; best")
    parser.add_argument("--serve", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_upstream(*args.serve)
        return

    echo_port, sink_port, api_port = free_port(), free_port(), free_port()
    upstream = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(echo_port), str(sink_port)]
    )
    proxy = subprocess.Popen(
        [sys.executable, "-m", "harness.proxy", "--port", str(api_port)],
        cwd=REPO_ROOT,
        stderr=subprocess.DEVNULL,
    )
    try:
        for port in (echo_port, sink_port, api_port):
            wait_tcp(port)
        echo_proxy, sink_proxy = free_port(), free_port()
        for name, listen, target in (
            ("bench_echo", echo_proxy, echo_port),
            ("bench_sink", sink_proxy, sink_port),
        ):
            api(
                api_port,
                "POST",
                "/proxies",
                {
                    "name": name,
                    "listen": f"127.0.0.1:{listen}",
                    "upstream": f"127.0.0.1:{target}",
                },
            )
        run(args, echo_port, echo_proxy, sink_port, sink_proxy)
    finally:
        for proc in (proxy, upstream):
            proc.terminate()
        for proc in (proxy, upstream):
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


def run(
    args: argparse.Namespace,
    echo_port: int,
    echo_proxy: int,
    sink_port: int,
    sink_proxy: int,
) -> None:
    """Measure and print the comparison and the verdicts."""
    direct_ms, proxied_ms = round_trips_ms(echo_port, echo_proxy, args.rounds)
    direct_mbs, proxied_mbs = [], []
    for _ in range(args.repeat):
        direct_mbs.append(upload_mb_per_s(sink_port, args.megabytes))
        proxied_mbs.append(upload_mb_per_s(sink_proxy, args.megabytes))

    p50_direct, p50_proxied = map(statistics.median, (direct_ms, proxied_ms))
    added_ms = p50_proxied - p50_direct
    ratios = [p / d for d, p in zip(direct_mbs, proxied_mbs, strict=True)]
    ratio = statistics.median(ratios)

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load}")
    print(
        f"small request/response ({MESSAGE_BYTES} B each way),"
        f" {args.rounds} round trips each, alternating:"
    )
    print(f"  direct   p50 {p50_direct:.3f} ms")
    print(f"  proxied  p50 {p50_proxied:.3f} ms")
    print(
        f"  added    {added_ms:.3f} ms   target <= {MAX_ADDED_P50_MS} ms"
        f"   {verdict(added_ms <= MAX_ADDED_P50_MS)}"
    )
    print(f"upload of {args.megabytes} MB, {args.repeat} runs each, alternating:")
    print(f"  direct   {_fmt(direct_mbs)} MB/s (best {max(direct_mbs):.0f})")
    print(f"  proxied  {_fmt(proxied_mbs)} MB/s (best {max(proxied_mbs):.0f})")
    print(
        f"  ratio    {ratio:.2f} (median of pairs; best/best"
        f" {max(proxied_mbs) / max(direct_mbs):.2f})   target >= {MIN_THROUGHPUT_RATIO}"
        f"   {verdict(ratio >= MIN_THROUGHPUT_RATIO)}"
    )


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.3f}" if v < 10 else f"{v:.0f}" for v in values)


if __name__ == "__main__":
    main()
