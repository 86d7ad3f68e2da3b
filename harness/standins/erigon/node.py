"""One erigon stand-in node: chain, txpool, RPC methods and data dir, wired together.

`open_node` reads the data dir (raising the store's errors for a corrupt or
foreign one); `Node.persist` writes the head back. The network schedule lives
in `snapshots/` and survives the removal of `chaindata/`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from harness.standins.erigon.chain import Chain, wall_ms
from harness.standins.erigon.health import HealthCheck
from harness.standins.erigon.methods import EthApi
from harness.standins.erigon.rpc import Dispatcher
from harness.standins.erigon.store import Schedule, Store
from harness.standins.erigon.txs import TxPool

log = logging.getLogger(__name__)

FIRST_HEADS: dict[str, int] = {
    "ethereum": 21_000_000,
    "arbitrum": 280_000_000,
    "optimism": 128_000_000,
    "base": 23_000_000,
    "polygon": 65_000_000,
}
"""Where a node with an empty data dir starts: near each chain's real height."""


@dataclass
class Node:
    """Everything one stand-in process serves; `delay_ms` delays RPC and /health."""

    name: str
    chain: Chain
    pool: TxPool
    dispatcher: Dispatcher
    health: HealthCheck
    store: Store
    block_time_ms: int
    delay_ms: int = 0
    _saved_head: int | None = None

    def persist(self, head: int | None = None) -> None:
        """Write `head` (default: the current head) if it moved since the last write."""
        if head is None:
            head = self.chain.head()
        if head != self._saved_head:
            self.store.save_head(head)
            self._saved_head = head

    def state(self) -> dict[str, object]:
        """The control endpoint's view: chain, head, sync, peers, latency."""
        return {
            "chain": self.name,
            "chain_id": self.chain.chain_id,
            "head": self.chain.head(),
            "syncing": self.chain.is_syncing(),
            "sync_stalled": self.chain.stalled,
            "peers": self.chain.peers,
            "delay_ms": self.delay_ms,
            "block_time_ms": self.block_time_ms,
        }


def open_node(
    name: str,
    chain_id: int,
    data_dir: Path,
    *,
    block_time_ms: int = 1000,
    peers: int = 25,
    catchup_ms: int = 300,
) -> Node:
    """Load or create the data dir of chain `name` and build its node.

    Raises StoreUnreadable (corrupt data) or StoreOfOtherChain.
    """
    store = Store(data_dir, name, chain_id)
    store.remove_stale_temporaries()
    stored_head = store.load_head()
    schedule = store.load_schedule()
    now_ms = wall_ms()

    fresh = stored_head is None and schedule is None
    if schedule is None:
        start = stored_head if stored_head is not None else FIRST_HEADS.get(name, 0)
        schedule = Schedule(start, now_ms, block_time_ms)
        store.save_schedule(schedule)
    elif schedule.block_time_ms != block_time_ms:
        # A new block time re-anchors the network at where it is now.
        schedule = Schedule(schedule.expected_head(now_ms), now_ms, block_time_ms)
        store.save_schedule(schedule)

    if stored_head is None:
        # No chaindata (new, or removed after corruption): rebuild from the
        # snapshots' first block, then catch up like erigon does.
        stored_head = schedule.number
        store.save_head(stored_head)

    chain = Chain(
        chain_id,
        schedule,
        stored_head,
        catchup_ms=catchup_ms,
        peers=peers,
        fresh=fresh,
    )
    pool = TxPool(chain_id)
    log.info(
        "chain %s (id %d): stored head %d, network head %d, block time %d ms",
        name,
        chain_id,
        stored_head,
        schedule.expected_head(now_ms),
        block_time_ms,
    )
    return Node(
        name=name,
        chain=chain,
        pool=pool,
        dispatcher=Dispatcher(EthApi(chain, pool).table()),
        health=HealthCheck(chain),
        store=store,
        block_time_ms=block_time_ms,
        _saved_head=stored_head,
    )
