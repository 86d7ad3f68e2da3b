"""A `systemctl` for the stand-ins, so that runbooks written for systemd run unchanged.

Understands start, stop, restart, try-restart, reload-or-restart, is-active,
status and kill, for the runbook's unit names (`erigon` for every chain,
`erigon@<chain>` for one, `mev-boost`, `mev-artemis`, `mev-infra`,
`postgresql`). Exit codes follow systemd: 0 success, 1 failure, 3 not active,
5 unit not found.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from harness import stack
from harness.errors import DrillError, UnknownService
from harness.runtime.base import Runtime
from harness.runtime.open import open_runtime

NOT_FOUND = 5
NOT_ACTIVE = 3


def _out(line: str = "") -> None:
    # Plain text, as the real command prints it: scripts parse this output.
    sys.stdout.write(line + "\n")


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")


def main(argv: list[str] | None = None) -> int:
    """Run one systemctl command; return its exit code."""
    parser = argparse.ArgumentParser(prog="systemctl", add_help=True)
    parser.add_argument("command")
    parser.add_argument("units", nargs="*")
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("--no-block", action="store_true")
    parser.add_argument("-s", "--signal", default="SIGTERM")
    for ignored in ("--no-pager", "--full", "-l", "--no-ask-password", "--now"):
        parser.add_argument(ignored, action="store_true")
    args = parser.parse_intermixed_args(argv)

    handler = COMMANDS.get(args.command)
    if handler is None:
        _err(f"Unknown command verb '{args.command}'.")
        return 1
    if not args.units:
        _err(f"Too few arguments: systemctl {args.command} UNIT...")
        return 1
    try:
        runtime = open_runtime()
        return handler(runtime, args)
    except DrillError as exc:
        _err(f"Failed to {args.command}: {exc.line()}")
        return exc.exit_code if exc.exit_code != 2 else 1


def _resolve(units: list[str], verb: str) -> list[tuple[str, tuple[str, ...]]] | None:
    resolved = []
    for unit in units:
        try:
            resolved.append((unit, stack.services_for_unit(unit)))
        except UnknownService:
            name = unit if "." in unit else f"{unit}.service"
            _err(f"Failed to {verb} {name}: Unit {name} not found.")
            return None
    return resolved


def _each(runtime: Runtime, args: argparse.Namespace, verb: str, action: str) -> int:
    resolved = _resolve(args.units, verb)
    if resolved is None:
        return NOT_FOUND
    services = [s for _, group in resolved for s in group]

    def act(service: str) -> None:
        if action == "start":
            runtime.start(service, wait=not args.no_block)
        elif action == "stop":
            runtime.stop(service)
        elif action == "restart":
            runtime.restart(service, wait=not args.no_block)
        else:
            runtime.kill(service, args.signal)

    failed = []
    with ThreadPoolExecutor(max_workers=len(services)) as pool:
        for service, future in [(s, pool.submit(act, s)) for s in services]:
            try:
                future.result()
            except DrillError as exc:
                failed.append(service)
                _err(f"Job for {service} failed: {exc.line()}")
    return 1 if failed else 0


# systemd sees a frozen process as active; one that died unasked as failed.
ACTIVE_STATES = {
    "running": "active",
    "paused": "active",
    "exited": "failed",
    "stopped": "inactive",
}


def _active_state(runtime: Runtime, service: str) -> str:
    return ACTIVE_STATES[runtime.health(service).state]


def _is_active(runtime: Runtime, args: argparse.Namespace) -> int:
    resolved = _resolve(args.units, "query")
    if resolved is None:
        return NOT_FOUND
    all_active = True
    for _, group in resolved:
        states = {_active_state(runtime, s) for s in group}
        state = (
            "active"
            if states == {"active"}
            else ("failed" if "failed" in states else "inactive")
        )
        all_active &= state == "active"
        if not args.quiet:
            _out(state)
    return 0 if all_active else NOT_ACTIVE


def _status(runtime: Runtime, args: argparse.Namespace) -> int:
    resolved = _resolve(args.units, "get status of")
    if resolved is None:
        return 4
    all_active = True
    for unit, group in resolved:
        for service in group:
            health = runtime.health(service)
            state = _active_state(runtime, service)
            all_active &= state == "active"
            unit_name = stack.service(service).unit
            mark = "●" if state == "active" else "○"
            sub = {
                "running": "running",
                "paused": "running, paused",
                "exited": "dead, exited",
                "stopped": "dead",
            }[health.state]
            ready = "ready" if health.ready else (health.detail or "not ready")
            _out(f"{mark} {unit_name}.service - {service} (drill stand-in)")
            _out(f"     Loaded: loaded (drill stand-in; unit requested as {unit})")
            _out(
                f"     Active: {state} ({sub}) as of "
                f"{datetime.now(UTC):%a %Y-%m-%d %H:%M:%S UTC}; {ready}"
            )
            for line in runtime.logs(service, tail_lines=5).splitlines():
                _out(f"  {line}")
            _out()
    return 0 if all_active else NOT_ACTIVE


COMMANDS = {
    "start": lambda r, a: _each(r, a, "start", "start"),
    "stop": lambda r, a: _each(r, a, "stop", "stop"),
    "restart": lambda r, a: _each(r, a, "restart", "restart"),
    "try-restart": lambda r, a: _each(r, a, "restart", "restart"),
    "reload-or-restart": lambda r, a: _each(r, a, "restart", "restart"),
    "kill": lambda r, a: _each(r, a, "kill", "kill"),
    "is-active": _is_active,
    "status": _status,
}


if __name__ == "__main__":
    sys.exit(main())
