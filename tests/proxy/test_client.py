"""Our typed client against the real proxy process: results and mapped errors."""

from __future__ import annotations

import pytest

from harness.errors import (
    ProxyAlreadyExists,
    ProxyError,
    ProxyNotFound,
    ProxyRequestFailed,
    ProxyRequestRejected,
    ProxyUnreachable,
    StackError,
    ToxicAlreadyExists,
    ToxicNotFound,
)
from harness.proxy.client import ProxyClient, ProxySpec
from tests.proxy.upstreams import free_port

pytestmark = pytest.mark.timeout(30)


def test_client_creates_gets_and_lists_proxy_when_new(
    client: ProxyClient, echo_port: int
) -> None:
    created = client.create("c", f"127.0.0.1:{echo_port}")

    assert created.name == "c"
    assert created.enabled is True
    assert created.listen_port > 0
    assert client.get("c") == created
    assert client.list() == {"c": created}


def test_client_update_changes_only_given_fields(
    client: ProxyClient, echo_port: int
) -> None:
    created = client.create("c", f"127.0.0.1:{echo_port}")

    disabled = client.update("c", enabled=False)
    moved = client.update("c", upstream="127.0.0.1:9")

    assert disabled == created.model_copy(update={"enabled": False})
    assert moved.upstream == "127.0.0.1:9"
    assert moved.enabled is False


def test_client_toxic_lifecycle_when_added_updated_removed(
    client: ProxyClient, echo_port: int
) -> None:
    client.create("c", f"127.0.0.1:{echo_port}")

    added = client.add_toxic(
        "c", "latency", stream="upstream", toxicity=0.5, attributes={"latency": 10}
    )
    updated = client.update_toxic("c", "latency_upstream", attributes={"jitter": 3})
    listed = client.get("c").toxics
    client.remove_toxic("c", "latency_upstream")

    assert (added.name, added.stream, added.toxicity) == (
        "latency_upstream",
        "upstream",
        0.5,
    )
    assert updated.attributes == {"latency": 10, "jitter": 3}
    assert listed == (updated,)
    assert client.get("c").toxics == ()


def test_client_populate_returns_proxies_and_reset_clears_toxics(
    client: ProxyClient, echo_port: int
) -> None:
    specs = [
        ProxySpec(name=n, listen="127.0.0.1:0", upstream=f"127.0.0.1:{echo_port}")
        for n in ("a", "b")
    ]

    populated = client.populate(specs)
    client.add_toxic("a", "noop")
    client.update("b", enabled=False)
    client.reset()

    assert [p.name for p in populated] == ["a", "b"]
    assert all(p.enabled and p.toxics == () for p in client.list().values())
    assert client.version() == "2.12.0"


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda c: c.get("ghost"), ProxyNotFound, "proxy 'ghost'"),
        (lambda c: c.delete("ghost"), ProxyNotFound, "proxy 'ghost'"),
        (lambda c: c.create("dup", "127.0.0.1:1"), ProxyAlreadyExists, "proxy 'dup'"),
        (
            lambda c: c.remove_toxic("dup", "ghost"),
            ToxicNotFound,
            "toxic 'ghost' of proxy 'dup'",
        ),
        (
            lambda c: c.add_toxic("dup", "noop", name="same"),
            ToxicAlreadyExists,
            "toxic 'same'",
        ),
        (
            lambda c: c.add_toxic("dup", "gremlin"),
            ProxyRequestRejected,
            "invalid toxic type",
        ),
    ],
)
def test_client_maps_api_errors_to_proxy_errors_when_refused(
    client: ProxyClient, echo_port: int, call, error: type[ProxyError], words: str
) -> None:
    client.create("dup", f"127.0.0.1:{echo_port}")
    client.add_toxic("dup", "noop", name="same")

    with pytest.raises(error) as raised:
        call(client)

    assert words in str(raised.value)
    assert raised.value.hint
    assert isinstance(raised.value, StackError)
    assert raised.value.exit_code == 4


def test_client_raises_request_failed_with_server_reason_when_port_in_use(
    client: ProxyClient, echo_port: int
) -> None:
    taken = client.create("first", f"127.0.0.1:{echo_port}").listen

    with pytest.raises(ProxyRequestFailed) as raised:
        client.create("second", f"127.0.0.1:{echo_port}", listen=taken)

    assert "address already in use" in str(raised.value)


def test_client_raises_unreachable_when_nothing_listens() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    with (
        ProxyClient(url, timeout_s=2) as dead,
        pytest.raises(ProxyUnreachable) as raised,
    ):
        dead.version()

    assert url in str(raised.value)
    assert "python -m harness.proxy" in raised.value.hint
