"""The bandwidth toxic: limits a direction to `rate` KB/s (1 KB = 1000 bytes)."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from harness.proxy.bodies import Int64
from harness.proxy.stream import Chunk
from harness.proxy.toxics.base import Stub, Toxic, sleep_at_least

SLICE_S = 0.1
"""Chunks larger than 100 ms of the rate are sent in 100 ms slices."""


class BandwidthToxic(Toxic):
    """Paces data at `rate` KB/s (default 0: no limit), in 100 ms slices.

    Like Toxiproxy, the time owed for each chunk accumulates, so the average
    rate holds even though timers are coarser than a chunk's share.
    """

    kind: ClassVar[str] = "bandwidth"

    rate: Int64 = 0

    async def pipe(self, stub: Stub) -> None:
        """Send each chunk once the time its bytes cost at the rate has passed."""
        owed_s = 0.0
        while (chunk := await stub.read()) is not None:
            if self.rate <= 0:
                await stub.write(chunk)
                continue
            bytes_per_s = self.rate * 1000
            slice_bytes = int(bytes_per_s * SLICE_S)
            owed_s += len(chunk.data) / bytes_per_s
            while len(chunk.data) > slice_bytes:
                await sleep_at_least(SLICE_S)
                head = Chunk(chunk.data[:slice_bytes], chunk.arrived_s)
                chunk = Chunk(chunk.data[slice_bytes:], chunk.arrived_s)
                await stub.write(head, rest=chunk)
                owed_s -= SLICE_S
            start_s = stub.now()
            if owed_s > 0:
                await asyncio.sleep(owed_s)
            # Timers are coarse: carry the error over to the next chunk.
            owed_s -= stub.now() - start_s
            await stub.write(chunk)
        stub.close()
