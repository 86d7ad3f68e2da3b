"""Where the stack runs: one interface, one implementation per runtime."""

from harness.runtime.base import Health, Runtime
from harness.runtime.endpoints import DatabaseEndpoint, Endpoints, Secrets

__all__ = ["DatabaseEndpoint", "Endpoints", "Health", "Runtime", "Secrets"]
