"""The SQLite table behind the proxy's stored responses: schema, private file, reads, batched writes
and the bounds (docs/response-store.md).

Synchronous and single-purpose: :class:`~.response_store.SQLiteResponseStore` decides who calls
what from which thread (reads on the event loop, writes on its writer thread).
"""

import functools
import math
import os
import sqlite3
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple, TypeVar

from shim.plan import MAX_BODY_BYTES

from ..sqlite_connections import configure_long_lived

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
CREATE TRIGGER IF NOT EXISTS responses_replaced AFTER UPDATE OF size ON responses BEGIN
    UPDATE totals SET bytes = bytes - OLD.size + NEW.size;
END;
"""

# (id, created_at, the record's JSON) to write, (id, created_at, b"") for a tombstone, or (id, None,
# None) to delete.
Write = Tuple[str, Optional[float], Optional[bytes]]
# Rows per statement: a writer batch (at most 256) is one statement, whatever its size — the rows
# that do not exist are NULL and filtered out, so each text is prepared once and cached
# (docs/response-store.md#the-writer). An id written again becomes a tombstone in the same
# statement (an upsert).
_UPSERT_SINCE = (3, 24, 0)  # the SQLite that first has ON CONFLICT … DO UPDATE (2018)


def rows_per_statement(sqlite_version: Tuple[int, int, int]) -> int:
    """256 rows of four values; 128 where SQLite allows only 999 values a statement (before 3.32)."""
    return 256 if sqlite_version >= (3, 32, 0) else 128


_STATEMENT_ROWS = rows_per_statement(sqlite3.sqlite_version_info)
# An id written again names two conversations (a backend reused it; the router's ids are random):
# the row becomes a tombstone, an empty record that reads as unknown until it ages out
# (docs/responses-api.md#one-id-one-conversation) — unless the row it meets has aged out already
# (not yet evicted): that one is as good as gone, and the new record takes its place. SET reads
# the old row's values. The ``responses_replaced`` trigger keeps the totals. {max_age}: the
# table's, written into the text (one table, one age).
_INSERT = ("INSERT INTO responses (id, created_at, size, record) "
           "SELECT column1, column2, column3, column4 FROM (VALUES {rows}) WHERE column1 IS NOT NULL "
           "ON CONFLICT (id) DO UPDATE SET created_at = excluded.created_at, "
           "size = CASE WHEN responses.created_at <= excluded.created_at - {max_age} THEN excluded.size ELSE 0 END, "
           "record = CASE WHEN responses.created_at <= excluded.created_at - {max_age} "
           "THEN excluded.record ELSE X'' END")
_DELETE = "DELETE FROM responses WHERE id IN ({rows})"  # NULL never matches an id
# The age and count bounds in one statement, two index ranges: the expired rows, and the oldest
# beyond max_entries (LIMIT 0 when there are none: nothing is scanned).
_EVICT_EXPIRED_AND_OLDEST = """DELETE FROM responses WHERE id IN (
    SELECT id FROM responses WHERE created_at <= ?
    UNION ALL
    SELECT * FROM (SELECT id FROM responses ORDER BY created_at LIMIT max((SELECT entries FROM totals) - ?, 0)))"""
Item = TypeVar("Item")


def _statements(template: str, items: Sequence[Sequence[Item]]) -> Iterator[Tuple[str, List[Optional[Item]]]]:
    """``template`` and its parameters for ``items`` (rows of equal width), :data:`_STATEMENT_ROWS`
    rows a statement, the last one padded with NULL rows."""
    width = len(items[0]) if items else 1
    text = _many_rows(template, _STATEMENT_ROWS, width)
    for start in range(0, len(items), _STATEMENT_ROWS):
        chunk = items[start:start + _STATEMENT_ROWS]
        padding: List[Optional[Item]] = [None] * (width * (_STATEMENT_ROWS - len(chunk)))
        yield text, [*chain.from_iterable(chunk), *padding]


@functools.lru_cache(maxsize=4)
def _many_rows(template: str, rows: int, columns: int) -> str:
    """``template`` with ``rows`` placeholders of ``columns`` values: ``(?, ?), (?, ?)`` or ``?, ?``."""
    one = ", ".join("?" * columns)
    return template.format(rows=", ".join([f"({one})" if columns > 1 else one] * rows))


@dataclass(frozen=True)
class ResponseStoreLimits:
    """Bounds of the proxy's store. Defaults: a week of responses, at most 20 000 of them and
    256 MiB of records; the oldest go first. A single record over ``max_bytes`` is not kept.
    ``max_read_bytes``: a record read back is parsed only within a request body's limits, this
    many bytes (the proxy's ``--max-body-mib``) and ``MAX_JSON_VALUES`` values
    (docs/proxy-limits.md#continued-conversations)."""

    max_entries: int = 20_000
    max_bytes: int = 256 * 1024 * 1024
    max_age_seconds: float = 7 * 24 * 3600.0
    max_read_bytes: int = MAX_BODY_BYTES


DEFAULT_LIMITS = ResponseStoreLimits()


class ResponseTable:
    """Two connections to one file: ``read``/``exists`` use the reader, ``write`` the writer. The
    caller serialises the use of each connection (they may be used from different threads)."""

    def __init__(self, path: Path, limits: ResponseStoreLimits) -> None:
        if sqlite3.sqlite_version_info < _UPSERT_SINCE:  # the store falls back to memory, saying why
            raise sqlite3.NotSupportedError(
                f"SQLite {'.'.join(map(str, _UPSERT_SINCE))} or newer is needed (this is {sqlite3.sqlite_version})")
        self.path = path
        self.limits = limits
        self._insert = _INSERT.replace("{max_age}", repr(float(limits.max_age_seconds)))
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
        """The record's JSON when it is there, not a tombstone and not expired at ``now`` (a
        primary-key lookup)."""
        row = self._reader.execute(
            "SELECT record FROM responses WHERE id = ? AND created_at > ?",
            (response_id, now - self.limits.max_age_seconds),
        ).fetchone()
        return None if row is None or not row[0] else bytes(row[0])

    def exists(self, response_id: str, now: Optional[float] = None) -> bool:
        """A row (record or tombstone) under ``response_id``; with ``now``, one that has not aged out
        then (a primary-key lookup, the record not read)."""
        since = -math.inf if now is None else now - self.limits.max_age_seconds
        row = self._reader.execute("SELECT 1 FROM responses WHERE id = ? AND created_at > ?", (response_id, since))
        return row.fetchone() is not None

    def write(self, writes: Sequence[Write]) -> None:
        """Apply ``writes`` (one per id) in one transaction, then evict what the bounds no longer
        allow. A batch of up to 256 records is five statements (docs/response-store.md#the-writer):
        the sqlite3 module lets go of the GIL around every statement, and a writer thread that lets
        go of it gets it back only when the busy event loop yields it. A record over ``max_bytes``
        is not kept: it leaves a tombstone, as a second record under its id would."""
        rows = []
        for response_id, created_at, record in writes:
            if created_at is not None and record is not None:
                kept = record if len(record) <= self.limits.max_bytes else b""  # too large: a tombstone
                rows.append((response_id, created_at, len(kept), kept))
        with self._writer:
            # Deletions first: a record put after its id was deleted follows its deletion (_Renewed).
            self._delete([response_id for response_id, created_at, _ in writes if created_at is None])
            for text, parameters in _statements(self._insert, rows):
                self._writer.execute(text, parameters)
            if rows:
                self._evict(max(created_at for _, created_at, _, _ in rows))

    def _delete(self, ids: Sequence[str]) -> None:
        for text, parameters in _statements(_DELETE, [(response_id,) for response_id in ids]):
            self._writer.execute(text, parameters)

    def close(self) -> None:
        self._reader.close()
        self._writer.close()

    def _evict(self, now: float) -> None:
        """The expired rows and the oldest beyond ``max_entries`` (one statement), then the oldest
        until the size bound holds. The totals are one row kept by triggers: checking the bounds is
        not a scan, and a batch within the size bound costs two statements."""
        self._writer.execute(_EVICT_EXPIRED_AND_OLDEST, (now - self.limits.max_age_seconds, self.limits.max_entries))
        while True:
            (size,) = self._writer.execute("SELECT bytes FROM totals").fetchone()
            if size <= self.limits.max_bytes:
                return
            oldest = self._writer.execute(
                "SELECT id, size FROM responses ORDER BY created_at LIMIT ?", (_EVICT_BATCH,)
            ).fetchall()
            if not oldest:
                return  # nothing left to evict
            doomed: List[str] = []
            for response_id, row_size in oldest:
                if size <= self.limits.max_bytes:
                    break
                doomed.append(response_id)
                size -= row_size
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
        configure_long_lived(connection, busy_timeout_ms)
    except BaseException:
        connection.close()
        raise
    return connection
