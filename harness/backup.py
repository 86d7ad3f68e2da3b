"""Back up mev_db with pg_dump and restore it the runbook's way (drop, create, load).

Both go through the Postgres superuser connection of the runtime
(`admin_database_url()`): the dump sees every object whatever its grants,
keeps each object's owner (so a restore leaves the tables owned by mev_user),
and the restore may drop and create the database. The client binaries come
from the runtime's Postgres directory, because pg_dump refuses a server newer
than itself (the stand-in is PostgreSQL 16; Debian's client is 15).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from harness.context import DrillContext
from harness.errors import StackError

log = logging.getLogger(__name__)

DATABASE = "mev_db"
OWNER = "mev_user"
BACKUP_PREFIX = "mev_db_"
BACKUP_SUFFIX = ".sql"
TOOL_TIMEOUT_S = 60.0
"""Longest a pg_dump or psql run may take before it is killed."""

# pg_dump from 17.6/16.10 on wraps a plain dump in \restrict KEY ... \unrestrict
# KEY; a psql older than those releases stops at the unknown meta-command.
# The lines only guard against meta-commands smuggled in by a hostile server,
# and the dumps loaded here are our own, so they are dropped before loading.
_RESTRICT_LINE = re.compile(rb"^\\(un)?restrict\b[^\n]*\n?", re.MULTILINE)


class BackupFailed(StackError):
    """pg_dump could not be run or did not finish with exit code 0."""


class RestoreFailed(StackError):
    """The database could not be dropped, created or loaded from the backup."""


def backup_name(when: datetime | None = None) -> str:
    """The runbook's file name for a day's backup: `mev_db_YYYYMMDD.sql` (UTC)."""
    day = (when or datetime.now(UTC)).astimezone(UTC)
    return f"{BACKUP_PREFIX}{day:%Y%m%d}{BACKUP_SUFFIX}"


def newest_backup(backup_dir: Path) -> Path | None:
    """The most recently modified `mev_db_*.sql` in `backup_dir`, or None."""
    found = list(backup_dir.glob(f"{BACKUP_PREFIX}*{BACKUP_SUFFIX}"))
    return max(found, key=lambda p: p.stat().st_mtime_ns, default=None)


def pg_tool(ctx: DrillContext, name: str) -> Path:
    """A Postgres client binary: the runtime's directories first, then PATH.

    The local runtime lists the Postgres binaries' directory second in
    `path_dirs()`; searching all of them keeps this right if the order changes.
    """
    dirs = [*ctx.runtime.path_dirs(), os.environ.get("PATH", "")]
    found = shutil.which(name, path=os.pathsep.join(d for d in dirs if d))
    if found is None:
        raise StackError(
            f"no {name} binary in the runtime's directories or on PATH",
            hint="install pgserver or set DRILL_PG_BIN to PostgreSQL 16's bin dir",
        )
    return Path(found)


def take_backup(ctx: DrillContext, backup_dir: Path) -> Path:
    """Dump mev_db as plain SQL into `backup_dir/mev_db_YYYYMMDD.sql`; return it.

    Runs pg_dump as the superuser with owners kept; replaces a backup of the
    same day. The file is written beside its final name and renamed, so a
    failed dump never leaves a half backup where a runbook would find it.
    Raises BackupFailed with pg_dump's message.
    """
    backup_dir.mkdir(parents=True, exist_ok=True)
    target = backup_dir / backup_name()
    partial = target.with_name(target.name + ".partial")
    argv = [
        str(pg_tool(ctx, "pg_dump")),
        "--format=plain",
        "--no-password",
        f"--file={partial}",
        f"--dbname={ctx.runtime.admin_database_url()}",
    ]
    try:
        _run(argv, what="pg_dump of mev_db", error=BackupFailed)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    log.info("backed up mev_db to %s (%d bytes)", target, target.stat().st_size)
    return target


def restore_database(ctx: DrillContext, backup: Path) -> None:
    """Replace mev_db with the contents of `backup` (a plain SQL dump).

    The runbook's procedure through the superuser connection: terminate the
    sessions on mev_db, drop it, create it owned by mev_user, load the file
    with psql (stopping at the first error). The services' connections are
    cut; mev-api's pool and mev-artemis reconnect by themselves.
    Raises RestoreFailed naming the step and Postgres's message.
    """
    if not backup.is_file():
        raise RestoreFailed(
            f"no backup file at {backup}",
            hint="take one first (the scenario's `backup: true`) or give a path",
        )
    import psycopg
    from psycopg import sql

    started = datetime.now(UTC)
    try:
        # Connected to the maintenance database: mev_db is about to go.
        with psycopg.connect(
            ctx.runtime.admin_database_url(),
            dbname="postgres",
            autocommit=True,
            connect_timeout=5,
        ) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (DATABASE,),
            )
            # FORCE: a service may reconnect between the terminate and the drop.
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(DATABASE)
                )
            )
            # No client may connect until the load is done (superusers are
            # exempt): a write into a half-loaded table collides with the rows
            # still to come.
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {} CONNECTION LIMIT 0").format(
                    sql.Identifier(DATABASE), sql.Identifier(OWNER)
                )
            )
    except psycopg.Error as exc:
        raise RestoreFailed(
            f"recreating mev_db failed: {_first_line(str(exc))}",
            hint="check that Postgres is up (`systemctl status postgresql`)",
        ) from exc

    script = _RESTRICT_LINE.sub(b"", backup.read_bytes())
    argv = [
        str(pg_tool(ctx, "psql")),
        "--no-psqlrc",
        "--quiet",
        "--no-password",
        "--set=ON_ERROR_STOP=1",
        f"--dbname={ctx.runtime.admin_database_url()}",
    ]
    try:
        _run(argv, what=f"loading {backup}", error=RestoreFailed, stdin=script)
    finally:
        with psycopg.connect(
            ctx.runtime.admin_database_url(),
            dbname="postgres",
            autocommit=True,
            connect_timeout=5,
        ) as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} CONNECTION LIMIT -1").format(
                    sql.Identifier(DATABASE)
                )
            )
    elapsed_s = (datetime.now(UTC) - started).total_seconds()
    log.info("restored mev_db from %s in %.2f s", backup, elapsed_s)


def _run(
    argv: list[str],
    *,
    what: str,
    error: type[StackError],
    stdin: bytes | None = None,
) -> None:
    try:
        done = subprocess.run(
            argv,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=TOOL_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise error(
            f"{what} did not finish within {TOOL_TIMEOUT_S:.0f} s",
            hint="check that Postgres answers (`systemctl status postgresql`)",
        ) from exc
    except OSError as exc:
        raise error(f"{what} could not start {argv[0]}: {exc}") from exc
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        raise error(
            f"{what} failed with exit code {done.returncode}: "
            f"{_first_line(message) or '(no message)'}",
            hint=f"ran {Path(argv[0]).name} from {Path(argv[0]).parent}",
        )


def _first_line(text: str) -> str:
    """The line that says what went wrong: the first ERROR/FATAL, else the first."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line or "FATAL" in line]
    return (errors or lines or [""])[0]
