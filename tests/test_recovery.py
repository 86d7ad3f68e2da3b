"""Tests of the recovery plan runner: step specs, run steps, actions, waits, budget."""

from __future__ import annotations

import sys
import textwrap
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter, ValidationError

from harness.context import DrillContext
from harness.recovery import (
    KILL_GRACE_S,
    OUTPUT_LIMIT_BYTES,
    ActionStep,
    AnyStepSpec,
    RecoveryRunner,
    RunStep,
    StepSpec,
    WaitStep,
)
from harness.result import StepResult
from harness.runtime.local import LocalRuntime
from harness.runtime.process import process_state
from harness.timeline import Timeline

pytestmark = pytest.mark.timeout(60)

STEPS: TypeAdapter[list[AnyStepSpec]] = TypeAdapter(list[AnyStepSpec])


def runner(
    ctx: DrillContext, base_dir: Path | None = None, **kwargs: Any
) -> RecoveryRunner:
    return RecoveryRunner(
        ctx,
        ctx.runtime.recovery_env(),
        base_dir=base_dir or ctx.work_dir,
        timeline=Timeline(),
        **kwargs,
    )


def never_waits(target: str, until_s: float) -> bool:
    raise AssertionError(f"no wait step expected (asked for {target})")


def run_plan(
    run: RecoveryRunner, steps: Sequence[StepSpec], budget_s: float = 60.0
) -> list[StepResult]:
    return run.run(
        steps, deadline_s=run.timeline.now() + budget_s, wait_for=never_waits
    )


def gone(pid: int) -> bool:
    return process_state(pid) in (None, "Z", "X")


def wait_gone(pid: int, timeout_s: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    return gone(pid)


# Step specs.


def test_steps_parse_by_key_when_each_carries_one_kind() -> None:
    steps = STEPS.validate_python(
        [
            {"run": "fixtures/runbooks/database_failure.sh", "timeout_s": 90},
            {"action": "restart", "service": "mev-infra"},
            {"action": "rotate_secret", "secret": "db_password"},
            {"action": "restore_database"},
            {"wait_for": "steady_state"},
        ]
    )
    assert [type(s) for s in steps] == [
        RunStep,
        ActionStep,
        ActionStep,
        ActionStep,
        WaitStep,
    ]
    assert steps[0].timeout_s == 90
    assert steps[1].timeout_s == 120
    assert steps[4].timeout_s == 60


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({}, "exactly one of the keys run, action, wait_for; found none"),
        ({"run": "x", "action": "stop"}, "found run and action"),
        ({"run": "x", "wait_for": "steady_state"}, "found run and wait_for"),
        ("restart mev-api", "a step is a mapping"),
        ({"action": "restart"}, "action restart needs `service`"),
        ({"action": "restart", "service": "nginx"}, "unknown unit 'nginx'"),
        ({"action": "rotate_secret"}, "action rotate_secret needs `secret`"),
        ({"action": "rotate_secret", "secret": "root_password"}, "api_key"),
        (
            {"action": "rotate_secret", "secret": "api_key", "service": "mev-api"},
            "takes no `service`",
        ),
        ({"action": "reset_proxy", "backup": "x.sql"}, "takes no `backup`"),
        ({"action": "reboot", "service": "mev-api"}, "'start'"),
        ({"run": "true", "retries": 3}, "Extra inputs are not permitted"),
        ({"run": ""}, "at least 1 character"),
        ({"wait_for": "steady_state", "timeout_s": 0}, "greater than 0"),
    ],
)
def test_step_spec_is_rejected_with_reason_when_malformed(
    entry: object, expected: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        STEPS.validate_python([entry])
    assert expected in str(caught.value)


def test_step_spec_error_names_the_step_when_one_of_many_is_malformed() -> None:
    with pytest.raises(ValidationError) as caught:
        STEPS.validate_python([{"run": "true"}, {"action": "stop"}])
    (error,) = caught.value.errors()
    assert error["loc"][0] == 1


# run: steps.


def test_run_step_keeps_output_and_exit_code_when_command_fails(
    ctx: DrillContext,
) -> None:
    results = run_plan(
        runner(ctx),
        [
            RunStep(run="echo to-stdout; echo to-stderr >&2; exit 3"),
            RunStep(run="echo never"),
        ],
    )

    assert len(results) == 1, "a failed step stops the plan"
    (result,) = results
    assert result.exit_code == 3
    assert not result.ok
    assert result.kind == "run"
    assert "to-stdout" in result.output
    assert "to-stderr" in result.output
    assert result.name == "echo to-stdout; echo"
    assert result.command.startswith("echo to-stdout")


def test_run_step_sees_recovery_env_and_no_stdin_when_run(ctx: DrillContext) -> None:
    (result,) = run_plan(
        runner(ctx),
        [
            RunStep(
                run='echo "api=$MEV_API_URL"; command -v systemctl; '
                "cat; echo stdin-closed",
                name="environment",
            )
        ],
    )

    assert result.ok, result.output
    assert result.name == "environment"
    assert f"api={ctx.endpoints.mev_api}" in result.output
    assert ctx.runtime.path_dirs()[0] in result.output
    assert "stdin-closed" in result.output


def test_run_step_resolves_relative_paths_against_base_dir(
    ctx: DrillContext, tmp_path: Path
) -> None:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    script = scripts / "hello.sh"
    script.write_text('#!/usr/bin/env bash\necho "hello from $(pwd)"\n')
    script.chmod(0o755)

    (result,) = run_plan(
        runner(ctx, base_dir=tmp_path), [RunStep(run="scripts/hello.sh")]
    )

    assert result.exit_code == 0, result.output
    assert f"hello from {tmp_path}" in result.output


def test_run_step_records_the_fixed_sleeps_of_its_script_when_it_has_some(
    ctx: DrillContext, tmp_path: Path
) -> None:
    script = tmp_path / "restart.sh"
    script.write_text(
        "#!/usr/bin/env bash\n"
        "# a comment about sleep 99\n"
        "sleep 0.2\n"
        "until true; do sleep 1; done\n"
    )
    script.chmod(0o755)

    (result,) = run_plan(
        runner(ctx, base_dir=tmp_path), [RunStep(run="./restart.sh && sleep 0.1")]
    )

    assert result.exit_code == 0, result.output
    assert result.fixed_sleeps_s == [0.1, 0.2]


def test_run_step_redacts_every_secret_when_output_prints_them(
    ctx: DrillContext,
) -> None:
    secrets = ctx.secrets()

    (result,) = run_plan(
        runner(ctx),
        [RunStep(run='echo "key=$MEV_API_KEY"; echo "pw=$PGPASSWORD" >&2')],
    )

    assert "key=***" in result.output
    assert "pw=***" in result.output
    assert secrets.api_key not in result.output
    assert secrets.db_password not in result.output


def test_run_step_redacts_new_secret_when_step_rotates_it(ctx: DrillContext) -> None:
    old = ctx.secrets().api_key
    rotate = textwrap.dedent(
        """\
        from harness.runtime.open import open_runtime
        runtime = open_runtime()
        runtime.rotate_secret("api_key")
        print("new=" + runtime.secrets().api_key)
        """
    )
    (result,) = run_plan(
        runner(ctx),
        [RunStep(run=f"echo \"old=$MEV_API_KEY\"; {sys.executable} -c '{rotate}'")],
    )

    new = ctx.secrets().api_key
    assert result.ok, result.output
    assert new != old
    assert "old=***" in result.output
    assert "new=***" in result.output
    assert new not in result.output
    assert old not in result.output


def test_run_step_keeps_the_last_64_kib_when_output_is_larger(
    ctx: DrillContext,
) -> None:
    (result,) = run_plan(
        runner(ctx),
        [RunStep(run="head -c 300000 /dev/zero | tr '\\0' x; echo; echo THE-END")],
    )

    assert result.ok
    assert result.output.endswith("THE-END\n")
    assert len(result.output.encode()) <= OUTPUT_LIMIT_BYTES
    assert len(result.output.encode()) > OUTPUT_LIMIT_BYTES - 100


def test_run_step_timeout_kills_process_group_when_child_outlives_shell(
    ctx: DrillContext, tmp_path: Path
) -> None:
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()

    results = run_plan(
        runner(ctx),
        [
            RunStep(run=f"sleep 100 & echo $! > {pid_file}; wait", timeout_s=0.5),
            RunStep(run="echo never"),
        ],
    )

    elapsed_s = time.monotonic() - started
    assert len(results) == 1, "a timed-out step stops the plan"
    (result,) = results
    assert result.timed_out
    assert not result.killed_by_budget
    assert result.exit_code is None
    assert "timeout of 0.5 s" in result.output
    child = int(pid_file.read_text())
    assert wait_gone(child), f"sleep 100 (pid {child}) outlived its step"
    assert elapsed_s < 0.5 + 1.0, f"took {elapsed_s:.2f} s for a 0.5 s timeout"


def test_run_step_is_killed_after_grace_when_it_ignores_sigterm(
    ctx: DrillContext, tmp_path: Path
) -> None:
    pid_file = tmp_path / "child.pid"

    (result,) = run_plan(
        runner(ctx),
        [
            RunStep(
                run=f"trap '' TERM; sleep 100 & echo $! > {pid_file}; wait",
                timeout_s=0.3,
            )
        ],
    )

    assert result.timed_out
    child = int(pid_file.read_text())
    assert wait_gone(child), f"sleep 100 (pid {child}) survived SIGKILL"
    expected_s = 0.3 + KILL_GRACE_S
    assert expected_s - 0.1 < result.duration_s < expected_s + 0.5, (
        f"took {result.duration_s:.2f} s, expected about {expected_s:.2f} s"
    )


def test_run_step_leaves_no_background_process_when_it_exits(
    ctx: DrillContext, tmp_path: Path
) -> None:
    pid_file = tmp_path / "child.pid"

    (result,) = run_plan(
        runner(ctx), [RunStep(run=f"sleep 100 & echo $! > {pid_file}; exit 0")]
    )

    assert result.ok
    child = int(pid_file.read_text())
    assert wait_gone(child), f"background sleep (pid {child}) outlived its step"
    assert "stopped 1 background process(es)" in result.output


def test_plan_stops_within_grace_when_budget_runs_out_in_a_hanging_step(
    ctx: DrillContext, tmp_path: Path
) -> None:
    pid_file = tmp_path / "child.pid"
    run = runner(ctx)
    started = time.monotonic()

    results = run.run(
        [
            RunStep(run="echo first", name="first"),
            RunStep(
                run=f"trap '' TERM; sleep 100 & echo $! > {pid_file}; wait",
                name="hangs",
            ),
            RunStep(run="echo never", name="never"),
        ],
        deadline_s=run.timeline.now() + 1.0,
        wait_for=never_waits,
    )

    elapsed_s = time.monotonic() - started
    assert [r.name for r in results] == ["first", "hangs"]
    hung = results[1]
    assert hung.killed_by_budget
    assert not hung.timed_out
    assert hung.exit_code is None
    assert "budget ran out" in hung.output
    assert elapsed_s < 1.0 + 2.5, f"the plan took {elapsed_s:.2f} s past a 1 s budget"
    assert wait_gone(int(pid_file.read_text()))
    assert run.timeline.first("plan_stopped") is not None


def test_plan_runs_no_step_when_budget_is_already_spent(ctx: DrillContext) -> None:
    run = runner(ctx)

    results = run.run(
        [RunStep(run="echo never")],
        deadline_s=run.timeline.now() - 0.1,
        wait_for=never_waits,
    )

    assert results == []


def test_plan_goes_on_when_failed_step_has_continue_on_error(
    ctx: DrillContext,
) -> None:
    seen: list[str] = []

    results = run_plan(
        runner(ctx, on_step=lambda r: seen.append(r.name)),
        [
            RunStep(run="exit 7", name="may fail", continue_on_error=True),
            RunStep(run="echo after", name="after"),
        ],
    )

    assert [r.exit_code for r in results] == [7, 0]
    assert seen == ["may fail", "after"]


# action: steps against the shared stack.


def test_action_steps_stop_and_start_a_service_when_given_its_unit_name(
    ctx: DrillContext, stack: LocalRuntime
) -> None:
    states: list[str] = []
    try:
        results = run_plan(
            runner(
                ctx,
                on_step=lambda r: states.append(stack.health("mev-boost").state),
            ),
            [
                ActionStep(action="stop", service="mev-boost"),
                ActionStep(action="start", service="mev-boost"),
            ],
        )
    finally:
        stack.start("mev-boost")

    assert [r.exit_code for r in results] == [0, 0]
    assert states == ["stopped", "running"]
    assert [r.command for r in results] == ["stop mev-boost", "start mev-boost"]
    assert results[0].kind == "action"
    assert results[0].name == "stop mev-boost"
    assert stack.health("mev-boost").ready


def test_action_restart_acts_on_every_chain_when_unit_is_erigon(
    ctx: DrillContext, stack: LocalRuntime
) -> None:
    (result,) = run_plan(runner(ctx), [ActionStep(action="restart", service="erigon")])

    assert result.ok, result.output
    for chain in ("ethereum", "arbitrum", "optimism", "base", "polygon"):
        assert f"erigon-{chain}" in result.output
        assert stack.health(f"erigon-{chain}").ready


def test_action_rotate_secret_replaces_key_without_showing_it(
    ctx: DrillContext,
) -> None:
    old = ctx.secrets().api_key

    (result,) = run_plan(
        runner(ctx), [ActionStep(action="rotate_secret", secret="api_key")]
    )

    new = ctx.secrets().api_key
    assert result.ok, result.output
    assert new != old
    assert new not in result.output
    answer = httpx.get(
        f"{ctx.endpoints.mev_api}/api/v1/audit", headers={"X-API-Key": old}
    )
    assert answer.status_code == 401


def test_action_reset_proxy_enables_a_disabled_proxy(ctx: DrillContext) -> None:
    ctx.proxy.update("mev-boost", enabled=False)
    try:
        (result,) = run_plan(runner(ctx), [ActionStep(action="reset_proxy")])
    finally:
        ctx.proxy.update("mev-boost", enabled=True)

    assert result.ok, result.output
    assert httpx.get(f"{ctx.endpoints.mev_boost}/eth/v1/builder/status").is_success


def test_action_fails_with_one_line_when_backup_is_missing(
    ctx: DrillContext, tmp_path: Path
) -> None:
    missing = tmp_path / "mev_db_19700101.sql"

    (result,) = run_plan(
        runner(ctx), [ActionStep(action="restore_database", backup=missing)]
    )

    assert result.exit_code == 1
    assert result.output.startswith("RestoreFailed: no backup file at ")
    assert "\n" not in result.output


def test_action_fails_when_backup_dir_holds_no_backup(
    ctx: DrillContext, tmp_path: Path
) -> None:
    run = runner(ctx)
    run.env["DRILL_BACKUP_DIR"] = str(tmp_path)

    (result,) = run_plan(run, [ActionStep(action="restore_database")])

    assert result.exit_code == 1
    assert f"no backup (mev_db_*.sql) in {tmp_path}" in result.output


def test_action_step_times_out_when_action_outlasts_its_timeout(
    ctx: DrillContext, stack: LocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = stack.store.load()
    assert before is not None
    old_pid = before.services["mev-artemis"].pid
    # A real restart, held back 1 s: a quick machine restarts mev-artemis
    # within the 0.5 s grace, and the step would (rightly) not time out.
    restart = stack.restart

    def slow_restart(service: str, *, wait: bool = True) -> None:
        time.sleep(1.0)
        restart(service, wait=wait)

    monkeypatch.setattr(stack, "restart", slow_restart)
    try:
        (result,) = run_plan(
            runner(ctx),
            [ActionStep(action="restart", service="mev-artemis", timeout_s=0.01)],
        )
    finally:
        # The restart goes on in the background: let it finish.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = stack.store.load()
            if state is not None and state.services["mev-artemis"].pid not in (
                None,
                old_pid,
            ):
                break
            time.sleep(0.05)
        stack.wait_ready("mev-artemis")

    assert result.timed_out
    assert result.exit_code is None
    assert result.duration_s < 1.0
    assert "goes on in the background" in result.output


# wait_for: steps with a fake wait.


def test_wait_step_passes_target_and_bound_when_state_is_reached(
    ctx: DrillContext,
) -> None:
    calls: list[tuple[str, float]] = []
    run = runner(ctx)

    def reached(target: str, until_s: float) -> bool:
        calls.append((target, until_s))
        return True

    deadline_s = run.timeline.now() + 100
    (result,) = run.run(
        [WaitStep(wait_for="steady_state", timeout_s=5)],
        deadline_s=deadline_s,
        wait_for=reached,
    )

    assert result.ok
    assert result.kind == "wait"
    assert result.command == "wait_for steady_state"
    ((target, until_s),) = calls
    assert target == "steady_state"
    assert result.started_s + 5 == pytest.approx(until_s, abs=0.01)


def test_wait_step_times_out_when_state_is_never_reached(ctx: DrillContext) -> None:
    run = runner(ctx)

    def never(target: str, until_s: float) -> bool:
        while run.timeline.now() < until_s:
            time.sleep(0.01)
        return False

    results = run.run(
        [WaitStep(wait_for="mev_api_health", timeout_s=0.3), RunStep(run="true")],
        deadline_s=run.timeline.now() + 60,
        wait_for=never,
    )

    (result,) = results
    assert result.timed_out
    assert result.exit_code is None
    assert "mev_api_health not reached within 0.3 s" in result.output


def test_wait_step_is_abandoned_at_budget_when_wait_hangs(ctx: DrillContext) -> None:
    run = runner(ctx)
    release = threading.Event()

    def hangs(target: str, until_s: float) -> bool:
        release.wait(30)
        return True

    started = time.monotonic()
    try:
        (result,) = run.run(
            [WaitStep(wait_for="steady_state"), RunStep(run="true")],
            deadline_s=run.timeline.now() + 0.5,
            wait_for=hangs,
        )
    finally:
        release.set()

    elapsed_s = time.monotonic() - started
    assert result.killed_by_budget
    assert elapsed_s < 0.5 + 1.0, f"waited {elapsed_s:.2f} s past a 0.5 s budget"


def test_wait_step_fails_with_message_when_wait_raises(ctx: DrillContext) -> None:
    def broken(target: str, until_s: float) -> bool:
        raise KeyError(target)

    (result,) = runner(ctx).run(
        [WaitStep(wait_for="no_such_probe")], deadline_s=60, wait_for=broken
    )

    assert result.exit_code == 1
    assert result.output == "KeyError: 'no_such_probe'"
