"""The noop toxic: passes data through unchanged."""

from __future__ import annotations

from typing import ClassVar

from harness.proxy.toxics.base import Toxic


class NoopToxic(Toxic):
    """Passes every chunk on as it comes; useful to test the API itself."""

    kind: ClassVar[str] = "noop"
