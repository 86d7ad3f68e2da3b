"""The exception tree: one root, `...Error` categories, leaves named for a condition.

Every error a user can see carries an exit code and reads as one line: what
failed, the offending value, where it came from, and what to do.
"""

from __future__ import annotations


class DrillError(Exception):
    """Root of every error this package raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str = "") -> None:
        self.message = message
        self.hint = hint
        super().__init__(self.line())

    def line(self) -> str:
        """The one-line form shown to a user: the problem, then what to do."""
        return f"{self.message}; {self.hint}" if self.hint else self.message


class UsageError(DrillError):
    """The user asked for something that cannot be (bad flag, unknown name)."""

    exit_code = 2


class StackError(DrillError):
    """The stack could not be brought up, reached, or brought down."""

    exit_code = 4


class UnknownService(UsageError):
    """A service, unit or chain name that the stack does not have."""


class PortInUse(StackError):
    """A port the stack needs is already taken by another process."""


class PostgresNotFound(StackError):
    """No PostgreSQL binaries where the runtime looked."""


class StackAlreadyUp(StackError):
    """`drill up` while a stack recorded in the state file is still running."""


class StackNotUp(StackError):
    """A command needs a running stack and the state file records none."""


class StateCorrupt(StackError):
    """The state file exists but cannot be read as a stack's state."""


class ServiceNotReady(StackError):
    """A service did not become ready within its start timeout."""


class ProxyError(StackError):
    """The fault proxy could not be reached or refused a request."""


class ProxyUnreachable(ProxyError):
    """No answer from the fault proxy's API (not running, wrong address)."""


class ProxyNotFound(ProxyError):
    """The fault proxy has no proxy of that name."""


class ProxyAlreadyExists(ProxyError):
    """A proxy of that name already exists on the fault proxy."""


class ToxicNotFound(ProxyError):
    """The proxy has no toxic of that name."""


class ToxicAlreadyExists(ProxyError):
    """A toxic of that name already exists on the proxy."""


class ProxyRequestRejected(ProxyError):
    """The fault proxy answered 400: a malformed or invalid request body."""


class ProxyRequestFailed(ProxyError):
    """The fault proxy answered with a server error (e.g. a port in use)."""


EXIT_CODES = {
    0: "success",
    1: "the drill failed (or an unexpected internal error)",
    2: "usage error: a bad flag, file or name",
    3: "the drill was invalid: it measured nothing",
    4: "stack error: the stack could not be brought up, reached or brought down",
}
