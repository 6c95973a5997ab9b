"""The local analytics store: every call event in SQLite in ``$ROUTER_HOME``, written in batches.

``submit`` is called on the hot path of a call (the proxy's event loop, the collector's worker) and
therefore never blocks and never raises: it puts the event on a bounded queue, and one writer thread
inserts batches (up to :data:`BATCH_SIZE` events or :data:`BATCH_SECONDS`, whichever comes first) in
one transaction each. WAL mode lets ``router stats`` read while a writer writes.

When the events cannot be kept — a full queue, a locked database (``busy_timeout`` is short on
purpose: waiting would back the queue up), a read-only directory, a full disk, a database that
cannot even be opened (then the store runs degraded and only counts) — they are dropped and
counted. Drops are appended, one line per flush, to ``telemetry-drops.log`` next to the database
(``O_APPEND``: several router processes may append at once without a lock), and only there: the
private ``$ROUTER_HOME``, never a shared directory such as ``/tmp`` where another user could plant
or redirect it. The file is opened without following a symbolic link and used only when it is a
regular file of this user; ``router stats`` reads it the same way, checks each line's fields and
says "N events were dropped since …" (docs/telemetry-bounds.md#drop-log). When the home cannot be
written at all, drops are only counted in the process (:attr:`TelemetryStore.dropped`).
"""

import json
import math
import os
import queue
import sqlite3
import stat
import threading
import time
import typing
from dataclasses import dataclass, fields
from operator import attrgetter
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from shim.telemetry import MAX_EVENT_BYTES, TEXT_LIMIT, CallEvent, utf8_text

from .paths import ensure_private_dir, router_home
from .sqlite_connections import configure_long_lived
from .telemetry_retention import PRUNE_EVERY_EVENTS, PRUNE_EVERY_SECONDS, TelemetryRetention, load_retention, prune

__all__ = [
    "BATCH_SECONDS",
    "BATCH_SIZE",
    "DB_FILENAME",
    "DROPS_FILENAME",
    "EVENT_COLUMNS",
    "SENDER_DROP_REASON",
    "STORE_SCHEMA_VERSION",
    "DropRecord",
    "TelemetryStore",
    "connect_database",
    "connect_read_only",
    "db_path",
    "drop_log_path",
    "has_json_functions",
    "read_drops",
]

DB_FILENAME = "telemetry.db"
DROPS_FILENAME = "telemetry-drops.log"
# 2: the ``fallbacks`` and ``attempts`` columns (call event schema 2); a version 1 database gets them
# when it is opened (existing rows: 0 and NULL).
STORE_SCHEMA_VERSION = 2
BATCH_SIZE = 500
BATCH_SECONDS = 0.1
# Events submitted and not yet written or dropped, at most (~600 bytes each while they wait: ~12 MiB).
# Counted in events, not hand-offs: one hand-off can carry hundreds (docs/telemetry-bounds.md#the-writer).
MAX_PENDING_EVENTS = 20_000
_BUSY_TIMEOUT_MS = 200  # a locked database: wait this long, then drop the batch (never back up the queue)
_REOPEN_SECONDS = 5.0  # degraded: try to open the database again this often
_DROP_FLUSH_SECONDS = 1.0  # at most one drop line per second per process

# Event fields in dataclass order, then the host-computed cost.
EVENT_COLUMNS: Tuple[str, ...] = (*tuple(f.name for f in fields(CallEvent)), "cost_usd")
_COLUMN_TYPES = {"float": "REAL", "int": "INTEGER", "bool": "INTEGER"}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, {columns});
CREATE INDEX IF NOT EXISTS events_time ON events (time);
"""
# Every column but the attempts (a list, stored as JSON text) and the cost, read at once: much cheaper
# than dataclasses.astuple (no deep copy).
_PLAIN_COLUMNS = tuple(name for name in EVENT_COLUMNS[:-1] if name != "attempts")
_EVENT_VALUES = attrgetter(*_PLAIN_COLUMNS)
_INSERT_COLUMNS = ", ".join((*_PLAIN_COLUMNS, "attempts", "cost_usd"))  # a row's order (event_row)
_INSERT = f"INSERT INTO events ({_INSERT_COLUMNS}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
_COMPACT = json.JSONEncoder(separators=(",", ":"))
# A whole batch in one statement: the rows as one JSON array, taken apart by SQLite. The sqlite3 module
# lets go of the GIL around every statement it runs, and with ``executemany`` that is once per row; a
# writer thread that lets go that often gets the GIL back only when the event loop's thread yields it,
# so while the loop was busy the writer stored ~1,800 rows/s against the loop's ~7,500 calls/s and the
# backlog grew ~3 MiB/s (docs/telemetry-bounds.md#the-writer). One statement: one wait per batch.
_BATCH_VALUES = ", ".join(f"json_extract(value, '$[{index}]')" for index in range(len(EVENT_COLUMNS)))
_INSERT_BATCH = f"INSERT INTO events ({_INSERT_COLUMNS}) SELECT {_BATCH_VALUES} FROM json_each(?) ORDER BY key"
_BATCH_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)

Connect = Callable[[str], sqlite3.Connection]
Row = Tuple[Any, ...]


def db_path(home: Optional[Path] = None) -> Path:
    return (home or router_home()) / DB_FILENAME


def drop_log_path(home: Optional[Path] = None) -> Path:
    """Where drop counts are appended: beside the database, in the private home."""
    return (home or router_home()).expanduser().absolute() / DROPS_FILENAME


def _column_types() -> Dict[str, str]:
    hints = typing.get_type_hints(CallEvent)
    declared = {name: _sql_type(hints[name]) for name in EVENT_COLUMNS[:-1]}
    return {name: declared.get(name, "REAL") for name in EVENT_COLUMNS}


def _column_sql() -> str:
    return ", ".join(f"{name} {kind}" for name, kind in _column_types().items())


def _sql_type(hint: Any) -> str:
    """SQLite type of an event field: ``Optional[int]`` → INTEGER, ``str`` → TEXT …"""
    inner = [arg for arg in typing.get_args(hint) if arg is not type(None)] or [hint]
    return _COLUMN_TYPES.get(getattr(inner[0], "__name__", ""), "TEXT")


def connect_read_only(path: Path) -> sqlite3.Connection:
    """Open the database for reading only (``mode=ro``): a reader never creates or writes the store.
    Raises sqlite3.Error when it cannot be opened."""
    return sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)


def connect_database(path: Path, connect: Connect = sqlite3.connect) -> sqlite3.Connection:
    """Open (creating when needed) the database in WAL mode with the current schema."""
    connection = connect(str(path))
    try:
        configure_long_lived(connection, _BUSY_TIMEOUT_MS)
        with connection:
            connection.executescript(_SCHEMA.format(columns=_column_sql()))
            _add_missing_columns(connection)
            version = connection.execute("SELECT max(version) FROM schema_version").fetchone()[0]
            if version is None:
                connection.execute("INSERT INTO schema_version (version) VALUES (?)", (STORE_SCHEMA_VERSION,))
            elif version < STORE_SCHEMA_VERSION:  # written only when migrating: opening must not need a write
                connection.execute("UPDATE schema_version SET version = ?", (STORE_SCHEMA_VERSION,))
    except BaseException:
        connection.close()
        raise
    return connection


def _add_missing_columns(connection: sqlite3.Connection) -> None:
    """A database an older router created lacks the newer event fields: add them (NULL, or the
    field's default for the counts, in the rows it holds)."""
    present = {row[1] for row in connection.execute("PRAGMA table_info(events)")}
    for name, kind in _column_types().items():
        if name not in present:
            default = " NOT NULL DEFAULT 0" if name == "fallbacks" else ""
            connection.execute(f"ALTER TABLE events ADD COLUMN {name} {kind}{default}")


def event_row(event: CallEvent, cost: Optional[float]) -> Row:
    """The values :data:`_INSERT` takes for ``event``."""
    attempts = None if event.attempts is None else _COMPACT.encode(event.attempts)
    return (*_EVENT_VALUES(event), attempts, cost)


@dataclass(frozen=True)
class DropRecord:
    """All drops recorded for a home: how many, since when (unix seconds)."""

    count: int
    since: Optional[float]
    reasons: Tuple[str, ...] = ()


def read_drops(home: Optional[Path] = None, now: Optional[float] = None) -> DropRecord:
    """Sum the drop log (a torn, foreign or implausible line is skipped; a file that is not this
    user's regular file is not read at all)."""
    count, since, reasons = 0, None, set()
    latest = (time.time() if now is None else now) + _CLOCK_SLACK_SECONDS
    for entry in _drop_lines(drop_log_path(home), latest):
        count += entry[1]
        since = entry[0] if since is None else min(since, entry[0])
        reasons.add(entry[2])
    return DropRecord(count, since, tuple(sorted(reasons)))


_CLOCK_SLACK_SECONDS = 86_400.0  # a line "since" later than this is not one of ours
_MAX_DROP_COUNT = 1 << 40  # far above any real flush (at most one line a second per process)
_MAX_REASON = 200


def _drop_lines(path: Path, latest: float) -> Iterator[Tuple[float, int, str]]:
    handle = _open_own_file(path, os.O_RDONLY)
    if handle is None:
        return
    with os.fdopen(handle, "rb") as lines:
        for line in lines:
            entry = _drop_entry(line, latest)
            if entry is not None:
                yield entry


def _drop_entry(line: bytes, latest: float) -> Optional[Tuple[float, int, str]]:
    """One line's (since, count, reason) when it has the shape and values our writer gives it."""
    try:
        item = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(item, dict):
        return None
    since, count, reason = item.get("since"), item.get("count"), item.get("reason", "")
    if not (isinstance(since, (int, float)) and type(since) is not bool and type(count) is int):
        return None
    if not (isinstance(reason, str) and 0 <= since <= latest and 0 < count <= _MAX_DROP_COUNT):
        return None
    return float(since), count, reason[:_MAX_REASON]


def _open_own_file(path: Path, flags: int, mode: int = 0o600) -> Optional[int]:
    """A descriptor on ``path`` when it is a regular file owned by this user, never through a
    symbolic link (``O_NOFOLLOW``); None otherwise. Opened non-blocking so that a FIFO planted in
    its place cannot hang the opener, then made blocking again."""
    try:
        descriptor = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError:
        return None
    try:
        info = os.fstat(descriptor)
        owner = os.getuid() if hasattr(os, "getuid") else info.st_uid
        if not stat.S_ISREG(info.st_mode) or info.st_uid != owner:
            os.close(descriptor)
            return None
        os.set_blocking(descriptor, True)
    except OSError:
        os.close(descriptor)
        return None
    return descriptor


SENDER_DROP_REASON = "a shimmed process's telemetry queue was full"


class TelemetryStore:
    """See the module docstring. ``start()`` opens the database on the writer thread."""

    def __init__(
        self,
        home: Optional[Path] = None,
        *,
        connect: Connect = sqlite3.connect,
        max_pending: int = MAX_PENDING_EVENTS,
        batch_size: int = BATCH_SIZE,
        batch_seconds: float = BATCH_SECONDS,
        retention: Optional[TelemetryRetention] = None,
        prune_every_events: int = PRUNE_EVERY_EVENTS,
    ) -> None:
        self.home = (home or router_home()).expanduser()
        self.degraded: Optional[str] = None  # why the database could not be opened (then only counting)
        self._connect = connect
        # Each item is one submit's rows; ``max_pending`` bounds the events they hold (see submit_many).
        self._queue: queue.Queue[Optional[List[Row]]] = queue.Queue()
        self._max_pending = max_pending
        self._one_statement = True  # whether this SQLite can insert a batch in one statement (_open)
        self._batch_size, self._batch_seconds = batch_size, batch_seconds
        self._lock = threading.Lock()
        self._pending_drops, self._pending_since, self._pending_reason = 0, 0.0, ""
        self.dropped = 0  # dropped by this store since it started
        self.stored = 0
        self._last_drop_flush = 0.0
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0  # submitted, not yet stored or dropped
        # Retention (host/telemetry_retention.py): None reads the home's [telemetry] when the writer opens.
        self._given_retention = retention
        self.retention = retention or TelemetryRetention()
        self._prune_every_events = prune_every_events
        self._written_since_prune, self._pruned_at = 0, 0.0
        self.pruned = 0  # rows deleted by retention since this store started
        self._thread = threading.Thread(target=self._run, name="router-telemetry-store", daemon=True)

    def start(self) -> "TelemetryStore":
        self._thread.start()
        return self

    # Producer side (any thread) ---------------------------------------------------------------
    def submit(self, event: CallEvent, cost: Optional[float] = None) -> None:
        """Queue ``event`` (with its cost) for storage; drop and count it when that is not possible."""
        self.submit_many(((event, cost),))

    def submit_many(self, events: Iterable[Tuple[CallEvent, Optional[float]]]) -> None:
        """Queue several ``(event, cost)`` pairs with one hand-off to the writer thread (one queue put,
        so one wake-up, however many events). Never blocks, never raises, as :meth:`submit`."""
        rows: List[Row] = []
        for pair in events:
            try:
                event, cost = pair
                rows.append(event_row(event, cost))
            except Exception:  # never on the caller: a bad event is a dropped event
                self._count_drop(1, "invalid event")
        with self._lock:
            room = max(0, self._max_pending - self._in_flight)
            self._in_flight += min(room, len(rows))
        if len(rows) > room:  # the writer is behind: keep what fits, count the rest
            self._count_drop(len(rows) - room, "queue full")
            del rows[room:]
        if rows:
            self._queue.put_nowait(rows)

    @property
    def pending(self) -> int:
        """Events submitted and not yet stored or dropped (at most ``max_pending``)."""
        return self._in_flight

    def note_lost(self, count: int, reason: str = SENDER_DROP_REASON) -> None:
        """Events lost before they reached this store (a shimmed process could not send them): they go
        in the drop log with the store's own, so the next ``router stats`` counts them too."""
        if count <= 0:
            return
        with self._lock:
            self._log_drops(count, reason)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every event submitted so far is stored or dropped (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight > 0:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._idle.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Store what is queued, persist the drop count, stop the writer."""
        if self._thread.is_alive():
            self.flush(timeout)
            try:
                self._queue.put(None, timeout=timeout)
            except queue.Full:
                pass
            self._thread.join(timeout)
        self._write_drop_line(force=True)

    # Writer thread --------------------------------------------------------------------------
    def _run(self) -> None:
        connection, opened_at = self._open(), time.monotonic()
        try:
            while True:
                batch, stop = self._next_batch()
                if connection is None and time.monotonic() - opened_at > _REOPEN_SECONDS:
                    connection, opened_at = self._open(), time.monotonic()  # the directory may be writable again
                if batch:
                    self._write(connection, batch)
                self._write_drop_line(force=stop)
                if stop:
                    return
        finally:
            if connection is not None:
                connection.close()

    def _open(self) -> Optional[sqlite3.Connection]:
        try:
            ensure_private_dir(self.home)
            connection = connect_database(db_path(self.home), self._connect)
        except (sqlite3.Error, OSError) as exc:
            self.degraded = " ".join(f"{type(exc).__name__}: {exc}".split())
            return None
        self.degraded = None
        self._one_statement = has_json_functions(connection)
        self.retention = self._given_retention or load_retention(self.home)
        self._prune(connection)
        return connection

    def _prune_if_due(self, connection: sqlite3.Connection, written: int) -> None:
        self._written_since_prune += written
        if (self._written_since_prune >= self._prune_every_events
                or time.monotonic() - self._pruned_at >= PRUNE_EVERY_SECONDS):
            self._prune(connection)

    def _prune(self, connection: sqlite3.Connection) -> None:
        """Apply the retention (docs/telemetry-bounds.md#retention). A failure (another process holds
        the write lock past the busy timeout) waits for the next turn: the bound is late, never lost."""
        self._written_since_prune, self._pruned_at = 0, time.monotonic()
        try:
            self.pruned += prune(connection, self.retention, time.time())
        except sqlite3.Error:
            pass

    def _next_batch(self) -> Tuple[List[Row], bool]:
        """At least batch_size rows when that many come; waits at most batch_seconds after the first."""
        first = self._queue.get()
        if first is None:
            return [], True
        batch, deadline = list(first), time.monotonic() + self._batch_seconds
        while len(batch) < self._batch_size:
            try:
                rows = self._queue.get_nowait() if time.monotonic() >= deadline else self._queue.get(
                    timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if rows is None:
                self._queue.put(None)  # seen again next round, after this batch is written
                break
            batch.extend(rows)
        return batch, False

    def _write(self, connection: Optional[sqlite3.Connection], batch: Sequence[Row]) -> None:
        if connection is None:
            reason: Optional[str] = f"database unavailable ({self.degraded})"
        else:
            reason = _insert(connection, batch, self._one_statement)
            if reason is None:
                self._prune_if_due(connection, len(batch))
        with self._idle:
            self._in_flight -= len(batch)
            if reason is None:
                self.stored += len(batch)
            self._idle.notify_all()
        if reason is not None:
            self._count_drop(len(batch), reason)

    # Drop accounting ------------------------------------------------------------------------
    def _count_drop(self, count: int, reason: str) -> None:
        """Count events lost that are not (or no longer) in flight."""
        with self._idle:
            self.dropped += count
            self._log_drops(count, reason)
            self._idle.notify_all()

    def _log_drops(self, count: int, reason: str) -> None:
        """Add ``count`` to the drop-log line being gathered (``_write_drop_line`` writes it). Lock held."""
        if self._pending_drops == 0:
            self._pending_since = time.time()
        self._pending_drops += count
        self._pending_reason = reason

    def _write_drop_line(self, force: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            if self._pending_drops == 0 or (not force and now - self._last_drop_flush < _DROP_FLUSH_SECONDS):
                return
            count, since, reason = self._pending_drops, self._pending_since, self._pending_reason
            self._pending_drops = 0
            self._last_drop_flush = now
        line = json.dumps({"since": since, "count": count, "reason": reason, "pid": os.getpid()}) + "\n"
        if not _append(drop_log_path(self.home), line.encode()):
            with self._lock:  # nowhere to write: keep counting, try again later
                self._pending_drops += count
                self._pending_since = min(since, self._pending_since or since)


def _insert(connection: sqlite3.Connection, batch: Sequence[Row], one_statement: bool) -> Optional[str]:
    """Insert in one transaction; the reason the batch was lost, or None. Whatever a batch holds, the
    writer thread lives on: a batch that cannot be written is a counted drop, never a dead writer
    (before, one lone surrogate in a model name stopped all storage until the proxy restarted)."""
    rows = map(_storable_row, batch)
    try:
        with connection:
            if one_statement:
                connection.execute(_INSERT_BATCH, (_BATCH_JSON.encode(list(rows)),))
            else:
                connection.executemany(_INSERT, rows)
    except Exception as exc:  # sqlite3.Error, OSError, or a value neither JSON nor SQLite can hold
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


def has_json_functions(connection: sqlite3.Connection) -> bool:
    """Whether this SQLite has the JSON functions (built in since 3.38, and in most builds before)."""
    try:
        connection.execute("SELECT json_extract('[1]', '$[0]')").fetchone()
    except sqlite3.Error:
        return False
    return True


_SCALARS = frozenset({int, float, bool, type(None)})


def _storable_row(row: Row) -> Row:
    """The row as stored: a text cut to TEXT_LIMIT, anything but a text or a number stored as NULL.
    The drivers make bounded, well-typed events already (docs/telemetry-bounds.md); the database is
    what lasts, so it checks again rather than trust every producer, now and later. The attempts are
    JSON text bounded by :func:`shim.telemetry.bounded_attempts` (a cut would break the JSON): kept
    whole up to an event's size, else not stored."""
    attempts = row[_ATTEMPTS_INDEX]
    if attempts is not None and (type(attempts) is not str or len(attempts) > MAX_EVENT_BYTES):
        attempts = None
    return (*map(_storable, row[:_ATTEMPTS_INDEX]), attempts, *map(_storable, row[_ATTEMPTS_INDEX + 1:]))


_ATTEMPTS_INDEX = len(_PLAIN_COLUMNS)  # the row's order: _INSERT's columns


def _storable(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        value = value if len(value) <= TEXT_LIMIT else value[:TEXT_LIMIT]
        return utf8_text(value)  # the drivers mend texts already; this is the last guard
    if kind is float:
        return value if math.isfinite(value) else None  # JSON has no NaN or infinity
    return value if kind in _SCALARS else None


def _append(path: Path, data: bytes) -> bool:
    descriptor = _open_own_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    if descriptor is None:
        return False
    try:
        return os.write(descriptor, data) == len(data)
    except OSError:
        return False
    finally:
        os.close(descriptor)
