"""The Postgres stand-in launcher: prepares a cluster, then becomes the real server.

On an empty data dir it builds a cluster (from a cached template when it can),
creates `mev_user` and `mev_db`, applies the schema and seed as `mev_user`, and
sets the password read from the password file. On every later start it only
re-applies that password. Then it `exec`s the real `postgres` in the foreground,
so the process the runtime started is the postmaster. Setup uses single-user
mode (`postgres --single`): no server, no port, a few tens of milliseconds.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import importlib.util
import logging
import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from harness.errors import DrillError, PostgresNotFound, StackError, UsageError
from harness.standins._serve import configure_logging

log = logging.getLogger(__name__)

PG_BIN_ENV = "DRILL_PG_BIN"
SUPERUSER = "postgres"
APP_USER = "mev_user"
APP_DB = "mev_db"
SERVICE_USERS = ("postgres", "nobody")
"""OS users tried, in order, to run PostgreSQL when the launcher runs as root."""

TEMPLATE_FORMAT = 2
"""Bump when the template's content changes, so that old caches are not used."""

_REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCHEMA = _REPO_ROOT / "fixtures" / "postgres" / "schema.sql"
DEFAULT_SEED = _REPO_ROOT / "fixtures" / "postgres" / "seed.sql"

# fsync only matters when the machine itself crashes; a killed process loses
# nothing, so acknowledged writes survive every fault a drill injects.
SERVER_SETTINGS = """
# Set by the drill stand-in launcher.
fsync = off
shared_buffers = 32MB
"""

_INSTALL_HINT = (
    "install pgserver (`pip install pgserver`) or set DRILL_PG_BIN to a "
    "directory holding postgres and initdb"
)
_SETUP_MARKER = "drill-setup.incomplete"
_PROBLEM = re.compile(r"\b(ERROR|FATAL|PANIC):\s+(.*)")


class ClusterSetupFailed(StackError):
    """initdb or the first-start SQL failed; the data dir was emptied again."""


def find_pg_bin(explicit: str | None = None) -> Path:
    """The directory holding PostgreSQL's `postgres` and `initdb` binaries.

    Looks in `explicit` (the --pg-bin flag), else $DRILL_PG_BIN, else the
    `pgserver` wheel's bundled binaries (<pgserver>/pginstall/bin). Raises
    PostgresNotFound, naming where it looked, when none holds them.
    """
    if explicit:
        return _checked_bin(Path(explicit), "--pg-bin")
    from_env = os.environ.get(PG_BIN_ENV)
    if from_env:
        return _checked_bin(Path(from_env), f"${PG_BIN_ENV}")
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        raise PostgresNotFound(
            "no PostgreSQL binaries: --pg-bin and $DRILL_PG_BIN are unset and "
            "the pgserver package is not installed",
            hint=_INSTALL_HINT,
        )
    bundled = Path(spec.origin).parent / "pginstall" / "bin"
    return _checked_bin(bundled, "the pgserver package")


def _checked_bin(directory: Path, source: str) -> Path:
    missing = [
        name
        for name in ("postgres", "initdb")
        if not os.access(directory / name, os.X_OK)
    ]
    if missing:
        raise PostgresNotFound(
            f"no PostgreSQL binaries ({', '.join(missing)}) in {directory} "
            f"(from {source})",
            hint=_INSTALL_HINT,
        )
    return directory.resolve()


def scram_verifier(password: str, *, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier Postgres stores for `password` (RFC 7677).

    Postgres accepts it in place of a plaintext password, so the plaintext never
    reaches the server, its logs or its error messages.
    """
    secret = password.encode() if password.isascii() else _saslprep(password)
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", secret, salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _saslprep(password: str) -> bytes:
    # The common part of SASLprep (RFC 4013): non-ASCII spaces to space, NFKC.
    spaced = "".join(" " if unicodedata.category(c) == "Zs" else c for c in password)
    return unicodedata.normalize("NFKC", spaced).encode()


@dataclass(frozen=True)
class RunAs:
    """The unprivileged OS user that owns the cluster and runs the server."""

    name: str
    uid: int
    gid: int


def service_user(name: str | None = None) -> RunAs | None:
    """Whom to run PostgreSQL as: None when not root (run as ourselves).

    As root: `name` if given, else the first existing user of SERVICE_USERS.
    """
    if os.geteuid() != 0:
        return None
    for candidate in (name,) if name else SERVICE_USERS:
        try:
            entry = pwd.getpwnam(candidate)
        except KeyError:
            continue
        return RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)
    tried = name or ", ".join(SERVICE_USERS)
    raise StackError(
        f"running as root and no OS user ({tried}) to run PostgreSQL as",
        hint="create one (`useradd --system postgres`) or pass --run-as USER",
    )


@dataclass(frozen=True)
class Launch:
    """Everything one start needs, resolved from the command line."""

    pg_bin: Path
    data_dir: Path
    socket_dir: Path
    password: str
    host: str
    port: int
    max_connections: int
    schema: Path
    seed: Path
    cache_dir: Path | None
    run_as: RunAs | None


def prepare(launch: Launch) -> None:
    """Make the data dir a ready cluster and apply the password file's password."""
    _make_dirs(launch)
    if (launch.data_dir / _SETUP_MARKER).exists():
        log.warning("an earlier first start did not finish; starting over")
        _empty(launch.data_dir)
    if (launch.data_dir / "PG_VERSION").exists():
        _wait_for_previous_server(launch.data_dir, OLD_SERVER_WAIT_S)
        _chown_tree(launch.data_dir, launch.run_as)
        started = time.monotonic()
        _apply_password(launch)
        log.info("password re-applied in %.0f ms", _ms_since(started))
        return
    if any(launch.data_dir.iterdir()):
        raise ClusterSetupFailed(
            f"data dir {launch.data_dir} is not empty and holds no cluster "
            "(no PG_VERSION)",
            hint="empty it or pass another --data-dir",
        )
    started = time.monotonic()
    try:
        source = _create_cluster(launch)
        _first_start_sql(launch)
    except BaseException:
        _empty(launch.data_dir)
        raise
    (launch.data_dir / _SETUP_MARKER).unlink()
    log.info("cluster ready (%s) in %.0f ms", source, _ms_since(started))


OLD_SERVER_WAIT_S = 10.0
"""How long a start waits for a killed server's processes to be gone."""


def _wait_for_previous_server(data_dir: Path, timeout_s: float) -> None:
    """Wait until no process of an earlier server remains in `data_dir`.

    After a postmaster is killed, its pid can linger as a zombie and its
    backends take a moment to notice and exit; Postgres refuses to start while
    `postmaster.pid` names a pid that exists or while an old backend still
    holds the shared memory. A service manager would wait; so does this.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        left = _server_processes(data_dir)
        if not left:
            return
        time.sleep(0.02)
    log.warning(
        "processes of an earlier server are still here after %.0fs: %s", timeout_s, left
    )


def _server_processes(data_dir: Path) -> list[int]:
    """Pids named by postmaster.pid that still exist, and processes in data_dir."""
    found = []
    try:
        first = (data_dir / "postmaster.pid").read_text().splitlines()[0]
        if first.strip().isdigit() and Path(f"/proc/{first.strip()}").exists():
            found.append(int(first))
    except (OSError, IndexError):
        pass
    target = str(data_dir.resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if os.readlink(entry / "cwd") == target:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000


def _make_dirs(launch: Launch) -> None:
    launch.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    launch.socket_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
    launch.data_dir.chmod(0o700)
    if launch.run_as is None:
        return
    for directory in (launch.data_dir, launch.socket_dir):
        # A shared, world-writable socket dir (like /tmp) is usable as it is.
        if directory.stat().st_mode & 0o002 == 0:
            os.chown(directory, launch.run_as.uid, launch.run_as.gid)
        _grant_traverse(directory.parent, launch.run_as)


def _grant_traverse(directory: Path, run_as: RunAs) -> None:
    """Let `run_as` reach its dirs: add o+x to ancestors it cannot search."""
    for ancestor in (directory, *directory.parents):
        info = ancestor.stat()
        if info.st_mode & 0o001 or info.st_uid == run_as.uid:
            continue
        ancestor.chmod(info.st_mode | 0o001)
        log.warning(
            "added o+x to %s so that user %s can reach its data", ancestor, run_as.name
        )


def _chown_tree(root: Path, run_as: RunAs | None, *, always: bool = False) -> None:
    """Give `root` and everything in it to `run_as` (skipped if it owns `root`)."""
    if run_as is None or (root.stat().st_uid == run_as.uid and not always):
        return
    for parent, dirs, files in os.walk(root):
        for name in (parent, *(os.path.join(parent, n) for n in (*dirs, *files))):
            os.lchown(name, run_as.uid, run_as.gid)


def _empty(directory: Path) -> None:
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _create_cluster(launch: Launch) -> str:
    """Fill the empty data dir with a cluster that has mev_user and mev_db."""
    (launch.data_dir / _SETUP_MARKER).touch()
    template = _template_path(launch)
    if template is not None and (template / "PG_VERSION").exists():
        shutil.copytree(template, launch.data_dir, symlinks=True, dirs_exist_ok=True)
        _chown_tree(launch.data_dir, launch.run_as, always=True)
        return f"copied template {template}"

    # initdb wants an empty dir, and ours already holds the marker.
    staging = launch.data_dir / "drill-initdb.tmp"
    _run_as_service(
        launch,
        [
            str(launch.pg_bin / "initdb"),
            "--pgdata", str(staging),
            "--username", SUPERUSER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--wal-segsize=1",
            "--no-sync",
            "--no-instructions",
        ],
        what="initdb",
    )  # fmt: skip
    for child in staging.iterdir():
        child.rename(launch.data_dir / child.name)
    staging.rmdir()
    with (launch.data_dir / "postgresql.conf").open("a") as conf:
        conf.write(SERVER_SETTINGS)
    _single_user(
        launch,
        SUPERUSER,
        [
            f"CREATE ROLE {APP_USER} LOGIN",
            f"CREATE DATABASE {APP_DB} OWNER {APP_USER} STRATEGY FILE_COPY",
        ],
        what="creating mev_user and mev_db",
    )
    if template is None:
        return "initdb, no template cache"
    _save_template(launch.data_dir, template)
    return f"initdb, saved template {template}"


def _template_path(launch: Launch) -> Path | None:
    if launch.cache_dir is None:
        return None
    version = subprocess.run(
        [str(launch.pg_bin / "postgres"), "--version"],
        capture_output=True, text=True, check=True,
    ).stdout.split()[-1]  # fmt: skip
    return launch.cache_dir / f"pg-template-{version}-v{TEMPLATE_FORMAT}"


def _save_template(data_dir: Path, template: Path) -> None:
    """Copy the fresh cluster into the cache; a concurrent writer may win."""
    staging: Path | None = None
    try:
        template.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=template.parent, prefix=".staging-"))
        shutil.copytree(
            data_dir,
            staging,
            symlinks=True,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(_SETUP_MARKER),
        )
        staging.rename(template)
    except OSError as exc:
        if (template / "PG_VERSION").exists():
            log.debug("template %s was saved by a concurrent start", template)
        else:
            log.warning("template cache %s not saved: %s", template, exc)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _first_start_sql(launch: Launch) -> None:
    """Schema and seed as mev_user (so it owns the tables), then the password."""
    _single_user(
        launch,
        APP_DB,
        [
            f"SET SESSION AUTHORIZATION {APP_USER}",
            _one_command(launch.schema),
            _one_command(launch.seed),
            "RESET SESSION AUTHORIZATION",
            _password_sql(launch.password),
        ],
        what=f"applying {launch.schema} and {launch.seed}",
    )


def _one_command(sql_file: Path) -> str:
    """A SQL file as one single-user command: one implicit transaction.

    Single-user mode (-j) ends a command at a semicolon followed by a blank
    line, so blank lines are dropped; they matter only inside string literals.
    """
    try:
        text = sql_file.read_text()
    except OSError as exc:
        raise UsageError(
            f"cannot read SQL file {sql_file}: {exc.strerror}",
            hint="check --schema and --seed",
        ) from exc
    return re.sub(r"\n[ \t]*(?=\n)", "", text).rstrip() + "\n"


def _password_sql(password: str) -> str:
    return f"ALTER ROLE {APP_USER} PASSWORD '{scram_verifier(password)}'"


def _apply_password(launch: Launch) -> None:
    """Set mev_user's password from the file; a failure leaves the server usable."""
    try:
        _single_user(
            launch,
            SUPERUSER,
            [_password_sql(launch.password)],
            what="re-applying mev_user's password",
        )
    except ClusterSetupFailed as exc:
        log.warning("%s; starting the server anyway", exc.message)


def _single_user(launch: Launch, dbname: str, commands: list[str], what: str) -> None:
    """Run SQL commands in single-user mode; raise on any ERROR or FATAL."""
    script = "".join(f"{command.rstrip().rstrip(';')};\n\n" for command in commands)
    result = _run_as_service(
        launch,
        [
            str(launch.pg_bin / "postgres"),
            "--single", "-j",
            "-D", str(launch.data_dir),
            "-c", "log_min_error_statement=panic",
            "-c", "log_checkpoints=off",
            dbname,
        ],
        what=what,
        stdin=script,
    )  # fmt: skip
    problems = _PROBLEM.findall(result.stderr)
    if problems:
        level, message = problems[0]
        raise ClusterSetupFailed(f"{what} failed: {level}: {message}")


def _run_as_service(
    launch: Launch, argv: list[str], what: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    run_as = launch.run_as
    result = subprocess.run(
        argv,
        input=stdin,
        capture_output=True,
        text=True,
        cwd="/",
        user=run_as.uid if run_as else None,
        group=run_as.gid if run_as else None,
        extra_groups=[] if run_as else None,
        check=False,
    )
    if result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()
        last = detail[-1] if detail else f"exit code {result.returncode}"
        raise ClusterSetupFailed(f"{what} failed: {last}")
    return result


def exec_server(launch: Launch) -> None:
    """Replace this process with the postmaster, as the service user."""
    argv = [
        str(launch.pg_bin / "postgres"),
        "-D", str(launch.data_dir),
        "-h", launch.host,
        "-p", str(launch.port),
        "-k", str(launch.socket_dir),
        "-c", f"max_connections={launch.max_connections}",
    ]  # fmt: skip
    log.info(
        "exec postgres on %s:%d, socket dir %s",
        launch.host,
        launch.port,
        launch.socket_dir,
    )
    logging.shutdown()
    os.chdir(launch.data_dir)
    if launch.run_as is not None:
        os.setgroups([])
        os.setgid(launch.run_as.gid)
        os.setuid(launch.run_as.uid)
    os.execv(argv[0], argv)


def read_password(path: Path) -> str:
    """The password in `path`, without its trailing newline; never logged."""
    try:
        password = path.read_text().rstrip("\r\n")
    except OSError as exc:
        raise UsageError(
            f"cannot read --password-file {path}: {exc.strerror}",
            hint="write the mev_user password to that file",
        ) from exc
    if not password:
        raise UsageError(
            f"--password-file {path} is empty",
            hint="write the mev_user password to that file",
        )
    return password


def default_cache_dir() -> Path:
    """${XDG_CACHE_HOME:-~/.cache}/drill, where the cluster template is kept."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "drill"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness.standins.postgres",
        description="Prepare a PostgreSQL cluster for the MEV stack and run it.",
    )
    add = parser.add_argument
    add("--port", type=int, required=True, help="TCP port to listen on")
    add("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    add("--data-dir", type=Path, required=True, help="cluster directory")
    add("--socket-dir", type=Path, required=True, help="unix socket directory")
    add(
        "--password-file",
        type=Path,
        required=True,
        help="file holding mev_user's password (re-applied on every start)",
    )
    add("--pg-bin", help=f"PostgreSQL bin dir (default: ${PG_BIN_ENV}, then pgserver)")
    add(
        "--schema",
        type=Path,
        default=DEFAULT_SCHEMA,
        help="schema applied on first start (default: %(default)s)",
    )
    add(
        "--seed",
        type=Path,
        default=DEFAULT_SEED,
        help="seed applied on first start (default: %(default)s)",
    )
    add(
        "--max-connections",
        type=int,
        default=100,
        help="max_connections, at least 4 (default: %(default)s)",
    )
    add(
        "--cache-dir",
        type=Path,
        default=None,
        help="where the cluster template is cached "
        "(default: ${XDG_CACHE_HOME:-~/.cache}/drill)",
    )
    add(
        "--no-template-cache",
        action="store_true",
        help="always run initdb; neither read nor write the template cache",
    )
    add(
        "--run-as",
        default=None,
        help="OS user to run as when started as root (default: postgres, nobody)",
    )
    add(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="(default: %(default)s)",
    )
    return parser  # fmt: skip


def _launch(args: argparse.Namespace) -> Launch:
    if args.max_connections < 4:
        raise UsageError(
            f"--max-connections {args.max_connections} is too small",
            hint="use at least 4 (3 are reserved for superusers)",
        )
    cache_dir: Path | None = None
    if not args.no_template_cache:
        cache_dir = (args.cache_dir or default_cache_dir()).absolute()
    return Launch(
        pg_bin=find_pg_bin(args.pg_bin),
        data_dir=args.data_dir.absolute(),
        socket_dir=args.socket_dir.absolute(),
        password=read_password(args.password_file),
        host=args.host,
        port=args.port,
        max_connections=args.max_connections,
        schema=args.schema.absolute(),
        seed=args.seed.absolute(),
        cache_dir=cache_dir,
        run_as=service_user(args.run_as),
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point: prepare the cluster and exec postgres; returns only on error."""
    args = _parser().parse_args(argv)
    configure_logging(args.log_level)
    try:
        launch = _launch(args)
        prepare(launch)
        exec_server(launch)
    except DrillError as exc:
        sys.stderr.write(f"postgres stand-in: {exc.line()}\n")
        return exc.exit_code
    except OSError as exc:
        sys.stderr.write(f"postgres stand-in: {exc}\n")
        return StackError.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
