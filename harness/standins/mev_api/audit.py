"""The MEV API's audit log: one JSON line per authenticated or auth-failed request.

A record names the key by its id (or "invalid" / "none"), never by the key.
The file is opened for each record, so that it can be moved or truncated by
an operator at any time.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, TypedDict

log = logging.getLogger(__name__)

TAIL_BLOCK_BYTES = 64 * 1024


class AuditRecord(TypedDict):
    """One line of the audit log."""

    time: str
    key_id: str
    auth: str
    client: str
    method: str
    path: str
    status: int


class AuditLog:
    """Appends records to a JSON-lines file and reads back the newest ones."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, record: AuditRecord) -> None:
        """Append one record; a write failure is logged, never raised."""
        line = json.dumps(record, separators=(",", ":")) + "\n"
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        except OSError as exc:
            log.error("audit record not written to %s: %s", self.path, exc)

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The newest `limit` records, newest first; unparsable lines skipped."""
        return recent_records(self.path, limit)


def recent_records(path: Path, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` records of the audit log at `path`, newest first.

    A missing file has no records; unparsable lines are skipped.
    """
    records: list[dict[str, Any]] = []
    for line in _tail_lines(path, limit):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            records.append(value)
    records.reverse()
    return records


def _tail_lines(path: Path, limit: int) -> list[bytes]:
    """The last `limit` non-empty lines, reading the file backwards."""
    try:
        with path.open("rb") as handle:
            end = handle.seek(0, os.SEEK_END)
            data = b""
            while end > 0 and data.count(b"\n") <= limit:
                start = max(0, end - TAIL_BLOCK_BYTES)
                handle.seek(start)
                data = handle.read(end - start) + data
                end = start
    except FileNotFoundError:
        return []
    lines = [line for line in data.split(b"\n") if line.strip()]
    if end > 0:
        lines = lines[1:]  # the first one may be cut
    return lines[-limit:]
