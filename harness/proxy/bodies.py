"""Request bodies of the fault proxy's API, decoded the way Toxiproxy's Go server does.

Bodies pass through strict pydantic models. Unknown fields are ignored rather
than forbidden, because Toxiproxy ignores them and real clients send them (the
Go client posts `toxics` back; others PATCH a proxy object they fetched). A
JSON `null` means "not given". Decoding errors become 400 `bad request body:`
with the wording of Go's encoding/json, so clients that match on it still do.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.proxy.api_errors import ApiError, bad_request_body

Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
"""An integer attribute: Go's int64, so 1.5, "1" and true are rejected."""

M = TypeVar("M", bound=BaseModel)

_GO_TYPES = {
    "int_type": "int64",
    "string_type": "string",
    "bool_type": "bool",
    "float_type": "float32",
    "dict_type": "map[string]interface {}",
}


class Body(BaseModel):
    """Base of every request body: strict types, unknown fields ignored."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class ProxyBody(Body):
    """POST /proxies, one entry of POST /populate, and POST|PATCH /proxies/{name}."""

    name: str | None = None
    listen: str | None = None
    upstream: str | None = None
    enabled: bool | None = None


class ToxicBody(Body):
    """POST /proxies/{name}/toxics; POST|PATCH of a toxic reads attributes, toxicity."""

    name: str | None = None
    type: str | None = None
    stream: str | None = None
    toxicity: float | None = None
    attributes: dict[str, Any] | None = None


def parse_json(raw: bytes) -> Any:
    """The first JSON value in `raw`, or 400 worded like Go's json.Decoder.

    Like Go's decoder, anything after the first value is ignored.
    """
    text = raw.decode("utf-8", errors="replace").lstrip()
    if not text:
        raise bad_request_body("EOF")
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError as exc:
        raise bad_request_body(_go_syntax_error(exc)) from None
    return value


def decode(model: type[M], value: Any, go_name: str) -> M:
    """Validate `value` into `model`; type errors read as Go's UnmarshalTypeError.

    `go_name` is the Go type named in the message (`toxiproxy.Proxy`).
    """
    if not isinstance(value, dict):
        kind = _json_kind(value)
        raise bad_request_body(
            f"json: cannot unmarshal {kind} into Go value of type {go_name}"
        )
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise type_error(exc, go_name.rsplit(".", 1)[-1]) from None


def type_error(exc: ValidationError, struct: str) -> ApiError:
    """400 naming the first offending field the way Go's json package does."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    go_type = _GO_TYPES.get(first["type"], "int64")
    kind = _json_kind(first["input"], number_literal=go_type == "int64")
    return bad_request_body(
        f"json: cannot unmarshal {kind} into Go struct field "
        f"{struct}.{field} of type {go_type}"
    )


def _json_kind(value: Any, *, number_literal: bool = False) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return f"number {json.dumps(value)}" if number_literal else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _go_syntax_error(exc: json.JSONDecodeError) -> str:
    if exc.pos >= len(exc.doc):
        return "unexpected EOF"
    char = exc.doc[exc.pos]
    if exc.msg == "Expecting value":
        return f"invalid character {char!r} looking for beginning of value"
    return f"invalid character {char!r} ({exc.msg.lower()})"
