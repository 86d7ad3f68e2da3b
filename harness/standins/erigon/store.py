"""The stand-in's data dir: a crash-safe, checksummed record of the chain.

Two small files, laid out like erigon's data dir so that runbook steps read
true:

- `chaindata/mdbx.dat`: the node's own progress (its head). Removing
  `chaindata/` is erigon's recovery for a corrupt database; the node then
  re-derives its head from the snapshots and catches up.
- `snapshots/schedule.json`: the network's block schedule (an anchor block,
  its wall-clock time, the block time), which says where the head should be.

Each file is one JSON line, `{"record": {...}, "sha256": "<hex>"}`, replaced
atomically (write a temporary file, fsync, rename, fsync the directory), so a
kill -9 at any moment leaves the old record or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = 1


class StoreUnreadable(Exception):
    """A data-dir file that exists but cannot be trusted (parse or checksum)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class StoreOfOtherChain(Exception):
    """A data dir written by a node of another chain."""

    def __init__(self, path: Path, found: str, expected: str) -> None:
        self.path = path
        self.found = found
        self.expected = expected
        super().__init__(f"{path}: holds chain {found}, expected {expected}")


@dataclass(frozen=True)
class Schedule:
    """The network's block schedule: block `number` was made at `time_ms`.

    Every later block follows `block_time_ms` after the one before it.
    """

    number: int
    time_ms: int
    block_time_ms: int

    def expected_head(self, now_ms: int) -> int:
        """The block the network is at when the wall clock reads `now_ms`."""
        if now_ms <= self.time_ms:
            return self.number
        return self.number + (now_ms - self.time_ms) // self.block_time_ms

    def timestamp_s(self, number: int) -> int:
        """Block `number`'s timestamp in Unix seconds (0 at the earliest)."""
        time_ms = self.time_ms + (number - self.number) * self.block_time_ms
        return max(0, time_ms // 1000)


class Store:
    """The two records of one data dir; `chain` names whose data it is."""

    def __init__(self, data_dir: Path, chain: str, chain_id: int) -> None:
        self.data_dir = data_dir
        self.chain = chain
        self.chain_id = chain_id
        self.head_path = data_dir / "chaindata" / "mdbx.dat"
        self.schedule_path = data_dir / "snapshots" / "schedule.json"
        self._write_lock = threading.RLock()
        self._head_written: int | None = None

    def load_head(self) -> int | None:
        """The stored head, or None for an empty data dir.

        Raises StoreUnreadable or StoreOfOtherChain.
        """
        record = self._load(self.head_path)
        if record is None:
            return None
        return _int_field(self.head_path, record, "head")

    def save_head(self, head: int) -> None:
        """Replace the stored head atomically and durably; never with an older one."""
        with self._write_lock:
            if self._head_written is not None and head <= self._head_written:
                return
            self._save(self.head_path, {"head": head})
            self._head_written = head

    def load_schedule(self) -> Schedule | None:
        """The stored schedule, or None when there is none yet.

        Raises StoreUnreadable or StoreOfOtherChain.
        """
        record = self._load(self.schedule_path)
        if record is None:
            return None
        path = self.schedule_path
        return Schedule(
            number=_int_field(path, record, "number"),
            time_ms=_int_field(path, record, "time_ms"),
            block_time_ms=_int_field(path, record, "block_time_ms", minimum=1),
        )

    def save_schedule(self, schedule: Schedule) -> None:
        """Replace the stored schedule atomically and durably."""
        self._save(
            self.schedule_path,
            {
                "number": schedule.number,
                "time_ms": schedule.time_ms,
                "block_time_ms": schedule.block_time_ms,
            },
        )

    def _load(self, path: Path) -> dict[str, Any] | None:
        try:
            text = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            outer = json.loads(text)
            record = outer["record"]
            digest = outer["sha256"]
        except (ValueError, TypeError, KeyError) as exc:
            raise StoreUnreadable(path, f"unparseable record ({exc})") from None
        if not isinstance(record, dict) or _digest(record) != digest:
            raise StoreUnreadable(path, "checksum mismatch")
        if record.get("format") != FORMAT:
            raise StoreUnreadable(path, f"unknown format {record.get('format')!r}")
        if record.get("chain_id") != self.chain_id:
            found = f"{record.get('chain')} (id {record.get('chain_id')})"
            expected = f"{self.chain} (id {self.chain_id})"
            raise StoreOfOtherChain(path, found, expected)
        return record

    def _save(self, path: Path, fields: dict[str, Any]) -> None:
        record = {
            "format": FORMAT,
            "chain": self.chain,
            "chain_id": self.chain_id,
            **fields,
        }
        line = json.dumps({"record": record, "sha256": _digest(record)}) + "\n"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        # One writer at a time: a write still running in a worker thread can
        # meet the final write at shutdown, and both use the same temporary.
        with self._write_lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as f:
                f.write(line.encode())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)

    def remove_stale_temporaries(self) -> None:
        """Delete temporary files that a killed writer left behind."""
        for directory in (self.head_path.parent, self.schedule_path.parent):
            if directory.is_dir():
                for leftover in directory.glob(".*.tmp"):
                    with contextlib.suppress(OSError):
                        leftover.unlink()


def _digest(record: dict[str, Any]) -> str:
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _int_field(path: Path, record: dict[str, Any], key: str, minimum: int = 0) -> int:
    value = record.get(key)
    if type(value) is not int or value < minimum:
        raise StoreUnreadable(path, f"field {key!r} is {value!r}, not an int")
    return value


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
