"""What every toxic is (its attributes and its pipe) and the stub it pipes through."""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from harness.proxy.stream import Chunk


class Stub(Protocol):
    """One toxic's place on one link: its input, its output, its state.

    A toxic may be interrupted (cancelled) at any `await` when it is updated
    or removed, or when its connection ends. What it has read but not yet
    written is then handed on, never lost: `write(chunk, rest)` says how much
    of the chunk in hand is still to go, and `drop()` that none of it is.
    """

    @property
    def state(self) -> Any:
        """Per-link state from `Toxic.new_state()`; kept across updates."""

    def now(self) -> float:
        """time.monotonic(), in seconds: the clock of chunk arrival times."""

    async def read(self) -> Chunk | None:
        """The next chunk, or None at the end of stream."""

    async def wait_readable(self) -> None:
        """Return when `read()` would not wait."""

    async def write(self, chunk: Chunk, rest: Chunk | None = None) -> None:
        """Pass `chunk` on; `rest` is what remains in hand afterwards."""

    def drop(self) -> None:
        """Forget the chunk in hand: it will not be passed on."""

    def close(self) -> None:
        """End this direction here: no more data, then the connection closes."""

    def reset(self) -> None:
        """Close the whole connection with TCP RST (SO_LINGER 0) on both sides."""


class Toxic(BaseModel):
    """A toxic's attributes (integers, JSON `attributes`) and its behaviour.

    Subclasses declare `kind` (the API's `type`), their attributes as fields
    with defaults of 0, and `pipe`, which moves data from the stub's input to
    its output until the end of stream or until it is interrupted.
    """

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    kind: ClassVar[str]
    closes_on_removal: ClassVar[bool] = False
    """True when removing the toxic must close the connections it acted on."""

    def new_state(self) -> Any:
        """Fresh per-link state, or None when the toxic keeps none."""
        return None

    async def pipe(self, stub: Stub) -> None:
        """Move data through; the default passes every chunk on unchanged."""
        while (chunk := await stub.read()) is not None:
            await stub.write(chunk)
        stub.close()


async def sleep_until(due_s: float) -> None:
    """Sleep until time.monotonic() reaches `due_s`; never wakes early.

    Event loop timers have millisecond granularity and may fire a little
    before their time; toxics promise "at least", so they sleep again.
    """
    while (left_s := due_s - time.monotonic()) > 0:
        await asyncio.sleep(left_s)


async def sleep_at_least(seconds: float) -> None:
    """Sleep `seconds` (or longer, never shorter)."""
    await sleep_until(time.monotonic() + seconds)
