"""The `drill` command: parse, call the library, render. Nothing else lives here.

Exit codes: 0 success; 1 failure (a drill failed, or `status` found a service
unhealthy); 2 usage error; 3 invalid drill; 4 stack error (port taken,
Postgres binaries missing, stack already up or not up, a service not ready).
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from typer._click.exceptions import ClickException  # the click typer bundles

from harness.cli_options import PortsWhenUp, Quiet, Reports, require_positive
from harness.console import console, error_console
from harness.errors import EXIT_CODES, DrillError, UsageError
from harness.runtime.base import Runtime
from harness.runtime.plan import PlanOptions, ports_mode
from harness.runtime.state import StateStore

app = typer.Typer(
    name="drill",
    help="Chaos and disaster-recovery drills for MEV infrastructure.",
    epilog="Exit codes: " + "; ".join(f"{k} {v}" for k, v in EXIT_CODES.items()),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def up(
    ports: Annotated[
        str,
        typer.Option(
            help="'runbook' for the runbook's ports (8545, 8082, 5432, ...) or "
            "'auto' for free ones."
        ),
    ] = "runbook",
    foreground: Annotated[
        bool,
        typer.Option(
            "--foreground", help="Stay attached; Ctrl-C brings the stack down."
        ),
    ] = False,
    block_time_ms: Annotated[
        int, typer.Option(help="Milliseconds between blocks on every chain.", min=50)
    ] = 1000,
    pg_bin: Annotated[
        str | None,
        typer.Option(
            envvar="DRILL_PG_BIN",
            help="Directory of PostgreSQL binaries (default: the pgserver wheel's).",
        ),
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Bring the whole stand-in stack up and return once every service is ready."""
    from harness.runtime.local import LocalRuntime

    mode = ports_mode(ports)
    out = console()
    started = time.monotonic()

    def progress(service: str, event: str) -> None:
        if quiet or event == "starting":
            return
        mark = "[green]✓[/]" if event == "ready" else "[red]✗[/]"
        out.print(
            f"  {mark} {service} {event} [dim]({time.monotonic() - started:.2f} s)[/]"
        )

    runtime = LocalRuntime(
        options=PlanOptions(
            ports=mode,
            block_time_ms=block_time_ms,
            pg_bin=pg_bin,
        ),
        on_progress=progress,
    )
    if not quiet:
        out.print(f"Bringing the stack up ({ports} ports)...")
    with contextlib.nullcontext() if quiet else out.status("waiting for services"):
        runtime.up()
    if not quiet:
        out.print(f"Stack ready in {time.monotonic() - started:.2f} s.")
        _render_status(runtime, with_health=False)
    if foreground:
        _stay_attached(runtime, quiet)


def _stay_attached(runtime: Runtime, quiet: bool) -> None:
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    if not quiet:
        console().print("Attached; press Ctrl-C to bring the stack down.")
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if not quiet:
            console().print("Bringing the stack down...")
        runtime.down()


@app.command()
def status(
    as_json: Annotated[
        bool, typer.Option("--json", help="Machine-readable output.")
    ] = False,
) -> None:
    """Show each service, its URL and whether it is healthy (exit 1 if any is not)."""
    from harness.runtime.open import open_runtime

    runtime = open_runtime()
    rows = _status_rows(runtime)
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    else:
        _render_rows(rows, with_health=True)
    if not all(row["healthy"] for row in rows):
        raise typer.Exit(1)


def _status_rows(runtime: Runtime) -> list[dict[str, object]]:
    from concurrent.futures import ThreadPoolExecutor

    from harness.stack import SERVICES

    urls = runtime.endpoints().service_urls()
    with ThreadPoolExecutor(max_workers=len(SERVICES)) as pool:
        healths = list(pool.map(runtime.health, [s.name for s in SERVICES]))
    return [
        {
            "name": s.name,
            "unit": s.unit,
            "url": urls.get(s.name),
            "healthy": h.ready,
            "state": h.state,
            "detail": h.detail,
        }
        for s, h in zip(SERVICES, healths, strict=True)
    ]


def _render_status(runtime: Runtime, *, with_health: bool) -> None:
    from harness.stack import SERVICES

    if with_health:
        _render_rows(_status_rows(runtime), with_health=True)
        return
    urls = runtime.endpoints().service_urls()
    _render_rows(
        [{"name": s.name, "unit": s.unit, "url": urls.get(s.name)} for s in SERVICES],
        with_health=False,
    )
    console().print(f"Fault proxy API: {runtime.endpoints().proxy_api}")
    console().print('Run a runbook by hand: eval "$(drill env)"')


def _render_rows(rows: list[dict[str, object]], *, with_health: bool) -> None:
    table = Table(box=None, pad_edge=False)
    table.add_column("service")
    table.add_column("unit")
    table.add_column("url")
    if with_health:
        table.add_column("healthy")
    for row in rows:
        cells = [str(row["name"]), str(row["unit"]), str(row["url"] or "-")]
        if with_health:
            ok = bool(row["healthy"])
            cells.append("[green]yes[/]" if ok else f"[red]no[/] {row['detail']}")
        table.add_row(*cells)
    console().print(table)


@app.command()
def down(
    force: Annotated[
        bool,
        typer.Option("--force", help="Kill at once whatever a killed run left behind."),
    ] = False,
) -> None:
    """Stop every service and the fault proxy, and remove the run's files."""
    from harness.runtime.local import LocalRuntime

    runtime = LocalRuntime(StateStore())
    if force:
        killed = runtime.force_down()
        console().print(f"Forced down; killed {len(killed)} stray process(es).")
        return
    if runtime.store.load() is None:
        console().print("No stack is up; nothing to do.")
        return
    runtime.down()
    console().print("Stack down.")


@app.command()
def env() -> None:
    """Print the recovery environment as shell exports: eval "$(drill env)"."""
    from harness.runtime.environment import as_exports
    from harness.runtime.open import open_runtime

    sys.stdout.write(as_exports(open_runtime().recovery_env()))


@app.command("list")
def list_scenarios() -> None:
    """List the scenarios: name, expected severity, faults, description."""
    from harness import scenario as scenarios

    table = Table(box=None, pad_edge=False)
    table.add_column("scenario", no_wrap=True)
    table.add_column("severity")
    table.add_column("faults")
    table.add_column("description", no_wrap=True, overflow="ellipsis")
    for name, path in scenarios.available().items():
        try:
            loaded = scenarios.load(str(path))
        except DrillError as exc:
            table.add_row(name, "-", "-", f"[red]invalid:[/] {exc.message}")
            continue
        faults = ", ".join(f.type for f in loaded.faults)
        quarterly = " [dim](quarterly)[/]" if name in scenarios.QUARTERLY else ""
        table.add_row(
            name + quarterly, loaded.severity.value, faults, loaded.description
        )
    console().print(table)


@app.command()
def schema() -> None:
    """Print the JSON Schema of a scenario file."""
    from harness.scenario import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Scenario files to check.")],
) -> None:
    """Check scenario files; report every problem with its file and field path."""
    from harness.scenario import validate as check

    problems = [p for path in files for p in check(path)]
    for problem in problems:
        error_console().print(problem.line(), markup=False, soft_wrap=True)
    if problems:
        raise typer.Exit(2)
    console().print(f"{len(files)} scenario file(s) valid.")


@app.command()
def run(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Scenario names (see `drill list`) or scenario files."),
    ] = None,
    run_all: Annotated[bool, typer.Option("--all", help="Run every scenario.")] = False,
    pick_random: Annotated[
        bool,
        typer.Option("--random", help="Run one quarterly scenario picked at random."),
    ] = False,
    seed: Annotated[
        int | None,
        typer.Option(help="Seed for --random and for the drill's own choices."),
    ] = None,
    reports: Reports = Path("reports"),
    budget_s: Annotated[
        float | None,
        typer.Option(help="Recovery budget in seconds (default: the scenario's, 300)."),
    ] = None,
    ports: PortsWhenUp = "runbook",
    quiet: Quiet = False,
) -> None:
    """Run drills. Exit 0 passed, 1 failed, 2 usage error, 3 invalid."""
    import random

    from harness.drills import exit_code, run_many
    from harness.live import LiveView

    mode = ports_mode(ports)
    require_positive("--budget-s", budget_s)
    # One seed for the choice and the drills, recorded so any run can replay.
    seed = random.randrange(2**31) if seed is None else seed
    chosen = _chosen_scenarios(names or [], run_all, pick_random, seed)
    view = LiveView(console(), quiet=quiet)
    results = run_many(
        chosen,
        quarterly=pick_random,
        reports_dir=reports,
        seed=seed,
        budget_s=budget_s,
        ports=mode,
        view=view,
    )
    view.summary(results)
    raise typer.Exit(exit_code(results))


def _chosen_scenarios(
    names: list[str], run_all: bool, pick_random: bool, seed: int
) -> list[str]:
    import random

    from harness import scenario as scenarios

    modes = sum([bool(names), run_all, pick_random])
    if modes != 1:
        raise UsageError(
            "name scenarios, or give --all, or --random (exactly one)",
            hint="see `drill run --help`",
        )
    if run_all:
        found = list(scenarios.available())
        if not found:
            raise UsageError(f"no scenario files in {scenarios.scenarios_dir()}")
        return found
    if pick_random:
        return [random.Random(seed).choice(scenarios.QUARTERLY)]
    return names


secrets_app = typer.Typer(help="Manage the stack's generated credentials.")
app.add_typer(secrets_app, name="secrets")


@secrets_app.command("rotate")
def secrets_rotate(
    name: Annotated[str, typer.Argument(help="api_key or db_password.")],
) -> None:
    """Replace a credential everywhere; re-read it with `eval "$(drill env)"`."""
    from harness.runtime.open import open_runtime

    if name not in ("api_key", "db_password"):
        raise UsageError(
            f"unknown secret {name!r}", hint="rotate api_key or db_password"
        )
    open_runtime().rotate_secret("api_key" if name == "api_key" else "db_password")
    console().print(f"rotated {name}")


@app.command()
def logs(
    service: Annotated[str, typer.Argument(help="A service name, or fault-proxy.")],
    tail: Annotated[int | None, typer.Option(help="Only the last N lines.")] = None,
) -> None:
    """Print a service's log."""
    from harness.runtime.open import open_runtime

    sys.stdout.write(open_runtime().logs(service, tail_lines=tail))


def main(argv: list[str] | None = None) -> int:
    """Entry point: run a command; every user error is one line and an exit code."""
    try:
        # Without standalone mode, typer returns an Exit's code (130 on Ctrl-C,
        # after the drill's clean-up ran) and raises usage errors to us.
        code = app(args=argv, standalone_mode=False)
    except DrillError as exc:
        _error(exc.line())
        return exc.exit_code
    except ClickException as exc:
        _error(f"{exc.format_message()}; see `drill --help`")
        return 2
    except (typer.Abort, KeyboardInterrupt):
        code = 130
    if code == 130:
        error_console().print("drill: interrupted; clean-up ran")
    return code if isinstance(code, int) else 0


def _error(line: str) -> None:
    error_console().print(f"drill: error: {line}", markup=False, soft_wrap=True)


def _register_report_commands() -> None:
    from harness.cli_campaign import campaign_app
    from harness.cli_history import history_app, report_monthly
    from harness.cli_replay import replay_app
    from harness.cli_reports import report_app

    report_app.command("monthly")(report_monthly)
    app.add_typer(report_app, name="report")
    # `drill report monthly` is the monthly review; the rest sit at the top.
    app.registered_commands += [
        c for c in history_app.registered_commands if c.callback is not report_monthly
    ]
    app.registered_commands += replay_app.registered_commands
    app.registered_commands += campaign_app.registered_commands


_register_report_commands()


if __name__ == "__main__":
    sys.exit(main())
