"""The SQLite table behind the proxy's stored responses: schema, private file, reads, batched writes
and the bounds (docs/response-store.md).

Synchronous and single-purpose: :class:`~.response_store.SQLiteResponseStore` decides who calls
what from which thread (reads on the event loop, writes on its writer thread).
"""

import functools
import os
import sqlite3
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple, TypeVar

__all__ = ["DEFAULT_LIMITS", "ResponseStoreLimits", "ResponseTable", "Write"]

_FILE_MODE = 0o600
_WRITE_BUSY_TIMEOUT_MS = 2000  # another proxy is writing: wait for it (the writer thread may)
_READ_BUSY_TIMEOUT_MS = 50  # on the loop: a reader never waits long (WAL readers rarely wait at all)
_EVICT_BATCH = 64  # oldest rows looked at per round while a size bound is exceeded

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

# (id, created_at, the record's JSON) to write, or (id, None, None) to delete.
Write = Tuple[str, Optional[float], Optional[bytes]]
_INSERT = "INSERT INTO responses (id, created_at, size, record) VALUES {rows}"
_DELETE = "DELETE FROM responses WHERE id IN ({rows})"
_CHUNK_ROWS = (256, 64, 16, 4, 1)  # rows per statement: five statement texts, each prepared once and cached
Item = TypeVar("Item")


def _chunks(items: Sequence[Item]) -> Iterator[Sequence[Item]]:
    """``items`` in runs of the sizes of :data:`_CHUNK_ROWS`, largest first (a writer batch of 256: one)."""
    start = 0
    for size in _CHUNK_ROWS:
        while len(items) - start >= size:
            yield items[start:start + size]
            start += size


@functools.lru_cache(maxsize=2 * len(_CHUNK_ROWS))
def _many_rows(template: str, rows: int, columns: int) -> str:
    """``template`` with ``rows`` placeholders of ``columns`` values: ``(?, ?), (?, ?)`` or ``?, ?``."""
    one = ", ".join("?" * columns)
    return template.format(rows=", ".join([f"({one})" if columns > 1 else one] * rows))


@dataclass(frozen=True)
class ResponseStoreLimits:
    """Bounds of the proxy's store. Defaults: a week of responses, at most 20 000 of them and
    256 MiB of records; the oldest go first. A single record over ``max_bytes`` is not kept."""

    max_entries: int = 20_000
    max_bytes: int = 256 * 1024 * 1024
    max_age_seconds: float = 7 * 24 * 3600.0


DEFAULT_LIMITS = ResponseStoreLimits()


class ResponseTable:
    """Two connections to one file: ``read``/``exists`` use the reader, ``write`` the writer. The
    caller serialises the use of each connection (they may be used from different threads)."""

    def __init__(self, path: Path, limits: ResponseStoreLimits) -> None:
        self.path = path
        self.limits = limits
        _create_private(path)
        self._writer = _connect(path, _WRITE_BUSY_TIMEOUT_MS)
        try:
            with self._writer:
                self._writer.executescript(_SCHEMA)
            self._reader = _connect(path, _READ_BUSY_TIMEOUT_MS)
        except BaseException:
            self._writer.close()
            raise

    def read(self, response_id: str, now: float) -> Optional[bytes]:
        """The record's JSON when it is there and not expired at ``now`` (a primary-key lookup)."""
        row = self._reader.execute(
            "SELECT record FROM responses WHERE id = ? AND created_at > ?",
            (response_id, now - self.limits.max_age_seconds),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def exists(self, response_id: str) -> bool:
        return self._reader.execute("SELECT 1 FROM responses WHERE id = ?", (response_id,)).fetchone() is not None

    def write(self, writes: Sequence[Write]) -> None:
        """Apply ``writes`` (one per id) in one transaction, then evict what the bounds no longer
        allow. Many rows per statement (docs/response-store.md#the-writer): the sqlite3 module lets go
        of the GIL around every statement, and a thread that lets go of it once per row gets it back
        only when the busy event loop yields it."""
        rows = [(response_id, created_at, len(record), record) for response_id, created_at, record in writes
                if created_at is not None and record is not None and len(record) <= self.limits.max_bytes]
        with self._writer:
            self._delete([response_id for response_id, _, _ in writes])
            for chunk in _chunks(rows):
                self._writer.execute(_many_rows(_INSERT, len(chunk), 4), list(chain.from_iterable(chunk)))
            if rows:
                self._evict(max(created_at for _, created_at, _, _ in rows))

    def _delete(self, ids: Sequence[str]) -> None:
        for chunk in _chunks(ids):
            self._writer.execute(_many_rows(_DELETE, len(chunk), 1), chunk)

    def close(self) -> None:
        self._reader.close()
        self._writer.close()

    def _evict(self, now: float) -> None:
        """Expired rows first (an index range), then the oldest until both size bounds hold. The
        totals are one row kept by triggers: checking the bounds is not a scan."""
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
                return  # nothing left to evict
            doomed: List[str] = []
            freed = 0
            for response_id, row_size in oldest:
                if len(doomed) >= over_entries and size - freed <= self.limits.max_bytes:
                    break
                doomed.append(response_id)
                freed += row_size
            self._delete(doomed)


def _create_private(path: Path) -> None:
    """Create the database file 0600 before SQLite opens it (and tighten an existing one): SQLite
    gives the ``-wal`` and ``-shm`` files it creates the database file's mode."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, _FILE_MODE)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(descriptor, _FILE_MODE)
    finally:
        os.close(descriptor)


def _connect(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    # check_same_thread=False: the store uses each connection under its own lock, from whichever thread.
    connection = sqlite3.connect(str(path), check_same_thread=False, isolation_level="DEFERRED")
    try:
        connection.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: no fsync per commit
    except BaseException:
        connection.close()
        raise
    return connection
