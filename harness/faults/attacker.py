"""An attacker client: one thread making one attempt at a fixed rate until stopped.

Security faults give it what to try (a request with a leaked key, a query
with a leaked password); it keeps every attempt's time and outcome, so that
the fault can say whether the attacker is still getting in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

KEPT_ATTEMPTS = 500
JOIN_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Attempt:
    """One try: when (monotonic seconds), whether it got in, what came back."""

    t_s: float
    ok: bool
    detail: str


Try = Callable[[], tuple[bool, str]]
"""One attempt: (got in, a short description of the answer). May raise."""


class Attacker:
    """Runs `attempt` `rate_per_s` times a second in a daemon thread.

    An exception from `attempt` counts as a failed attempt. `cleanup` runs in
    the thread when it stops (to close its own connections).
    """

    def __init__(
        self,
        name: str,
        attempt: Try,
        *,
        rate_per_s: float,
        cleanup: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self._attempt = attempt
        self._interval_s = 1.0 / rate_per_s
        self._cleanup = cleanup
        self._stop = threading.Event()
        self._attempts: deque[Attempt] = deque(maxlen=KEPT_ATTEMPTS)
        self._lock = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def running(self) -> bool:
        """The thread is alive."""
        return self._thread.is_alive()

    def start(self) -> None:
        """Start attacking."""
        self._thread.start()

    def stop(self) -> None:
        """Stop, wait for the thread (up to 10 s); safe to call twice."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(JOIN_TIMEOUT_S)
            if self._thread.is_alive():
                log.warning("attacker %s did not stop within %.0fs",
                            self.name, JOIN_TIMEOUT_S)  # fmt: skip

    def try_now(self) -> Attempt:
        """Make one attempt in the calling thread, recorded like the others."""
        return self._record()

    def attempts(self, since_s: float = 0.0) -> list[Attempt]:
        """The recorded attempts made at or after `since_s` (monotonic)."""
        with self._lock:
            return [a for a in self._attempts if a.t_s >= since_s]

    def wait_for(
        self, condition: Callable[[list[Attempt]], bool], timeout_s: float
    ) -> bool:
        """Wait until `condition(all attempts)` holds; its last value."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while not condition(list(self._attempts)):
                left = deadline - time.monotonic()
                if left <= 0 or (not self._thread.is_alive() and self._stop.is_set()):
                    return condition(list(self._attempts))
                self._lock.wait(min(left, 0.1))
        return True

    def _record(self) -> Attempt:
        started = time.monotonic()
        try:
            ok, detail = self._attempt()
        except Exception as exc:  # an attempt that blows up did not get in
            ok, detail = False, f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        attempt = Attempt(started, ok, detail[:200])
        with self._lock:
            self._attempts.append(attempt)
            self._lock.notify_all()
        return attempt

    def _run(self) -> None:
        next_s = time.monotonic()
        try:
            while not self._stop.is_set():
                self._record()
                next_s += self._interval_s
                self._stop.wait(max(0.0, next_s - time.monotonic()))
        finally:
            if self._cleanup is not None:
                try:
                    self._cleanup()
                except Exception:
                    log.exception("attacker %s: clean-up failed", self.name)
