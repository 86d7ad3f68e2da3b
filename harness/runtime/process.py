"""Local processes: spawn detached, identify by pid and start time, signal, reap.

A pid alone is not an identity (pids are reused), so every process is recorded
with its start time in clock ticks from /proc/<pid>/stat.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal as signals
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# Popen objects of the children this process started, so they can be reaped
# (a killed child stays a zombie until its parent waits for it).
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ProcessId:
    """A process as the runtime records it: pid plus start time in ticks."""

    pid: int
    start_ticks: int


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def process_state(pid: int) -> str | None:
    """The kernel's one-letter state (R, S, T, Z, ...) or None when gone."""
    _reap(pid)
    fields = _stat_fields(pid)
    return fields[0] if fields else None


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, None when gone."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def is_alive(proc: ProcessId) -> bool:
    """True while the process exists, is not a zombie, and is the same one."""
    state = process_state(proc.pid)
    if state is None or state in ("Z", "X"):
        return False
    return start_ticks(proc.pid) == proc.start_ticks


def is_stopped(proc: ProcessId) -> bool:
    """True when the process is frozen by SIGSTOP."""
    return is_alive(proc) and process_state(proc.pid) == "T"


def spawn(
    argv: list[str], *, env: dict[str, str], log_path: Path, cwd: Path | None = None
) -> ProcessId:
    """Start a process in its own session, output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    _children[child.pid] = child
    # Reap it the moment it exits: a dead child left as a zombie still holds
    # its pid, and Postgres refuses to start while its lock file names one.
    threading.Thread(target=child.wait, name=f"reap-{child.pid}", daemon=True).start()
    ticks = start_ticks(child.pid)
    if ticks is None:
        # It died at once; its exit is seen by the readiness check.
        ticks = -1
    log.debug("spawned pid %d: %s", child.pid, " ".join(argv))
    return ProcessId(child.pid, ticks)


def _reap(pid: int) -> None:
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        del _children[pid]


def descendants(pid: int) -> list[int]:
    """Every living descendant of `pid`, in or out of its process group.

    Postgres backends call setsid(), so a group signal misses them.
    """
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields and fields[0] not in ("Z", "X"):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _signal_pids(pids: list[int], sig: signals.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def freeze(proc: ProcessId) -> None:
    """SIGSTOP the process group, then every descendant outside it.

    The group first: a frozen parent starts no new child while the rest are
    being frozen.
    """
    if send(proc, signals.SIGSTOP, group=True):
        _signal_pids(descendants(proc.pid), signals.SIGSTOP)


def thaw(proc: ProcessId, also: list[int] | None = None) -> None:
    """SIGCONT the process group, every descendant, and the pids in `also`."""
    pids = list(also or [])
    if send(proc, signals.SIGCONT, group=True):
        pids += descendants(proc.pid)
    _signal_pids(pids, signals.SIGCONT)


def send(proc: ProcessId, sig: signals.Signals, *, group: bool = False) -> bool:
    """Signal the process (or its whole process group); False if it is gone."""
    if not is_alive(proc):
        return False
    try:
        if group:
            os.killpg(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)
    except ProcessLookupError:
        return False
    return True


def wait_gone(proc: ProcessId, timeout_s: float) -> bool:
    """Wait up to `timeout_s` seconds for the process to exit."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_alive(proc):
            return True
        time.sleep(0.01)
    return not is_alive(proc)


def terminate(
    proc: ProcessId, *, stop_signal: signals.Signals, timeout_s: float
) -> None:
    """Stop a process as a service manager does: its stop signal, then SIGKILL.

    A frozen process is thawed first so that it can act on the signal; with
    `timeout_s` 0 it is killed at once. The whole process group is killed at
    the end so no helper is left behind, and descendants outside the group
    are thawed so that they can notice their parent is gone and exit.
    """
    kids = descendants(proc.pid) if is_alive(proc) else []
    if is_alive(proc) and timeout_s > 0:
        thaw(proc)
        send(proc, stop_signal)
        if not wait_gone(proc, timeout_s):
            log.warning(
                "pid %d ignored %s for %.1fs; killing it",
                proc.pid,
                stop_signal.name,
                timeout_s,
            )
    if is_alive(proc):
        send(proc, signals.SIGKILL)
        wait_gone(proc, 5.0)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signals.SIGKILL)
    _signal_pids(kids, signals.SIGCONT)


def signal_named(name: str) -> signals.Signals:
    """A signal by name (`SIGKILL`, `KILL`, `9`); ValueError when unknown."""
    text = name.strip().upper()
    if text.isdigit():
        return signals.Signals(int(text))
    if not text.startswith("SIG"):
        text = "SIG" + text
    try:
        return signals.Signals[text]
    except KeyError:
        raise ValueError(f"unknown signal {name!r}") from None
