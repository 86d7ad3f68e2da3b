"""The steady state: poll every probe on a fixed cadence and answer questions about it.

One background thread polls all probes concurrently every interval and keeps
the history. The engine asks: did the steady state hold over a window? When
did it first break after t0? When did it come back and stay back?
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from harness.probes.base import Probe, ProbeResult, ProbeSpec
from harness.result import ProbeSample
from harness.timeline import Timeline

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Poll:
    """One round of every probe: when it started and ended, and each result.

    `answered_s` is when each probe's answer came back: a probe that fails
    fast is not held up by one that waits for its timeout.
    """

    started_s: float
    ended_s: float
    results: dict[str, ProbeResult]
    answered_s: dict[str, float]

    def first_failed_s(self) -> float | None:
        """When the first failing answer of this poll came back."""
        times = [self.answered_s[n] for n, r in self.results.items() if not r.ok]
        return min(times) if times else None

    def ok(self, probe: str | None = None) -> bool:
        """All probes passed (or the one named)."""
        if probe is not None:
            return probe in self.results and self.results[probe].ok
        return all(r.ok for r in self.results.values())

    def failed(self) -> list[str]:
        """Names of the probes that failed."""
        return [name for name, r in self.results.items() if not r.ok]


class SteadyState:
    """Polls the probes in a thread until stopped; thread-safe queries."""

    def __init__(
        self,
        probes: Sequence[Probe[ProbeSpec]],
        timeline: Timeline,
        *,
        interval_s: float = 0.25,
    ) -> None:
        self.probes = list(probes)
        self.timeline = timeline
        self.interval_s = interval_s
        self._polls: list[Poll] = []
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, len(self.probes)), thread_name_prefix="probe"
        )
        self._thread = threading.Thread(
            target=self._run, name="steady-state", daemon=True
        )

    def start(self) -> None:
        """Begin polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and release the probes."""
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=False, cancel_futures=True)
        for probe in self.probes:
            try:
                probe.close()
            except Exception:  # a probe's close must not break clean-up
                log.warning("closing probe %s failed", probe.name, exc_info=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = self.timeline.now()
            futures = {
                p.name: self._pool.submit(self._timed_check, p) for p in self.probes
            }
            answers = {name: f.result() for name, f in futures.items()}
            poll = Poll(
                started,
                self.timeline.now(),
                {name: result for name, (result, _) in answers.items()},
                {name: at for name, (_, at) in answers.items()},
            )
            log.debug(
                "poll at %.2fs: %s",
                started,
                "ok" if poll.ok() else f"failed {poll.failed()}",
            )
            with self._changed:
                self._polls.append(poll)
                self._changed.notify_all()
            delay = started + self.interval_s - self.timeline.now()
            if delay > 0:
                self._stop.wait(delay)

    def _timed_check(self, probe: Probe[ProbeSpec]) -> tuple[ProbeResult, float]:
        result = _safe_check(probe)
        return result, self.timeline.now()

    def polls(self) -> list[Poll]:
        """Every poll so far."""
        with self._changed:
            return list(self._polls)

    def samples(self) -> list[ProbeSample]:
        """The history as flat samples for the result."""
        return [
            ProbeSample(
                t_s=round(p.started_s, 4),
                probe=name,
                ok=r.ok,
                detail=r.detail,
                value=r.value,
            )
            for p in self.polls()
            for name, r in p.results.items()
        ]

    def _wait(self, until_s: float) -> bool:
        """Wait for the next poll or until `until_s`; False when time is up."""
        remaining = until_s - self.timeline.now()
        if remaining <= 0 or self._stop.is_set():
            return False
        with self._changed:
            self._changed.wait(timeout=min(remaining, 1.0))
        return True

    def first_failure(self, *, after_s: float, until_s: float) -> Poll | None:
        """The first failed poll that ended after `after_s`, waiting until `until_s`."""
        seen = 0
        while True:
            polls = self.polls()
            for poll in polls[seen:]:
                if poll.ended_s > after_s and not poll.ok():
                    return poll
            seen = len(polls)
            if not self._wait(until_s):
                return None

    def stable_since(
        self, count: int, *, after_s: float, until_s: float, probe: str | None = None
    ) -> float | None:
        """Wait until the latest `count` polls (started after `after_s`) all pass.

        Returns the start of that trailing run of passing polls (the moment the
        steady state was back), or None if it did not happen by `until_s`.
        """
        while True:
            run: list[Poll] = []
            for poll in reversed(self.polls()):
                if poll.started_s < after_s or not poll.ok(probe):
                    break
                run.append(poll)
            if len(run) >= count:
                return run[-1].started_s
            if not self._wait(until_s):
                return None

    def holds(self, window_s: float, *, until_s: float) -> tuple[bool, Poll | None]:
        """Wait for a window of `window_s` seconds in which every poll passed.

        Returns (True, None) once such a window is seen, else (False, the last
        failed poll, if any) when `until_s` comes first.
        """
        last_failed: Poll | None = None
        while True:
            polls = self.polls()
            if polls:
                latest = polls[-1]
                window = [p for p in polls if p.started_s >= latest.ended_s - window_s]
                failed = [p for p in window if not p.ok()]
                spans = latest.ended_s - polls[0].started_s >= window_s
                if failed:
                    last_failed = failed[-1]
                elif spans and len(window) >= 2:
                    return True, None
            if not self._wait(until_s):
                return False, last_failed


def _safe_check(probe: Probe[ProbeSpec]) -> ProbeResult:
    try:
        return probe.check()
    except Exception as exc:  # a probe that raises has failed, not the drill
        return ProbeResult(ok=False, detail=f"probe raised {type(exc).__name__}: {exc}")
