"""The node's view of its chain: a head that follows the wall clock, stalls, catches up.

The network makes a block every `block_time_ms` (the `Schedule`). A healthy
node's head is the network's head; it is computed on demand from the clock, so
there is no timer race in which a reader sees the node a block behind. The head
stops (is frozen) while the server is not yet running, while sync is stalled
and while the node has no peers; when it is released it catches up to the
network over `catchup_ms`, reporting eth_syncing with erigon's stages meanwhile.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from functools import lru_cache

from harness.standins.erigon.store import Schedule

STAGES: tuple[str, ...] = (
    "OtterSync",
    "Headers",
    "BlockHashes",
    "Bodies",
    "Senders",
    "Execution",
    "CustomTrace",
    "WitnessProcessing",
    "TxLookup",
    "Finish",
)
"""Erigon 3's stage names, in pipeline order."""

SAFE_DEPTH = 32
"""Blocks between the head and the `safe` block tag."""

FINALIZED_DEPTH = 64
"""Blocks between the head and the `finalized` block tag."""


def wall_ms() -> int:
    """The wall clock in Unix milliseconds."""
    return time.time_ns() // 1_000_000


class Chain:
    """One node's chain state: head, sync progress, peers and block hashes.

    `head` is the stored head the node starts from; it stays frozen there until
    `start()`, then catches up, unless `fresh` (a new data dir: the node
    starts at the network's head). `clock_ms` (wall clock, for the schedule)
    and `monotonic_s` (for catch-up progress) can be injected.
    """

    def __init__(
        self,
        chain_id: int,
        schedule: Schedule,
        head: int,
        *,
        catchup_ms: int = 300,
        peers: int = 25,
        fresh: bool = False,
        clock_ms: Callable[[], int] = wall_ms,
        monotonic_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self.chain_id = chain_id
        self.schedule = schedule
        self.catchup_ms = catchup_ms
        self._clock_ms = clock_ms
        self._monotonic_s = monotonic_s
        self._floor = head
        self._peers = peers
        self._stalled = False
        self._running = False
        self._frozen: int | None = head
        self._catchup_from = head
        self._catchup_started_s: float | None = None
        self._sync_start = head
        self._fresh = fresh
        self._hashes = BlockHashes(chain_id)

    # -- head and sync ------------------------------------------------------

    def head(self) -> int:
        """The node's current head block number."""
        return self._head_at(self._clock_ms())

    def highest(self) -> int:
        """The highest block the node knows exists (its Headers stage)."""
        now_ms = self._clock_ms()
        return self._highest_at(now_ms, self._head_at(now_ms))

    def syncing(self) -> dict[str, object] | None:
        """eth_syncing's object with erigon's stages, or None when synced."""
        now_ms = self._clock_ms()
        current = self._head_at(now_ms)
        highest = self._highest_at(now_ms, current)
        if current >= highest:
            return None
        progress = {
            "OtterSync": min(self._sync_start, current),
            "Headers": highest,
            "BlockHashes": highest,
            "Bodies": highest,
            "Senders": current + (highest - current) // 2,
        }
        return {
            "startingBlock": "0x0",
            "currentBlock": hex(current),
            "highestBlock": hex(highest),
            "stages": [
                {"stage_name": name, "block_number": hex(progress.get(name, current))}
                for name in STAGES
            ],
        }

    def _head_at(self, now_ms: int) -> int:
        if self._frozen is not None:
            return self._frozen
        head = self.schedule.expected_head(now_ms)
        if self._catchup_started_s is not None:
            elapsed_ms = (self._monotonic_s() - self._catchup_started_s) * 1000
            if elapsed_ms < self.catchup_ms:
                gap = max(0, head - self._catchup_from)
                head = self._catchup_from + int(gap * elapsed_ms / self.catchup_ms)
            else:
                self._catchup_started_s = None
        # Never go back, even if the wall clock does.
        if head < self._floor:
            return self._floor
        self._floor = head
        return head

    def _highest_at(self, now_ms: int, head: int) -> int:
        if self._frozen is not None and self._peers == 0:
            # Without peers no header arrives: the node believes it is synced.
            return head
        expected = self.schedule.expected_head(now_ms)
        if self._frozen is not None and self._stalled:
            return max(expected, head + 1)
        return max(expected, head)

    def is_syncing(self) -> bool:
        """True while the head is behind the highest known block."""
        now_ms = self._clock_ms()
        head = self._head_at(now_ms)
        return head < self._highest_at(now_ms, head)

    # -- controls -----------------------------------------------------------

    @property
    def peers(self) -> int:
        """How many peers the node has; with none its head stops."""
        return self._peers

    @property
    def stalled(self) -> bool:
        """True while sync is stalled by the control endpoint."""
        return self._stalled

    def start(self) -> None:
        """Let the head move: from the stored head, catching up to the network."""
        self._running = True
        self._refreeze()
        if self._fresh:
            self._catchup_started_s = None
            self._fresh = False

    def set_stalled(self, stalled: bool) -> None:
        """Stop the head (True) or let it catch up again (False)."""
        self._stalled = stalled
        self._refreeze()

    def set_peers(self, count: int) -> None:
        """Set the peer count; zero peers stops the head, more releases it."""
        self._peers = count
        self._refreeze()

    def _refreeze(self) -> None:
        hold = not self._running or self._stalled or self._peers == 0
        if hold and self._frozen is None:
            self._frozen = self.head()
        elif not hold and self._frozen is not None:
            self._catchup_from = self._frozen
            self._sync_start = self._frozen
            self._catchup_started_s = self._monotonic_s()
            self._frozen = None

    # -- blocks ---------------------------------------------------------------

    def resolve(self, tag_or_number: str | int) -> int | None:
        """A block number for a tag or number; None when beyond the head."""
        head = self.head()
        if isinstance(tag_or_number, int):
            return tag_or_number if 0 <= tag_or_number <= head else None
        if tag_or_number == "earliest":
            return 0
        if tag_or_number == "safe":
            return max(0, head - SAFE_DEPTH)
        if tag_or_number == "finalized":
            return max(0, head - FINALIZED_DEPTH)
        # latest, pending, latestExecuted: a node that does not build blocks
        # answers these with its head.
        return head

    def block_hash(self, number: int) -> str:
        """Block `number`'s 32-byte hash as 0x-hex."""
        return self._hashes.of(number)

    def number_of_hash(self, block_hash: bytes) -> int | None:
        """The number of the block with this hash, if it is at or below the head."""
        number = self._hashes.number_of(block_hash)
        if number is None or number > self.head():
            return None
        return number

    def derived(self, number: int, label: bytes) -> str:
        """A stable 32-byte value for block `number` and a field `label`."""
        return self._hashes.derived(number, label)


class BlockHashes:
    """Deterministic, invertible 32-byte block hashes for one chain.

    A hash is 24 bytes of a keyed digest of the number, then the number through
    a keyed 64-bit Feistel permutation: random-looking, yet the number comes
    back from the hash without a table, and the digest part checks it.
    """

    _ROUNDS = 4

    def __init__(self, chain_id: int) -> None:
        self._key = hashlib.blake2b(
            b"drill-erigon-stand-in/" + str(chain_id).encode(), digest_size=32
        ).digest()
        self.of = lru_cache(maxsize=4096)(self._of)

    def _mac(self, data: bytes, size: int) -> bytes:
        return hashlib.blake2b(data, key=self._key, digest_size=size).digest()

    def _round(self, half: int, i: int) -> int:
        return int.from_bytes(self._mac(bytes([i]) + half.to_bytes(4, "big"), 4))

    def _permute(self, number: int) -> int:
        left, right = number >> 32, number & 0xFFFFFFFF
        for i in range(self._ROUNDS):
            left, right = right, left ^ self._round(right, i)
        return (left << 32) | right

    def _unpermute(self, value: int) -> int:
        left, right = value >> 32, value & 0xFFFFFFFF
        for i in reversed(range(self._ROUNDS)):
            left, right = right ^ self._round(left, i), left
        return (left << 32) | right

    def _digest(self, number: int) -> bytes:
        return self._mac(b"hash" + number.to_bytes(8, "big"), 24)

    def _of(self, number: int) -> str:
        tail = self._permute(number).to_bytes(8, "big")
        return "0x" + (self._digest(number) + tail).hex()

    def number_of(self, block_hash: bytes) -> int | None:
        """The block number behind `block_hash`, or None if it is not ours."""
        if len(block_hash) != 32:
            return None
        number = self._unpermute(int.from_bytes(block_hash[24:], "big"))
        return number if self._digest(number) == block_hash[:24] else None

    def derived(self, number: int, label: bytes) -> str:
        """A stable 32-byte value for (`number`, `label`), as 0x-hex."""
        return "0x" + self._mac(label + number.to_bytes(8, "big"), 32).hex()
