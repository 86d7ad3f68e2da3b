"""The MEV API's bounded Postgres pool: timeouts, recovery, and errors as reasons.

Every query gets a connection from a psycopg AsyncConnectionPool within the
connect timeout, runs under a server-side statement timeout, and is bounded on
the client side too (a partitioned database may never answer). Failures become
`DatabaseUnavailable` with a code and a one-line reason that the API returns
as a 503. The pool starts empty if the database is down and reconnects by
itself when it returns.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Self

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

log = logging.getLogger(__name__)

CLIENT_MARGIN_S = 1.0
"""Extra time past connect + query timeouts before the client stops waiting."""

LIBPQ_MIN_CONNECT_TIMEOUT_S = 2
"""libpq rounds connect_timeout up to whole seconds and to at least 2."""


class DatabaseUnavailable(Exception):
    """The database could not answer; `code` says why, `reason` in one line."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"{code}: {reason}")


def one_line(exc: BaseException) -> str:
    """An exception's message with its newlines and tabs collapsed."""
    return " ".join(str(exc).split()) or type(exc).__name__


@dataclass
class Reachability:
    """What the last connection attempt said, for reasons and state changes."""

    last_error: str | None = None
    down_since: float | None = None

    def connected(self) -> None:
        """Record a successful connect; log once when the database returns."""
        if self.down_since is not None:
            log.info(
                "database reachable again after %.1f s",
                time.monotonic() - self.down_since,
            )
        self.last_error = None
        self.down_since = None

    def failed(self, exc: BaseException) -> None:
        """Record a failed connect; log once when the database goes away."""
        self.last_error = one_line(exc)
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.warning("database unreachable: %s", self.last_error)


def _connection_class(reach: Reachability) -> type[psycopg.AsyncConnection[Any]]:
    """A connection class that reports every connect attempt to `reach`."""

    class TrackedConnection(psycopg.AsyncConnection[Any]):
        @classmethod
        async def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
            try:
                conn = await super().connect(conninfo, **kwargs)
            except psycopg.Error as exc:
                reach.failed(exc)
                raise
            reach.connected()
            return conn

    return TrackedConnection


class Database:
    """A bounded pool to mev_db with connect and query timeouts (seconds)."""

    def __init__(
        self,
        url: str,
        *,
        pool_min: int = 1,
        pool_max: int = 10,
        connect_timeout_s: float = 2.0,
        query_timeout_s: float = 2.0,
    ) -> None:
        self.connect_timeout_s = connect_timeout_s
        self.query_timeout_s = query_timeout_s
        self.reach = Reachability()
        statement_timeout_ms = max(1, round(query_timeout_s * 1000))
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = (
            AsyncConnectionPool(
                url,
                connection_class=_connection_class(self.reach),
                kwargs={
                    "autocommit": True,
                    "application_name": "mev-api",
                    "connect_timeout": max(
                        LIBPQ_MIN_CONNECT_TIMEOUT_S, math.ceil(connect_timeout_s)
                    ),
                    "options": f"-c statement_timeout={statement_timeout_ms} "
                    "-c TimeZone=UTC",
                },
                min_size=pool_min,
                max_size=pool_max,
                open=False,
                check=AsyncConnectionPool.check_connection,
                name="mev-api",
                timeout=connect_timeout_s,
                # Give up on a failing connect soon: a new one is started when
                # a request waits, so recovery does not sit in a long backoff.
                reconnect_timeout=max(connect_timeout_s, 1.0),
                reconnect_failed=self._reconnect_failed,
            )
        )
        self._stuck: set[asyncio.Task[Any]] = set()

    async def open(self) -> None:
        """Start the pool without waiting: the API serves even with no database."""
        await self._pool.open(wait=False)

    async def close(self) -> None:
        """Close the pool, waiting up to a second for connections in use."""
        await self._pool.close(timeout=1.0)

    async def _reconnect_failed(self, pool: object) -> None:
        log.debug("pool gave up one connection attempt: %s", self.reach.last_error)

    def stats(self) -> dict[str, int]:
        """Pool sizes and counters: size, available, in_use, waiting, min, max."""
        raw = self._pool.get_stats()
        size = raw.get("pool_size", 0)
        available = raw.get("pool_available", 0)
        return {
            "min": raw.get("pool_min", 0),
            "max": raw.get("pool_max", 0),
            "size": size,
            "available": available,
            "in_use": max(0, size - available),
            "waiting": raw.get("requests_waiting", 0),
            "requests": raw.get("requests_num", 0),
            "requests_errors": raw.get("requests_errors", 0),
            "connections_errors": raw.get("connections_errors", 0),
            "stuck_queries": len(self._stuck),
        }

    async def fetch_all(self, sql: str, params: tuple[Any, ...] = ()) -> list[DictRow]:
        """Rows of one statement as dicts; raises DatabaseUnavailable."""
        return await self._bounded(self._fetch(sql, params))

    async def fetch_one(self, sql: str, params: tuple[Any, ...] = ()) -> DictRow | None:
        """The first row of one statement, or None; raises DatabaseUnavailable."""
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[DictRow]:
        async with self._pool.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(sql, params)
            return await cursor.fetchall() if cursor.description else []

    async def _bounded(self, work: Coroutine[Any, Any, list[DictRow]]) -> list[DictRow]:
        """Run `work` with a client-side bound; map every failure to a reason."""
        bound_s = self.connect_timeout_s + self.query_timeout_s + CLIENT_MARGIN_S
        task: asyncio.Task[list[DictRow]] = asyncio.ensure_future(work)
        try:
            # shield: a query stuck on a silent network keeps its connection
            # until it ends, but the client gets its answer now.
            return await asyncio.wait_for(asyncio.shield(task), bound_s)
        except TimeoutError:
            self._stuck.add(task)
            task.add_done_callback(self._forget_stuck)
            raise DatabaseUnavailable(
                "query_timeout", f"the database did not answer within {bound_s:.1f} s"
            ) from None
        except PoolTimeout:
            raise self._pool_timeout() from None
        except psycopg.errors.QueryCanceled as exc:
            raise DatabaseUnavailable(
                "query_timeout",
                f"query cancelled after the {self.query_timeout_s:.1f} s "
                f"statement timeout ({one_line(exc)})",
            ) from None
        except psycopg.OperationalError as exc:
            self.reach.failed(exc)
            raise DatabaseUnavailable("database_unreachable", one_line(exc)) from None
        except psycopg.Error as exc:
            raise DatabaseUnavailable("database_error", one_line(exc)) from None

    def _forget_stuck(self, task: asyncio.Task[Any]) -> None:
        self._stuck.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug(
                "stuck query ended: %s", one_line(task.exception() or Exception())
            )

    def _pool_timeout(self) -> DatabaseUnavailable:
        stats = self.stats()
        if (
            self.reach.last_error is None
            and stats["available"] == 0
            and (stats["size"] >= stats["max"])
        ):
            return DatabaseUnavailable(
                "pool_exhausted",
                f"no free connection within {self.connect_timeout_s:.1f} s: "
                f"{stats['in_use']} of {stats['max']} in use, "
                f"{stats['waiting']} waiting",
            )
        detail = self.reach.last_error or "no connection could be made"
        return DatabaseUnavailable(
            "database_unreachable",
            f"no connection within {self.connect_timeout_s:.1f} s: {detail}",
        )
