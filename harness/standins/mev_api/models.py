"""What the MEV API accepts: query parameters and bodies, as strict pydantic models."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
)

Strategy = Literal["arbitrage", "sandwich", "liquidation", "backrun"]
Status = Literal[
    "detected", "simulated", "submitted", "included", "rejected", "expired", "failed"
]
ChainName = Literal["ethereum", "arbitrum", "optimism", "base", "polygon"]

STRATEGIES: tuple[str, ...] = get_args(Strategy)
STATUSES: tuple[str, ...] = get_args(Status)
CHAIN_NAMES: tuple[str, ...] = get_args(ChainName)

MAX_WEI_DIGITS = 78
"""NUMERIC(78, 0) in the schema: enough for any uint256."""

LIST_LIMIT_DEFAULT = 50
LIST_LIMIT_MAX = 500
AUDIT_LIMIT_DEFAULT = 100
AUDIT_LIMIT_MAX = 1000


def _wei(value: object) -> str | None:
    """A wei amount as decimal digits: from an int >= 0 or a digit string."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if (
        not isinstance(value, str)
        or not value.isascii()
        or not value.isdigit()
        or len(value) > MAX_WEI_DIGITS
    ):
        raise ValueError(
            f"must be a whole number of wei: decimal digits, at most {MAX_WEI_DIGITS}"
        )
    return value


class OpportunityQuery(BaseModel):
    """Filters and paging of GET /api/v1/opportunities."""

    model_config = ConfigDict(extra="forbid")

    chain_id: int | None = Field(default=None, ge=1)
    chain: ChainName | None = None
    strategy: Strategy | None = None
    status: Status | None = None
    min_profit_wei: str | None = None
    since_block: int | None = Field(default=None, ge=0)
    limit: int = Field(default=LIST_LIMIT_DEFAULT, ge=1, le=LIST_LIMIT_MAX)
    cursor: int | None = Field(default=None, ge=1)

    _check_wei = field_validator("min_profit_wei", mode="before")(_wei)


class AuditQuery(BaseModel):
    """Paging of GET /api/v1/audit."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=AUDIT_LIMIT_DEFAULT, ge=1, le=AUDIT_LIMIT_MAX)


class StrategyPatch(BaseModel):
    """Body of PATCH /api/v1/strategies/{name}: at least one field."""

    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool | None = None
    min_profit_wei: str | None = None
    """Accepted as a JSON integer or a digit string; kept as a digit string."""

    _check_wei = field_validator("min_profit_wei", mode="before")(_wei)


class RotateRequest(BaseModel):
    """Body of POST /api/v1/admin/keys/rotate (optional)."""

    model_config = ConfigDict(extra="forbid")

    revoke: Literal["presented", "all"] = "presented"
    label: str = Field(default="rotated", min_length=1, max_length=64)


def first_problem(exc: ValidationError, source: str) -> tuple[str, str]:
    """The first validation error as (field, one-line message) for a 400."""
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"]) or "(body)"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return field, f"unknown {source} {field!r}"
    if error["type"] == "json_invalid":
        return field, f"{source} is not valid JSON: {message}"
    if "input" in error and not isinstance(error["input"], dict):
        return field, f"{source} {field!r}: {message} (got {error['input']!r})"
    return field, f"{source} {field!r}: {message}"
