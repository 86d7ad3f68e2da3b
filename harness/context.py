"""What faults, probes, the workload and recovery steps are given to work with."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from harness.proxy.client import ProxyClient
from harness.runtime.base import Runtime
from harness.runtime.endpoints import Endpoints, Secrets


@dataclass
class DrillContext:
    """One drill's handles on the stack.

    `work_dir` is the drill's own directory (backups, scratch files);
    `rng` is seeded from the drill's seed so that every random choice replays.
    Secrets are re-read through `secrets()` because a recovery may rotate them.
    """

    runtime: Runtime
    proxy: ProxyClient
    work_dir: Path
    rng: random.Random = field(default_factory=random.Random)

    @property
    def endpoints(self) -> Endpoints:
        """Where clients reach the stack."""
        return self.runtime.endpoints()

    def secrets(self) -> Secrets:
        """The stack's current credentials."""
        return self.runtime.secrets()
