"""The timeout toxic: stops all data and closes after `timeout` ms (never if 0)."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from harness.proxy.bodies import Int64
from harness.proxy.toxics.base import Stub, Toxic


class TimeoutToxic(Toxic):
    """Drops every chunk; closes the connection after `timeout` ms without data.

    As in Toxiproxy, the timer restarts whenever a chunk is dropped, and a
    timeout of 0 (the default) never closes. Removing the toxic closes the
    connections it was holding.
    """

    kind: ClassVar[str] = "timeout"
    closes_on_removal: ClassVar[bool] = True

    timeout: Int64 = 0

    async def pipe(self, stub: Stub) -> None:
        """Swallow data until the timeout passes or the stream ends."""
        if self.timeout <= 0:
            while await stub.read() is not None:
                stub.drop()
            stub.close()
            return
        timeout_s = self.timeout / 1000
        due_s = stub.now() + timeout_s
        while (left_s := due_s - stub.now()) > 0:
            try:
                await asyncio.wait_for(stub.wait_readable(), left_s)
            except TimeoutError:
                continue
            if await stub.read() is None:
                break
            stub.drop()
            due_s = stub.now() + timeout_s
        stub.close()
