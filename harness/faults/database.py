"""Database faults: kill or stop Postgres, exhaust its connections, terminate
backends, drop or corrupt a table, hold a lock.

Faults that change data snapshot it first (pg_dump, or the rows as JSON in
the drill's work directory) so that revert puts back exactly what was there.
"""

from __future__ import annotations

import json
import logging
import math
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any, Literal

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import Field, model_validator

from harness.context import DrillContext
from harness.errors import StackError
from harness.faults.base import Fault, FaultSpec, register
from harness.faults.lifecycle import KillSignal, kill_and_wait, start_missing
from harness.faults.pgadmin import (
    Connection,
    admin,
    client,
    pg_tool,
    table_exists,
    terminate,
)

log = logging.getLogger(__name__)

POSTGRES = "postgres"
APP_USER = "mev_user"

Table = Literal["opportunities", "strategies"]
"""The tables of mev_db a fault may damage."""

KEY_COLUMN: dict[str, str] = {"opportunities": "id", "strategies": "name"}

LockMode = Literal[
    "ACCESS SHARE",
    "ROW SHARE",
    "ROW EXCLUSIVE",
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
]

ROLE_PATTERN = r"^[a-z_][a-z0-9_]{0,62}$"
"""A role name that needs no quoting."""

LOCK_TIMEOUT = "5s"
"""How long a fault waits for a table lock before giving up."""

TOOL_TIMEOUT_S = 60.0
"""Deadline of one pg_dump or psql run."""


# Postgres as a process.


class KillPostgresSpec(FaultSpec):
    """Kill the postmaster with a signal (default SIGKILL: a crash)."""

    type: Literal["kill_postgres"] = "kill_postgres"
    signal: KillSignal = "SIGKILL"


@register
class KillPostgres(Fault[KillPostgresSpec]):
    """Signal Postgres and wait until it has exited; revert starts it."""

    family = "database"
    spec_model = KillPostgresSpec

    def inject(self) -> None:
        """Send the signal; return once the postmaster has exited."""
        kill_and_wait(self.ctx.runtime, [POSTGRES], self.spec.signal)

    def revert(self) -> None:
        """Start Postgres if it is not running."""
        start_missing(self.ctx.runtime, [POSTGRES])

    def describe(self) -> str:
        """One line."""
        return f"killed postgres with {self.spec.signal}"

    def evidence(self) -> dict[str, str]:
        """The signal."""
        return {"services": POSTGRES, "signal": self.spec.signal}


class StopPostgresSpec(FaultSpec):
    """Stop Postgres gracefully (a fast shutdown)."""

    type: Literal["stop_postgres"] = "stop_postgres"


@register
class StopPostgres(Fault[StopPostgresSpec]):
    """Stop Postgres; revert starts it."""

    family = "database"
    spec_model = StopPostgresSpec

    def inject(self) -> None:
        """Stop Postgres; return once it has exited."""
        self.ctx.runtime.stop(POSTGRES)

    def revert(self) -> None:
        """Start Postgres if it is not running."""
        start_missing(self.ctx.runtime, [POSTGRES])

    def describe(self) -> str:
        """One line."""
        return "stopped postgres"

    def evidence(self) -> dict[str, str]:
        """The service."""
        return {"services": POSTGRES}


# Connections and backends.


class ConnectionExhaustionSpec(FaultSpec):
    """Open and hold idle connections as mev_user.

    `connections`: how many, or `all` (every slot up to max_connections minus
    the reserved ones). `hold_s`: release them by themselves after this many
    seconds (default: hold until revert or until Postgres ends them).
    `end_app_sessions`: then terminate the services' own mev_user sessions,
    so that they must reconnect, and refill the slots they freed (default
    true: otherwise connections the services already hold keep working).
    """

    type: Literal["connection_exhaustion"] = "connection_exhaustion"
    connections: Annotated[int, Field(ge=1, le=10_000)] | Literal["all"] = "all"
    hold_s: float | None = Field(default=None, gt=0)
    end_app_sessions: bool = True


@register
class ConnectionExhaustion(Fault[ConnectionExhaustionSpec]):
    """Fill Postgres's connection slots, as a leaking client pool would."""

    family = "database"
    spec_model = ConnectionExhaustionSpec

    application_name = "drill-connection-exhaustion"
    fill_workers = 8
    evict_for_s = 5.0

    def __init__(self, spec: ConnectionExhaustionSpec, ctx: DrillContext) -> None:
        super().__init__(spec, ctx)
        self._held: list[Connection] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._password = ""
        self._slots = 0
        self._held_at_inject = 0
        self._evicted = 0
        self._refused = ""

    def inject(self) -> None:
        """Open connections until the target or a refusal; evict; refill."""
        self._password = self.ctx.secrets().db_password
        with admin(self.ctx, purpose="drill-fault") as conn:
            self._slots = _free_slots(conn)
            target = self._target()
            self._fill(target)
            if self.spec.end_app_sessions:
                self._evict(conn, target)
        # Closing the superuser session freed a slot an ordinary role may take.
        self._fill(target)
        self._held_at_inject = len(self._held)
        log.info("holding %d connections (%d free slots at inject)",
                 len(self._held), self._slots)  # fmt: skip
        if self.spec.hold_s is not None:
            self._timer = threading.Timer(self.spec.hold_s, self._release)
            self._timer.daemon = True
            self._timer.start()

    def _target(self) -> int:
        if self.spec.connections == "all":
            # Fill until refused; the count is only a bound against runaways.
            return self._slots + 50
        return self.spec.connections

    def _open_one(self) -> Connection | str:
        try:
            return client(
                self.ctx,
                password=self._password,
                application_name=self.application_name,
            )
        except psycopg.OperationalError as exc:
            message = " ".join(str(exc).split())
            if "too many clients" in message or "slots are reserved" in message:
                return message
            raise StackError(
                f"connection_exhaustion could not connect as {APP_USER}: {message}",
                hint="is postgres up and its public route enabled?",
            ) from exc

    def _fill(self, target: int) -> None:
        """Open connections until `target` are held or Postgres refuses one.

        Parallel at first; after a refusal, one at a time: attempts in flight
        take slots themselves, so only a lone attempt's refusal means full.
        """
        with ThreadPoolExecutor(max_workers=self.fill_workers) as pool:
            batch = self.fill_workers
            while len(self._held) < target:
                size = min(batch, target - len(self._held))
                outcomes = list(pool.map(lambda _: self._open_one(), range(size)))
                refused = [o for o in outcomes if isinstance(o, str)]
                with self._lock:
                    self._held.extend(o for o in outcomes if not isinstance(o, str))
                if refused:
                    self._refused = refused[0]
                    if size == 1:
                        return
                    batch = 1

    def _evict(self, conn: Connection, target: int) -> None:
        """End other mev_user sessions and take their slots, until none is left."""
        deadline = time.monotonic() + self.evict_for_s
        foreign = sql.SQL(
            "usename = %s AND backend_type = 'client backend' AND NOT pid = ANY(%s)"
        )
        while True:
            ours = [c.info.backend_pid for c in self._held]
            self._evicted += terminate(conn, foreign, (APP_USER, ours))
            self._fill(target)
            ours = [c.info.backend_pid for c in self._held]
            query = sql.SQL("SELECT count(*) FROM pg_stat_activity WHERE {}")
            row = conn.execute(query.format(foreign), (APP_USER, ours)).fetchone()
            if row is None or row[0] == 0:
                return
            if time.monotonic() >= deadline:
                log.warning("%d other mev_user sessions still hold slots after %.0fs",
                            row[0], self.evict_for_s)  # fmt: skip
                return

    def _release(self) -> None:
        with self._lock:
            held, self._held = self._held, []
        for conn in held:
            conn.close()
        if held:
            log.info("released %d held connections", len(held))

    def revert(self) -> None:
        """Close every held connection; end any the fault lost track of."""
        if self._timer is not None:
            self._timer.cancel()
        self._release()
        if not self._password:
            return
        try:
            with admin(self.ctx, purpose="drill-fault") as conn:
                terminate(
                    conn, sql.SQL("application_name = %s"), (self.application_name,)
                )
        except StackError as exc:
            # Postgres is down: none of its connections exist any more.
            log.debug("no clean-up of held connections: %s", exc)

    def describe(self) -> str:
        """One line."""
        held = f"{self._held_at_inject} " if self._held_at_inject else ""
        want = "every free" if self.spec.connections == "all" else "up to"
        return f"held {held}idle connections as {APP_USER} ({want} slot)"

    def evidence(self) -> dict[str, str]:
        """Slots, connections held, sessions evicted, the refusal seen."""
        return {
            "connections_held": str(self._held_at_inject),
            "free_slots_at_inject": str(self._slots),
            "app_sessions_ended": str(self._evicted),
            "refused_with": self._refused,
        }


def _free_slots(conn: Connection) -> int:
    """Connection slots an ordinary role may still take."""
    row = conn.execute(
        "SELECT current_setting('max_connections')::int"
        " - current_setting('superuser_reserved_connections')::int"
        " - coalesce(current_setting('reserved_connections', true)::int, 0)"
        " - (SELECT count(*) FROM pg_stat_activity"
        "    WHERE backend_type = 'client backend')::int"
    ).fetchone()
    return max(0, int(row[0])) if row else 0


class TerminateBackendsSpec(FaultSpec):
    """pg_terminate_backend every session of a role (default mev_user)."""

    type: Literal["terminate_backends"] = "terminate_backends"
    user: str = Field(default=APP_USER, pattern=ROLE_PATTERN)


@register
class TerminateBackends(Fault[TerminateBackendsSpec]):
    """A one-shot fault: the services must reconnect by themselves."""

    family = "database"
    spec_model = TerminateBackendsSpec

    def __init__(self, spec: TerminateBackendsSpec, ctx: DrillContext) -> None:
        super().__init__(spec, ctx)
        self._terminated: int | None = None

    def inject(self) -> None:
        """Terminate every backend of the role; return once they have exited."""
        with admin(self.ctx, purpose="drill-fault") as conn:
            self._terminated = terminate(
                conn, sql.SQL("usename = %s"), (self.spec.user,)
            )

    def revert(self) -> None:
        """Nothing to undo: a terminated session cannot be given back."""

    def describe(self) -> str:
        """One line."""
        count = "" if self._terminated is None else f" ({self._terminated})"
        return f"terminated every backend of {self.spec.user}{count}"

    def evidence(self) -> dict[str, str]:
        """The role and how many backends were terminated."""
        terminated = "" if self._terminated is None else str(self._terminated)
        return {"user": self.spec.user, "backends_terminated": terminated}


# Tables.


def _lock_table(conn: Connection, table: str, mode: str) -> None:
    conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
    conn.execute(
        sql.SQL("LOCK TABLE {} IN {} MODE").format(sql.Identifier(table), sql.SQL(mode))
    )


def _run_tool(argv: list[str], what: str) -> None:
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(
            f"{what} did not finish within {TOOL_TIMEOUT_S:.0f}s",
            hint="is Postgres answering? (`drill status`)",
        ) from exc
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise StackError(
            f"{what} failed with exit code {done.returncode}: {tail}",
            hint="read the Postgres log (`drill logs postgres`)",
        )


class DropTableSpec(FaultSpec):
    """Drop a table of mev_db (default opportunities)."""

    type: Literal["drop_table"] = "drop_table"
    table: Table = "opportunities"


@register
class DropTable(Fault[DropTableSpec]):
    """pg_dump the table, then DROP it, while writers wait on a lock.

    Revert restores the dump (and the foreign keys that pointed at the
    table) only if the table is still missing: a recovery that restored a
    backup is left alone.
    """

    family = "database"
    spec_model = DropTableSpec

    def __init__(self, spec: DropTableSpec, ctx: DrillContext) -> None:
        super().__init__(spec, ctx)
        self._dump: Path | None = None
        self._foreign_keys: list[tuple[str, str, str]] = []

    def inject(self) -> None:
        """Snapshot and drop in one transaction: no write lands in between."""
        table = self.spec.table
        dump = self.ctx.work_dir / f"drop_table-{table}-{id(self):x}.sql"
        with admin(self.ctx, autocommit=False, purpose="drill-fault") as conn:
            # EXCLUSIVE blocks writers but lets pg_dump read.
            _lock_table(conn, table, "EXCLUSIVE")
            rows = conn.execute(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
                " FROM pg_constraint WHERE contype = 'f'"
                " AND confrelid = %s::regclass AND conrelid <> confrelid",
                (f"public.{table}",),
            ).fetchall()
            self.ctx.work_dir.mkdir(parents=True, exist_ok=True)
            _run_tool(
                [
                    pg_tool(self.ctx, "pg_dump"),
                    "--no-password",
                    "--dbname",
                    self.ctx.runtime.admin_database_url(),
                    "--table",
                    f"public.{table}",
                    "--file",
                    str(dump),
                ],
                f"pg_dump of {table}",
            )
            self._foreign_keys = [(r[0], r[1], r[2]) for r in rows]
            self._dump = dump
            conn.execute(sql.SQL("DROP TABLE {} CASCADE").format(sql.Identifier(table)))
        log.info("dropped %s (snapshot %s)", table, dump)

    def revert(self) -> None:
        """Restore the snapshot if the table is missing; otherwise nothing."""
        if self._dump is None:
            return
        table = self.spec.table
        with admin(self.ctx, purpose="drill-fault") as conn:
            if table_exists(conn, table):
                return
            _run_tool(
                [
                    pg_tool(self.ctx, "psql"),
                    "-X",
                    "-q",
                    "--no-password",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "--single-transaction",
                    "--dbname",
                    self.ctx.runtime.admin_database_url(),
                    "--file",
                    str(self._dump),
                ],
                f"restoring {table} from {self._dump}",
            )
            for owner, name, definition in self._foreign_keys:
                _add_constraint(conn, owner, name, definition)
        log.info("restored %s from %s", table, self._dump)

    def describe(self) -> str:
        """One line."""
        return f"dropped table {self.spec.table}"

    def evidence(self) -> dict[str, str]:
        """The table and where its snapshot is."""
        return {
            "table": self.spec.table,
            "snapshot": str(self._dump or ""),
            "foreign_keys_dropped": ",".join(name for _, name, _ in self._foreign_keys),
        }


def _add_constraint(conn: Connection, owner: str, name: str, definition: str) -> None:
    """Add a constraint to `owner` (a regclass name) unless it is there."""
    row = conn.execute(
        "SELECT 1 FROM pg_constraint WHERE conname = %s AND conrelid = %s::regclass",
        (name, owner),
    ).fetchone()
    if row is None:
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                sql.SQL(owner), sql.Identifier(name), sql.SQL(definition)
            )
        )


GARBAGE_WEI = 10**77 - 1
"""An absurd wei amount that still fits NUMERIC(78, 0)."""

_GARBAGE: dict[str, sql.Composable] = {
    "opportunities": sql.SQL(
        "expected_profit_wei = {wei}, net_profit_wei = -{wei}, status = 'failed'"
    ).format(wei=sql.Literal(GARBAGE_WEI)),
    "strategies": sql.SQL(
        "enabled = NOT enabled, min_profit_wei = {wei}, updated_at = now()"
    ).format(wei=sql.Literal(GARBAGE_WEI)),
}


class CorruptTableSpec(FaultSpec):
    """Corrupt rows of a table: overwrite them with garbage, or delete them.

    Give `rows_fraction` (0-1 of the rows) or `rows` (a count); the default is
    half the rows. Rows are chosen with the drill's seeded random generator.
    Deleting is refused for strategies (opportunities refer to them).
    """

    type: Literal["corrupt_table"] = "corrupt_table"
    table: Table = "opportunities"
    rows_fraction: float | None = Field(default=None, gt=0.0, le=1.0)
    rows: int | None = Field(default=None, ge=1)
    mode: Literal["overwrite", "delete"] = "overwrite"

    @model_validator(mode="after")
    def _one_amount(self) -> CorruptTableSpec:
        if self.rows_fraction is not None and self.rows is not None:
            raise ValueError("give rows_fraction or rows, not both")
        if self.mode == "delete" and self.table == "strategies":
            raise ValueError(
                "mode 'delete' on strategies would break the opportunities that "
                "refer to them; use mode 'overwrite'"
            )
        return self

    def row_count(self, total: int) -> int:
        """How many of `total` rows to corrupt."""
        if self.rows is not None:
            return min(self.rows, total)
        fraction = 0.5 if self.rows_fraction is None else self.rows_fraction
        return min(total, max(1, math.ceil(fraction * total))) if total else 0


@register
class CorruptTable(Fault[CorruptTableSpec]):
    """Snapshot the chosen rows as JSON, then damage them; revert upserts them."""

    family = "database"
    spec_model = CorruptTableSpec

    def __init__(self, spec: CorruptTableSpec, ctx: DrillContext) -> None:
        super().__init__(spec, ctx)
        self._snapshot: list[dict[str, Any]] = []
        self._snapshot_path: Path | None = None
        self._rows_changed = 0

    @property
    def key(self) -> str:
        """The table's primary key column."""
        return KEY_COLUMN[self.spec.table]

    def inject(self) -> None:
        """Choose rows, snapshot them (locked), damage them, in one transaction."""
        table, key = sql.Identifier(self.spec.table), sql.Identifier(self.key)
        with admin(self.ctx, autocommit=False, purpose="drill-fault") as conn:
            keys = [
                r[0]
                for r in conn.execute(
                    sql.SQL("SELECT {} FROM {} ORDER BY 1").format(key, table)
                )
            ]
            chosen = sorted(self.ctx.rng.sample(keys, self.spec.row_count(len(keys))))
            rows = conn.execute(
                sql.SQL(
                    "SELECT to_jsonb(t) FROM {} t WHERE {} = ANY(%s) FOR UPDATE"
                ).format(table, key),
                (chosen,),
            ).fetchall()
            self._snapshot = [r[0] for r in rows]
            self._rows_changed = len(self._snapshot)
            self._save_snapshot()
            if self.spec.mode == "delete":
                change = sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)")
                conn.execute(change.format(table, key), (chosen,))
            else:
                change = sql.SQL("UPDATE {} SET {} WHERE {} = ANY(%s)")
                garbage = _GARBAGE[self.spec.table]
                conn.execute(change.format(table, garbage, key), (chosen,))
        log.info("corrupted %d rows of %s (%s)",
                 len(self._snapshot), self.spec.table, self.spec.mode)  # fmt: skip

    def _save_snapshot(self) -> None:
        self.ctx.work_dir.mkdir(parents=True, exist_ok=True)
        path = self.ctx.work_dir / f"corrupt_table-{self.spec.table}-{id(self):x}.json"
        path.write_text(json.dumps(self._snapshot, indent=1))
        self._snapshot_path = path

    def revert(self) -> None:
        """Put every snapshotted row back as it was (insert or update)."""
        if not self._snapshot:
            return
        with admin(self.ctx, autocommit=False, purpose="drill-fault") as conn:
            if not table_exists(conn, self.spec.table):
                log.warning("table %s is missing; its rows cannot be restored",
                            self.spec.table)  # fmt: skip
                return
            columns = [c for c in self._snapshot[0] if c != self.key]
            upsert = sql.SQL(
                "INSERT INTO {table} SELECT * FROM jsonb_populate_record("
                "NULL::{table}, %s) ON CONFLICT ({key}) DO UPDATE "
                "SET ({columns}) = ROW({excluded})"
            ).format(
                table=sql.Identifier(self.spec.table),
                key=sql.Identifier(self.key),
                columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
                excluded=sql.SQL(", ").join(
                    sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in columns
                ),
            )
            with conn.cursor() as cursor:
                cursor.executemany(upsert, [(Jsonb(row),) for row in self._snapshot])
        log.info("restored %d rows of %s", len(self._snapshot), self.spec.table)
        self._snapshot = []

    def describe(self) -> str:
        """One line."""
        what = "deleted" if self.spec.mode == "delete" else "overwrote"
        count = f"{self._rows_changed} " if self._rows_changed else ""
        return f"{what} {count}rows of {self.spec.table}"

    def evidence(self) -> dict[str, str]:
        """The table, the mode, how many rows, where the snapshot is."""
        return {
            "table": self.spec.table,
            "mode": self.spec.mode,
            "rows": str(self._rows_changed),
            "snapshot": str(self._snapshot_path or ""),
        }


class HoldLockSpec(FaultSpec):
    """Hold a table lock in an open transaction (default ACCESS EXCLUSIVE)."""

    type: Literal["hold_lock"] = "hold_lock"
    table: Table = "opportunities"
    mode: LockMode = "ACCESS EXCLUSIVE"


@register
class HoldLock(Fault[HoldLockSpec]):
    """A superuser transaction takes the lock and sits on it; revert rolls back."""

    family = "database"
    spec_model = HoldLockSpec

    def __init__(self, spec: HoldLockSpec, ctx: DrillContext) -> None:
        super().__init__(spec, ctx)
        self._conn: Connection | None = None
        self._pid: int | None = None

    def inject(self) -> None:
        """Take the lock; return once it is granted (within 5 s)."""
        conn = admin(self.ctx, autocommit=False, purpose="drill-hold-lock")
        self._conn, self._pid = conn, conn.info.backend_pid
        _lock_table(conn, self.spec.table, self.spec.mode)

    def revert(self) -> None:
        """Roll the transaction back and close its connection."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.rollback()
        except psycopg.Error as exc:
            log.debug("rollback of the lock holder failed: %s", exc)
        conn.close()

    def describe(self) -> str:
        """One line."""
        return f"held a lock in {self.spec.mode} mode on {self.spec.table}"

    def evidence(self) -> dict[str, str]:
        """The table, the mode and the holder's backend pid."""
        return {
            "table": self.spec.table,
            "mode": self.spec.mode,
            "holder_pid": "" if self._pid is None else str(self._pid),
        }
