"""Postgres helpers the database and security faults share.

Two ways in: the superuser connection the runtime offers
(`admin_database_url`, for the fault's own work), and the public endpoint as
an ordinary client sees it (through the fault proxy, with a password).
"""

from __future__ import annotations

import logging
import os
import shutil
from typing import Any

import psycopg
from psycopg import sql

from harness.context import DrillContext
from harness.errors import PostgresNotFound, StackError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5
"""libpq's connect_timeout for every connection a fault opens (whole seconds)."""

TERMINATE_WAIT_MS = 5000
"""How long pg_terminate_backend waits for each backend to exit."""

Connection = psycopg.Connection[tuple[Any, ...]]


def admin(ctx: DrillContext, *, autocommit: bool = True, purpose: str) -> Connection:
    """A superuser connection to mev_db; `purpose` becomes its application_name.

    Raises StackError when Postgres cannot be reached.
    """
    try:
        return psycopg.connect(
            ctx.runtime.admin_database_url(),
            autocommit=autocommit,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name=purpose,
        )
    except psycopg.Error as exc:
        raise StackError(
            f"cannot reach Postgres as the superuser for {purpose}: "
            f"{' '.join(str(exc).split())}",
            hint="is postgres running? (`drill status`)",
        ) from exc


def client(
    ctx: DrillContext,
    *,
    password: str,
    application_name: str,
    user: str | None = None,
    connect_timeout_s: int = CONNECT_TIMEOUT_S,
) -> Connection:
    """A connection through the public endpoint, as a client (default mev_user).

    Raises psycopg.OperationalError as libpq does (refused, bad password, ...).
    """
    db = ctx.endpoints.database
    return psycopg.connect(
        host=db.host,
        port=db.port,
        dbname=db.dbname,
        user=user or db.user,
        password=password,
        application_name=application_name,
        connect_timeout=connect_timeout_s,
        autocommit=True,
    )


def terminate(conn: Connection, condition: sql.Composable, params: Any = ()) -> int:
    """pg_terminate_backend every other backend matching `condition`; the count.

    Waits up to TERMINATE_WAIT_MS for each to exit.
    """
    query = sql.SQL(
        "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND ({})"
    ).format(condition)
    pids = [row[0] for row in conn.execute(query, params).fetchall()]
    for pid in pids:
        conn.execute("SELECT pg_terminate_backend(%s, %s)", (pid, TERMINATE_WAIT_MS))
    return len(pids)


def table_exists(conn: Connection, table: str) -> bool:
    """Whether public.<table> exists."""
    row = conn.execute("SELECT to_regclass(%s)", (f"public.{table}",)).fetchone()
    return row is not None and row[0] is not None


def pg_tool(ctx: DrillContext, name: str) -> str:
    """The path of a PostgreSQL client tool (pg_dump, psql) the runtime ships.

    Looks in the runtime's `path_dirs()`, then on PATH.
    """
    dirs = [*ctx.runtime.path_dirs(), os.environ.get("PATH", "")]
    found = shutil.which(name, path=os.pathsep.join(dirs))
    if found is None:
        raise PostgresNotFound(
            f"no {name} in the runtime's tool directories or on PATH",
            hint="install the PostgreSQL client tools or set DRILL_PG_BIN",
        )
    return found
