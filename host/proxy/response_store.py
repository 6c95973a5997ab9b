"""The proxy's stored responses: a SQLite file under ``$ROUTER_HOME``, bounded by age, count and size.

The engine asks for a :class:`~shim.responses_store.ResponseStore` (``get``/``put``/``delete``, all
synchronous) and expands ``previous_response_id`` chains with it while it plans a call; the proxy
stores what each call returned. Why SQLite: stored responses must outlive the process (a client may
continue a conversation after ``router proxy`` restarted), and several proxies may share one home.

Cost rules (the proxy is one event loop, and every call goes through here): nothing slower than a
primary-key lookup runs on the loop. ``put`` and ``delete`` only note the change in a small map of
pending writes (at most :data:`MAX_PENDING` records, :data:`MAX_PENDING_BYTES` of them as
measured) and wake the writer thread, which serialises the
records and commits them in batches (a burst of calls shares one transaction; many rows per
statement). ``get`` looks in that map first, so a record is
readable the moment ``put`` returns — the proxy stores a call's record before the client sees the
call complete — and then in the file, on a connection of its own (WAL: a reader never waits for
the writer). A record reaches the file milliseconds later; other proxies on the same home see it
from then on. A record read back is parsed only within a request body's limits: one the proxy could
not take as a body is not parsed on its loop either (docs/proxy-limits.md#continued-conversations).

Privacy and bounds: :mod:`.response_table` (a 0600 file in the 0700 home; never keys or headers;
a week, 20 000 records, 256 MiB). Failures cost records, never calls: a home that cannot hold the
file gives an in-memory store, a write that fails one warning line (docs/response-store.md).
"""

import queue
import sqlite3
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Set, TextIO, Union

from shim.errors import RequestTooLargeError
from shim.json_budget import JsonMeasure
from shim.responses_store import MemoryResponseStore, StoredResponse

from ..paths import ensure_private_dir
from .response_table import DEFAULT_LIMITS, ResponseStoreLimits, ResponseTable, Write

__all__ = [
    "MAX_PENDING",
    "MAX_PENDING_BYTES",
    "RESPONSES_DB_FILENAME",
    "ResponseStoreLimits",
    "SQLiteResponseStore",
    "open_response_store",
]

RESPONSES_DB_FILENAME = "responses.db"
_BATCH = 256  # pending changes written per transaction, at most
_DELETED = None  # a pending change that removes the record
_STOP = ""  # the writer thread's stop signal on its queue (never a response id)
_ABSENT = object()
_FLUSH_TIMEOUT = 10.0
# Records waiting for the writer, at most: four of its batches. Each holds a call's conversation as
# parsed JSON; unbounded, a flood of small Responses calls grew the proxy by ~15 MiB/s.
MAX_PENDING = 1024
# ... and at most this much of them, as the engine measured them (a record may be a conversation of
# up to a request body's size: 1,024 of those would be gigabytes).
MAX_PENDING_BYTES = 128 * 1024 * 1024


@dataclass(frozen=True)
class _Reused:
    """A pending change: the id was put twice, so it names no record (a tombstone in the file)."""

    created_at: float


@dataclass(frozen=True)
class _Renewed:
    """A pending change: a record put after its id was deleted (written as the deletion, then it)."""

    stored: StoredResponse


# What waits for the writer, per id: a record, a tombstone, a record after a deletion, or _DELETED.
_Change = Union[StoredResponse, _Reused, _Renewed, None]


class SQLiteResponseStore:
    """A :class:`~shim.responses_store.ResponseStore` in one SQLite file (see the module docstring)."""

    def __init__(self, path: Path, limits: ResponseStoreLimits = DEFAULT_LIMITS,
                 warn: TextIO = sys.stderr) -> None:
        self.path = path
        self.limits = limits
        self._table = ResponseTable(path, limits)
        self._warn = warn
        self._warned = False
        self._read_lock = threading.Lock()
        self._pending_lock = threading.Lock()
        self._pending: Dict[str, _Change] = {}  # id → what to write
        self._pending_bytes = 0  # the measured size of the records in _pending
        self._changes: queue.SimpleQueue[str] = queue.SimpleQueue()  # ids whose change waits
        self._idle = threading.Condition(self._pending_lock)  # notified when nothing is pending
        self.dropped = 0  # records not kept because MAX_PENDING (or MAX_PENDING_BYTES) were waiting
        self._writer = threading.Thread(target=self._write_loop, name="router-response-store", daemon=True)
        self._writer.start()

    def get(self, response_id: str, now: float) -> Optional[StoredResponse]:
        """The record, or None when it is unknown, expired or unreadable; :class:`RequestTooLargeError`
        for one over a request body's limits, which is not parsed (``limits.max_read_bytes``)."""
        with self._pending_lock:
            if response_id in self._pending:
                stored = _record_of(self._pending[response_id])
                return stored if stored is not None and not self._expired(stored, now) else None
        try:
            with self._read_lock:
                raw = self._table.read(response_id, now)
        except sqlite3.Error:
            return None
        if raw is None:
            return None
        measure = JsonMeasure.of(raw)
        excess = measure.excess(self.limits.max_read_bytes)
        if excess is not None:
            raise RequestTooLargeError(f"stored response {response_id!r} is {excess} (the limits of one "
                                       "request body), so the router does not read it")
        try:
            return StoredResponse.from_json(raw, measure)
        except ValueError:
            return None  # written by something else: as good as absent

    def put(self, stored: StoredResponse) -> None:
        """Keep ``stored`` (readable at once; written to the file by the writer thread) — unless
        :data:`MAX_PENDING` records, or :data:`MAX_PENDING_BYTES` of them, already wait for the
        writer: then it is not kept, counted in :attr:`dropped` and said once
        (docs/response-store.md#the-writer). An id put twice names no record from then on (as
        :meth:`~shim.responses_store.ResponseStore.put` says): over a change still waiting, or a
        row in the file that has not aged out, this is a tombstone. The file is looked at (one
        primary-key lookup, ~17 µs) only for a backend's id: the router's own never repeat."""
        if stored.named_by_backend and self._file_holds(stored.response_id, stored.created_at):
            self._change(stored.response_id, _Reused(stored.created_at), refuse_when_full=False)
            return
        if not self._change(stored.response_id, stored, refuse_when_full=True):
            self._warn_once(f"records waiting to be written fill the queue ({MAX_PENDING} records or "
                            f"{MAX_PENDING_BYTES >> 20} MiB); newer responses are not kept until they are written")

    def delete(self, response_id: str) -> bool:
        """Forget a record; True when there was one (pending, or in the file: a primary-key lookup)."""
        with self._pending_lock:
            pending = self._pending.get(response_id, _DELETED)
            was_pending = response_id in self._pending
        if was_pending:
            existed = pending is not _DELETED
        else:
            existed = self._exists(response_id)
        if existed:  # never refused: deletions are bounded by the records that exist
            self._change(response_id, _DELETED, refuse_when_full=False)
        return existed

    def flush(self, timeout: float = _FLUSH_TIMEOUT) -> bool:
        """Wait until every change so far is in the file; False when ``timeout`` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._pending, timeout)

    def close(self) -> None:
        """Write what is pending, stop the writer, close the file."""
        self._changes.put(_STOP)
        self._writer.join(_FLUSH_TIMEOUT)
        with self._read_lock:
            self._table.close()

    # Internals ---------------------------------------------------------------------------------
    def _expired(self, stored: StoredResponse, now: float) -> bool:
        return now - stored.created_at >= self.limits.max_age_seconds

    def _aged_out(self, change: _Change, now: float) -> bool:
        """A waiting record or tombstone that a read at ``now`` would not see."""
        if isinstance(change, _Reused):
            return now - change.created_at >= self.limits.max_age_seconds
        record = _record_of(change)
        return record is not None and self._expired(record, now)

    def _file_holds(self, response_id: str, now: float) -> bool:
        """A live row (record or tombstone) in the file for an id nothing waits for."""
        with self._pending_lock:
            if response_id in self._pending:
                return False  # what waits decides (_change)
        return self._exists(response_id, now)

    def _exists(self, response_id: str, now: Optional[float] = None) -> bool:
        """:meth:`ResponseTable.exists`, False when the file cannot be read."""
        try:
            with self._read_lock:
                return self._table.exists(response_id, now)
        except sqlite3.Error:
            return False

    def _change(self, response_id: str, change: _Change, refuse_when_full: bool) -> bool:
        """Note ``change`` for the writer; False (counted in :attr:`dropped`) when ``refuse_when_full``
        and the other records waiting fill the queue. A deletion replaces what waits; a record put
        over a waiting deletion is written after it; over anything else that waits, it makes a
        tombstone."""
        with self._pending_lock:
            waiting = self._pending.get(response_id)
            if isinstance(change, StoredResponse) and response_id in self._pending:
                if waiting is _DELETED:
                    change = _Renewed(change)
                elif not self._aged_out(waiting, change.created_at):  # an aged-out one is as good as gone
                    change = _Reused(change.created_at)
            size = _size(change)
            full = len(self._pending) >= MAX_PENDING or self._pending_bytes + size > MAX_PENDING_BYTES
            if refuse_when_full and full and response_id not in self._pending:
                self.dropped += 1
                return False
            self._pending_bytes += size - _size(waiting)
            self._pending[response_id] = change
        self._changes.put(response_id)
        return True

    def _write_loop(self) -> None:
        while True:
            ids = [self._changes.get()]
            while len(ids) < _BATCH:
                try:
                    ids.append(self._changes.get_nowait())
                except queue.Empty:
                    break
            stop = _STOP in ids
            self._write({response_id for response_id in ids if response_id != _STOP})
            if stop:
                return

    def _write(self, ids: Set[str]) -> None:
        with self._pending_lock:
            changes = {response_id: self._pending[response_id] for response_id in ids if response_id in self._pending}
        if changes:
            try:
                self._table.write(_rows(changes))
            except (sqlite3.Error, OSError) as problem:  # a full disk, a file another program broke …
                problem_text = f"{type(problem).__name__}: {problem}"
                self._warn_once(f"responses cannot be stored ({problem_text}); calls are still served")
        with self._pending_lock:
            for response_id, change in changes.items():
                if self._pending.get(response_id, _ABSENT) is change:  # unchanged since: it is written
                    del self._pending[response_id]
                    self._pending_bytes -= _size(change)
            if not self._pending:
                self._idle.notify_all()

    def _warn_once(self, problem: str) -> None:
        if not self._warned:
            self._warned = True
            self._warn.write(f"router proxy: warning: {' '.join(problem.split())}\n")


def _record_of(change: _Change) -> Optional[StoredResponse]:
    """The record a pending change makes readable, if any."""
    if isinstance(change, _Renewed):
        return change.stored
    return change if isinstance(change, StoredResponse) else None


def _size(change: _Change) -> int:
    record = _record_of(change)
    return 0 if record is None else record.measure.size


def _rows(changes: Dict[str, _Change]) -> List[Write]:
    """The table writes for ``changes``: records serialised here, on the writer thread."""
    return [row for response_id, change in changes.items() for row in _writes(response_id, change)]


def _writes(response_id: str, change: _Change) -> List[Write]:
    if isinstance(change, StoredResponse):
        return [(response_id, change.created_at, change.to_json())]
    if isinstance(change, _Reused):
        return [(response_id, change.created_at, b"")]
    if isinstance(change, _Renewed):
        return [(response_id, None, None), (response_id, change.stored.created_at, change.stored.to_json())]
    return [(response_id, None, None)]


def open_response_store(
    home: Path, limits: ResponseStoreLimits = DEFAULT_LIMITS, warn: TextIO = sys.stderr
) -> Union[SQLiteResponseStore, MemoryResponseStore]:
    """The SQLite store in ``home``; when it cannot be opened (a read-only or broken home), an
    in-memory one with the same limits and one warning line: the proxy serves calls either way."""
    try:
        ensure_private_dir(home)
        return SQLiteResponseStore(home / RESPONSES_DB_FILENAME, limits, warn)
    except (sqlite3.Error, OSError) as exc:
        problem = " ".join(f"{type(exc).__name__}: {exc}".split())
        warn.write(f"router proxy: warning: stored responses are kept in memory only ({problem})\n")
        return MemoryResponseStore(limits.max_entries, limits.max_bytes, limits.max_age_seconds)
