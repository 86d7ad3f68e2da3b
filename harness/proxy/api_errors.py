"""The fault proxy's API errors: a message and an HTTP status, Toxiproxy's wording."""

from __future__ import annotations


class ApiError(Exception):
    """An error the API answers with `{"error": message, "status": status}`.

    Raised inside the fault proxy only; clients see it as an HTTP response
    (and our own client maps it to `harness.errors.ProxyError` leaves).
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def bad_request_body(detail: str) -> ApiError:
    """400 for a body that is not the JSON the route expects."""
    return ApiError(f"bad request body: {detail}", 400)


def missing_field(field: str) -> ApiError:
    """400 for a required field that is absent or empty (`name`, `upstream`)."""
    return ApiError(f"missing required field: {field}", 400)


def proxy_not_found() -> ApiError:
    """404 for a proxy name the collection does not hold."""
    return ApiError("proxy not found", 404)


def proxy_already_exists() -> ApiError:
    """409 for creating a proxy under a name already taken."""
    return ApiError("proxy already exists", 409)


def invalid_stream() -> ApiError:
    """400 for a toxic stream other than upstream or downstream."""
    return ApiError("stream was invalid, can be either upstream or downstream", 400)


def invalid_toxic_type() -> ApiError:
    """400 for a toxic type the registry does not know."""
    return ApiError("invalid toxic type", 400)


def toxic_already_exists() -> ApiError:
    """409 for adding a toxic under a name the proxy already has."""
    return ApiError("toxic already exists", 409)


def toxic_not_found() -> ApiError:
    """404 for a toxic name the proxy does not have."""
    return ApiError("toxic not found", 404)


def internal(message: str) -> ApiError:
    """500 for anything else, e.g. a listen address already in use."""
    return ApiError(message, 500)
