"""JSON-RPC 2.0 as erigon's rpc package speaks it: messages, batches, error codes.

`Dispatcher.handle` takes a request body and returns the response body. The
classification of messages follows erigon (calls, notifications, responses,
invalid messages), as do the messages of its errors; every answer goes out
with HTTP 200, including parse errors.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000
"""erigon's code for every method error that carries no code of its own."""

BATCH_LIMIT = 100
"""erigon's default --rpc.batch.limit."""

Handler = Callable[[list[Any]], Any]
"""A method: takes the positional params, returns a JSON-able result."""

_encode = json.JSONEncoder(separators=(",", ":")).encode


class RpcError(Exception):
    """A method failed; `code` and `message` go into the error object."""

    def __init__(self, message: str, code: int = SERVER_ERROR) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidParams(RpcError):
    """The params could not be decoded into the method's arguments (-32602)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, INVALID_PARAMS)


def error_object(msg_id: Any, code: int, message: str) -> bytes:
    """One JSON-RPC error response (no trailing newline)."""
    return _encode(
        {"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}}
    ).encode()


_PARSE_ERROR = error_object(None, PARSE_ERROR, "parse error") + b"\n"
_INVALID_REQUEST = error_object(None, INVALID_REQUEST, "invalid request")
_EMPTY_BATCH = error_object(None, INVALID_REQUEST, "empty batch") + b"\n"


def _valid_id(msg_id: Any) -> bool:
    # erigon accepts any JSON id except an object or an array.
    return not isinstance(msg_id, dict | list)


def _id_bytes(msg_id: Any) -> bytes:
    if type(msg_id) is int:
        return str(msg_id).encode()
    return _encode(msg_id).encode()


class Dispatcher:
    """Routes JSON-RPC messages to `methods`; batches up to `batch_limit`."""

    def __init__(
        self, methods: dict[str, Handler], batch_limit: int = BATCH_LIMIT
    ) -> None:
        self.methods = methods
        self.batch_limit = batch_limit

    def handle(self, body: bytes) -> bytes:
        """The response body for a request body; empty when nothing answers."""
        if not body.strip():
            return b""
        try:
            message = json.loads(body)
        except (ValueError, RecursionError):
            return _PARSE_ERROR
        if type(message) is list:
            return self._batch(message)
        answer = self._answer(message)
        return b"" if answer is None else answer + b"\n"

    def call(self, method: str, params: Any, msg_id: Any = 1) -> bytes:
        """Answer one call given apart (erigon's GET with a query string)."""
        answer = self._answer(
            {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}
        )
        return b"" if answer is None else answer + b"\n"

    def _batch(self, messages: list[Any]) -> bytes:
        if not messages:
            return _EMPTY_BATCH
        if len(messages) > self.batch_limit:
            first_id = next((m["id"] for m in messages if _is_call(m)), None)
            reason = (
                f"batch limit {self.batch_limit} exceeded (can increase by "
                f"--rpc.batch.limit). Requested batch of size: {len(messages)}"
            )
            return b"[" + error_object(first_id, INVALID_REQUEST, reason) + b"]\n"
        answers = [a for m in messages if (a := self._answer(m)) is not None]
        if not answers:
            return b""
        return b"[" + b",".join(answers) + b"]\n"

    def _answer(self, message: Any) -> bytes | None:
        """One message's response, or None for notifications and responses."""
        if type(message) is not dict:
            return _INVALID_REQUEST
        method = message.get("method")
        has_id = "id" in message
        msg_id = message.get("id")

        if type(method) is not str or not method:
            if has_id and _valid_id(msg_id):
                if "params" not in message and (
                    "result" in message or "error" in message
                ):
                    return None  # a response to a call we never made
                return error_object(msg_id, INVALID_REQUEST, "invalid request")
            return _INVALID_REQUEST
        if has_id and not _valid_id(msg_id):
            return _INVALID_REQUEST

        try:
            result = self._run(method, message.get("params"))
        except RpcError as exc:
            return error_object(msg_id, exc.code, exc.message) if has_id else None
        if not has_id:
            return None
        return (
            b'{"jsonrpc":"2.0","id":'
            + _id_bytes(msg_id)
            + b',"result":'
            + _encode(result).encode()
            + b"}"
        )

    def _run(self, method: str, params: Any) -> Any:
        handler = self.methods.get(method)
        if handler is None:
            raise RpcError(
                f"the method {method} does not exist/is not available",
                METHOD_NOT_FOUND,
            )
        if params is None:
            params = []
        elif type(params) is not list:
            raise InvalidParams("non-array args")
        try:
            return handler(params)
        except RpcError:
            raise
        except Exception:
            log.exception("method %s failed", method)
            raise RpcError("internal error", INTERNAL_ERROR) from None


def _is_call(message: Any) -> bool:
    return (
        type(message) is dict
        and type(message.get("method")) is str
        and bool(message["method"])
        and "id" in message
        and _valid_id(message["id"])
    )
