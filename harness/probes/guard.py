"""A probe base that turns every exception of a check into a failed result."""

from __future__ import annotations

import logging
from abc import abstractmethod

import httpx

from harness.probes.base import Probe, ProbeResult, SpecT

log = logging.getLogger(__name__)


def describe(exc: BaseException) -> str:
    """One short line saying what went wrong, for a probe's or a sample's detail."""
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer in time ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or reset"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server closed the connection without answering"
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


class GuardedProbe(Probe[SpecT]):
    """A probe whose `observe` may raise; `check` never does.

    Subclasses implement `observe`; any exception it raises becomes
    `ProbeResult(ok=False)` with a one-line reason.
    """

    def check(self) -> ProbeResult:
        """Run `observe` once; a failure of any kind is a failed result."""
        try:
            return self.observe()
        except Exception as exc:  # a probe must never raise
            log.debug("probe %s: %s", self.name, describe(exc))
            return ProbeResult(ok=False, detail=describe(exc))

    @abstractmethod
    def observe(self) -> ProbeResult:
        """Look once; may raise, `check` turns that into a failure."""
