"""API keys of the MEV API: a JSON file of SHA-256 hashes, re-read when it changes.

The file holds no key, only hashes: `{"keys": [{"id": "k1", "sha256": "<hex>",
"label": "admin", "created_at": "...", "revoked_at": null}]}`. An operator (or a
recovery script) revokes a key by setting `revoked_at`; the API notices the new
mtime on the next request. Rotation writes the file atomically.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)

KEY_PREFIX = "mevk_"
"""Every key this API issues starts with it, so that leaked keys are greppable."""


class KeyRecord(BaseModel):
    """One key as stored: its hash, never the key."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    label: str = ""
    created_at: str
    revoked_at: str | None = None


class KeysDocument(BaseModel):
    """The keys file."""

    model_config = ConfigDict(extra="forbid")

    keys: list[KeyRecord]


class Auth(StrEnum):
    """What a request's credentials turned out to be."""

    MISSING = "missing"
    VALID = "valid"
    INVALID = "invalid"
    REVOKED = "revoked"


@dataclass(frozen=True)
class KeyCheck:
    """The outcome of checking a presented key; `key_id` when it matched one."""

    auth: Auth
    key_id: str | None = None


@dataclass(frozen=True)
class IssuedKey:
    """A key just issued: the plaintext (shown once) and what it revoked."""

    record: KeyRecord
    key: str
    revoked: list[str]


def now_iso() -> str:
    """The current UTC time as ISO 8601 with a Z, to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def hash_key(key: str) -> str:
    """The hex SHA-256 of a key, as the keys file stores it."""
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> str:
    """A fresh random key (256 bits) with the KEY_PREFIX."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def write_keys(path: Path, document: KeysDocument) -> None:
    """Write the keys file atomically (temp file, fsync, rename), mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(document.model_dump(), out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def new_keys_file(path: Path, label: str = "admin") -> str:
    """Create (or replace) a keys file holding one fresh key; return that key.

    The key is returned once and stored nowhere; the file keeps its hash.
    """
    key = generate_key()
    record = KeyRecord(id="k1", sha256=hash_key(key), label=label, created_at=now_iso())
    write_keys(Path(path), KeysDocument(keys=[record]))
    return key


class KeyStore:
    """Checks presented keys against the keys file, re-reading it on change.

    While the file is missing or invalid every key is rejected (fail closed);
    `problem` says why.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problem: str | None = None
        self._keys: list[KeyRecord] = []
        self._signature: tuple[int, int, int] | None = None
        self._refresh()

    def check(self, presented: str | None) -> KeyCheck:
        """Whether `presented` is a valid, revoked or unknown key (or missing)."""
        if presented is None:
            return KeyCheck(Auth.MISSING)
        self._refresh()
        digest = hash_key(presented)
        found: KeyRecord | None = None
        # Compare with every record, not stopping at a match: constant time.
        for record in self._keys:
            if hmac.compare_digest(record.sha256, digest):
                found = record
        if found is None:
            return KeyCheck(Auth.INVALID)
        if found.revoked_at is not None:
            return KeyCheck(Auth.REVOKED, found.id)
        return KeyCheck(Auth.VALID, found.id)

    def rotate(self, presented_id: str, *, revoke_all: bool, label: str) -> IssuedKey:
        """Issue a new key; revoke the presented one, or every other one."""
        self._refresh()
        key = generate_key()
        stamp = now_iso()
        revoked: list[str] = []
        records: list[KeyRecord] = []
        for old in self._keys:
            if old.revoked_at is None and (revoke_all or old.id == presented_id):
                records.append(old.model_copy(update={"revoked_at": stamp}))
                revoked.append(old.id)
            else:
                records.append(old)
        new = KeyRecord(
            id=self._next_id(), sha256=hash_key(key), label=label, created_at=stamp
        )
        records.append(new)
        write_keys(self.path, KeysDocument(keys=records))
        self._keys = records
        self._signature = self._stat()
        log.info("issued key %s (%s); revoked %s", new.id, label, revoked or "none")
        return IssuedKey(new, key, revoked)

    def _next_id(self) -> str:
        taken = {record.id for record in self._keys}
        number = len(self._keys) + 1
        while f"k{number}" in taken:
            number += 1
        return f"k{number}"

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            info = self.path.stat()
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size, info.st_ino)

    def _refresh(self) -> None:
        signature = self._stat()
        if signature is not None and signature == self._signature:
            return
        self._signature = signature
        try:
            document = KeysDocument.model_validate_json(self.path.read_bytes())
        except OSError as exc:
            self._fail(f"cannot read keys file {self.path}: {exc.strerror}")
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "(document)"
            self._fail(f"keys file {self.path} is invalid at {where}: {first['msg']}")
        else:
            self._keys = document.keys
            if self.problem is not None:
                log.info("keys file %s is valid again", self.path)
            self.problem = None
            active = sum(record.revoked_at is None for record in document.keys)
            log.info("loaded %d keys (%d active) from %s", len(self._keys), active,
                     self.path)  # fmt: skip

    def _fail(self, problem: str) -> None:
        if problem != self.problem:
            log.error("%s; rejecting every key until it is fixed", problem)
        self.problem = problem
        self._keys = []
