"""The drill's timeline: events on a monotonic clock, labelled with wall-clock time.

Durations (detection time, RTO) are differences of monotonic readings; the
wall clock only labels events for humans. The clock is injectable for tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict


class Event(BaseModel):
    """Something that happened: `t_s` seconds after the drill started."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    t_s: float
    at: datetime
    kind: str
    detail: str = ""


@dataclass
class Clock:
    """A monotonic clock and a wall clock; tests pass fakes."""

    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sleep: Callable[[float], None] = time.sleep


class Timeline:
    """An append-only, thread-safe list of events relative to a start instant."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self._start = self.clock.monotonic()
        self.started_at = self.clock.wall()
        self._events: list[Event] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        """Seconds since the drill started (monotonic)."""
        return self.clock.monotonic() - self._start

    def mark(self, kind: str, detail: str = "", *, t_s: float | None = None) -> Event:
        """Record an event now (or at `t_s`, for a moment measured earlier)."""
        at_s = self.now() if t_s is None else t_s
        event = Event(
            t_s=round(at_s, 4), at=self.clock.wall(), kind=kind, detail=detail
        )
        with self._lock:
            self._events.append(event)
        return event

    def events(self) -> list[Event]:
        """Every event so far, in time order."""
        with self._lock:
            return sorted(self._events, key=lambda e: e.t_s)

    def first(self, kind: str) -> Event | None:
        """The earliest event of a kind, or None."""
        return next((e for e in self.events() if e.kind == kind), None)
