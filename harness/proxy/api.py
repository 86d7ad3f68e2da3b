"""The fault proxy's HTTP API, compatible with Toxiproxy's API v2, as an ASGI app.

Routes, status codes, JSON shapes and error bodies follow Toxiproxy 2.12:
errors are `{"error": ..., "status": ...}` plus a newline as text/plain, every
response carries `X-Toxiproxy-Request-Id`, and a browser User-Agent gets 403.
The app runs on the same event loop as the proxies it controls.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from harness.proxy.api_errors import ApiError
from harness.proxy.bodies import parse_json
from harness.proxy.collection import ProxyCollection

log = logging.getLogger(__name__)

TOXIPROXY_VERSION = "2.12.0"
"""The Toxiproxy release whose API this server speaks (GET /version)."""

REQUEST_ID_HEADER = b"x-toxiproxy-request-id"

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_TYPE = b"application/json"
TEXT_TYPE = b"text/plain; charset=utf-8"


@dataclass
class Response:
    """A status, a content type (none for 204), a body and extra headers."""

    status: int
    content_type: bytes | None = None
    body: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


def json_bytes(value: Any) -> bytes:
    """Compact JSON as Go's encoding/json writes it (HTML characters escaped)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return text.encode()


def ok_json(value: Any, status: int = 200) -> Response:
    """A JSON success response."""
    return Response(status, JSON_TYPE, json_bytes(value))


def error_response(error: ApiError) -> Response:
    """An API error: JSON plus a newline, served as text/plain (Go's http.Error)."""
    body = json_bytes({"error": error.message, "status": error.status}) + b"\n"
    return Response(
        error.status, TEXT_TYPE, body, [(b"x-content-type-options", b"nosniff")]
    )


def new_request_id() -> str:
    """A 20-character base32hex id, the shape of Toxiproxy's request ids."""
    return base64.b32hexencode(os.urandom(12)).decode().lower()[:20]


Handler = Callable[[dict[str, str], bytes], Awaitable[Response]]


class ToxiproxyApi:
    """The ASGI app: routing, request ids, the browser guard, error mapping."""

    def __init__(self, collection: ProxyCollection | None = None) -> None:
        self.collection = collection if collection is not None else ProxyCollection()
        self._routes: list[tuple[re.Pattern[str], dict[str, Handler]]] = []
        self._route("/reset", POST=self.reset)
        self._route("/proxies", GET=self.proxy_index, POST=self.proxy_create)
        self._route("/populate", POST=self.populate)
        self._route(
            "/proxies/{proxy}",
            GET=self.proxy_show,
            POST=self.proxy_update,
            PATCH=self.proxy_update,
            DELETE=self.proxy_delete,
        )
        self._route(
            "/proxies/{proxy}/toxics", GET=self.toxic_index, POST=self.toxic_create
        )
        self._route(
            "/proxies/{proxy}/toxics/{toxic}",
            GET=self.toxic_show,
            POST=self.toxic_update,
            PATCH=self.toxic_update,
            DELETE=self.toxic_delete,
        )
        self._route("/version", GET=self.version)

    def _route(self, template: str, **handlers: Handler) -> None:
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        self._routes.append((re.compile(f"^{pattern}$"), handlers))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.collection.stop_all()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        method: str = scope["method"]
        path: str = scope["path"]
        agent = dict(scope["headers"]).get(b"user-agent", b"")
        if agent.startswith(b"Mozilla/"):
            response = Response(403, TEXT_TYPE, b"User agent not allowed\n")
        else:
            response = await self._dispatch(method, path, body)
        level = logging.DEBUG if method == "GET" else logging.INFO
        log.log(level, "%s %s -> %d", method, path, response.status)
        await _send(send, response)

    async def _dispatch(self, method: str, path: str, body: bytes) -> Response:
        for pattern, handlers in self._routes:
            match = pattern.match(path)
            if match is None:
                continue
            handler = handlers.get(method)
            if handler is None:
                return Response(405)
            try:
                return await handler(match.groupdict(), body)
            except ApiError as exc:
                return error_response(exc)
            except Exception as exc:
                log.exception("%s %s failed", method, path)
                return error_response(ApiError(str(exc), 500))
        return Response(404, TEXT_TYPE, b"404 page not found\n")

    # Handlers: one a route and method, as in Toxiproxy's api.go.

    async def reset(self, params: dict[str, str], body: bytes) -> Response:
        """POST /reset: every proxy enabled, every toxic removed."""
        async with self.collection.lock:
            await self.collection.reset()
        return Response(204)

    async def proxy_index(self, params: dict[str, str], body: bytes) -> Response:
        """GET /proxies: `{name: proxy}`."""
        return ok_json({p.name: p.to_json() for p in self.collection.all()})

    async def proxy_create(self, params: dict[str, str], body: bytes) -> Response:
        """POST /proxies: 201 and the new proxy."""
        async with self.collection.lock:
            proxy = await self.collection.create(parse_json(body))
        return ok_json(proxy.to_json(), 201)

    async def populate(self, params: dict[str, str], body: bytes) -> Response:
        """POST /populate: 201 `{"proxies": [...]}`; errors keep that shape."""
        try:
            async with self.collection.lock:
                proxies = await self.collection.populate(parse_json(body))
        except ApiError as exc:
            # Toxiproxy answers populate errors as JSON with the error inline.
            value = {"error": exc.message, "status": exc.status, "proxies": None}
            return Response(exc.status, JSON_TYPE, json_bytes(value))
        return ok_json({"proxies": [p.to_json() for p in proxies]}, 201)

    async def proxy_show(self, params: dict[str, str], body: bytes) -> Response:
        """GET /proxies/{proxy}."""
        return ok_json(self.collection.get(params["proxy"]).to_json())

    async def proxy_update(self, params: dict[str, str], body: bytes) -> Response:
        """POST|PATCH /proxies/{proxy}: partial update of listen, upstream, enabled."""
        async with self.collection.lock:
            proxy = self.collection.get(params["proxy"])
            await self.collection.update(proxy.name, parse_json(body))
        return ok_json(proxy.to_json())

    async def proxy_delete(self, params: dict[str, str], body: bytes) -> Response:
        """DELETE /proxies/{proxy}: 204."""
        async with self.collection.lock:
            self.collection.delete(params["proxy"])
        return Response(204)

    async def toxic_index(self, params: dict[str, str], body: bytes) -> Response:
        """GET /proxies/{proxy}/toxics: `[toxic, ...]`."""
        toxics = self.collection.get(params["proxy"]).toxics
        return ok_json([spec.to_json() for spec in toxics.specs()])

    async def toxic_create(self, params: dict[str, str], body: bytes) -> Response:
        """POST /proxies/{proxy}/toxics: 200 and the new toxic."""
        async with self.collection.lock:
            toxics = self.collection.get(params["proxy"]).toxics
            spec = toxics.add(parse_json(body))
        return ok_json(spec.to_json())

    async def toxic_show(self, params: dict[str, str], body: bytes) -> Response:
        """GET /proxies/{proxy}/toxics/{toxic}."""
        toxics = self.collection.get(params["proxy"]).toxics
        return ok_json(toxics.get(params["toxic"]).to_json())

    async def toxic_update(self, params: dict[str, str], body: bytes) -> Response:
        """POST|PATCH /proxies/{proxy}/toxics/{toxic}: attributes and toxicity."""
        async with self.collection.lock:
            toxics = self.collection.get(params["proxy"]).toxics
            spec = toxics.update(params["toxic"], parse_json(body))
        return ok_json(spec.to_json())

    async def toxic_delete(self, params: dict[str, str], body: bytes) -> Response:
        """DELETE /proxies/{proxy}/toxics/{toxic}: 204."""
        async with self.collection.lock:
            self.collection.get(params["proxy"]).toxics.remove(params["toxic"])
        return Response(204)

    async def version(self, params: dict[str, str], body: bytes) -> Response:
        """GET /version: `{"version": "2.12.0"}` and a newline."""
        text = json.dumps({"version": TOXIPROXY_VERSION}) + "\n"
        return Response(200, b"application/json;charset=utf-8", text.encode())


async def _send(send: Send, response: Response) -> None:
    headers = [(REQUEST_ID_HEADER, new_request_id().encode()), *response.headers]
    if response.content_type is not None:
        headers.append((b"content-type", response.content_type))
    if response.status != 204:
        headers.append((b"content-length", str(len(response.body)).encode()))
    await send(
        {"type": "http.response.start", "status": response.status, "headers": headers}
    )
    await send({"type": "http.response.body", "body": response.body})
