"""erigon's `/health` endpoint: X-ERIGON-HEALTHCHECK header checks and the body form.

Header form: each `X-ERIGON-HEALTHCHECK` header is one check (`synced`,
`min_peer_count<N>`, `check_block<N>`, `max_seconds_behind<S>`); the body
always has the four keys, each HEALTHY, DISABLED or `ERROR: ...`, and the
status is 500 when any enabled check fails. Body form (no header):
`{"min_peer_count": N, "known_block": <block>}`, answered with the keys
healthcheck_query, min_peer_count and check_block.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from harness.standins.erigon.chain import Chain
from harness.standins.erigon.methods import decode_block_number

HEADER = "x-erigon-healthcheck"
HEALTHY = "HEALTHY"
DISABLED = "DISABLED"

_UINT_SPAN = 2**64


class _CheckFailed(Exception):
    """One check failed; the message follows `ERROR: `."""


def _go_atoi(text: str) -> int:
    """strconv.Atoi, with Go's error text."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body.isascii() or not body.isdigit():
        raise _CheckFailed(f'strconv.Atoi: parsing "{text}": invalid syntax')
    return int(text)


class HealthCheck:
    """Answers /health for one chain; `clock_s` is the wall clock in seconds."""

    def __init__(self, chain: Chain, clock_s: Callable[[], float] = time.time) -> None:
        self.chain = chain
        self.clock_s = clock_s

    def from_headers(self, values: list[str]) -> tuple[int, dict[str, str]]:
        """Status and body for the header form; `values` in request order."""
        results = {
            "synced": DISABLED,
            "min_peer_count": DISABLED,
            "check_block": DISABLED,
            "max_seconds_behind": DISABLED,
        }
        for value in values:
            check = value.lower()
            if check == "synced":
                results["synced"] = self._run(self._synced)
            for key, run in (
                ("min_peer_count", self._min_peers),
                ("check_block", self._known_block),
                ("max_seconds_behind", self._seconds_behind),
            ):
                if check.startswith(key):
                    try:
                        number = _go_atoi(check[len(key) :])
                    except _CheckFailed as exc:
                        # erigon stops reading headers at the first bad number.
                        results[key] = f"ERROR: {exc}"
                        return _report(results)
                    if key == "max_seconds_behind" and number < 0:
                        results[key] = "ERROR: bad header value"
                        return _report(results)
                    results[key] = self._run(run, number)
        return _report(results)

    def from_body(self, body: bytes) -> tuple[int, dict[str, str]]:
        """Status and body for the JSON body form (no header given)."""
        results = {
            "healthcheck_query": HEALTHY,
            "min_peer_count": DISABLED,
            "check_block": DISABLED,
        }
        try:
            min_peers, known_block = _parse_body(body)
        except _CheckFailed as exc:
            results["healthcheck_query"] = f"ERROR: {exc}"
            return _report(results)
        if min_peers is not None:
            results["min_peer_count"] = self._run(self._min_peers, min_peers)
        if known_block is not None:
            results["check_block"] = self._run(self._known_block, known_block)
        return _report(results)

    @staticmethod
    def _run(check: Callable[..., None], *args: Any) -> str:
        try:
            check(*args)
        except _CheckFailed as exc:
            return f"ERROR: {exc}"
        return HEALTHY

    def _synced(self) -> None:
        if self.chain.is_syncing():
            raise _CheckFailed("not synced")

    def _min_peers(self, minimum: int) -> None:
        minimum %= _UINT_SPAN  # Go converts to uint: -1 wraps around
        peers = self.chain.peers
        if peers < minimum:
            raise _CheckFailed(f"not enough peers: {peers} (minimum {minimum}))")

    def _known_block(self, wanted: int | str) -> None:
        if isinstance(wanted, int) and wanted < 0:
            return  # negative numbers are erigon's tags (latest, pending...)
        if self.chain.resolve(wanted) is None:
            assert isinstance(wanted, int)
            raise _CheckFailed(f"no known block with number {wanted} ({wanted:x} hex)")

    def _seconds_behind(self, seconds: int) -> None:
        need = int(self.clock_s()) - seconds
        got = self.chain.schedule.timestamp_s(self.chain.head())
        if got < need:
            raise _CheckFailed(f"timestamp too old: got ts: {got}, need: {need}")


def _report(results: dict[str, str]) -> tuple[int, dict[str, str]]:
    failed = any(v.startswith("ERROR") for v in results.values())
    # Go marshals a map with its keys sorted.
    return (500 if failed else 200), dict(sorted(results.items()))


def _parse_body(body: bytes) -> tuple[int | None, int | str | None]:
    """min_peer_count and known_block from the body, with Go's error text."""
    if not body.strip():
        raise _CheckFailed("unexpected end of JSON input")
    try:
        data = json.loads(body)
    except ValueError:
        first = body.strip()[:1].decode(errors="replace")
        raise _CheckFailed(
            f"invalid character '{first}' looking for beginning of value"
        ) from None
    if not isinstance(data, dict):
        kind = "array" if isinstance(data, list) else type(data).__name__
        raise _CheckFailed(
            f"json: cannot unmarshal {kind} into Go value of type health.requestBody"
        )
    # Go matches JSON keys to struct fields without regard to case.
    fields = {k.lower(): v for k, v in data.items()}
    min_peers = fields.get("min_peer_count")
    if min_peers is not None and (
        type(min_peers) is not int or not 0 <= min_peers < _UINT_SPAN
    ):
        raise _CheckFailed(
            f"json: cannot unmarshal {json.dumps(min_peers)} into Go struct field "
            "requestBody.min_peer_count of type uint"
        )
    known = fields.get("known_block")
    known_block: int | str | None = None
    if known is not None:
        try:
            known_block = decode_block_number(known)
        except ValueError as exc:
            raise _CheckFailed(str(exc)) from None
    return min_peers, known_block
