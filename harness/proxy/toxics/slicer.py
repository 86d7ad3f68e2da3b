"""The slicer toxic: splits chunks into pieces of about `average_size` bytes."""

from __future__ import annotations

import asyncio
import random
from typing import ClassVar

from harness.proxy.bodies import Int64
from harness.proxy.stream import Chunk
from harness.proxy.toxics.base import Stub, Toxic


class SlicerToxic(Toxic):
    """Slices each chunk into pieces of `average_size` +- `size_variation` bytes.

    Waits `delay` microseconds between pieces (defaults 0). Pieces are cut
    as Toxiproxy cuts them: halves, split again while larger than the average
    plus the variation, with the cut moved by up to the variation.
    """

    kind: ClassVar[str] = "slicer"

    average_size: Int64 = 0
    size_variation: Int64 = 0
    delay: Int64 = 0

    def bounds(self, size: int) -> list[tuple[int, int]]:
        """The (start, end) offsets of the pieces of a `size`-byte chunk."""
        pieces: list[tuple[int, int]] = []
        todo = [(0, size)]
        variation = max(self.size_variation, 0)
        while todo:
            start, end = todo.pop()
            if end - start - self.average_size <= variation or end - start < 2:
                pieces.append((start, end))
                continue
            shift = random.randrange(-variation, variation) if variation else 0
            mid = min(max(start + (end - start) // 2 + shift, start + 1), end - 1)
            todo.append((mid, end))
            todo.append((start, mid))
        return pieces

    async def pipe(self, stub: Stub) -> None:
        """Write each piece, then wait the delay before the next one."""
        delay_s = max(self.delay, 0) / 1_000_000
        while (chunk := await stub.read()) is not None:
            data = chunk.data
            next_s = stub.now()
            for start, end in self.bounds(len(data)):
                rest = Chunk(data[end:], chunk.arrived_s) if end < len(data) else None
                await stub.write(Chunk(data[start:end], chunk.arrived_s), rest=rest)
                if rest is None:
                    break
                # Timers are coarser than microseconds: pace against a target
                # time so that the average delay between pieces is right.
                next_s += delay_s
                wait_s = next_s - stub.now()
                if wait_s > 0:
                    await asyncio.sleep(wait_s)
        stub.close()
