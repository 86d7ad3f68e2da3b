"""The /_standin/ control endpoints: drills inject faults into a running node here.

- `GET  /_standin/state`   -> the node's state
- `POST /_standin/sync`    `{"stalled": bool}`: stop the head, or let it catch up
- `POST /_standin/peers`   `{"count": int >= 0}`: set the peer count
- `POST /_standin/latency` `{"delay_ms": int >= 0}`: delay RPC and /health

Every POST answers with the new state; a bad body gets 400 and a message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt
from pydantic import ValidationError as BodyInvalid
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from harness.standins.erigon.node import Node

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

MAX_PEERS = 10_000
MAX_DELAY_MS = 600_000


class SyncBody(BaseModel):
    """POST /_standin/sync."""

    model_config = ConfigDict(extra="forbid")
    stalled: StrictBool


class PeersBody(BaseModel):
    """POST /_standin/peers."""

    model_config = ConfigDict(extra="forbid")
    count: StrictInt = Field(ge=0, le=MAX_PEERS)


class LatencyBody(BaseModel):
    """POST /_standin/latency; 0 clears the delay."""

    model_config = ConfigDict(extra="forbid")
    delay_ms: StrictInt = Field(ge=0, le=MAX_DELAY_MS)


_EXAMPLES: dict[type[BaseModel], str] = {
    SyncBody: '{"stalled": true}',
    PeersBody: '{"count": 25}',
    LatencyBody: '{"delay_ms": 150}',
}


def _bad_request(path: str, problem: str, model: type[BaseModel]) -> Response:
    message = f"bad body for POST {path}: {problem}; send e.g. {_EXAMPLES[model]}"
    return JSONResponse({"error": message}, status_code=400)


async def _parse(request: Request, model: type[M]) -> M | Response:
    """The body as `model`, or a 400 response saying what is wrong."""
    path = request.url.path
    raw = await request.body()
    try:
        data = json.loads(raw)
    except ValueError:
        shown = raw[:60].decode(errors="replace")
        return _bad_request(path, f"not JSON ({shown!r})", model)
    try:
        return model.model_validate(data)
    except BodyInvalid as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']} "
            f"(got {e.get('input')!r})"
            for e in exc.errors()
        )
        return _bad_request(path, problems, model)


def control_mount(node: Node) -> Mount:
    """The /_standin/ routes acting on `node` (404 and 405 for the rest)."""

    async def state(request: Request) -> Response:
        return JSONResponse(node.state())

    async def sync(request: Request) -> Response:
        body = await _parse(request, SyncBody)
        if isinstance(body, Response):
            return body
        node.chain.set_stalled(body.stalled)
        log.info("sync %s by control", "stalled" if body.stalled else "resumed")
        return JSONResponse(node.state())

    async def peers(request: Request) -> Response:
        body = await _parse(request, PeersBody)
        if isinstance(body, Response):
            return body
        node.chain.set_peers(body.count)
        log.info("peers set to %d by control", body.count)
        return JSONResponse(node.state())

    async def latency(request: Request) -> Response:
        body = await _parse(request, LatencyBody)
        if isinstance(body, Response):
            return body
        node.delay_ms = body.delay_ms
        log.info("response delay set to %d ms by control", body.delay_ms)
        return JSONResponse(node.state())

    handlers: list[tuple[str, Callable[[Request], Any], str]] = [
        ("/state", state, "GET"),
        ("/sync", sync, "POST"),
        ("/peers", peers, "POST"),
        ("/latency", latency, "POST"),
    ]
    routes = [Route(path, fn, methods=[verb]) for path, fn, verb in handlers]
    return Mount("/_standin", routes=routes)
