"""The MEV API (mev-infra) as a Starlette app: routes, auth, audit, errors."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.standins.mev_api.audit import AuditLog
from harness.standins.mev_api.db import Database, DatabaseUnavailable
from harness.standins.mev_api.keys import Auth, KeyCheck, KeyStore, now_iso
from harness.standins.mev_api.models import (
    STRATEGIES,
    AuditQuery,
    OpportunityQuery,
    RotateRequest,
    StrategyPatch,
    first_problem,
)
from harness.standins.mev_api.openapi import openapi_document

log = logging.getLogger(__name__)

OPPORTUNITY_COLUMNS = (
    "id, chain_id, chain, strategy, block_number, target_block, detected_at, "
    "expected_profit_wei::text AS expected_profit_wei, gas_estimate, "
    "net_profit_wei::text AS net_profit_wei, status, bundle_hash, relay, "
    "rejection_reason"
)
UNAVAILABLE_LOG_S = 10.0
"""At most one 503 warning of each kind in this many seconds."""

STRATEGY_COLUMNS = "name, enabled, min_profit_wei::text AS min_profit_wei, updated_at"


class AnonymousReads(StrEnum):
    """Who may read without a key: loopback clients (default), anyone, no one."""

    LOOPBACK = "loopback"
    ANY = "any"
    OFF = "off"


class Access(StrEnum):
    """What an endpoint needs: nothing, a key unless reads are open, a key."""

    PUBLIC = "public"
    READ = "read"
    KEY = "key"


@dataclass(frozen=True)
class ApiConfig:
    """The API's settings, from the command line (timeouts in seconds)."""

    database_url: str
    keys_file: Path
    audit_log: Path
    pool_min: int = 1
    pool_max: int = 10
    connect_timeout_s: float = 2.0
    query_timeout_s: float = 2.0
    anonymous_reads: AnonymousReads = AnonymousReads.LOOPBACK


class ApiProblem(Exception):
    """An answer other than success: HTTP status, error code, one-line message."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra
        super().__init__(message)

    def response(self) -> JSONResponse:
        """The problem as a JSON answer: {"error": code, "message": ..., ...}."""
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        body = {"error": self.code, "message": self.message, **self.extra}
        return JSONResponse(body, status_code=self.status, headers=headers)


def _presented_key(request: Request) -> str | None:
    """The key from X-API-Key or `Authorization: Bearer`, or None if absent."""
    if (key := request.headers.get("x-api-key")) is not None:
        return key.strip()
    authorization = request.headers.get("authorization")
    if authorization is None:
        return None
    scheme, _, value = authorization.partition(" ")
    # Another scheme still counts as presenting a credential, and a bad one.
    return value.strip() if scheme.lower() == "bearer" else ""


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {name: _iso(value) for name, value in row.items()}


ModelT = TypeVar("ModelT", bound=BaseModel)


def _parse(model: type[ModelT], data: dict[str, Any], source: str) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        field, message = first_problem(exc, source)
        raise ApiProblem(400, "bad_request", message, parameter=field) from None


def _query(request: Request) -> dict[str, str]:
    items = request.query_params.multi_items()
    seen: set[str] = set()
    for name, _ in items:
        if name in seen:
            raise ApiProblem(
                400,
                "bad_request",
                f"query parameter {name!r} given more than once",
                parameter=name,
            )
        seen.add(name)
    return dict(items)


async def _json_body(request: Request, *, required: bool) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        if required:
            raise ApiProblem(400, "bad_request", "request body must be a JSON object")
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ApiProblem(
            400, "bad_request", f"request body is not valid JSON: {exc}"
        ) from None
    if not isinstance(value, dict):
        raise ApiProblem(400, "bad_request", "request body must be a JSON object")
    return value


Handler = Callable[[Request, KeyCheck], Awaitable[Response]]


class MevApi:
    """The API's state (pool, keys, audit) and its request handlers."""

    def __init__(self, config: ApiConfig) -> None:
        self.config = config
        self.db = Database(
            config.database_url,
            pool_min=config.pool_min,
            pool_max=config.pool_max,
            connect_timeout_s=config.connect_timeout_s,
            query_timeout_s=config.query_timeout_s,
        )
        self.keys = KeyStore(config.keys_file)
        self.audit = AuditLog(config.audit_log)
        self.started = time.monotonic()
        self._unavailable_logged: dict[str, float] = {}

    def app(self) -> Starlette:
        """The ASGI app; the pool opens at startup and closes at shutdown."""
        guard = self._guarded
        routes = [
            Route("/", guard(Access.PUBLIC, self.index)),
            Route("/health", guard(Access.PUBLIC, self.health)),
            Route("/openapi.json", guard(Access.PUBLIC, self.openapi)),
            Route("/api/v1/opportunities", guard(Access.READ, self.opportunities)),
            Route("/api/v1/opportunities/{id}", guard(Access.READ, self.opportunity)),
            Route("/api/v1/strategies", guard(Access.READ, self.strategies)),
            Route(
                "/api/v1/strategies/{name}",
                guard(Access.KEY, self.patch_strategy),
                methods=["PATCH"],
            ),
            Route(
                "/api/v1/admin/keys/rotate",
                guard(Access.KEY, self.rotate_key),
                methods=["POST"],
            ),
            Route("/api/v1/audit", guard(Access.KEY, self.audit_records)),
        ]
        return Starlette(
            routes=routes,
            lifespan=self._lifespan,
            exception_handlers={HTTPException: self._http_error},
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.db.open()
        log.info("mev-api up: pool %d..%d, keys %s, audit %s",
                 self.config.pool_min, self.config.pool_max,
                 self.config.keys_file, self.config.audit_log)  # fmt: skip
        try:
            yield
        finally:
            await self.db.close()

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        message = f"{request.method} {request.url.path}: {exc.detail}"
        return ApiProblem(exc.status_code, code, message).response()

    def _guarded(
        self, access: Access, handler: Handler
    ) -> Callable[[Request], Awaitable[Response]]:
        """Wrap a handler with auth, error mapping and the audit record."""

        async def endpoint(request: Request) -> Response:
            check = self.keys.check(_presented_key(request))
            try:
                self._authorize(access, check, request)
                response = await handler(request, check)
            except ApiProblem as problem:
                response = problem.response()
            except DatabaseUnavailable as exc:
                self._note_unavailable(exc)
                response = ApiProblem(503, exc.code, exc.reason).response()
            except Exception:
                log.exception("%s %s failed", request.method, request.url.path)
                response = ApiProblem(
                    500, "internal_error", "the API failed; see its log"
                ).response()
            if check.auth is not Auth.MISSING or response.status_code == 401:
                self._record(request, check, response.status_code)
            return response

        return endpoint

    def _note_unavailable(self, exc: DatabaseUnavailable) -> None:
        """Log a 503 once per kind and per UNAVAILABLE_LOG_S, not per request."""
        now = time.monotonic()
        last = self._unavailable_logged.get(exc.code)
        if last is None or now - last >= UNAVAILABLE_LOG_S:
            log.warning("answering 503: %s", exc)
            self._unavailable_logged[exc.code] = now

    def _authorize(self, access: Access, check: KeyCheck, request: Request) -> None:
        if check.auth in (Auth.INVALID, Auth.REVOKED):
            raise ApiProblem(401, "unauthorized", "invalid or revoked API key")
        if check.auth is Auth.VALID or access is Access.PUBLIC:
            return
        anonymous = self.config.anonymous_reads
        host = request.client.host if request.client else None
        if access is Access.READ and (
            anonymous is AnonymousReads.ANY
            or (anonymous is AnonymousReads.LOOPBACK and _is_loopback(host))
        ):
            return
        raise ApiProblem(
            401,
            "unauthorized",
            "an API key is required: send X-API-Key or Authorization: Bearer",
        )

    def _record(self, request: Request, check: KeyCheck, status: int) -> None:
        key_id = check.key_id or ("none" if check.auth is Auth.MISSING else "invalid")
        self.audit.append(
            {
                "time": now_iso(),
                "key_id": key_id,
                "auth": check.auth.value,
                "client": request.client.host if request.client else "unknown",
                "method": request.method,
                "path": request.url.path,
                "status": status,
            }
        )

    async def index(self, request: Request, check: KeyCheck) -> Response:
        """GET /: what this service is and where its endpoints are."""
        document = openapi_document()
        endpoints = [
            f"{method.upper()} {path}"
            for path, operations in document["paths"].items()
            for method in operations
        ]
        return JSONResponse(
            {
                "service": "mev-infra",
                "description": document["info"]["description"],
                "version": document["info"]["version"],
                "endpoints": endpoints,
                "openapi": "/openapi.json",
            }
        )

    async def openapi(self, request: Request, check: KeyCheck) -> Response:
        """GET /openapi.json: the OpenAPI 3 document of this API."""
        return JSONResponse(openapi_document())

    async def health(self, request: Request, check: KeyCheck) -> Response:
        """GET /health: SELECT 1 through the pool; 200, or 503 with the reason."""
        started = time.monotonic()
        body: dict[str, Any] = {"keys_file": self.keys.problem or "ok"}
        try:
            await self.db.fetch_all("SELECT 1")
        except DatabaseUnavailable as exc:
            body |= {
                "status": "unavailable",
                "database": "error",
                "error": exc.code,
                "reason": exc.reason,
            }
            status = 503
        else:
            body |= {"status": "ok", "database": "ok"}
            status = 200
        body["latency_ms"] = round((time.monotonic() - started) * 1000, 1)
        body["pool"] = self.db.stats()
        body["uptime_s"] = round(time.monotonic() - self.started, 1)
        return JSONResponse(body, status_code=status)

    async def opportunities(self, request: Request, check: KeyCheck) -> Response:
        """GET /api/v1/opportunities: filtered, newest first, keyset-paged on id."""
        query = _parse(OpportunityQuery, _query(request), "query parameter")
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("chain_id = %s", query.chain_id),
            ("chain = %s", query.chain),
            ("strategy = %s", query.strategy),
            ("status = %s", query.status),
            ("net_profit_wei >= %s::numeric", query.min_profit_wei),
            ("block_number >= %s", query.since_block),
            ("id < %s", query.cursor),
        ):
            if value is not None:
                clauses.append(column)
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        rows = await self.db.fetch_all(
            f"SELECT {OPPORTUNITY_COLUMNS} FROM opportunities {where}"
            "ORDER BY id DESC LIMIT %s",
            (*params, query.limit + 1),
        )
        more = len(rows) > query.limit
        page = [_jsonable(row) for row in rows[: query.limit]]
        return JSONResponse(
            {
                "opportunities": page,
                "count": len(page),
                "next_cursor": str(page[-1]["id"]) if more else None,
            }
        )

    async def opportunity(self, request: Request, check: KeyCheck) -> Response:
        """GET /api/v1/opportunities/{id}: one row, or 404."""
        raw = request.path_params["id"]
        if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
            raise ApiProblem(
                400,
                "bad_request",
                f"opportunity id must be a positive integer (got {raw!r})",
                parameter="id",
            )
        row = await self.db.fetch_one(
            f"SELECT {OPPORTUNITY_COLUMNS} FROM opportunities WHERE id = %s",
            (int(raw),),
        )
        if row is None:
            raise ApiProblem(404, "not_found", f"no opportunity with id {raw}")
        return JSONResponse(_jsonable(row))

    async def strategies(self, request: Request, check: KeyCheck) -> Response:
        """GET /api/v1/strategies: every strategy and its settings."""
        _parse(_NoQuery, _query(request), "query parameter")
        rows = await self.db.fetch_all(
            f"SELECT {STRATEGY_COLUMNS} FROM strategies ORDER BY name"
        )
        return JSONResponse({"strategies": [_jsonable(row) for row in rows]})

    async def patch_strategy(self, request: Request, check: KeyCheck) -> Response:
        """PATCH /api/v1/strategies/{name}: set enabled and/or min_profit_wei."""
        name = request.path_params["name"]
        if name not in STRATEGIES:
            raise ApiProblem(
                404,
                "not_found",
                f"no strategy named {name!r}; strategies: {', '.join(STRATEGIES)}",
            )
        body = await _json_body(request, required=True)
        patch = _parse(StrategyPatch, body, "field")
        if patch.enabled is None and patch.min_profit_wei is None:
            raise ApiProblem(
                400, "bad_request", "give enabled and/or min_profit_wei to change"
            )
        row = await self.db.fetch_one(
            "UPDATE strategies SET enabled = COALESCE(%s, enabled), "
            "min_profit_wei = COALESCE(%s::numeric, min_profit_wei), "
            f"updated_at = now() WHERE name = %s RETURNING {STRATEGY_COLUMNS}",
            (patch.enabled, patch.min_profit_wei, name),
        )
        if row is None:
            raise ApiProblem(404, "not_found", f"strategy {name!r} is not in mev_db")
        log.info("strategy %s changed by key %s: %s", name, check.key_id,
                 patch.model_dump(exclude_none=True))  # fmt: skip
        return JSONResponse(_jsonable(row))

    async def rotate_key(self, request: Request, check: KeyCheck) -> Response:
        """POST /api/v1/admin/keys/rotate: a new key, shown once; old one revoked."""
        body = _parse(RotateRequest, await _json_body(request, required=False), "field")
        assert check.key_id is not None
        issued = self.keys.rotate(
            check.key_id, revoke_all=body.revoke == "all", label=body.label
        )
        return JSONResponse(
            {
                "id": issued.record.id,
                "key": issued.key,
                "label": issued.record.label,
                "created_at": issued.record.created_at,
                "revoked": issued.revoked,
            },
            headers={"Cache-Control": "no-store"},
        )

    async def audit_records(self, request: Request, check: KeyCheck) -> Response:
        """GET /api/v1/audit: the newest audit records, newest first."""
        query = _parse(AuditQuery, _query(request), "query parameter")
        records = self.audit.recent(query.limit)
        return JSONResponse({"records": records, "count": len(records)})


class _NoQuery(BaseModel):
    """An endpoint that takes no query parameters."""

    model_config = ConfigDict(extra="forbid")


def create_app(config: ApiConfig) -> Starlette:
    """The MEV API as an ASGI app."""
    return MevApi(config).app()
