"""One direction of a proxied connection: a source socket, toxics, a destination.

With no toxics the link is a fast path: each read is written straight to the
destination transport, and flow control pauses the source while the
destination's buffer is full. With toxics, chunks go through one stage per
toxic (a channel and a task running the toxic), in the order the toxics were
added. Toxics are added, updated and removed while data flows, as Toxiproxy
does: an interrupted toxic hands what it held on, so no byte is lost or
reordered.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.proxy.stream import EOF, Channel, Chunk, Direction, EndOfStream, Item
from harness.proxy.toxics import Toxic
from harness.proxy.toxics.noop import NoopToxic

log = logging.getLogger(__name__)

BACKLOG_HIGH_BYTES = 4 * 1024 * 1024
"""Pause reading the source when the first toxic has this much queued."""

BACKLOG_LOW_BYTES = 1024 * 1024
"""Resume reading the source once the first toxic's queue is this small."""

_PASS_THROUGH = NoopToxic()


@dataclass(frozen=True)
class ToxicSpec:
    """A toxic as the API shows it: name, type, stream, toxicity, attributes."""

    name: str
    type: str
    stream: str
    direction: Direction
    toxicity: float
    toxic: Toxic

    def to_json(self) -> dict[str, Any]:
        """The toxic's JSON object, keys in Toxiproxy's order."""
        toxicity: float | int = self.toxicity
        if self.toxicity.is_integer():
            toxicity = int(self.toxicity)
        return {
            "attributes": self.toxic.model_dump(),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": toxicity,
        }


class _Stage:
    """One toxic on one link: its input channel and the task running it.

    Implements `toxics.Stub`, the toxic's view of the link.
    """

    __slots__ = (
        "active",
        "closed",
        "inbox",
        "link",
        "pending",
        "spec",
        "state",
        "task",
    )

    def __init__(self, link: Link, spec: ToxicSpec) -> None:
        self.link = link
        self.spec = spec
        self.inbox = Channel(link.popped)
        self.state: Any = spec.toxic.new_state()
        self.pending: Item | None = None
        self.task: asyncio.Task[None] | None = None
        self.active = False
        self.closed = False

    # The Stub interface, used by the toxic.

    def now(self) -> float:
        return time.monotonic()

    async def wait_readable(self) -> None:
        await self.inbox.wait_readable()

    async def read(self) -> Chunk | None:
        self.pending = None
        await self.inbox.wait_readable()
        item = self.inbox.pop()
        self.pending = item
        return None if isinstance(item, EndOfStream) else item

    async def write(self, chunk: Chunk, rest: Chunk | None = None) -> None:
        await self.link.emit(self, chunk)
        self.pending = rest

    def drop(self) -> None:
        self.pending = None

    def close(self) -> None:
        self.pending = None
        self.link.close_after(self)

    def reset(self) -> None:
        self.pending = None
        self.link.reset()

    # Lifecycle, used by the link.

    def start(self) -> None:
        """Roll the toxicity and run the toxic (or a pass-through) as a task."""
        self.active = random.random() < self.spec.toxicity
        toxic = self.spec.toxic if self.active else _PASS_THROUGH
        self.task = self.link.loop.create_task(self._run(toxic))

    def interrupt(self) -> None:
        """Stop the task; what it held goes back to the head of its channel.

        Safe without awaiting the task: a cancelled toxic runs no more code
        that moves data, because every move happens right after an await.
        """
        if self.task is not None:
            self.task.cancel()
            self.task = None
        if self.pending is not None:
            self.inbox.unread(self.pending)
            self.pending = None

    async def _run(self, toxic: Toxic) -> None:
        try:
            await toxic.pipe(self)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "toxic %s on %s failed; closing the connection",
                self.spec.name,
                self.link.label,
            )
            self.link.reset()


class Link:
    """Moves one direction of a connection from `src` to `dst` through toxics.

    `peer` is the opposite direction; when this link's output ends, the
    destination closes and the peer's source with it (Toxiproxy semantics:
    a connection closes as a whole). `on_reset` aborts the connection with RST.
    """

    def __init__(
        self,
        direction: Direction,
        src: asyncio.Transport,
        dst: asyncio.Transport,
        on_reset: Callable[[], None],
        label: str,
    ) -> None:
        self.direction = direction
        self.src = src
        self.dst = dst
        self.peer: Link | None = None
        self.label = label
        self.loop = asyncio.get_running_loop()
        self.stages: list[_Stage] = []
        self._on_reset = on_reset
        self._waiters: list[asyncio.Future[None]] = []
        self._src_ended = False
        self._out_ended = False
        self._dst_full = False
        self._backlog = False
        self._paused = False

    # Data from the source.

    def feed(self, data: memoryview) -> bool:
        """Bytes read from the source; True when `dst` still refers to them.

        The fast path writes the caller's buffer itself; the caller must not
        reuse it while this returns True (the transport holds part of it).
        """
        if self._out_ended:
            return False
        if not self.stages:
            dst = self.dst
            if dst.is_closing():
                return False
            dst.write(data)
            return dst.get_write_buffer_size() > 0
        head = self.stages[0].inbox
        head.append(Chunk(bytes(data), time.monotonic()))
        if head.nbytes >= BACKLOG_HIGH_BYTES and not self._backlog:
            self._backlog = True
            self._apply_reading()
        return False

    def source_ended(self) -> None:
        """The source sent EOF, failed, or was closed by the other direction."""
        if self._src_ended:
            return
        self._src_ended = True
        if self.stages:
            self.stages[0].inbox.append(EOF)
        else:
            self.end_output()

    # Flow control.

    def dst_full(self, full: bool) -> None:
        """The destination's write buffer crossed its high (or low) mark."""
        self._dst_full = full
        self._apply_reading()
        if not full:
            self._wake()

    def popped(self, channel: Channel) -> None:
        """A stage read from `channel`: maybe resume the source, wake writers."""
        if (
            self._backlog
            and self.stages
            and channel is self.stages[0].inbox
            and channel.nbytes <= BACKLOG_LOW_BYTES
        ):
            self._backlog = False
            self._apply_reading()
        if self._waiters and channel.has_space():
            self._wake()

    def _apply_reading(self) -> None:
        pause = self._dst_full or self._backlog
        if pause == self._paused or self.src.is_closing():
            return
        self._paused = pause
        if pause:
            self.src.pause_reading()
        else:
            self.src.resume_reading()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # Output of the stages.

    async def emit(self, stage: _Stage, chunk: Chunk) -> None:
        """Hand `chunk` to the stage after `stage`, or write it to `dst`.

        Waits while the next channel or the destination is full; the target
        is looked up again after every wait, since toxics come and go.
        """
        while True:
            index = self.stages.index(stage) + 1
            if index < len(self.stages):
                channel = self.stages[index].inbox
                if channel.has_space():
                    channel.append(chunk)
                    return
            elif self._out_ended:
                return
            elif not self._dst_full:
                self._write(chunk.data)
                return
            waiter = self.loop.create_future()
            self._waiters.append(waiter)
            await waiter

    def close_after(self, stage: _Stage) -> None:
        """`stage`'s toxic closed: the end of stream goes to what follows it."""
        stage.closed = True
        stage.inbox.ended = True
        index = self.stages.index(stage) + 1
        self._deliver_now(index, [EOF])

    def end_output(self) -> None:
        """Close the destination; the other direction's source goes with it."""
        if self._out_ended:
            return
        self._out_ended = True
        if not self.dst.is_closing():
            self.dst.close()
        if self.peer is not None:
            self.peer.source_ended()

    def reset(self) -> None:
        """Abort the whole connection with RST."""
        self._on_reset()

    def _deliver_now(self, index: int, items: list[Item]) -> None:
        """Put items into stage `index`'s channel, or write them to `dst`."""
        if index < len(self.stages):
            self.stages[index].inbox.extend(items)
            return
        for item in items:
            if isinstance(item, EndOfStream):
                self.end_output()
            elif not self._out_ended:
                self._write(item.data)

    def _write(self, data: bytes) -> None:
        if not self.dst.is_closing():
            self.dst.write(data)

    # Toxics coming and going.

    def add_toxic(self, spec: ToxicSpec) -> None:
        """Append a toxic at the end of the chain; it acts on data from now on."""
        stage = _Stage(self, spec)
        self.stages.append(stage)
        if self._out_ended:
            stage.closed = True
            stage.inbox.ended = True
            return
        stage.start()
        self._wake()

    def update_toxic(self, spec: ToxicSpec) -> None:
        """Restart a toxic with new attributes or toxicity; its state stays."""
        for stage in self.stages:
            if stage.spec.name == spec.name:
                stage.spec = spec
                if not stage.closed:
                    stage.interrupt()
                    stage.start()
                return

    def remove_toxic(self, name: str) -> None:
        """Take a toxic out; what it held goes on to the next stage, in order."""
        index = next(
            (i for i, stage in enumerate(self.stages) if stage.spec.name == name), -1
        )
        if index < 0:
            return
        stage = self.stages[index]
        stage.interrupt()
        leftover = [] if stage.closed else stage.inbox.take_all()
        if stage.active and stage.spec.toxic.closes_on_removal and not stage.closed:
            leftover = [EOF]
        del self.stages[index]
        if index == 0:
            self._backlog = False
        self._deliver_now(index, leftover)
        self._apply_reading()
        self._wake()

    def stop(self) -> None:
        """Cancel every toxic's task; the connection is gone."""
        self._src_ended = self._out_ended = True
        for stage in self.stages:
            if stage.task is not None:
                stage.task.cancel()
                stage.task = None
        self._wake()
