"""The proxy's stored responses: a SQLite file under ``$ROUTER_HOME``, bounded by age, count and size.

The engine asks for a :class:`~shim.responses_store.ResponseStore` (``get``/``put``/``delete``, all
synchronous) and expands ``previous_response_id`` chains with it while it plans a call; the proxy
stores what each call returned. Why SQLite: stored responses must outlive the process (a client may
continue a conversation after ``router proxy`` restarted), and several proxies may share one home.

Cost rules (the proxy is one event loop): :meth:`SQLiteResponseStore.get` is a primary-key lookup
and runs on the loop, on a connection of its own; :meth:`~SQLiteResponseStore.put` and
:meth:`~SQLiteResponseStore.delete` write, evict and commit, so the proxy runs them on a worker
thread (``asyncio.to_thread``) on a second connection. WAL mode lets the reader run while the
writer commits.

Privacy: the file holds conversations, so it is created 0600 (SQLite gives its ``-wal`` and
``-shm`` files the database file's mode) in the 0700 state directory. It never holds keys or
headers: a record is the response and its conversation (docs/response-store.md).
"""

import os
import sqlite3
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, TextIO, Tuple, Union

from shim.responses_store import MemoryResponseStore, StoredResponse

from ..paths import ensure_private_dir

__all__ = ["RESPONSES_DB_FILENAME", "ResponseStoreLimits", "SQLiteResponseStore", "open_response_store"]

RESPONSES_DB_FILENAME = "responses.db"
_FILE_MODE = 0o600
_BUSY_TIMEOUT_MS = 2000  # another proxy writing: wait for it (off the loop for writes)
_READ_BUSY_TIMEOUT_MS = 50  # on the loop: a reader never waits long (WAL readers rarely wait at all)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY, created_at REAL NOT NULL, size INTEGER NOT NULL, record BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS responses_created ON responses (created_at);
CREATE TABLE IF NOT EXISTS totals (
    one INTEGER PRIMARY KEY CHECK (one = 1), entries INTEGER NOT NULL, bytes INTEGER NOT NULL
);
INSERT OR IGNORE INTO totals VALUES (1, 0, 0);
CREATE TRIGGER IF NOT EXISTS responses_added AFTER INSERT ON responses BEGIN
    UPDATE totals SET entries = entries + 1, bytes = bytes + NEW.size;
END;
CREATE TRIGGER IF NOT EXISTS responses_removed AFTER DELETE ON responses BEGIN
    UPDATE totals SET entries = entries - 1, bytes = bytes - OLD.size;
END;
"""
_EVICT_BATCH = 64  # oldest rows looked at per round while a size bound is exceeded


@dataclass(frozen=True)
class ResponseStoreLimits:
    """Bounds of the proxy's store. Defaults: a week of responses, at most 20 000 of them and
    256 MiB of records; the oldest go first. A single record over ``max_bytes`` is not kept."""

    max_entries: int = 20_000
    max_bytes: int = 256 * 1024 * 1024
    max_age_seconds: float = 7 * 24 * 3600.0


class SQLiteResponseStore:
    """A :class:`~shim.responses_store.ResponseStore` in one SQLite file (see the module docstring)."""

    def __init__(self, path: Path, limits: ResponseStoreLimits = ResponseStoreLimits()) -> None:
        self.path = path
        self.limits = limits
        _create_private(path)
        self._writer = _connect(path, _BUSY_TIMEOUT_MS)
        try:
            with self._writer:
                self._writer.executescript(_SCHEMA)
            self._reader = _connect(path, _READ_BUSY_TIMEOUT_MS)
        except BaseException:
            self._writer.close()
            raise
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()

    def get(self, response_id: str, now: float) -> Optional[StoredResponse]:
        """The record, or None when it is unknown, expired or unreadable (a primary-key lookup)."""
        oldest = now - self.limits.max_age_seconds
        try:
            with self._read_lock:
                row = self._reader.execute(
                    "SELECT record FROM responses WHERE id = ? AND created_at > ?", (response_id, oldest)
                ).fetchone()
        except sqlite3.Error:
            return None
        if row is None:
            return None
        try:
            return StoredResponse.from_json(bytes(row[0]))
        except ValueError:
            return None  # written by something else: as good as absent

    def put(self, stored: StoredResponse) -> None:
        """Keep ``stored`` and evict what the limits no longer allow (a write: call it off the loop)."""
        record = stored.to_json()
        with self._write_lock, self._writer:
            self._writer.execute("DELETE FROM responses WHERE id = ?", (stored.response_id,))
            if len(record) > self.limits.max_bytes:
                return
            self._writer.execute(
                "INSERT INTO responses (id, created_at, size, record) VALUES (?, ?, ?, ?)",
                (stored.response_id, stored.created_at, len(record), record),
            )
            self._evict(stored.created_at)

    def delete(self, response_id: str) -> bool:
        """Forget a record; True when there was one (a write: call it off the loop)."""
        with self._write_lock, self._writer:
            return self._writer.execute("DELETE FROM responses WHERE id = ?", (response_id,)).rowcount > 0

    def close(self) -> None:
        with self._write_lock, self._read_lock:
            self._reader.close()
            self._writer.close()

    def _evict(self, now: float) -> None:
        """Expired rows first (an index range), then the oldest until both size bounds hold."""
        self._writer.execute("DELETE FROM responses WHERE created_at <= ?", (now - self.limits.max_age_seconds,))
        while True:
            entries, size = self._writer.execute("SELECT entries, bytes FROM totals").fetchone()
            over_entries = entries - self.limits.max_entries
            if over_entries <= 0 and size <= self.limits.max_bytes:
                return
            oldest = self._writer.execute(
                "SELECT id, size FROM responses ORDER BY created_at LIMIT ?", (max(over_entries, _EVICT_BATCH),)
            ).fetchall()
            if not oldest:
                return  # nothing left to evict (totals are kept by triggers: cannot disagree)
            doomed: List[Tuple[str]] = []
            freed = 0
            for response_id, row_size in oldest:
                if len(doomed) >= over_entries and size - freed <= self.limits.max_bytes:
                    break
                doomed.append((response_id,))
                freed += row_size
            self._writer.executemany("DELETE FROM responses WHERE id = ?", doomed)


def open_response_store(
    home: Path, limits: ResponseStoreLimits = ResponseStoreLimits(), warn: TextIO = sys.stderr
) -> Union[SQLiteResponseStore, MemoryResponseStore]:
    """The SQLite store in ``home``; when it cannot be opened (a read-only or broken home), an
    in-memory one with the same limits and one warning line: the proxy serves calls either way."""
    try:
        ensure_private_dir(home)
        return SQLiteResponseStore(home / RESPONSES_DB_FILENAME, limits)
    except (sqlite3.Error, OSError) as exc:
        problem = " ".join(f"{type(exc).__name__}: {exc}".split())
        warn.write(f"router proxy: warning: stored responses are kept in memory only ({problem})\n")
        return MemoryResponseStore(limits.max_entries, limits.max_bytes, limits.max_age_seconds)


def _create_private(path: Path) -> None:
    """Create the database file 0600 before SQLite opens it (and tighten an existing one)."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, _FILE_MODE)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(descriptor, _FILE_MODE)
    finally:
        os.close(descriptor)


def _connect(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    # check_same_thread=False: each connection is used under its own lock, from whichever thread
    # (the loop for reads, asyncio.to_thread's workers for writes).
    connection = sqlite3.connect(str(path), check_same_thread=False, isolation_level="DEFERRED")
    try:
        connection.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: no fsync per commit
    except BaseException:
        connection.close()
        raise
    return connection

