"""The reset_peer toxic: on the first data, waits `timeout` ms, then sends RST."""

from __future__ import annotations

from typing import ClassVar

from harness.proxy.bodies import Int64
from harness.proxy.toxics.base import Stub, Toxic, sleep_at_least


class ResetPeerToxic(Toxic):
    """Resets the connection (SO_LINGER 0) `timeout` ms after data first arrives.

    Both the client and the upstream see the reset (ECONNRESET). The default
    timeout of 0 resets at once.
    """

    kind: ClassVar[str] = "reset_peer"

    timeout: Int64 = 0

    async def pipe(self, stub: Stub) -> None:
        """Wait for the first chunk (or the end), then the timeout, then reset."""
        await stub.read()
        if self.timeout > 0:
            await sleep_at_least(self.timeout / 1000)
        stub.drop()
        stub.reset()
