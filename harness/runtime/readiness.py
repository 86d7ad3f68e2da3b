"""Readiness checks: is a service answering as a healthy one does?"""

from __future__ import annotations

import httpx

from harness.runtime.endpoints import Secrets
from harness.runtime.state import ReadyCheck


def check(ready: ReadyCheck, secrets: Secrets | None, *, timeout_s: float = 1.0) -> str:
    """Run one readiness check; return "" when ready, else what was observed."""
    if ready.kind == "http":
        return _check_http(ready.url, timeout_s)
    return _check_postgres(ready.url, secrets, timeout_s)


def _check_http(url: str, timeout_s: float) -> str:
    try:
        response = httpx.get(url, timeout=timeout_s)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__} from {url}"
    if response.status_code != 200:
        return f"HTTP {response.status_code} from {url}"
    return ""


def _check_postgres(url: str, secrets: Secrets | None, timeout_s: float) -> str:
    import psycopg

    password = secrets.db_password if secrets else None
    try:
        with psycopg.connect(
            url, password=password, connect_timeout=max(1, round(timeout_s))
        ) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return f"{type(exc).__name__}: {first}"
    return ""
