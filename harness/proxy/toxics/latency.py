"""The latency toxic: delays every chunk by latency +- jitter milliseconds."""

from __future__ import annotations

import random
from typing import ClassVar

from harness.proxy.bodies import Int64
from harness.proxy.toxics.base import Stub, Toxic, sleep_until


class LatencyToxic(Toxic):
    """Each chunk leaves `latency` +- `jitter` ms after it arrived (defaults 0).

    Delays count from the chunk's arrival, so a stream of chunks is shifted,
    not slowed: the rate through the toxic stays what it was.
    """

    kind: ClassVar[str] = "latency"

    latency: Int64 = 0
    jitter: Int64 = 0

    def delay_s(self) -> float:
        """One draw of the delay, in seconds (never below 0)."""
        delay_ms = self.latency
        if self.jitter > 0:
            delay_ms += random.randrange(-self.jitter, self.jitter)
        return max(delay_ms, 0) / 1000

    async def pipe(self, stub: Stub) -> None:
        """Hold each chunk until its arrival time plus one delay draw."""
        while (chunk := await stub.read()) is not None:
            due_s = chunk.arrived_s + self.delay_s()
            await sleep_until(due_s)
            chunk.arrived_s = due_s
            await stub.write(chunk)
        stub.close()
