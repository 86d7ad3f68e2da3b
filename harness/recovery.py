"""Runs a recovery plan: its steps in order, each bounded by its timeout and the budget.

A step is one of three kinds, told apart by the key it carries:

- `run:` a shell command line (a runbook script), run with `bash -c` in its own
  process group, with the recovery environment, its output kept and redacted;
- `action:` a built-in action on the stack (start, stop or restart a service,
  rotate a secret, restore the database from a backup, reset the fault proxy);
- `wait_for:` the steady state or one probe, as the engine judges it.

A step that fails (non-zero exit, timeout, exception) stops the plan unless it
says `continue_on_error`. When the budget's deadline passes, the running step
is killed (its whole process group) and the plan stops there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from harness import backup as backups
from harness import fixed_sleeps, stack
from harness.context import DrillContext
from harness.errors import DrillError, UnknownService
from harness.paths import PROJECT_ROOT
from harness.result import StepResult
from harness.runtime.base import SecretName
from harness.timeline import Timeline

log = logging.getLogger(__name__)

STEP_KEYS = ("run", "action", "wait_for")
"""The keys that say what kind a step is; a step carries exactly one."""

KILL_GRACE_S = 2.0
"""Between SIGTERM and SIGKILL when a step's process group is stopped."""

OUTPUT_LIMIT_BYTES = 64 * 1024
"""A step's output is kept up to its last this many bytes."""

REDACTED = "***"
"""What a secret value is replaced with in kept output."""

WAIT_GRACE_S = 0.5
"""How long past its bound a built-in action or wait is awaited before giving up."""

BACKUP_DIR_ENV = "DRILL_BACKUP_DIR"
"""The variable naming the directory of the drill's backups."""


# The step specs.


class _StepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(
        default=None, min_length=1, description="A label for reports."
    )
    continue_on_error: bool = Field(
        default=False, description="Go on with the next step if this one fails."
    )


class RunStep(_StepSpec):
    """A shell command line run with `bash -c` (relative paths: the base dir).

    `timeout_s` (default 120): the step's process group is killed after it.
    """

    run: str = Field(min_length=1, description="A command line for bash -c.")
    timeout_s: float = Field(default=120.0, gt=0)


ActionName = Literal[
    "start", "stop", "restart", "rotate_secret", "restore_database", "reset_proxy"
]

_ACTION_FIELDS: dict[str, tuple[str, ...]] = {
    "start": ("service",),
    "stop": ("service",),
    "restart": ("service",),
    "rotate_secret": ("secret",),
    "restore_database": ("backup",),
    "reset_proxy": (),
}
_REQUIRED_FIELDS = {"service", "secret"}


class ActionStep(_StepSpec):
    """A built-in action on the stack, run in a worker thread.

    start/stop/restart take `service` (a service or systemd unit name, e.g.
    `mev-api` or `erigon` for every chain); rotate_secret takes `secret`;
    restore_database takes an optional `backup` path (default: the newest
    backup in $DRILL_BACKUP_DIR); reset_proxy takes nothing. `timeout_s`
    (default 120) bounds how long the plan waits for it.
    """

    action: ActionName
    service: str | None = None
    secret: SecretName | None = None
    backup: Path | None = None
    timeout_s: float = Field(default=120.0, gt=0)

    @field_validator("service")
    @classmethod
    def _known_unit(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                stack.services_for_unit(value)
            except UnknownService as exc:
                raise PydanticCustomError(
                    "unknown_service", "{problem}", {"problem": exc.line()}
                ) from None
        return value

    @model_validator(mode="after")
    def _fields_fit_action(self) -> ActionStep:
        wanted = _ACTION_FIELDS[self.action]
        for field in ("service", "secret", "backup"):
            given = getattr(self, field) is not None
            if field in wanted and field in _REQUIRED_FIELDS and not given:
                raise PydanticCustomError(
                    "missing_for_action",
                    "action {action} needs `{field}`",
                    {"action": self.action, "field": field},
                )
            if field not in wanted and given:
                raise PydanticCustomError(
                    "not_for_action",
                    "action {action} takes no `{field}`; it takes {takes}",
                    {
                        "action": self.action,
                        "field": field,
                        "takes": ", ".join(f"`{f}`" for f in wanted) or "no target",
                    },
                )
        return self

    def target(self) -> str:
        """What the action acts on, for names and reports ('' for none)."""
        value = self.service or self.secret or self.backup
        return "" if value is None else str(value)


class WaitStep(_StepSpec):
    """Wait until the steady state (`steady_state`) or one probe (its name) holds.

    `timeout_s` (default 60): the step fails if it is not reached by then.
    """

    wait_for: str = Field(min_length=1)
    timeout_s: float = Field(default=60.0, gt=0)


def _step_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        found = [key for key in STEP_KEYS if key in value]
        return found[0] if len(found) == 1 else None
    if isinstance(value, RunStep):
        return "run"
    if isinstance(value, ActionStep):
        return "action"
    if isinstance(value, WaitStep):
        return "wait_for"
    return None


def _one_kind(value: Any) -> Any:
    if isinstance(value, dict):
        found = [key for key in STEP_KEYS if key in value]
        if len(found) != 1:
            raise PydanticCustomError(
                "step_kind",
                "a step needs exactly one of the keys run, action, wait_for; "
                "found {found}",
                {"found": " and ".join(found) or "none of them"},
            )
    return value


AnyStepSpec = Annotated[
    Annotated[RunStep, Tag("run")]
    | Annotated[ActionStep, Tag("action")]
    | Annotated[WaitStep, Tag("wait_for")],
    Discriminator(
        _step_kind,
        custom_error_type="step_kind",
        custom_error_message="a step is a mapping with one of run, action, wait_for",
    ),
    BeforeValidator(_one_kind),
]
"""One step of a recovery plan, its kind told by which of its keys is present."""

StepSpec = RunStep | ActionStep | WaitStep


# The runner.

StepCallback = Callable[[StepResult], None]
"""Called with each step's result as soon as the step has finished."""

WaitFor = Callable[[str, float], bool]
"""The engine's wait: (target, until_s on the timeline) -> reached or not."""

T = TypeVar("T")


class RecoveryRunner:
    """Runs recovery plans against one drill's stack.

    `env` is added to this process's environment for `run:` steps (the
    recovery environment: endpoints, libpq variables, shims first on PATH);
    `base_dir` (default: the repository root) is their working directory,
    so relative script paths resolve against it. Events go on `timeline`;
    `on_step` hears of each finished step.
    """

    def __init__(
        self,
        ctx: DrillContext,
        env: dict[str, str],
        base_dir: Path = PROJECT_ROOT,
        timeline: Timeline | None = None,
        on_step: StepCallback | None = None,
    ) -> None:
        self.ctx = ctx
        self.env = dict(env)
        self.base_dir = base_dir
        self.timeline = timeline or Timeline()
        self.on_step = on_step or (lambda result: None)
        self._secrets: set[str] = set()
        self._learn_secrets()

    def run(
        self,
        steps: Sequence[StepSpec],
        *,
        deadline_s: float,
        wait_for: WaitFor,
    ) -> list[StepResult]:
        """Run `steps` in order until one fails or the deadline passes.

        `deadline_s` is on the timeline's clock (`timeline.now()`): a step
        running then is killed (`killed_by_budget`), and no further step
        starts. Returns the results of the steps that ran.
        """
        results: list[StepResult] = []
        for step in steps:
            if self.timeline.now() >= deadline_s:
                log.warning("budget spent: %d recovery step(s) not run",
                            len(steps) - len(results))  # fmt: skip
                self.timeline.mark("plan_stopped", "budget spent before the step")
                break
            result = self._one(step, deadline_s, wait_for)
            results.append(result)
            self.on_step(result)
            if result.killed_by_budget:
                self.timeline.mark("plan_stopped", f"budget ran out in {result.name}")
                break
            if not result.ok and not step.continue_on_error:
                self.timeline.mark("plan_stopped", f"{result.name} failed")
                break
        return results

    def _one(self, step: StepSpec, deadline_s: float, wait_for: WaitFor) -> StepResult:
        name = step.name or default_name(step)
        self.timeline.mark("step_started", name)
        log.info("recovery step %s: started", name)
        if isinstance(step, RunStep):
            result = self._run_command(step, name, deadline_s)
        elif isinstance(step, ActionStep):
            result = self._run_action(step, name, deadline_s)
        else:
            result = self._run_wait(step, name, deadline_s, wait_for)
        self.timeline.mark("step_finished", _summary(result))
        log.info("recovery step %s", _summary(result))
        return result

    # run:

    def _run_command(self, step: RunStep, name: str, deadline_s: float) -> StepResult:
        started_s = self.timeline.now()
        began = time.monotonic()
        timeout_at = began + step.timeout_s
        budget_at = began + (deadline_s - started_s)
        try:
            proc = subprocess.Popen(
                ["bash", "-c", step.run],
                cwd=self.base_dir,
                env={**os.environ, **self.env},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            return self._failed(step, name, started_s, began, f"cannot run bash: {exc}")
        assert proc.stdout is not None
        tail = _Tail(proc.stdout, OUTPUT_LIMIT_BYTES + self._longest_secret())

        stopped_by = ""
        try:
            proc.wait(timeout=max(0.0, min(timeout_at, budget_at) - time.monotonic()))
        except subprocess.TimeoutExpired:
            stopped_by = "budget" if budget_at <= timeout_at else "timeout"
        finally:
            # Also reached on KeyboardInterrupt: nothing of the step outlives it.
            left = _end_group(proc, KILL_GRACE_S)
        duration_s = time.monotonic() - began
        tail.finish(timeout_s=0.5)

        notes = []
        if stopped_by == "timeout":
            notes.append(f"killed: the step's timeout of {step.timeout_s:g} s passed")
        elif stopped_by == "budget":
            notes.append("killed: the drill's budget ran out")
        elif left:
            notes.append(f"stopped {left} background process(es) the step left")
        return StepResult(
            name=name,
            kind="run",
            command=step.run,
            started_s=round(started_s, 4),
            duration_s=round(duration_s, 4),
            exit_code=None if stopped_by else proc.returncode,
            timed_out=stopped_by == "timeout",
            killed_by_budget=stopped_by == "budget",
            output=self._redacted(tail.data(), notes),
            fixed_sleeps_s=fixed_sleeps.in_step(step.run, self.base_dir),
        )

    # action:

    def _run_action(self, step: ActionStep, name: str, deadline_s: float) -> StepResult:
        started_s = self.timeline.now()
        began = time.monotonic()
        bound_s = min(step.timeout_s, deadline_s - started_s)
        by_budget = deadline_s - started_s <= step.timeout_s
        outcome = _bounded(lambda: self._act(step), bound_s + WAIT_GRACE_S)
        duration_s = time.monotonic() - began
        command = f"{step.action} {step.target()}".strip()

        if outcome.pending:
            why = (
                "the drill's budget ran out"
                if by_budget
                else (f"its timeout of {step.timeout_s:g} s passed")
            )
            output = f"not finished when {why}; it goes on in the background"
            exit_code = None
        elif outcome.error is not None:
            output, exit_code = _one_line(outcome.error), 1
        else:
            output, exit_code = str(outcome.value), 0
        return StepResult(
            name=name,
            kind="action",
            command=command,
            started_s=round(started_s, 4),
            duration_s=round(duration_s, 4),
            exit_code=exit_code,
            timed_out=outcome.pending and not by_budget,
            killed_by_budget=outcome.pending and by_budget,
            output=self._redacted(output.encode(), []),
        )

    def _act(self, step: ActionStep) -> str:
        runtime = self.ctx.runtime
        if step.action in ("start", "stop", "restart"):
            assert step.service is not None
            services = stack.services_for_unit(step.service)
            operations: dict[str, Callable[[str], None]] = {
                "start": runtime.start,
                "stop": runtime.stop,
                "restart": runtime.restart,
            }
            operation = operations[step.action]
            _each_in_parallel(operation, services)
            return f"{step.action}: {', '.join(services)}"
        if step.action == "rotate_secret":
            assert step.secret is not None
            runtime.rotate_secret(step.secret)
            return f"rotated {step.secret}"
        if step.action == "reset_proxy":
            self.ctx.proxy.reset()
            return "fault proxy reset: every proxy enabled, every toxic removed"
        path = self._backup_path(step.backup)
        backups.restore_database(self.ctx, path)
        return f"restored mev_db from {path}"

    def _backup_path(self, given: Path | None) -> Path:
        if given is not None:
            return given if given.is_absolute() else self.base_dir / given
        directory = Path(self.env.get(BACKUP_DIR_ENV) or self.ctx.work_dir / "backups")
        newest = backups.newest_backup(directory) if directory.is_dir() else None
        if newest is None:
            raise backups.RestoreFailed(
                f"no backup (mev_db_*.sql) in {directory}",
                hint="have the scenario take one at baseline, or give `backup:`",
            )
        return newest

    # wait_for:

    def _run_wait(
        self, step: WaitStep, name: str, deadline_s: float, wait_for: WaitFor
    ) -> StepResult:
        started_s = self.timeline.now()
        began = time.monotonic()
        until_s = min(started_s + step.timeout_s, deadline_s)
        by_budget = deadline_s <= started_s + step.timeout_s
        outcome = _bounded(
            lambda: wait_for(step.wait_for, until_s),
            until_s - started_s + WAIT_GRACE_S,
        )
        duration_s = time.monotonic() - began

        ran_out = False
        if outcome.error is not None:
            output, exit_code = _one_line(outcome.error), 1
        elif outcome.value:
            output, exit_code = f"{step.wait_for} reached after {duration_s:.2f} s", 0
        elif outcome.pending or self.timeline.now() >= until_s - 0.05:
            ran_out, exit_code = True, None
            bound = "the drill's budget" if by_budget else f"{step.timeout_s:g} s"
            output = f"{step.wait_for} not reached within {bound}"
        else:
            output, exit_code = f"{step.wait_for} cannot be reached", 1
        return StepResult(
            name=name,
            kind="wait",
            command=f"wait_for {step.wait_for}",
            started_s=round(started_s, 4),
            duration_s=round(duration_s, 4),
            exit_code=exit_code,
            timed_out=ran_out and not by_budget,
            killed_by_budget=ran_out and by_budget,
            output=output,
        )

    # Output and secrets.

    def _learn_secrets(self) -> None:
        try:
            current = self.ctx.secrets().values()
        except DrillError as exc:
            log.debug("secrets not readable for redaction: %s", exc.line())
            return
        self._secrets.update(value for value in current if value)

    def _longest_secret(self) -> int:
        return max((len(s.encode()) for s in self._secrets), default=0)

    def _redacted(self, raw: bytes, notes: list[str]) -> str:
        """Every secret ever seen (a step may rotate them) replaced; the last 64 KiB."""
        self._learn_secrets()
        for secret in sorted(self._secrets, key=len, reverse=True):
            raw = raw.replace(secret.encode(), REDACTED.encode())
        if len(raw) > OUTPUT_LIMIT_BYTES:
            dropped = len(raw) - OUTPUT_LIMIT_BYTES
            raw = raw[dropped:]
            # Start on a whole UTF-8 character.
            while raw and raw[0] & 0xC0 == 0x80:
                raw = raw[1:]
        text = raw.decode(errors="replace")
        for note in notes:
            text += (
                "" if not text or text.endswith("\n") else "\n"
            ) + f"[drill] {note}\n"
        return text

    def _failed(
        self, step: RunStep, name: str, started_s: float, began: float, why: str
    ) -> StepResult:
        return StepResult(
            name=name,
            kind="run",
            command=step.run,
            started_s=round(started_s, 4),
            duration_s=round(time.monotonic() - began, 4),
            exit_code=127,
            output=why,
        )


def default_name(step: StepSpec) -> str:
    """A step's label when it has no `name`: the command's first words, the action."""
    if isinstance(step, RunStep):
        return " ".join(step.run.split()[:3])[:60]
    if isinstance(step, ActionStep):
        return f"{step.action} {step.target()}".strip()
    return f"wait_for {step.wait_for}"


def _summary(result: StepResult) -> str:
    if result.killed_by_budget:
        how = "killed by the budget"
    elif result.timed_out:
        how = "timed out"
    else:
        how = f"exit {result.exit_code}"
    return f"{result.name}: {how} after {result.duration_s:.2f} s"


def _one_line(exc: BaseException) -> str:
    text = exc.line() if isinstance(exc, DrillError) else str(exc)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


# Process groups.


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group `pgid`, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _end_group(proc: subprocess.Popen[bytes], grace_s: float) -> int:
    """Stop what is left of the step's process group; return how many were left.

    SIGTERM to the group, then SIGKILL to whatever is still there after
    `grace_s`. The step's own process is reaped.
    """
    pgid = proc.pid  # start_new_session: the step leads its own group
    proc.poll()
    left = len(_group_members(pgid))
    if left:
        _signal_group(pgid, signal.SIGTERM)
        ends = time.monotonic() + grace_s
        while time.monotonic() < ends:
            proc.poll()
            if not _group_members(pgid):
                break
            time.sleep(0.02)
        else:
            _signal_group(pgid, signal.SIGKILL)
    proc.wait()
    return left


class _Tail:
    """Reads a pipe in a thread, keeping only its last `limit_bytes` bytes."""

    def __init__(self, stream: IO[bytes], limit_bytes: int) -> None:
        self._fd = stream.fileno()
        self._stream = stream
        self._limit = limit_bytes
        self._buffer = bytearray()
        self._dropped = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self._buffer += chunk
                excess = len(self._buffer) - self._limit
                if excess > 0:
                    del self._buffer[:excess]
                    self._dropped += excess

    def finish(self, *, timeout_s: float) -> None:
        """Wait for end of file; a process that escaped the group may hold it."""
        self._thread.join(timeout_s)
        if not self._thread.is_alive():
            self._stream.close()

    def data(self) -> bytes:
        """The bytes kept so far."""
        with self._lock:
            return bytes(self._buffer)


# Worker threads for built-in actions and waits.


class _Outcome:
    def __init__(self) -> None:
        self.pending = True
        self.value: object = None
        self.error: BaseException | None = None


def _bounded(work: Callable[[], T], wait_s: float) -> _Outcome:
    """Run `work` in a daemon thread; wait at most `wait_s` seconds for it."""
    outcome = _Outcome()

    def target() -> None:
        try:
            outcome.value = work()
        except Exception as exc:
            outcome.error = exc
        outcome.pending = False

    thread = threading.Thread(target=target, daemon=True, name="recovery-step")
    thread.start()
    thread.join(max(0.0, wait_s))
    return outcome


def _each_in_parallel(work: Callable[[str], None], items: Sequence[str]) -> None:
    """Call `work` on every item at once; raise the first error, if any."""
    errors: list[BaseException] = []

    def target(item: str) -> None:
        try:
            work(item)
        except Exception as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=target, args=(item,), daemon=True) for item in items
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
