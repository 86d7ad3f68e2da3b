"""The limit_data toxic: closes the connection after `bytes` bytes have passed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from harness.proxy.bodies import Int64
from harness.proxy.stream import Chunk
from harness.proxy.toxics.base import Stub, Toxic


@dataclass
class Sent:
    """Bytes this toxic has let through on one link, kept across updates."""

    bytes: int = 0


class LimitDataToxic(Toxic):
    """Lets `bytes` bytes through (default 0), then closes the connection.

    As in Toxiproxy, the check happens when data arrives: with a limit of 0
    the connection closes on the first chunk.
    """

    kind: ClassVar[str] = "limit_data"

    bytes: Int64 = 0

    def new_state(self) -> Any:
        """A byte counter for one link."""
        return Sent()

    async def pipe(self, stub: Stub) -> None:
        """Pass chunks, cut the one that crosses the limit, then close."""
        sent: Sent = stub.state
        while (chunk := await stub.read()) is not None:
            allowed = max(self.bytes - sent.bytes, 0)
            if allowed < len(chunk.data):
                chunk = Chunk(chunk.data[:allowed], chunk.arrived_s)
            if chunk.data:
                await stub.write(chunk)
                sent.bytes += len(chunk.data)
            else:
                stub.drop()
            if self.bytes - sent.bytes <= 0:
                break
        stub.close()
