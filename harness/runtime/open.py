"""Open the runtime that a recorded stack runs on."""

from __future__ import annotations

from harness.errors import StackError
from harness.runtime.base import Runtime
from harness.runtime.state import StateStore


def open_runtime(store: StateStore | None = None) -> Runtime:
    """The runtime controlling the stack recorded under `store`.

    The local runtime is the answer when no stack is recorded, so that
    commands can report "no stack is up" in one place.
    """
    from harness.runtime.local import LocalRuntime

    store = store or StateStore()
    state = store.load()
    if state is None or state.runtime == "local":
        return LocalRuntime(store)
    raise StackError(
        f"the state file names an unknown runtime {state.runtime!r}",
        hint="run `drill down --force` and bring the stack up again",
    )
