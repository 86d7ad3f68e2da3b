"""What flows between the toxics of one direction: chunks, end of stream, channels."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Direction(StrEnum):
    """A direction of a proxied connection; upstream is client to server."""

    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"


@dataclass(slots=True)
class Chunk:
    """Bytes read from a socket and when they arrived (time.monotonic(), seconds)."""

    data: bytes
    arrived_s: float


class EndOfStream:
    """The source closed: what follows a direction's last chunk."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "EOF"


EOF: Final = EndOfStream()

Item = Chunk | EndOfStream

CHANNEL_LIMIT_BYTES: Final = 4 * 1024 * 1024
"""A stage's writer waits while the next channel holds this much (4 MiB)."""


class Channel:
    """The FIFO in front of one toxic of one link, read by that toxic only.

    Writers check `has_space()` and wait elsewhere (on the link) when it is
    full; `append` itself never blocks. Once the end of stream is in, later
    appends are dropped: nothing follows a close. `on_pop` runs after every
    read, so the link can resume a paused source or wake waiting writers.
    """

    __slots__ = ("_items", "_on_pop", "_reader", "ended", "nbytes")

    def __init__(self, on_pop: Callable[[Channel], None]) -> None:
        self._items: deque[Item] = deque()
        self._on_pop = on_pop
        self._reader: asyncio.Future[None] | None = None
        self.nbytes = 0
        self.ended = False

    def __len__(self) -> int:
        return len(self._items)

    def has_space(self) -> bool:
        """True while the channel holds less than its byte limit."""
        return self.nbytes < CHANNEL_LIMIT_BYTES

    def append(self, item: Item) -> None:
        """Add at the tail; dropped when the end of stream is already in."""
        if self.ended:
            return
        if isinstance(item, EndOfStream):
            self.ended = True
        else:
            self.nbytes += len(item.data)
        self._items.append(item)
        self._wake_reader()

    def extend(self, items: Iterable[Item]) -> None:
        """Append each of `items` in order."""
        for item in items:
            self.append(item)

    def unread(self, item: Item) -> None:
        """Put an item back at the head, as if it had never been read."""
        if isinstance(item, EndOfStream):
            self.ended = True
        else:
            self.nbytes += len(item.data)
        self._items.appendleft(item)
        self._wake_reader()

    def pop(self) -> Item:
        """The head item; the channel must not be empty."""
        item = self._items.popleft()
        if not isinstance(item, EndOfStream):
            self.nbytes -= len(item.data)
        self._on_pop(self)
        return item

    def take_all(self) -> list[Item]:
        """Empty the channel and return what it held, oldest first."""
        items = list(self._items)
        self._items.clear()
        self.nbytes = 0
        return items

    async def wait_readable(self) -> None:
        """Return once the channel holds an item; cancelling loses nothing."""
        while not self._items:
            reader = asyncio.get_running_loop().create_future()
            self._reader = reader
            try:
                await reader
            finally:
                self._reader = None

    def _wake_reader(self) -> None:
        reader = self._reader
        if reader is not None and not reader.done():
            reader.set_result(None)
