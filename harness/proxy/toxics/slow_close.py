"""The slow_close toxic: delays the close by `delay` milliseconds after the end."""

from __future__ import annotations

from typing import ClassVar

from harness.proxy.bodies import Int64
from harness.proxy.toxics.base import Stub, Toxic, sleep_at_least


class SlowCloseToxic(Toxic):
    """Passes data on; holds the end of stream for `delay` ms (default 0)."""

    kind: ClassVar[str] = "slow_close"

    delay: Int64 = 0

    async def pipe(self, stub: Stub) -> None:
        """Pass chunks; at the end of stream, wait, then close."""
        while (chunk := await stub.read()) is not None:
            await stub.write(chunk)
        if self.delay > 0:
            await sleep_at_least(self.delay / 1000)
        stub.close()
