"""The stand-in's HTTP face: erigon's JSON-RPC over HTTP, /health, /_standin/ controls.

The JSON-RPC endpoint is a plain ASGI callable (no Request object, no
Response class) because it is the hot path; everything else is ordinary
Starlette. A background task writes the head to the data dir.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from harness.standins.erigon.control import control_mount
from harness.standins.erigon.node import Node

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 32 * 1024 * 1024
"""erigon's maxRequestContentLength: 32 MiB."""

JSON_TYPES = frozenset(
    {b"application/json", b"application/json-rpc", b"application/jsonrequest"}
)

ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
"""erigon answers /health whatever the method."""

PERSIST_INTERVAL_MIN_MS = 250
"""The head is written at most this often (and at least once a block)."""

_JSON_HEADERS = [(b"content-type", b"application/json")]
_TEXT_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"x-content-type-options", b"nosniff"),
]


async def _reply(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive, limit: int) -> bytes:
    """The request body, cut at `limit` bytes as erigon's LimitReader does."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        if size < limit:
            chunks.append(chunk[: limit - size])
        size += len(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class JsonRpcEndpoint:
    """ASGI app for JSON-RPC over HTTP, with erigon's HTTP-level checks."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request."""
        method = scope["method"]
        if method in ("PUT", "DELETE"):
            await _reply(send, 405, b"method not allowed\n", _TEXT_HEADERS)
            return

        content_type = b""
        length = 0
        chunked = False
        for key, value in scope["headers"]:
            if key == b"content-type":
                content_type = value
            elif key == b"content-length" and value.isdigit():
                length = int(value)
            elif key == b"transfer-encoding":
                chunked = True

        if length > MAX_BODY_BYTES:
            too_large = f"content length too large ({length}>{MAX_BODY_BYTES})\n"
            await _reply(send, 413, too_large.encode(), _TEXT_HEADERS)
            return
        bodiless_get = method == "GET" and length == 0 and not chunked
        if bodiless_get and not scope["query_string"]:
            # Load balancers' health checks: a bare 200.
            await _reply(send, 200, b"", [])
            return
        if method not in ("GET", "OPTIONS") and not _is_json(content_type):
            wrong_type = b"invalid content type, only application/json is supported\n"
            await _reply(send, 415, wrong_type, _TEXT_HEADERS)
            return

        body = b"" if bodiless_get else await _read_body(receive, MAX_BODY_BYTES)
        delay_ms = self.node.delay_ms
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        if bodiless_get:
            answer = self._query_call(scope["query_string"])
        else:
            answer = self.node.dispatcher.handle(body)
        await _reply(send, 200, answer, _JSON_HEADERS)

    def _query_call(self, query_string: bytes) -> bytes:
        """erigon's GET form: ?method=...&params=...&id=... (params may be base64)."""
        query = parse_qs(query_string.decode("latin-1"))
        method = query.get("method", [""])[0]
        raw_params = query.get("params", [""])[0]
        with contextlib.suppress(binascii.Error, ValueError):
            raw_params = base64.urlsafe_b64decode(raw_params.encode("latin-1")).decode()
        msg_id: Any = 1
        if "id" in query:
            try:
                msg_id = json.loads(query["id"][0])
            except ValueError:
                msg_id = query["id"][0]
        try:
            params = json.loads(raw_params) if raw_params else None
        except ValueError:
            params = raw_params
        return self.node.dispatcher.call(method, params, msg_id)


def _is_json(content_type: bytes) -> bool:
    media_type = content_type.split(b";", 1)[0].strip().lower()
    return media_type in JSON_TYPES


def health_endpoint(node: Node) -> Callable[[Request], Awaitable[Response]]:
    """The /health handler for `node`."""

    async def health(request: Request) -> Response:
        values = request.headers.getlist("x-erigon-healthcheck")
        body = b"" if values else await request.body()
        if node.delay_ms:
            await asyncio.sleep(node.delay_ms / 1000)
        if values:
            status, result = node.health.from_headers(values)
        else:
            status, result = node.health.from_body(body)
        content = json.dumps(result, separators=(",", ":")).encode()
        return Response(content, status, media_type="text/plain; charset=utf-8")

    return health


async def _persist_forever(node: Node) -> None:
    interval_s = max(node.block_time_ms, PERSIST_INTERVAL_MIN_MS) / 1000
    while True:
        await asyncio.sleep(interval_s)
        try:
            # Read the head here, on the loop; only the write goes to a thread.
            await asyncio.to_thread(node.persist, node.chain.head())
        except OSError as exc:
            log.warning("could not write the head to %s: %s", node.store.head_path, exc)


def build_app(node: Node) -> Starlette:
    """The ASGI app for `node`: JSON-RPC on every path but /health and /_standin/."""
    rpc = JsonRpcEndpoint(node)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        node.chain.start()
        task = asyncio.create_task(_persist_forever(node))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            node.persist()
            log.info("stopped at head %d", node.chain.head())

    routes = [
        Route("/", rpc),
        Route("/health", health_endpoint(node), methods=ALL_METHODS),
        control_mount(node),
        Route("/{path:path}", rpc),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
