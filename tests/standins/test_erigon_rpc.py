"""Black-box tests of the erigon stand-in's JSON-RPC: methods, errors, batches, HTTP."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from harness.standins.erigon.keccak import keccak256
from tests.standins.test_erigon_support import (
    BLOCK_TIME_MS,
    Erigon,
    dynamic_fee_tx,
    erigon,
    legacy_tx,
    raw_http,
    wait_until,
)

pytestmark = pytest.mark.timeout(60)

REQUIRED_BLOCK_FIELDS = {
    "parentHash", "sha3Uncles", "miner", "stateRoot", "transactionsRoot",
    "receiptsRoot", "logsBloom", "number", "gasLimit", "gasUsed", "timestamp",
    "extraData", "mixHash", "nonce", "size", "transactions", "uncles",
    "hash", "baseFeePerGas", "withdrawals", "withdrawalsRoot",
}  # fmt: skip
HASH_RE = re.compile(r"^0x[0-9a-f]{64}$")
QUANTITY_RE = re.compile(r"^0x(0|[1-9a-f][0-9a-f]*)$")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Erigon]:
    with erigon(tmp_path_factory.mktemp("erigon-rpc")) as running:
        yield running


def post(node: Erigon, body: Any) -> httpx.Response:
    return httpx.post(node.url, json=body, timeout=10)


def post_raw(
    node: Erigon, content: bytes, content_type: str = "application/json"
) -> httpx.Response:
    headers = {"content-type": content_type}
    return httpx.post(node.url, content=content, headers=headers, timeout=10)


def error_of(answer: dict[str, Any]) -> tuple[int, str]:
    assert "result" not in answer, answer
    return answer["error"]["code"], answer["error"]["message"]


# -- methods ---------------------------------------------------------------------


def test_block_number_is_a_hex_quantity_that_advances_when_blocks_are_due(node):
    first = node.result("eth_blockNumber")
    assert QUANTITY_RE.match(first)
    wait_until(
        lambda: node.head() >= int(first, 16) + 3,
        timeout_s=5,
        what="three more blocks at 100 ms each",
    )


def test_chain_id_and_net_version_name_the_chain_when_ethereum(node):
    assert node.result("eth_chainId") == "0x1"
    assert node.result("net_version") == "1"


def test_net_peer_count_is_hex_of_the_default_peers_when_untouched(node):
    assert node.result("net_peerCount") == "0x19"


def test_client_version_reads_like_erigon_when_asked(node):
    version = node.result("web3_clientVersion")
    assert re.match(r"^erigon/\d+\.\d+\.\d+/linux-amd64/go\d+\.\d+", version)


def test_syncing_is_false_when_the_node_follows_the_network(node):
    assert node.result("eth_syncing") is False


def test_block_has_every_required_field_when_latest_is_asked(node):
    block = node.result("eth_getBlockByNumber", ["latest", False])
    assert block.keys() >= REQUIRED_BLOCK_FIELDS
    for key in ("hash", "parentHash", "stateRoot", "mixHash", "sha3Uncles"):
        assert HASH_RE.match(block[key]), (key, block[key])
    assert re.match(r"^0x[0-9a-f]{40}$", block["miner"])
    assert re.match(r"^0x[0-9a-f]{512}$", block["logsBloom"])
    assert len(block["nonce"]) == 18
    for key in ("number", "gasLimit", "gasUsed", "timestamp", "size"):
        assert QUANTITY_RE.match(block[key]), (key, block[key])
    assert int(block["baseFeePerGas"], 16) > 0
    assert block["uncles"] == [] and block["withdrawals"] == []
    assert isinstance(block["transactions"], list)


def test_block_timestamp_is_wall_clock_seconds_when_latest(node):
    block = node.result("eth_getBlockByNumber", ["latest", False])
    lag_s = time.time() - int(block["timestamp"], 16)
    assert 0 <= lag_s < 3, f"latest block is {lag_s:.1f} s old"


def test_parent_hash_links_to_the_previous_block_when_consecutive(node):
    head = node.head()
    block = node.result("eth_getBlockByNumber", [hex(head), False])
    parent = node.result("eth_getBlockByNumber", [hex(head - 1), False])
    assert block["parentHash"] == parent["hash"]
    assert block["hash"] != parent["hash"]
    again = node.result("eth_getBlockByNumber", [hex(head), False])
    assert again["hash"] == block["hash"], "hashes must be deterministic"


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("earliest", lambda head: 0), ("safe", lambda head: head - 32),
     ("finalized", lambda head: head - 64), ("pending", lambda head: head)],
)  # fmt: skip
def test_block_tags_resolve_relative_to_the_head_when_given(node, tag, expected):
    before = node.head()
    block = node.result("eth_getBlockByNumber", [tag, False])
    after = node.head()
    number = int(block["number"], 16)
    assert expected(before) <= number <= expected(after)


def test_block_number_may_be_decimal_when_given_as_erigon_allows(node):
    block = node.result("eth_getBlockByNumber", ["1000", False])
    assert block["number"] == hex(1000)


def test_block_is_null_when_beyond_the_head(node):
    assert node.result("eth_getBlockByNumber", [hex(node.head() + 1000), False]) is None


def test_block_by_hash_returns_the_same_block_when_hash_is_known(node):
    by_number = node.result("eth_getBlockByNumber", [hex(node.head() - 5), False])
    by_hash = node.result("eth_getBlockByHash", [by_number["hash"], False])
    assert by_hash == by_number


def test_block_by_hash_is_null_when_hash_is_unknown(node):
    assert node.result("eth_getBlockByHash", ["0x" + "ab" * 32, True]) is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (["0x", False], 'invalid argument 0: hex string "0x"'),
        (["0x01", False], "invalid argument 0: hex number with leading zero digits"),
        (["abc", False], "invalid argument 0: hex string without 0x prefix"),
        (["0xzz", False], "invalid argument 0: invalid hex string"),
        (["latest", "yes"], "invalid argument 1: json: cannot unmarshal string "
                            "into Go value of type bool"),
        (["latest"], "missing value for required argument 1"),
        (["latest", False, 3], "too many arguments, want at most 2"),
    ],
)  # fmt: skip
def test_get_block_answers_invalid_params_when_arguments_are_bad(node, params, message):
    answer = node.rpc("eth_getBlockByNumber", params)
    assert error_of(answer) == (-32602, message)


def test_get_block_by_hash_answers_invalid_params_when_hash_is_short(node):
    answer = node.rpc("eth_getBlockByHash", ["0x" + "ab" * 31, False])
    assert error_of(answer) == (
        -32602,
        "invalid argument 0: hex string has length 62, want 64 for common.Hash",
    )


# -- eth_sendRawTransaction ---------------------------------------------------------


def test_send_raw_transaction_returns_the_keccak_hash_when_valid(node):
    raw = dynamic_fee_tx(nonce=1)
    tx_hash = node.result("eth_sendRawTransaction", [raw])
    assert tx_hash == "0x" + keccak256(bytes.fromhex(raw[2:])).hex()


def test_sent_transaction_is_in_the_next_block_when_it_is_made(node):
    raw = dynamic_fee_tx(nonce=2)
    tx_hash = node.result("eth_sendRawTransaction", [raw])
    head = node.head()

    def find() -> dict[str, Any] | None:
        for number in range(head - 1, node.head() + 1):
            block: dict[str, Any] = node.result(
                "eth_getBlockByNumber", [hex(number), True]
            )
            for tx in block["transactions"]:
                if tx["hash"] == tx_hash:
                    return block
        return None

    wait_until(lambda: find() is not None, timeout_s=5, what="tx in a block")
    block = find()
    assert block is not None
    tx = next(t for t in block["transactions"] if t["hash"] == tx_hash)
    assert tx["blockHash"] == block["hash"] and tx["chainId"] == "0x1"
    assert tx["type"] == "0x2" and tx["nonce"] == "0x2" and tx["gas"] == "0x5208"
    assert tx["to"] == "0x" + "35" * 20
    hashes_only = node.result("eth_getBlockByNumber", [block["number"], False])
    assert tx_hash in hashes_only["transactions"]
    assert int(block["gasUsed"], 16) >= 21_000


def test_send_raw_transaction_rejects_a_duplicate_when_already_known(node):
    raw = dynamic_fee_tx(nonce=3)
    node.result("eth_sendRawTransaction", [raw])
    answer = node.rpc("eth_sendRawTransaction", [raw])
    assert error_of(answer) == (-32000, "ALREADY_EXISTS: already known")


def test_send_raw_transaction_rejects_legacy_tx_when_not_replay_protected(node):
    answer = node.rpc("eth_sendRawTransaction", [legacy_tx(nonce=1, v=27)])
    assert error_of(answer) == (
        -32000,
        "only replay-protected (EIP-155) transactions allowed over RPC",
    )


def test_send_raw_transaction_accepts_legacy_tx_when_eip155_protected(node):
    tx_hash = node.result("eth_sendRawTransaction", [legacy_tx(nonce=9, v=37)])
    assert HASH_RE.match(tx_hash)


def test_send_raw_transaction_rejects_another_chains_tx_when_chain_id_differs(node):
    answer = node.rpc("eth_sendRawTransaction", [dynamic_fee_tx(4, chain_id=5)])
    assert error_of(answer) == (-32000, "invalid chain id, expected: 1 got: 5")


def test_send_raw_transaction_rejects_fee_when_over_the_one_ether_cap(node):
    raw = dynamic_fee_tx(5, max_fee_wei=10**14, gas=21_000)
    answer = node.rpc("eth_sendRawTransaction", [raw])
    assert error_of(answer) == (
        -32000,
        "tx fee (2.10 ether) exceeds the configured cap (1.00 ether)",
    )


def test_send_raw_transaction_rejects_bytes_when_not_a_transaction(node):
    code, message = error_of(node.rpc("eth_sendRawTransaction", ["0x8201"]))
    assert code == -32000 and message.startswith("rlp:")


@pytest.mark.parametrize(
    ("value", "problem"),
    [("02f8", "hex string without 0x prefix"), ("0x02f", "hex string of odd length"),
     ("0xzz", "invalid hex string")],
)  # fmt: skip
def test_send_raw_transaction_answers_invalid_params_when_hex_is_bad(
    node, value, problem
):
    answer = node.rpc("eth_sendRawTransaction", [value])
    assert error_of(answer) == (
        -32602,
        f"invalid argument 0: json: cannot unmarshal {problem} into Go value "
        "of type hexutil.Bytes",
    )


# -- protocol errors -------------------------------------------------------------


def test_parse_error_is_32700_with_http_200_when_body_is_not_json(node):
    response = post_raw(node, b'{"jsonrpc":"2.0","id":1,"method":')
    assert response.status_code == 200
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32700, "message": "parse error"},
    }


def test_invalid_request_keeps_the_id_when_method_is_missing(node):
    answer = post(node, {"jsonrpc": "2.0", "id": 5}).json()
    assert answer["id"] == 5
    assert error_of(answer) == (-32600, "invalid request")


def test_invalid_request_has_null_id_when_message_is_not_an_object(node):
    answer = post_raw(node, b"42").json()
    assert answer["id"] is None
    assert error_of(answer) == (-32600, "invalid request")


def test_method_not_found_is_32601_with_erigons_message_when_unknown(node):
    answer = node.rpc("eth_mine")
    assert error_of(answer) == (
        -32601,
        "the method eth_mine does not exist/is not available",
    )


def test_invalid_params_is_32602_when_a_no_argument_method_gets_one(node):
    answer = node.rpc("eth_blockNumber", ["latest"])
    assert error_of(answer) == (-32602, "too many arguments, want at most 0")


def test_invalid_params_is_32602_when_params_is_not_an_array(node):
    answer = node.rpc("eth_chainId", {"a": 1})
    assert error_of(answer) == (-32602, "non-array args")


def test_string_ids_come_back_unchanged_when_used(node):
    body = {"jsonrpc": "2.0", "id": "req-7", "method": "eth_chainId"}
    assert post(node, body).json() == {"jsonrpc": "2.0", "id": "req-7", "result": "0x1"}


def test_notification_gets_an_empty_answer_when_it_has_no_id(node):
    response = post(node, {"jsonrpc": "2.0", "method": "eth_chainId"})
    assert response.status_code == 200
    assert response.content == b""


# -- batches ------------------------------------------------------------------------


def test_batch_answers_in_order_and_skips_notifications_when_mixed(node):
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "method": "eth_blockNumber"},
        {"jsonrpc": "2.0", "id": 2, "method": "nope"},
        {"jsonrpc": "2.0", "id": 3, "method": "net_version"},
    ]
    answers = post(node, batch).json()
    assert [a["id"] for a in answers] == [1, 2, 3]
    assert answers[0]["result"] == "0x1"
    assert answers[1]["error"]["code"] == -32601
    assert answers[2]["result"] == "1"


def test_batch_of_100_is_answered_in_full_when_at_the_limit(node):
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(100)]
    answers = post(node, batch).json()
    assert [a["id"] for a in answers] == list(range(100))


def test_batch_over_100_gets_erigons_one_element_error_when_over_the_limit(node):
    batch = [
        {"jsonrpc": "2.0", "id": i + 10, "method": "eth_chainId"} for i in range(101)
    ]
    response = post(node, batch)
    assert response.status_code == 200
    assert response.json() == [
        {
            "jsonrpc": "2.0",
            "id": 10,
            "error": {
                "code": -32600,
                "message": "batch limit 100 exceeded (can increase by "
                "--rpc.batch.limit). Requested batch of size: 101",
            },
        }
    ]


def test_empty_batch_is_an_invalid_request_when_sent(node):
    assert post(node, []).json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32600, "message": "empty batch"},
    }


def test_batch_element_that_is_not_an_object_is_invalid_when_mixed(node):
    answers = post(node, [7, {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}])
    assert answers.json() == [
        {"jsonrpc": "2.0", "id": None,
         "error": {"code": -32600, "message": "invalid request"}},
        {"jsonrpc": "2.0", "id": 1, "result": "0x1"},
    ]  # fmt: skip


# -- HTTP layer ------------------------------------------------------------------


def test_bare_get_answers_an_empty_200_when_a_load_balancer_checks(node):
    response = httpx.get(node.url, timeout=10)
    assert response.status_code == 200
    assert response.content == b""


def test_get_with_a_query_is_a_call_when_method_is_given(node):
    response = httpx.get(node.url, params={"method": "eth_chainId", "id": "4"})
    assert response.json() == {"jsonrpc": "2.0", "id": 4, "result": "0x1"}


@pytest.mark.parametrize("verb", ["PUT", "DELETE"])
def test_put_and_delete_are_405_when_sent_to_the_rpc(node, verb):
    response = httpx.request(verb, node.url, json={"id": 1, "method": "eth_chainId"})
    assert response.status_code == 405
    assert response.text == "method not allowed\n"


def test_wrong_content_type_is_415_when_not_json(node):
    response = post_raw(node, b'{"id":1,"method":"eth_chainId"}', "text/plain")
    assert response.status_code == 415
    assert response.text == "invalid content type, only application/json is supported\n"


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "application/json-rpc",
     "application/jsonrequest", "Application/JSON"],
)  # fmt: skip
def test_json_content_types_are_accepted_when_erigon_accepts_them(node, content_type):
    response = post_raw(node, b'{"id":1,"method":"eth_chainId"}', content_type)
    assert response.status_code == 200
    assert response.json()["result"] == "0x1"


def test_body_over_32_mib_is_413_when_content_length_says_so(node):
    size = 32 * 1024 * 1024 + 1
    reply = raw_http(
        node.port,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(size).encode() + b"\r\nConnection: close\r\n\r\n{",
    )
    assert reply.startswith(b"HTTP/1.1 413")
    assert b"content length too large (33554433>33554432)" in reply


def test_rpc_is_served_on_any_path_when_not_health_or_control(node):
    response = httpx.post(
        node.url + "/some/path",
        json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
    )
    assert response.json()["result"] == "0x1"


def test_answers_are_json_with_http_200_when_a_method_fails(node):
    response = post(node, {"jsonrpc": "2.0", "id": 1, "method": "missing_method"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"


def test_second_chain_reports_its_own_ids_when_arbitrum(tmp_path):
    with erigon(tmp_path, chain="arbitrum", block_time_ms=BLOCK_TIME_MS) as arb:
        assert arb.result("eth_chainId") == "0xa4b1"
        assert arb.result("net_version") == "42161"


def test_parse_error_is_answered_when_json_is_nested_too_deeply(node):
    response = post_raw(node, b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code == 200
    assert response.json()["error"]["code"] == -32700
