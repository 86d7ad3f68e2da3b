"""The HTTP API, byte for byte where Toxiproxy's clients could notice: raw httpx."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from tests.proxy.upstreams import connect, free_port

pytestmark = pytest.mark.timeout(30)

TEXT_PLAIN = "text/plain; charset=utf-8"


def error_body(message: str, status: int) -> str:
    return (
        json.dumps({"error": message, "status": status}, separators=(",", ":")) + "\n"
    )


def create(
    api: httpx.Client, name: str, upstream: int, **extra: object
) -> dict[str, Any]:
    body = {
        "name": name,
        "listen": "127.0.0.1:0",
        "upstream": f"127.0.0.1:{upstream}",
        **extra,
    }
    answer = api.post("/proxies", json=body)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_proxies_index_is_empty_object_when_no_proxy(api: httpx.Client) -> None:
    answer = api.get("/proxies")

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.text == "{}"


def test_request_id_header_is_on_every_response_when_success_or_error(
    api: httpx.Client,
) -> None:
    answers = [
        api.get("/version"),
        api.get("/proxies"),
        api.get("/proxies/missing"),
        api.get("/no/such/route"),
        api.get("/proxies", headers={"User-Agent": "Mozilla/5.0"}),
    ]

    ids = [a.headers.get("x-toxiproxy-request-id", "") for a in answers]
    assert all(re.fullmatch(r"[0-9a-v]{20}", i) for i in ids), ids
    assert len(set(ids)) == len(ids)


def test_browser_user_agent_gets_403_when_mozilla(api: httpx.Client) -> None:
    answer = api.get("/proxies", headers={"User-Agent": "Mozilla/5.0 (X11)"})

    assert answer.status_code == 403
    assert answer.text == "User agent not allowed\n"
    assert answer.headers["content-type"] == TEXT_PLAIN


def test_version_answers_toxiproxy_shape_when_asked(api: httpx.Client) -> None:
    answer = api.get("/version")

    assert answer.status_code == 200
    assert answer.text == '{"version": "2.12.0"}\n'
    assert answer.headers["content-type"] == "application/json;charset=utf-8"


def test_create_returns_201_and_real_port_when_listen_port_is_zero(
    api: httpx.Client, echo_port: int
) -> None:
    proxy = create(api, "p1", echo_port)

    assert list(proxy) == ["name", "listen", "upstream", "enabled", "toxics"]
    assert proxy["name"] == "p1"
    assert proxy["upstream"] == f"127.0.0.1:{echo_port}"
    assert proxy["enabled"] is True
    assert proxy["toxics"] == []
    host, port = proxy["listen"].rsplit(":", 1)
    assert host == "127.0.0.1"
    assert int(port) > 0
    assert api.get("/proxies").json() == {"p1": proxy}


def test_create_is_disabled_and_not_listening_when_enabled_false(
    api: httpx.Client, echo_port: int
) -> None:
    port = free_port()
    proxy = create(api, "off", echo_port, listen=f"127.0.0.1:{port}", enabled=False)

    assert proxy["enabled"] is False
    assert proxy["listen"] == f"127.0.0.1:{port}"
    with pytest.raises(ConnectionRefusedError):
        connect(port)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"upstream": "127.0.0.1:1"}, "missing required field: name"),
        ({"name": "x"}, "missing required field: upstream"),
        ({"name": "", "upstream": "127.0.0.1:1"}, "missing required field: name"),
    ],
)
def test_create_answers_400_when_required_field_missing(
    api: httpx.Client, body: dict[str, Any], message: str
) -> None:
    answer = api.post("/proxies", json=body)

    assert answer.status_code == 400
    assert answer.text == error_body(message, 400)
    assert answer.headers["content-type"] == TEXT_PLAIN


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "bad request body: EOF"),
        (
            b"nope",
            "bad request body: invalid character 'n' looking for beginning of value",
        ),
        (
            b'{"name": 5, "upstream": "a:1"}',
            "bad request body: json: cannot unmarshal number into Go struct field"
            " Proxy.name of type string",
        ),
        (
            b"[]",
            "bad request body: json: cannot unmarshal array into Go value of type"
            " toxiproxy.Proxy",
        ),
    ],
)
def test_create_answers_400_bad_request_body_when_body_is_not_a_proxy(
    api: httpx.Client, raw: bytes, message: str
) -> None:
    answer = api.post("/proxies", content=raw)

    assert answer.status_code == 400
    assert answer.text == error_body(message, 400)


def test_create_answers_409_when_name_taken(api: httpx.Client, echo_port: int) -> None:
    create(api, "dup", echo_port)

    answer = api.post(
        "/proxies",
        json={"name": "dup", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"},
    )

    assert answer.status_code == 409
    assert answer.text == error_body("proxy already exists", 409)


def test_create_answers_500_when_listen_address_in_use(
    api: httpx.Client, echo_port: int
) -> None:
    taken = create(api, "first", echo_port)["listen"]

    answer = api.post(
        "/proxies", json={"name": "second", "listen": taken, "upstream": "127.0.0.1:1"}
    )

    assert answer.status_code == 500
    assert answer.json() == {
        "error": f"listen tcp {taken}: bind: address already in use",
        "status": 500,
    }
    assert "second" not in api.get("/proxies").json()


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "/proxies/nope", "proxy not found"),
        ("POST", "/proxies/nope", "proxy not found"),
        ("PATCH", "/proxies/nope", "proxy not found"),
        ("DELETE", "/proxies/nope", "proxy not found"),
        ("GET", "/proxies/nope/toxics", "proxy not found"),
        ("POST", "/proxies/nope/toxics", "proxy not found"),
        ("GET", "/proxies/nope/toxics/t", "proxy not found"),
        ("DELETE", "/proxies/nope/toxics/t", "proxy not found"),
    ],
)
def test_routes_answer_404_when_proxy_missing(
    api: httpx.Client, method: str, path: str, message: str
) -> None:
    answer = api.request(method, path, json={})

    assert answer.status_code == 404
    assert answer.text == error_body(message, 404)
    assert answer.headers["content-type"] == TEXT_PLAIN


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE"])
def test_toxic_routes_answer_404_when_toxic_missing(
    api: httpx.Client, echo_port: int, method: str
) -> None:
    create(api, "p", echo_port)

    answer = api.request(method, "/proxies/p/toxics/nope", json={})

    assert answer.status_code == 404
    assert answer.text == error_body("toxic not found", 404)


def test_update_changes_only_given_fields_when_patch_or_post(
    api: httpx.Client, echo_port: int
) -> None:
    before = create(api, "p", echo_port)

    patched = api.patch("/proxies/p", json={"enabled": False})
    posted = api.post("/proxies/p", json={"upstream": "127.0.0.1:9"})

    assert patched.status_code == 200
    assert patched.json() == {**before, "enabled": False}
    assert posted.status_code == 200
    assert posted.json() == {**before, "enabled": False, "upstream": "127.0.0.1:9"}


def test_delete_answers_204_and_forgets_proxy_when_present(
    api: httpx.Client, echo_port: int
) -> None:
    create(api, "gone", echo_port)

    answer = api.delete("/proxies/gone")

    assert answer.status_code == 204
    assert answer.content == b""
    assert api.get("/proxies/gone").status_code == 404


def test_toxic_create_applies_toxiproxy_defaults_when_only_type_given(
    api: httpx.Client, echo_port: int
) -> None:
    create(api, "p", echo_port)

    answer = api.post("/proxies/p/toxics", json={"type": "latency"})

    assert answer.status_code == 200
    assert answer.text == (
        '{"attributes":{"latency":0,"jitter":0},"name":"latency_downstream",'
        '"type":"latency","stream":"downstream","toxicity":1}'
    )


@pytest.mark.parametrize(
    ("kind", "attributes"),
    [
        ("latency", {"latency": 1, "jitter": 2}),
        ("bandwidth", {"rate": 3}),
        ("slow_close", {"delay": 4}),
        ("timeout", {"timeout": 5}),
        ("reset_peer", {"timeout": 6}),
        ("slicer", {"average_size": 7, "size_variation": 1, "delay": 9}),
        ("limit_data", {"bytes": 10}),
        ("noop", {}),
    ],
)
def test_toxic_create_echoes_attributes_when_each_type(
    api: httpx.Client, echo_port: int, kind: str, attributes: dict[str, Any]
) -> None:
    create(api, "p", echo_port)

    answer = api.post(
        "/proxies/p/toxics",
        json={
            "type": kind,
            "stream": "upstream",
            "toxicity": 0.5,
            "attributes": attributes,
        },
    )

    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "attributes": attributes,
        "name": f"{kind}_upstream",
        "type": kind,
        "stream": "upstream",
        "toxicity": 0.5,
    }


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            {"type": "latency", "stream": "sideways"},
            400,
            "stream was invalid, can be either upstream or downstream",
        ),
        ({"type": "teleport"}, 400, "invalid toxic type"),
        ({}, 400, "invalid toxic type"),
        (
            {"type": "latency", "attributes": {"latency": 1.5}},
            400,
            "bad request body: json: cannot unmarshal number 1.5 into Go struct"
            " field LatencyToxic.attributes.latency of type int64",
        ),
        (
            {"type": "latency", "toxicity": "high"},
            400,
            "bad request body: json: cannot unmarshal string into Go struct field"
            " ToxicWrapper.toxicity of type float32",
        ),
    ],
)
def test_toxic_create_answers_400_when_body_invalid(
    api: httpx.Client, echo_port: int, body: dict[str, Any], status: int, message: str
) -> None:
    create(api, "p", echo_port)

    answer = api.post("/proxies/p/toxics", json=body)

    assert answer.status_code == status
    assert answer.text == error_body(message, status)
    assert api.get("/proxies/p/toxics").json() == []


def test_toxic_create_answers_409_when_name_taken(
    api: httpx.Client, echo_port: int
) -> None:
    create(api, "p", echo_port)
    api.post("/proxies/p/toxics", json={"type": "latency", "name": "t"})

    answer = api.post(
        "/proxies/p/toxics", json={"type": "timeout", "name": "t", "stream": "upstream"}
    )

    assert answer.status_code == 409
    assert answer.text == error_body("toxic already exists", 409)


def test_toxic_index_lists_upstream_toxics_first_when_both_streams(
    api: httpx.Client, echo_port: int
) -> None:
    create(api, "p", echo_port)
    api.post("/proxies/p/toxics", json={"type": "latency"})
    api.post("/proxies/p/toxics", json={"type": "noop", "stream": "upstream"})

    names = [t["name"] for t in api.get("/proxies/p/toxics").json()]

    assert names == ["noop_upstream", "latency_downstream"]
    assert [t["name"] for t in api.get("/proxies/p").json()["toxics"]] == names


def test_toxic_update_merges_attributes_and_keeps_identity_when_patched(
    api: httpx.Client, echo_port: int
) -> None:
    create(api, "p", echo_port)
    api.post(
        "/proxies/p/toxics",
        json={
            "type": "latency",
            "name": "lag",
            "attributes": {"latency": 100, "jitter": 5},
        },
    )

    answer = api.patch(
        "/proxies/p/toxics/lag",
        json={"attributes": {"latency": 200}, "type": "timeout", "stream": "upstream"},
    )

    assert answer.status_code == 200
    assert answer.json() == {
        "attributes": {"latency": 200, "jitter": 5},
        "name": "lag",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1,
    }
    assert api.get("/proxies/p/toxics/lag").json() == answer.json()


def test_toxic_delete_answers_204_when_present(
    api: httpx.Client, echo_port: int
) -> None:
    create(api, "p", echo_port)
    api.post("/proxies/p/toxics", json={"type": "noop"})

    answer = api.delete("/proxies/p/toxics/noop_downstream")

    assert answer.status_code == 204
    assert api.get("/proxies/p/toxics").json() == []


def test_reset_enables_every_proxy_and_removes_toxics_when_called(
    api: httpx.Client, echo_port: int
) -> None:
    create(api, "a", echo_port)
    create(api, "b", echo_port, enabled=False)
    api.post("/proxies/a/toxics", json={"type": "latency"})

    answer = api.post("/reset")

    assert answer.status_code == 204
    proxies = api.get("/proxies").json()
    assert {name: p["enabled"] for name, p in proxies.items()} == {"a": True, "b": True}
    assert all(p["toxics"] == [] for p in proxies.values())


def test_populate_answers_201_with_proxies_when_new(
    api: httpx.Client, echo_port: int
) -> None:
    body = [
        {"name": "one", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{echo_port}"},
        {
            "name": "two",
            "listen": "127.0.0.1:0",
            "upstream": "127.0.0.1:9",
            "enabled": False,
        },
    ]

    answer = api.post("/populate", json=body)

    assert answer.status_code == 201
    proxies = answer.json()["proxies"]
    assert [(p["name"], p["enabled"]) for p in proxies] == [
        ("one", True),
        ("two", False),
    ]


def test_populate_answers_400_and_changes_nothing_when_an_entry_lacks_upstream(
    api: httpx.Client, echo_port: int
) -> None:
    body = [
        {"name": "ok", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{echo_port}"},
        {"name": "bad", "listen": "127.0.0.1:0"},
    ]

    answer = api.post("/populate", json=body)

    assert answer.status_code == 400
    assert answer.json() == {
        "error": "missing required field: upstream at proxy 2",
        "status": 400,
        "proxies": None,
    }
    assert api.get("/proxies").json() == {}


def test_unknown_route_answers_404_page_not_found(api: httpx.Client) -> None:
    answer = api.get("/nowhere")

    assert answer.status_code == 404
    assert answer.text == "404 page not found\n"


def test_known_route_answers_405_when_method_not_allowed(api: httpx.Client) -> None:
    assert api.put("/proxies").status_code == 405


def test_create_binds_loopback_ephemeral_port_when_listen_missing(
    api: httpx.Client, echo_port: int
) -> None:
    answer = api.post(
        "/proxies", json={"name": "bare", "upstream": f"127.0.0.1:{echo_port}"}
    )

    assert answer.status_code == 201
    host, port = answer.json()["listen"].rsplit(":", 1)
    assert host == "127.0.0.1"
    assert int(port) > 0
