"""A small typed client of a Toxiproxy API: ours (`python -m harness.proxy`) or real.

Every HTTP or transport error is mapped here, once, to a `ProxyError` leaf
from `harness.errors`, whose message names the proxy or toxic and the
server's own words.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from harness.errors import (
    ProxyAlreadyExists,
    ProxyError,
    ProxyNotFound,
    ProxyRequestFailed,
    ProxyRequestRejected,
    ProxyUnreachable,
    ToxicAlreadyExists,
    ToxicNotFound,
)
from harness.stack import PROXY_API_PORT

Stream = Literal["upstream", "downstream"]

DEFAULT_URL = f"http://127.0.0.1:{PROXY_API_PORT}"
DEFAULT_TIMEOUT_S = 10.0

M = TypeVar("M", bound=BaseModel)


class _Answer(BaseModel):
    # The server's JSON; extra fields are ignored because real Toxiproxy
    # versions add some (e.g. a `Logger` object on proxies).
    model_config = ConfigDict(extra="ignore", frozen=True)


class ToxicInfo(_Answer):
    """A toxic as the API shows it; attributes are integers by name."""

    name: str
    type: str
    stream: Stream
    toxicity: float
    attributes: dict[str, int]


class ProxyInfo(_Answer):
    """A proxy as the API shows it; `listen` is the bound `host:port`."""

    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[ToxicInfo, ...] = ()

    @property
    def listen_port(self) -> int:
        """The port clients connect to."""
        return int(self.listen.rsplit(":", 1)[1])


class ProxySpec(BaseModel):
    """One proxy of a POST /populate: what to listen on, where to forward."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    listen: str
    upstream: str
    enabled: bool = True


class ProxyClient:
    """Calls a Toxiproxy API at `url` (default http://127.0.0.1:8474).

    `timeout_s` bounds every request (default 10 s). Use as a context manager
    or call `close()`.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout_s,
            transport=transport,
            headers={"User-Agent": "drill-harness"},
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ProxyClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # Server.

    def version(self) -> str:
        """The server's version string (ours reports 2.12.0)."""
        answer = self._call("GET", "/version", subject="the server version")
        version: str = answer.json()["version"]
        return version

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._call("POST", "/reset", subject="a reset")

    # Proxies.

    def list(self) -> dict[str, ProxyInfo]:
        """Every proxy by name."""
        answer = self._call("GET", "/proxies", subject="the proxy list")
        return {
            name: _parse(ProxyInfo, value, "the proxy list")
            for name, value in answer.json().items()
        }

    def get(self, name: str) -> ProxyInfo:
        """The proxy called `name`; ProxyNotFound when there is none."""
        answer = self._call("GET", f"/proxies/{name}", subject=f"proxy {name!r}")
        return _parse(ProxyInfo, answer.json(), f"proxy {name!r}")

    def create(
        self,
        name: str,
        upstream: str,
        *,
        listen: str = "127.0.0.1:0",
        enabled: bool = True,
    ) -> ProxyInfo:
        """A new proxy from `listen` (default an ephemeral port) to `upstream`."""
        body: dict[str, Any] = {
            "name": name,
            "listen": listen,
            "upstream": upstream,
            "enabled": enabled,
        }
        answer = self._call("POST", "/proxies", body, subject=f"proxy {name!r}")
        return _parse(ProxyInfo, answer.json(), f"proxy {name!r}")

    def populate(self, proxies: Iterable[ProxySpec]) -> tuple[ProxyInfo, ...]:
        """Create or replace proxies whose addresses differ; keep the others."""
        body = [spec.model_dump() for spec in proxies]
        answer = self._call("POST", "/populate", body, subject="a populate")
        return tuple(
            _parse(ProxyInfo, value, "a populate")
            for value in answer.json()["proxies"] or ()
        )

    def update(
        self,
        name: str,
        *,
        enabled: bool | None = None,
        listen: str | None = None,
        upstream: str | None = None,
    ) -> ProxyInfo:
        """Change what is given: a new address restarts the proxy.

        `enabled=False` closes the listener and every open connection.
        """
        fields = {"enabled": enabled, "listen": listen, "upstream": upstream}
        body = {key: value for key, value in fields.items() if value is not None}
        answer = self._call(
            "PATCH", f"/proxies/{name}", body, subject=f"proxy {name!r}"
        )
        return _parse(ProxyInfo, answer.json(), f"proxy {name!r}")

    def delete(self, name: str) -> None:
        """Remove a proxy, closing its connections."""
        self._call("DELETE", f"/proxies/{name}", subject=f"proxy {name!r}")

    # Toxics.

    def add_toxic(
        self,
        proxy: str,
        type: str,
        *,
        stream: Stream = "downstream",
        name: str | None = None,
        toxicity: float = 1.0,
        attributes: dict[str, int] | None = None,
    ) -> ToxicInfo:
        """Add a toxic; `name` defaults to `<type>_<stream>`.

        It acts at once, on open connections too.
        """
        toxic_name = name or f"{type}_{stream}"
        body = {
            "name": toxic_name,
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": attributes or {},
        }
        subject = f"toxic {toxic_name!r} of proxy {proxy!r}"
        answer = self._call("POST", f"/proxies/{proxy}/toxics", body, subject=subject)
        return _parse(ToxicInfo, answer.json(), subject)

    def update_toxic(
        self,
        proxy: str,
        toxic: str,
        *,
        attributes: dict[str, int] | None = None,
        toxicity: float | None = None,
    ) -> ToxicInfo:
        """Change a toxic's attributes (merged with the old) and/or toxicity."""
        body: dict[str, Any] = {}
        if attributes is not None:
            body["attributes"] = attributes
        if toxicity is not None:
            body["toxicity"] = toxicity
        subject = f"toxic {toxic!r} of proxy {proxy!r}"
        path = f"/proxies/{proxy}/toxics/{toxic}"
        answer = self._call("PATCH", path, body, subject=subject)
        return _parse(ToxicInfo, answer.json(), subject)

    def remove_toxic(self, proxy: str, toxic: str) -> None:
        """Remove a toxic; a timeout toxic's connections close with it."""
        subject = f"toxic {toxic!r} of proxy {proxy!r}"
        self._call("DELETE", f"/proxies/{proxy}/toxics/{toxic}", subject=subject)

    # The one place where HTTP becomes our errors.

    def _call(
        self, method: str, path: str, body: Any = None, *, subject: str
    ) -> httpx.Response:
        try:
            answer = self._http.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise ProxyUnreachable(
                f"the fault proxy at {self.url} did not answer {method} {path}"
                f" ({type(exc).__name__}: {exc})",
                hint="start it with `python -m harness.proxy --port PORT`"
                " or check the URL",
            ) from exc
        if answer.is_success:
            return answer
        raise _error(answer, method, path, subject, self.url)


def _error(
    answer: httpx.Response, method: str, path: str, subject: str, url: str
) -> ProxyError:
    try:
        reason = str(answer.json()["error"])
    except (ValueError, KeyError, TypeError):
        reason = answer.text.strip() or answer.reason_phrase
    status = answer.status_code
    said = f"{method} {path} -> {status} {reason!r}"
    if reason == "proxy not found":
        return ProxyNotFound(
            f"{subject}: no such proxy on the fault proxy at {url} ({said})",
            hint="list the proxies with GET /proxies or create it first",
        )
    if reason == "toxic not found":
        return ToxicNotFound(
            f"{subject}: no such toxic ({said})",
            hint="list the proxy's toxics with GET /proxies/NAME/toxics",
        )
    if reason == "proxy already exists":
        return ProxyAlreadyExists(
            f"{subject}: already exists ({said})",
            hint="use another name, update it, or populate (create or replace)",
        )
    if reason == "toxic already exists":
        return ToxicAlreadyExists(
            f"{subject}: already exists ({said})",
            hint="give the toxic another name, or update or remove the old one",
        )
    if status == 400:
        return ProxyRequestRejected(
            f"{subject}: the fault proxy rejected the request ({said})",
            hint="check the toxic type, stream (upstream|downstream) and"
            " integer attributes",
        )
    return ProxyRequestFailed(
        f"{subject}: the fault proxy failed ({said})",
        hint="see the fault proxy's log; a port in use is the usual cause",
    )


def _parse(model: type[M], value: Any, subject: str) -> M:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise ProxyRequestFailed(
            f"{subject}: unexpected answer from the fault proxy: {value!r}",
            hint=f"is it a Toxiproxy API? ({exc.error_count()} invalid fields)",
        ) from exc
