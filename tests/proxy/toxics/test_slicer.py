"""The slicer toxic on real TCP: writes arrive as several delayed pieces."""

from __future__ import annotations

import itertools
import os
import time

import pytest

from harness.proxy.client import ProxyClient, Stream
from harness.proxy.toxics.slicer import SlicerToxic
from tests.proxy.upstreams import connect

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_slicer_splits_one_write_into_delayed_pieces(
    client: ProxyClient, echo_port: int, stream: Stream
) -> None:
    proxy = client.create("slices", f"127.0.0.1:{echo_port}")
    client.add_toxic(
        "slices",
        "slicer",
        stream=stream,
        attributes={"average_size": 100, "size_variation": 10, "delay": 20_000},
    )
    payload = os.urandom(1000)

    with connect(proxy.listen_port) as sock:
        start = time.monotonic()
        sock.sendall(payload)
        pieces: list[bytes] = []
        while sum(map(len, pieces)) < len(payload):
            pieces.append(sock.recv(65536))
        elapsed = time.monotonic() - start

    # 1000 B halve to 16 pieces of 55..70 B, 20 ms apart: 0.3 s in all.
    assert b"".join(pieces) == payload
    assert len(pieces) >= 8, f"{len(pieces)} reads of sizes {list(map(len, pieces))}"
    assert max(map(len, pieces)) <= 220
    assert elapsed >= 0.25, f"took {elapsed:.3f} s, expected 15 delays of 20 ms"


def test_slicer_bounds_cover_chunk_in_order_when_cut() -> None:
    toxic = SlicerToxic(average_size=100, size_variation=10, delay=0)

    bounds = toxic.bounds(1000)

    assert bounds[0][0] == 0
    assert bounds[-1][1] == 1000
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    assert all(0 < end - start <= 110 for start, end in bounds)
