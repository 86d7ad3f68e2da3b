"""The MEV API stand-in as a process, against the real Postgres stand-in."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psycopg
import pytest

from harness.standins.mev_api import new_keys_file
from harness.standins.mev_api.keys import generate_key, hash_key

if TYPE_CHECKING:
    from tests.conftest import PostgresLauncher, PostgresServer

pytestmark = pytest.mark.timeout(60)

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 15.0
MARK_BLOCK = 77_000_000
"""Block numbers of the rows these tests insert, far above the seed's."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Api:
    """A running API process and what a client needs to talk to it."""

    url: str
    key: str
    keys_file: Path
    audit_log: Path
    log_file: Path
    proc: subprocess.Popen[bytes]

    def client(self, key: str | None = None) -> httpx.Client:
        """A client; with `key`, it sends X-API-Key."""
        headers = {"X-API-Key": key} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)


ApiStarter = Callable[..., Api]


def _health_reaches(api: Api, want_status: int) -> str:
    """Poll /health until it answers `want_status`; "" then, else why not."""
    deadline = time.monotonic() + START_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        if api.proc.poll() is not None:
            return f"mev_api exited with {api.proc.returncode}"
        try:
            answer = httpx.get(f"{api.url}/health", timeout=5)
            if answer.status_code == want_status:
                return ""
            last = f"{answer.status_code} {answer.text}"
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.03)
    return f"/health never answered {want_status} ({last})"


def _wait_ready(api: Api, want_status: int) -> None:
    if problem := _health_reaches(api, want_status):
        pytest.fail(f"{problem}:\n{api.log_file.read_text()}")


@pytest.fixture(scope="module")
def start_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiStarter]:
    """Start API processes; each is stopped (SIGTERM, then SIGKILL) at the end."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(database_url: str, *extra: str, want_status: int = 200) -> Api:
        home = tmp_path_factory.mktemp("mev-api")
        keys_file = home / "keys.json"
        key = new_keys_file(keys_file)
        log_file = home / "api.log"
        # A free port can be taken by another process before we bind it.
        for _ in range(3):
            port = _free_port()
            with log_file.open("wb") as log:
                proc = subprocess.Popen(
                    [
                        sys.executable, "-m", "harness.standins.mev_api",
                        "--port", str(port),
                        "--database-url", database_url,
                        "--keys-file", str(keys_file),
                        "--audit-log", str(home / "audit.jsonl"),
                        *extra,
                    ],
                    cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                )  # fmt: skip
            procs.append(proc)
            api = Api(
                f"http://127.0.0.1:{port}", key, keys_file, home / "audit.jsonl",
                log_file, proc,
            )  # fmt: skip
            problem = _health_reaches(api, want_status)
            if not problem:
                return api
            if "already in use" not in log_file.read_text():
                break
        pytest.fail(f"{problem}:\n{log_file.read_text()}")

    yield start
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def marked_rows(postgres_server: PostgresServer) -> list[int]:
    """Rows of our own, with amounts past 2**64, so exact values can be checked."""
    rows = [
        (1, "ethereum", "sandwich", MARK_BLOCK, "included", 10**30 + 7),
        (42161, "arbitrum", "liquidation", MARK_BLOCK + 1, "failed", 5),
        (137, "polygon", "sandwich", MARK_BLOCK + 2, "submitted", 10**20),
    ]
    ids = []
    with psycopg.connect(postgres_server.url) as conn:
        for chain_id, chain, strategy, block, status, wei in rows:
            cursor = conn.execute(
                "INSERT INTO opportunities (chain_id, chain, strategy, block_number, "
                "target_block, expected_profit_wei, gas_estimate, net_profit_wei, "
                "status, rejection_reason) VALUES (%s, %s, %s, %s, %s, %s, 21000, "
                "%s, %s, NULL) RETURNING id",
                (chain_id, chain, strategy, block, block + 1, wei + 1, wei, status),
            )
            row = cursor.fetchone()
            assert row is not None
            ids.append(int(row[0]))
    return ids


@pytest.fixture(scope="module")
def api(start_api: ApiStarter, postgres_server: PostgresServer) -> Api:
    """One API on the session's Postgres, for tests that change no keys."""
    return start_api(postgres_server.url)


def _sql_ids(url: str, where: str = "TRUE", params: tuple[Any, ...] = ()) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            f"SELECT id FROM opportunities WHERE {where} ORDER BY id DESC", params
        ).fetchall()
    return [int(row[0]) for row in rows]


def _all_pages(client: httpx.Client, params: dict[str, str]) -> list[int]:
    ids: list[int] = []
    cursor: str | None = None
    for _ in range(1000):
        answer = client.get(
            "/api/v1/opportunities",
            params={**params, **({"cursor": cursor} if cursor else {})},
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["count"] == len(body["opportunities"])
        ids += [row["id"] for row in body["opportunities"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids
    pytest.fail("paging never ended")


# Reading


def test_index_lists_every_endpoint_when_root_requested(api: Api) -> None:
    body = api.client().get("/").json()
    assert body["service"] == "mev-infra"
    assert "GET /api/v1/opportunities" in body["endpoints"]
    assert "POST /api/v1/admin/keys/rotate" in body["endpoints"]


def test_health_reports_ok_and_pool_stats_when_database_up(api: Api) -> None:
    answer = api.client().get("/health")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["status"], body["database"]) == ("ok", "ok")
    assert body["pool"]["max"] == 10
    assert body["pool"]["size"] >= 1


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_opportunities_answers_runbook_curl_when_no_key_sent(api: Api) -> None:
    result = subprocess.run(
        ["curl", "-s", "-f", f"{api.url}/api/v1/opportunities"],
        capture_output=True, timeout=10, check=False,
    )  # fmt: skip
    assert result.returncode == 0
    assert json.loads(result.stdout)["count"] > 0


def test_opportunities_returns_exact_wei_strings_when_amounts_exceed_64_bits(
    api: Api, marked_rows: list[int]
) -> None:
    answer = api.client().get(f"/api/v1/opportunities/{marked_rows[0]}")
    assert answer.status_code == 200
    row = answer.json()
    assert row["net_profit_wei"] == str(10**30 + 7)
    assert row["expected_profit_wei"] == str(10**30 + 8)
    assert (row["chain"], row["strategy"], row["status"]) == (
        "ethereum", "sandwich", "included",
    )  # fmt: skip
    assert row["detected_at"].endswith("Z")


def test_opportunities_lists_newest_first_with_default_limit_50_when_unfiltered(
    api: Api, postgres_server: PostgresServer, marked_rows: list[int]
) -> None:
    body = api.client().get("/api/v1/opportunities").json()
    expected = _sql_ids(postgres_server.url)[:50]
    assert [row["id"] for row in body["opportunities"]] == expected
    assert body["next_cursor"] == str(expected[-1])


@pytest.mark.parametrize(
    ("params", "where", "sql_params"),
    [
        ({"chain_id": "42161"}, "chain_id = %s", (42161,)),
        ({"chain": "polygon"}, "chain = %s", ("polygon",)),
        ({"strategy": "sandwich"}, "strategy = %s", ("sandwich",)),
        ({"status": "included"}, "status = %s", ("included",)),
        ({"min_profit_wei": str(10**20)}, "net_profit_wei >= %s", (10**20,)),
        ({"since_block": str(MARK_BLOCK + 1)}, "block_number >= %s", (MARK_BLOCK + 1,)),
        (
            {"chain": "ethereum", "strategy": "arbitrage", "status": "rejected",
             "since_block": "1003"},
            "chain = 'ethereum' AND strategy = 'arbitrage' AND status = 'rejected' "
            "AND block_number >= 1003",
            (),
        ),
    ],
)  # fmt: skip
@pytest.mark.usefixtures("marked_rows")
def test_opportunities_match_sql_when_filtered(
    api: Api,
    postgres_server: PostgresServer,
    params: dict[str, str],
    where: str,
    sql_params: tuple[Any, ...],
) -> None:
    expected = _sql_ids(postgres_server.url, where, sql_params)
    assert expected, "the filter should select something"
    assert _all_pages(api.client(), params) == expected


def test_opportunities_cursor_visits_every_row_once_when_paging_by_7(
    api: Api, postgres_server: PostgresServer, marked_rows: list[int]
) -> None:
    pages = _all_pages(api.client(), {"limit": "7"})
    assert pages == _sql_ids(postgres_server.url)


def test_opportunities_gives_full_page_when_limit_is_500(api: Api) -> None:
    answer = api.client().get("/api/v1/opportunities", params={"limit": "500"})
    assert answer.status_code == 200


@pytest.mark.parametrize(
    ("query", "parameter", "words"),
    [
        ("limit=0", "limit", "greater than or equal to 1"),
        ("limit=501", "limit", "less than or equal to 500"),
        ("limit=ten", "limit", "valid integer"),
        ("chain=solana", "chain", "'ethereum'"),
        ("strategy=frontrun", "strategy", "'arbitrage'"),
        ("status=lost", "status", "'detected'"),
        ("chain_id=0", "chain_id", "greater than or equal to 1"),
        ("min_profit_wei=-1", "min_profit_wei", "whole number of wei"),
        ("min_profit_wei=1e18", "min_profit_wei", "whole number of wei"),
        ("since_block=-5", "since_block", "greater than or equal to 0"),
        ("cursor=abc", "cursor", "valid integer"),
        ("chainid=1", "chainid", "unknown query parameter"),
        ("chain_id=1&chain_id=2", "chain_id", "more than once"),
    ],
)
def test_opportunities_answers_400_naming_the_parameter_when_it_is_bad(
    api: Api, query: str, parameter: str, words: str
) -> None:
    answer = api.client().get(f"/api/v1/opportunities?{query}")
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "bad_request"
    assert body["parameter"] == parameter
    assert words in body["message"]
    assert parameter in body["message"]


def test_opportunity_answers_404_when_id_absent(api: Api) -> None:
    answer = api.client().get("/api/v1/opportunities/999999999")
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"


def test_opportunity_answers_400_when_id_not_an_integer(api: Api) -> None:
    answer = api.client().get("/api/v1/opportunities/12abc")
    assert answer.status_code == 400
    assert answer.json()["parameter"] == "id"


def test_strategies_lists_the_four_strategies_when_requested(api: Api) -> None:
    body = api.client().get("/api/v1/strategies").json()
    assert [s["name"] for s in body["strategies"]] == [
        "arbitrage", "backrun", "liquidation", "sandwich",
    ]  # fmt: skip
    assert all(isinstance(s["min_profit_wei"], str) for s in body["strategies"])


def test_unknown_route_answers_json_404_when_requested(api: Api) -> None:
    answer = api.client().get("/api/v2/nothing")
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"


# Writing and auth


def test_patch_strategy_updates_the_row_when_key_valid(
    api: Api, postgres_server: PostgresServer
) -> None:
    client = api.client(api.key)
    try:
        answer = client.patch(
            "/api/v1/strategies/backrun",
            json={"enabled": False, "min_profit_wei": str(10**25)},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["enabled"] is False
        with psycopg.connect(postgres_server.url) as conn:
            row = conn.execute(
                "SELECT enabled, min_profit_wei::text FROM strategies "
                "WHERE name = 'backrun'"
            ).fetchone()
        assert row == (False, str(10**25))
    finally:
        client.patch(
            "/api/v1/strategies/backrun",
            json={"enabled": True, "min_profit_wei": 500000000000000},
        )


def test_patch_strategy_answers_401_when_no_key_sent(api: Api) -> None:
    answer = api.client().patch("/api/v1/strategies/backrun", json={"enabled": False})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("name", "body", "status"),
    [
        ("backrun", {}, 400),
        ("backrun", {"enabled": "no"}, 400),
        ("backrun", {"min_profit_wei": -1}, 400),
        ("backrun", {"paused": True}, 400),
        ("frontrun", {"enabled": False}, 404),
    ],
)
def test_patch_strategy_rejects_the_request_when_body_or_name_bad(
    api: Api, name: str, body: dict[str, Any], status: int
) -> None:
    answer = api.client(api.key).patch(f"/api/v1/strategies/{name}", json=body)
    assert answer.status_code == status, answer.text


def test_patch_strategy_accepts_bearer_auth_when_given_instead_of_header(
    api: Api,
) -> None:
    answer = httpx.patch(
        f"{api.url}/api/v1/strategies/arbitrage",
        json={"enabled": True},
        headers={"Authorization": f"Bearer {api.key}"},
    )
    assert answer.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "mevk_not-a-real-key"},
        {"Authorization": "Bearer mevk_not-a-real-key"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
def test_reads_answer_401_when_an_invalid_key_is_presented(
    api: Api, headers: dict[str, str]
) -> None:
    answer = httpx.get(f"{api.url}/api/v1/opportunities", headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthorized"


def test_audit_answers_401_when_no_key_sent(api: Api) -> None:
    assert api.client().get("/api/v1/audit").status_code == 401


def test_reads_need_a_key_when_anonymous_reads_off(
    start_api: ApiStarter, postgres_server: PostgresServer
) -> None:
    closed = start_api(postgres_server.url, "--anonymous-reads", "off")
    assert closed.client().get("/api/v1/strategies").status_code == 401
    assert closed.client(closed.key).get("/api/v1/strategies").status_code == 200
    assert closed.client().get("/health").status_code == 200


def test_rotate_returns_a_working_key_and_revokes_the_old_one_when_called(
    start_api: ApiStarter, postgres_server: PostgresServer
) -> None:
    own = start_api(postgres_server.url)

    answer = own.client(own.key).post("/api/v1/admin/keys/rotate", json={})

    assert answer.status_code == 200
    issued = answer.json()
    assert issued["revoked"] == ["k1"]
    assert answer.headers["cache-control"] == "no-store"
    assert own.client(issued["key"]).get("/api/v1/audit").status_code == 200
    assert own.client(own.key).get("/api/v1/strategies").status_code == 401
    stored = json.loads(own.keys_file.read_text())["keys"]
    assert [k["sha256"] for k in stored] == [hash_key(own.key), hash_key(issued["key"])]
    assert stored[0]["revoked_at"] is not None
    assert issued["key"] not in own.keys_file.read_text()


def _add_key(keys_file: Path, key_id: str) -> str:
    key = generate_key()
    document = json.loads(keys_file.read_text())
    document["keys"].append(
        {"id": key_id, "sha256": hash_key(key), "label": "ops",
         "created_at": "2026-01-01T00:00:00Z", "revoked_at": None}
    )  # fmt: skip
    keys_file.write_text(json.dumps(document))
    return key


def test_rotate_revokes_only_the_presented_key_when_revoke_is_presented(
    start_api: ApiStarter, postgres_server: PostgresServer
) -> None:
    own = start_api(postgres_server.url)
    other = _add_key(own.keys_file, "k2")

    answer = own.client(other).post("/api/v1/admin/keys/rotate")

    assert answer.json()["revoked"] == ["k2"]
    assert own.client(other).get("/api/v1/audit").status_code == 401
    assert own.client(own.key).get("/api/v1/audit").status_code == 200


def test_rotate_revokes_every_other_key_when_revoke_is_all(
    start_api: ApiStarter, postgres_server: PostgresServer
) -> None:
    own = start_api(postgres_server.url)
    others = [_add_key(own.keys_file, "k2"), _add_key(own.keys_file, "k3")]

    answer = own.client(own.key).post(
        "/api/v1/admin/keys/rotate", json={"revoke": "all", "label": "incident"}
    )

    assert answer.status_code == 200
    issued = answer.json()
    assert (issued["id"], issued["label"]) == ("k4", "incident")
    assert issued["revoked"] == ["k1", "k2", "k3"]
    for old in (own.key, *others):
        assert own.client(old).get("/api/v1/audit").status_code == 401
    assert own.client(issued["key"]).get("/api/v1/audit").status_code == 200


def test_rotate_answers_400_when_revoke_value_unknown(api: Api) -> None:
    answer = api.client(api.key).post(
        "/api/v1/admin/keys/rotate", json={"revoke": "everyone"}
    )
    assert answer.status_code == 400
    assert answer.json()["parameter"] == "revoke"


def test_key_is_rejected_without_restart_when_keys_file_edited_to_revoke_it(
    start_api: ApiStarter, postgres_server: PostgresServer
) -> None:
    own = start_api(postgres_server.url)
    client = own.client(own.key)
    assert client.get("/api/v1/audit").status_code == 200

    document = json.loads(own.keys_file.read_text())
    document["keys"][0]["revoked_at"] = "2026-01-01T00:00:00Z"
    own.keys_file.write_text(json.dumps(document))

    assert client.get("/api/v1/audit").status_code == 401
    assert client.get("/api/v1/opportunities").status_code == 401


def test_every_key_is_rejected_when_keys_file_is_broken(
    start_api: ApiStarter, postgres_server: PostgresServer
) -> None:
    own = start_api(postgres_server.url)
    own.keys_file.write_text("{not json")

    assert own.client(own.key).get("/api/v1/audit").status_code == 401
    health = own.client().get("/health").json()
    assert "invalid" in health["keys_file"]


def test_audit_log_names_key_ids_and_never_keys_when_requests_authenticate(
    start_api: ApiStarter, postgres_server: PostgresServer
) -> None:
    own = start_api(postgres_server.url)
    bad_key = "mevk_" + secrets.token_urlsafe(16)
    own.client(own.key).get("/api/v1/strategies")
    own.client(bad_key).get("/api/v1/strategies")
    own.client().patch("/api/v1/strategies/backrun", json={"enabled": True})
    own.client().get("/api/v1/strategies")  # anonymous read: not audited
    rotated = own.client(own.key).post("/api/v1/admin/keys/rotate").json()["key"]

    text = own.audit_log.read_text()
    records = [json.loads(line) for line in text.splitlines()]
    summary = [(r["key_id"], r["auth"], r["method"], r["status"]) for r in records]
    assert summary == [
        ("k1", "valid", "GET", 200),
        ("invalid", "invalid", "GET", 401),
        ("none", "missing", "PATCH", 401),
        ("k1", "valid", "POST", 200),
    ]
    assert {r["client"] for r in records} == {"127.0.0.1"}
    for secret in (own.key, bad_key, rotated):
        assert secret not in text

    recent = own.client(rotated).get("/api/v1/audit", params={"limit": "2"}).json()
    assert [r["method"] for r in recent["records"]] == ["POST", "PATCH"]


# The document


def test_openapi_document_describes_every_route_when_fetched(api: Api) -> None:
    answer = api.client().get("/openapi.json")
    document = answer.json()

    assert document["openapi"].startswith("3.")
    operations = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
    }
    assert operations == {
        ("GET", "/"), ("GET", "/health"), ("GET", "/openapi.json"),
        ("GET", "/api/v1/opportunities"), ("GET", "/api/v1/opportunities/{id}"),
        ("GET", "/api/v1/strategies"), ("PATCH", "/api/v1/strategies/{name}"),
        ("POST", "/api/v1/admin/keys/rotate"), ("GET", "/api/v1/audit"),
    }  # fmt: skip
    refs = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"].rsplit("/", 1)[-1])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs <= set(document["components"]["schemas"])
    listed = {
        p["name"]
        for p in document["paths"]["/api/v1/opportunities"]["get"]["parameters"]
    }
    assert listed == {
        "chain_id", "chain", "strategy", "status", "min_profit_wei",
        "since_block", "limit", "cursor",
    }  # fmt: skip


# The database going away and coming back


def test_health_is_503_while_database_down_and_200_when_it_returns(
    start_api: ApiStarter, postgres_launcher: PostgresLauncher
) -> None:
    port = _free_port()
    password = secrets.token_urlsafe(12)
    url = f"postgresql://mev_user:{password}@127.0.0.1:{port}/mev_db"
    own = start_api(url, "--connect-timeout-s", "1", want_status=503)
    client = own.client()

    started = time.monotonic()
    down = client.get("/health")
    elapsed_s = time.monotonic() - started
    assert down.status_code == 503
    assert down.json()["error"] == "database_unreachable"
    assert "refused" in down.json()["reason"]
    assert elapsed_s < 1.0 + 0.75, f"503 took {elapsed_s:.2f} s, connect timeout 1 s"
    assert client.get("/api/v1/opportunities").status_code == 503

    server, proc = postgres_launcher.start("api-late", password=password, port=port)
    _wait_ready(own, 200)

    os.kill(server.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    _wait_ready(own, 503)
    postgres_launcher.start("api-late", port=port)
    _wait_ready(own, 200)
    assert client.get("/api/v1/strategies").status_code == 200


def test_pool_exhaustion_and_slow_queries_answer_503_quickly_when_table_locked(
    start_api: ApiStarter, postgres_server: PostgresServer
) -> None:
    own = start_api(
        postgres_server.url,
        "--pool-min", "1", "--pool-max", "1",
        "--connect-timeout-s", "0.5", "--query-timeout-s", "1.5",
    )  # fmt: skip
    first: list[httpx.Response] = []

    with psycopg.connect(postgres_server.url) as locker:
        locker.execute("LOCK TABLE opportunities IN ACCESS EXCLUSIVE MODE")
        holder = threading.Thread(
            target=lambda: first.append(own.client().get("/api/v1/opportunities"))
        )
        holder.start()
        _wait_for_lock_waiter(postgres_server.url)

        started = time.monotonic()
        second = own.client().get("/api/v1/strategies")
        elapsed_s = time.monotonic() - started
        holder.join(timeout=10)

    assert second.status_code == 503
    assert second.json()["error"] == "pool_exhausted"
    assert elapsed_s < 0.5 + 0.5, f"503 took {elapsed_s:.2f} s, pool wait 0.5 s"
    assert first[0].status_code == 503
    assert first[0].json()["error"] == "query_timeout"
    assert own.client().get("/health").status_code == 200


def _wait_for_lock_waiter(url: str) -> None:
    deadline = time.monotonic() + 5
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = 'mev-api' AND wait_event_type = 'Lock'"
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.02)
    pytest.fail("the API's query never waited on the lock")


def test_opportunities_answers_503_naming_the_table_when_it_was_dropped(
    start_api: ApiStarter, postgres_launcher: PostgresLauncher
) -> None:
    server, _ = postgres_launcher.start("api-drop", password="drop-password")
    own = start_api(server.url)
    with psycopg.connect(server.url) as conn:
        conn.execute("DROP TABLE opportunities")

    answer = own.client().get("/api/v1/opportunities")

    assert answer.status_code == 503
    assert answer.json()["error"] == "database_error"
    assert '"opportunities" does not exist' in answer.json()["message"]
    assert own.client().get("/health").status_code == 200


def test_new_keys_file_stores_only_the_hash_when_called(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    key = new_keys_file(path, label="ops")
    text = path.read_text()
    assert key not in text
    (record,) = json.loads(text)["keys"]
    assert record["sha256"] == hash_key(key)
    assert (record["id"], record["label"], record["revoked_at"]) == ("k1", "ops", None)
    assert path.stat().st_mode & 0o777 == 0o600
