"""One mev_user connection whose every query answers, or gives up, within a deadline.

psycopg's blocking calls have no client-side timeout: a query to a frozen
server waits forever, and libpq will not time a connect out in under two
seconds. So the connection lives on a private worker thread; the caller waits
at most `timeout_s` and, when the time is up, shuts the connection's socket
down so that the worker's blocked read fails at once and the connection is
dropped. The next query reconnects, re-reading the password (a recovery may
have rotated it).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, LiteralString

import psycopg

from harness.context import DrillContext
from harness.probes.guard import describe

log = logging.getLogger(__name__)

Row = tuple[Any, ...]


class QueryFailed(Exception):
    """A query got no rows back: no connection, an SQL error, or no answer in time."""


class BoundedSession:
    """A lazily opened, self-healing connection as mev_user through the proxy.

    `application_name` tells the stack's sessions apart in pg_stat_activity.
    Thread-safe: one query at a time. A caller that finds the previous query
    still running gets QueryFailed at once instead of queueing behind it,
    and aborts that query if its deadline has passed.
    """

    def __init__(self, ctx: DrillContext, *, application_name: str) -> None:
        self._ctx = ctx
        self._application_name = application_name
        self._worker = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"{application_name}-sql"
        )
        self._lock = threading.Lock()
        self._pending: Future[list[Row]] | None = None
        self._pending_deadline = 0.0
        self._closed = False
        # Touched only on the worker thread.
        self._conn: psycopg.Connection[Row] | None = None
        # The socket of the open connection; guarded so that it is never shut
        # down after the worker has closed it (and the number was reused).
        self._fd_lock = threading.Lock()
        self._fd: int | None = None

    def fetch(
        self, query: LiteralString, params: tuple[Any, ...] = (), *, timeout_s: float
    ) -> list[Row]:
        """The rows of `query` (autocommit), within `timeout_s` seconds.

        An INSERT has committed when this returns. Raises QueryFailed.
        """
        with self._lock:
            if self._closed:
                raise QueryFailed("the session is closed")
            if self._pending is not None and not self._pending.done():
                if time.monotonic() > self._pending_deadline:
                    # Its caller gave up on it: unblock it, if it is reading.
                    self._abort()
                raise QueryFailed("the previous query has not returned yet")
            future = self._worker.submit(self._run, query, params, timeout_s)
            self._pending = future
            self._pending_deadline = time.monotonic() + timeout_s
        try:
            return future.result(timeout=timeout_s)
        except FutureTimeout:
            self._abort()
            raise QueryFailed(f"no answer within {timeout_s:g} s") from None
        except QueryFailed:
            raise
        except Exception as exc:
            raise QueryFailed(describe(exc)) from exc

    def close(self) -> None:
        """Drop the connection and stop the worker; returns without waiting.

        A connect still in progress finishes on the worker (at most libpq's
        two-second minimum), which then closes the connection.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._abort()
        self._worker.submit(self._drop)
        self._worker.shutdown(wait=False)

    # On the worker thread.

    def _run(
        self, query: LiteralString, params: tuple[Any, ...], timeout_s: float
    ) -> list[Row]:
        conn = self._connection(timeout_s)
        try:
            cursor = conn.execute(query, params or None)
            return cursor.fetchall() if cursor.description else []
        except psycopg.Error as exc:
            if conn.broken or conn.closed:
                self._drop()
            raise QueryFailed(describe(exc)) from None

    def _connection(self, timeout_s: float) -> psycopg.Connection[Row]:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        self._drop()
        database = self._ctx.endpoints.database
        statement_timeout_ms = max(1, round(timeout_s * 1000))
        conn = psycopg.connect(
            host=database.host,
            port=database.port,
            user=database.user,
            dbname=database.dbname,
            password=self._ctx.secrets().db_password,
            # libpq's minimum; the caller stops waiting after timeout_s anyway.
            connect_timeout=max(2, math.ceil(timeout_s)),
            application_name=self._application_name,
            options=f"-c statement_timeout={statement_timeout_ms}",
            autocommit=True,
        )
        with self._fd_lock:
            self._conn = conn
            self._fd = conn.pgconn.socket
        log.debug("%s connected to %s", self._application_name, database.url())
        return conn

    def _drop(self) -> None:
        with self._fd_lock:
            conn, self._conn, self._fd = self._conn, None, None
        if conn is not None:
            conn.close()

    # On the caller's thread.

    def _abort(self) -> None:
        """Shut the socket down so that a read blocked on it fails now."""
        with self._fd_lock:
            if self._fd is None:
                return
            try:
                with socket.socket(fileno=os.dup(self._fd)) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError as exc:
                log.debug("shutting down a stuck connection: %s", exc)
