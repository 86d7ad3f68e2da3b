"""The OpenAPI 3.1 document of the MEV API, written by hand to match app.py."""

from __future__ import annotations

from functools import cache
from typing import Any

from harness.standins.mev_api.models import (
    AUDIT_LIMIT_DEFAULT,
    AUDIT_LIMIT_MAX,
    CHAIN_NAMES,
    LIST_LIMIT_DEFAULT,
    LIST_LIMIT_MAX,
    MAX_WEI_DIGITS,
    STATUSES,
    STRATEGIES,
)

VERSION = "1.0.0-standin"

WEI = {
    "type": "string",
    "pattern": f"^[0-9]{{1,{MAX_WEI_DIGITS}}}$",
    "description": "An amount in wei, as decimal digits.",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _path(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


UNAUTHORIZED = _error("A presented key is invalid or revoked, or a key is needed.")
UNAVAILABLE = _error(
    "The database is unreachable, the pool is exhausted, or a query timed out."
)
BAD_REQUEST = _error("A parameter or the body is invalid; `parameter` names it.")
KEYED: list[dict[str, list[str]]] = [{"apiKey": []}, {"bearer": []}]
OPEN_READ: list[dict[str, list[str]]] = [{}, *KEYED]

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {
                "type": "string",
                "description": "bad_request, unauthorized, not_found, "
                "pool_exhausted, database_unreachable, query_timeout, ...",
            },
            "message": {"type": "string"},
            "parameter": {"type": "string"},
        },
    },
    "Opportunity": {
        "type": "object",
        "required": [
            "id",
            "chain_id",
            "chain",
            "strategy",
            "block_number",
            "target_block",
            "detected_at",
            "expected_profit_wei",
            "gas_estimate",
            "net_profit_wei",
            "status",
        ],
        "properties": {
            "id": {"type": "integer"},
            "chain_id": {"type": "integer"},
            "chain": {"type": "string"},
            "strategy": {"type": "string", "enum": list(STRATEGIES)},
            "block_number": {"type": "integer"},
            "target_block": {"type": "integer"},
            "detected_at": {"type": "string", "format": "date-time"},
            "expected_profit_wei": WEI,
            "gas_estimate": {"type": "integer"},
            "net_profit_wei": WEI,
            "status": {"type": "string", "enum": list(STATUSES)},
            "bundle_hash": {"type": ["string", "null"]},
            "relay": {"type": ["string", "null"]},
            "rejection_reason": {"type": ["string", "null"]},
        },
    },
    "OpportunityPage": {
        "type": "object",
        "required": ["opportunities", "count", "next_cursor"],
        "properties": {
            "opportunities": {"type": "array", "items": _ref("Opportunity")},
            "count": {"type": "integer"},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass as `cursor` for the next page; null on the last.",
            },
        },
    },
    "Strategy": {
        "type": "object",
        "required": ["name", "enabled", "min_profit_wei", "updated_at"],
        "properties": {
            "name": {"type": "string", "enum": list(STRATEGIES)},
            "enabled": {"type": "boolean"},
            "min_profit_wei": WEI,
            "updated_at": {"type": "string", "format": "date-time"},
        },
    },
    "StrategyPatch": {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "enabled": {"type": "boolean"},
            "min_profit_wei": {"oneOf": [WEI, {"type": "integer", "minimum": 0}]},
        },
    },
    "RotateRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "revoke": {
                "type": "string",
                "enum": ["presented", "all"],
                "default": "presented",
                "description": "Revoke the key presented, or every other key.",
            },
            "label": {"type": "string", "maxLength": 64, "default": "rotated"},
        },
    },
    "IssuedKey": {
        "type": "object",
        "required": ["id", "key", "label", "created_at", "revoked"],
        "properties": {
            "id": {"type": "string"},
            "key": {"type": "string", "description": "Shown once; stored hashed."},
            "label": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "revoked": {"type": "array", "items": {"type": "string"}},
        },
    },
    "AuditRecord": {
        "type": "object",
        "required": ["time", "key_id", "auth", "client", "method", "path", "status"],
        "properties": {
            "time": {"type": "string", "format": "date-time"},
            "key_id": {
                "type": "string",
                "description": "The key's id, `invalid` or `none`; never the key.",
            },
            "auth": {
                "type": "string",
                "enum": ["valid", "invalid", "revoked", "missing"],
            },
            "client": {"type": "string"},
            "method": {"type": "string"},
            "path": {"type": "string"},
            "status": {"type": "integer"},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "database", "pool"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "database": {"type": "string", "enum": ["ok", "error"]},
            "error": {"type": "string"},
            "reason": {"type": "string"},
            "latency_ms": {"type": "number"},
            "uptime_s": {"type": "number"},
            "keys_file": {"type": "string"},
            "pool": {
                "type": "object",
                "additionalProperties": {"type": "integer"},
                "description": "min, max, size, available, in_use, waiting, "
                "requests, requests_errors, connections_errors, stuck_queries",
            },
        },
    },
}


def _paths() -> dict[str, Any]:
    opportunity_filters = [
        _query("chain_id", {"type": "integer", "minimum": 1}, "Chain id, e.g. 1."),
        _query("chain", {"type": "string", "enum": list(CHAIN_NAMES)}, "Chain."),
        _query("strategy", {"type": "string", "enum": list(STRATEGIES)}, "Strategy."),
        _query("status", {"type": "string", "enum": list(STATUSES)}, "Status."),
        _query("min_profit_wei", WEI, "Only rows with net_profit_wei >= this."),
        _query("since_block", {"type": "integer", "minimum": 0},
               "Only rows with block_number >= this."),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": LIST_LIMIT_MAX,
                         "default": LIST_LIMIT_DEFAULT}, "Page size."),
        _query("cursor", {"type": "string", "pattern": "^[1-9][0-9]*$"},
               "next_cursor of the previous page: rows with a smaller id."),
    ]  # fmt: skip
    return {
        "/": {"get": {
            "summary": "Index of this service",
            "security": [{}],
            "responses": {"200": _json({"type": "object"}, "Service and endpoints.")},
        }},
        "/health": {"get": {
            "summary": "Health: SELECT 1 through the pool",
            "security": [{}],
            "responses": {
                "200": _json(_ref("Health"), "The database answers."),
                "503": _json(_ref("Health"), "It does not; `reason` says why."),
            },
        }},
        "/openapi.json": {"get": {
            "summary": "This document",
            "security": [{}],
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1.")},
        }},
        "/api/v1/opportunities": {"get": {
            "summary": "Opportunities, newest first, keyset-paged on id",
            "security": OPEN_READ,
            "parameters": opportunity_filters,
            "responses": {
                "200": _json(_ref("OpportunityPage"), "One page."),
                "400": BAD_REQUEST, "401": UNAUTHORIZED, "503": UNAVAILABLE,
            },
        }},
        "/api/v1/opportunities/{id}": {"get": {
            "summary": "One opportunity",
            "security": OPEN_READ,
            "parameters": [_path("id", {"type": "integer", "minimum": 1})],
            "responses": {
                "200": _json(_ref("Opportunity"), "The opportunity."),
                "400": BAD_REQUEST, "401": UNAUTHORIZED,
                "404": _error("No opportunity with that id."), "503": UNAVAILABLE,
            },
        }},
        "/api/v1/strategies": {"get": {
            "summary": "Strategies and their settings",
            "security": OPEN_READ,
            "responses": {
                "200": _json({"type": "object", "properties": {"strategies": {
                    "type": "array", "items": _ref("Strategy")}}}, "All strategies."),
                "401": UNAUTHORIZED, "503": UNAVAILABLE,
            },
        }},
        "/api/v1/strategies/{name}": {"patch": {
            "summary": "Enable or disable a strategy, or set its minimum profit",
            "security": KEYED,
            "parameters": [_path("name", {"type": "string", "enum": list(STRATEGIES)})],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": _ref("StrategyPatch")}}},
            "responses": {
                "200": _json(_ref("Strategy"), "The strategy as changed."),
                "400": BAD_REQUEST, "401": UNAUTHORIZED,
                "404": _error("No such strategy."), "503": UNAVAILABLE,
            },
        }},
        "/api/v1/admin/keys/rotate": {"post": {
            "summary": "Issue a new API key and revoke the presented (or every) one",
            "security": KEYED,
            "requestBody": {"required": False, "content": {
                "application/json": {"schema": _ref("RotateRequest")}}},
            "responses": {
                "200": _json(_ref("IssuedKey"), "The new key, shown once."),
                "400": BAD_REQUEST, "401": UNAUTHORIZED,
            },
        }},
        "/api/v1/audit": {"get": {
            "summary": "Recent audit records, newest first",
            "security": KEYED,
            "parameters": [_query("limit", {
                "type": "integer", "minimum": 1, "maximum": AUDIT_LIMIT_MAX,
                "default": AUDIT_LIMIT_DEFAULT}, "How many records.")],
            "responses": {
                "200": _json({"type": "object", "properties": {
                    "records": {"type": "array", "items": _ref("AuditRecord")},
                    "count": {"type": "integer"}}}, "The records."),
                "400": BAD_REQUEST, "401": UNAUTHORIZED,
            },
        }},
    }  # fmt: skip


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document served at /openapi.json (do not mutate)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "MEV API (mev-infra stand-in)",
            "version": VERSION,
            "description": "Opportunities and strategies of the MEV stack, with "
            "API-key auth and an audit log. Reads need no key from loopback; a "
            "presented key that is invalid or revoked is always rejected.",
        },
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }
