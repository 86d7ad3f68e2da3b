"""Black-box tests of the erigon stand-in's /health: header checks and the body form."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.standins.test_erigon_support import Erigon, erigon

pytestmark = pytest.mark.timeout(60)

HEADER = "X-ERIGON-HEALTHCHECK"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Erigon]:
    with erigon(tmp_path_factory.mktemp("erigon-health")) as running:
        yield running


def health(node: Erigon, *checks: str) -> httpx.Response:
    headers = [(HEADER, check) for check in checks]
    return httpx.get(node.url + "/health", headers=headers, timeout=10)


def test_health_is_200_with_four_keys_when_synced_is_checked(node):
    response = health(node, "synced")
    assert response.status_code == 200
    assert response.json() == {
        "check_block": "DISABLED",
        "max_seconds_behind": "DISABLED",
        "min_peer_count": "DISABLED",
        "synced": "HEALTHY",
    }


def test_health_is_200_when_every_check_passes_together(node):
    head = node.head()
    response = health(
        node, "synced", "min_peer_count3", f"check_block{head}", "max_seconds_behind600"
    )
    assert response.status_code == 200
    assert set(response.json().values()) == {"HEALTHY"}


def test_health_is_500_with_erigons_words_when_peers_are_below_the_minimum(node):
    response = health(node, "min_peer_count30")
    assert response.status_code == 500
    assert response.json()["min_peer_count"] == (
        "ERROR: not enough peers: 25 (minimum 30))"
    )
    assert response.json()["synced"] == "DISABLED"


def test_health_is_500_when_the_checked_block_is_not_known_yet(node):
    wanted = node.head() + 100_000
    response = health(node, f"check_block{wanted}")
    assert response.status_code == 500
    assert response.json()["check_block"] == (
        f"ERROR: no known block with number {wanted} ({wanted:x} hex)"
    )


def test_health_is_200_when_the_checked_block_exists(node):
    assert health(node, f"check_block{node.head() - 10}").status_code == 200


def test_health_is_200_when_the_head_is_within_max_seconds_behind(node):
    response = health(node, "max_seconds_behind30")
    assert response.status_code == 200
    assert response.json()["max_seconds_behind"] == "HEALTHY"


def test_health_reports_bad_header_value_when_seconds_are_negative(node):
    response = health(node, "max_seconds_behind-5")
    assert response.status_code == 500
    assert response.json()["max_seconds_behind"] == "ERROR: bad header value"


def test_health_reports_go_parse_error_when_a_number_is_not_one(node):
    response = health(node, "min_peer_countmany", "synced")
    assert response.status_code == 500
    body = response.json()
    assert body["min_peer_count"] == (
        'ERROR: strconv.Atoi: parsing "many": invalid syntax'
    )
    # erigon stops at the first bad header: the later `synced` is not run.
    assert body["synced"] == "DISABLED"


def test_health_header_values_are_case_insensitive_when_upper_case(node):
    assert health(node, "SYNCED").json()["synced"] == "HEALTHY"


def test_health_body_form_answers_its_three_keys_when_no_header(node):
    response = httpx.request(
        "GET",
        node.url + "/health",
        json={"min_peer_count": 1, "known_block": "0x0"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json() == {
        "check_block": "HEALTHY",
        "healthcheck_query": "HEALTHY",
        "min_peer_count": "HEALTHY",
    }


def test_health_body_form_is_500_when_peers_are_below_the_minimum(node):
    response = httpx.post(node.url + "/health", json={"min_peer_count": 50}, timeout=10)
    assert response.status_code == 500
    assert response.json()["min_peer_count"] == (
        "ERROR: not enough peers: 25 (minimum 50))"
    )
    assert response.json()["check_block"] == "DISABLED"


def test_health_is_500_when_there_is_neither_header_nor_body(node):
    response = httpx.get(node.url + "/health", timeout=10)
    assert response.status_code == 500
    assert response.json()["healthcheck_query"] == (
        "ERROR: unexpected end of JSON input"
    )
