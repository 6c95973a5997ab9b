"""The SQLite store: exact round trip, batching under load, and every way of failing without failing a call."""

import json
import sqlite3
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator, List

import pytest
from telemetry_support import FullDiskConnection, call_event

from host import telemetry_store
from host.telemetry_store import (
    DB_FILENAME,
    MAX_PENDING_EVENTS,
    STORE_SCHEMA_VERSION,
    TelemetryStore,
    connect_database,
    connect_read_only,
    read_drops,
)
from shim.telemetry import CallEvent

SUBMIT_BUDGET_SECONDS = 0.5  # "never blocks": far above any submit, far below the 200 ms lock wait × batches


def _stored(home: Path) -> List[sqlite3.Row]:
    connection = sqlite3.connect(home / DB_FILENAME)
    connection.row_factory = sqlite3.Row
    try:
        return connection.execute("SELECT * FROM events ORDER BY id").fetchall()
    finally:
        connection.close()


@pytest.fixture
def store(home: Path) -> Iterator[TelemetryStore]:
    opened = TelemetryStore(home).start()
    yield opened
    opened.close()


def test_round_trip_keeps_every_field_and_the_cost(home: Path, store: TelemetryStore) -> None:
    event = call_event(cache_read_tokens=5000, cache_write_tokens=2000, reasoning_tokens=64, error=None,
                       dropped_before=3)
    store.submit(event, 0.0123456789)
    assert store.flush()
    (row,) = _stored(home)
    assert {name: row[name] for name in asdict(event)} == {
        **asdict(event), "stream": int(event.stream), "translated": int(event.translated)
    }
    assert row["cost_usd"] == 0.0123456789


def test_schema_version_wal_and_time_index(home: Path, store: TelemetryStore) -> None:
    store.submit(call_event())
    assert store.flush()
    connection = sqlite3.connect(home / DB_FILENAME)
    assert connection.execute("SELECT version FROM schema_version").fetchall() == [(STORE_SCHEMA_VERSION,)]
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    plan = connection.execute("EXPLAIN QUERY PLAN SELECT * FROM events WHERE time >= 1").fetchall()
    assert "events_time" in str(plan)
    connection.close()


def test_unknown_cost_is_stored_as_null(home: Path, store: TelemetryStore) -> None:
    store.submit(call_event(), None)
    assert store.flush()
    assert _stored(home)[0]["cost_usd"] is None


def test_20000_events_from_4_threads_are_all_stored(home: Path, store: TelemetryStore) -> None:
    per_thread = MAX_PENDING_EVENTS // 4  # as fast as threads can: within the bound, none is dropped

    def produce(worker: int) -> None:
        for index in range(per_thread):
            store.submit(call_event(pid=worker, input_tokens=index), float(index))

    threads = [threading.Thread(target=produce, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.flush(timeout=60)
    assert store.dropped == 0 and store.stored == MAX_PENDING_EVENTS
    connection = sqlite3.connect(home / DB_FILENAME)
    by_worker = connection.execute("SELECT pid, count(*), sum(input_tokens) FROM events GROUP BY pid").fetchall()
    assert by_worker == [(worker, per_thread, sum(range(per_thread))) for worker in range(4)]
    connection.close()


def _submit_all(store: TelemetryStore, count: int) -> None:
    """Submit ``count`` events; each submit must return at once and raise nothing."""
    for index in range(count):
        started = time.monotonic()
        store.submit(call_event(input_tokens=index))
        assert time.monotonic() - started < SUBMIT_BUDGET_SECONDS


def test_full_queue_drops_and_counts(home: Path) -> None:
    blocked = threading.Event()

    def slow_connect(path: str) -> sqlite3.Connection:
        blocked.wait(10)  # the writer cannot start: the queue fills
        return sqlite3.connect(path)

    store = TelemetryStore(home, connect=slow_connect, max_pending=10).start()
    _submit_all(store, 25)
    assert store.dropped == 15
    blocked.set()
    store.close()
    assert len(_stored(home)) == 10
    assert read_drops(home).count == 15 and read_drops(home).reasons == ("queue full",)


def test_batches_waiting_hold_at_most_the_bound_in_events(home: Path) -> None:
    # The proxy hands events over 200 at a time: a bound counted in hand-offs held 200 times more.
    blocked = threading.Event()

    def slow_connect(path: str) -> sqlite3.Connection:
        blocked.wait(10)
        return sqlite3.connect(path)

    store = TelemetryStore(home, connect=slow_connect, max_pending=500).start()
    for batch in range(5):
        store.submit_many((call_event(input_tokens=batch * 200 + index), None) for index in range(200))
    assert store.dropped == 500
    blocked.set()
    store.close()
    assert [row["input_tokens"] for row in _stored(home)] == list(range(500))
    assert read_drops(home).count == 500


def test_an_sqlite_without_json_stores_the_same_rows(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry_store, "has_json_functions", lambda connection: False)
    store = TelemetryStore(home).start()
    store.submit_many((call_event(input_tokens=index, requested_model="made-up-\ud800"), 0.5) for index in range(3))
    store.close()
    assert [(row["input_tokens"], row["requested_model"], row["cost_usd"]) for row in _stored(home)] == [
        (index, "made-up-\ufffd", 0.5) for index in range(3)]


def test_a_batch_is_one_statement(home: Path) -> None:
    # One statement per batch, not per row: the writer waits for the GIL once per batch, so it keeps up
    # while the proxy's event loop is busy (docs/telemetry-bounds.md#the-writer).
    statements: List[str] = []

    def traced(path: str) -> sqlite3.Connection:
        connection = sqlite3.connect(path)
        connection.set_trace_callback(statements.append)
        return connection

    store = TelemetryStore(home, connect=traced).start()
    store.submit_many((call_event(input_tokens=index, latency_ms=index / 7), 0.001 * index) for index in range(300))
    store.close()
    inserts = [statement for statement in statements if statement.startswith("INSERT INTO events")]
    assert len(inserts) == 1
    rows = _stored(home)
    assert [(row["input_tokens"], row["latency_ms"], row["cost_usd"]) for row in rows] == [
        (index, index / 7, 0.001 * index) for index in range(300)]
    assert all(row["stream"] == 0 and row["translated"] == 1 for row in rows)


def test_text_utf8_cannot_hold_is_mended_and_the_writer_lives_on(home: Path) -> None:
    # A client's model name of "\ud800" decodes to a lone surrogate; stored as it was, it stopped the
    # writer thread for good (every later event lost, and the queue grew until the bound).
    store = TelemetryStore(home).start()
    store.submit(call_event(requested_model="made-up-\ud800", latency_ms=float("nan"), ttfb_ms=float("inf")))
    store.submit(call_event(requested_model="\ud83d\ude00 and é"))
    assert store.flush()
    store.submit(call_event(requested_model="later"))
    store.close()
    rows = _stored(home)
    assert [row["requested_model"] for row in rows] == ["made-up-\ufffd", "\U0001f600 and é", "later"]
    assert (rows[0]["latency_ms"], rows[0]["ttfb_ms"]) == (None, None)
    assert store.dropped == 0


def test_a_batch_that_cannot_be_stored_is_dropped_not_fatal(home: Path) -> None:
    class Refusing(sqlite3.Connection):
        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
            if sql.startswith("INSERT INTO events") and not refused:
                refused.append(sql)
                raise ValueError("no value of this kind")  # not an sqlite3.Error: still a drop
            return super().execute(sql, *args)

    refused: List[str] = []
    store = TelemetryStore(home, connect=lambda path: sqlite3.connect(path, factory=Refusing)).start()
    store.submit(call_event(input_tokens=1))
    assert store.flush()
    store.submit(call_event(input_tokens=2))
    store.close()
    assert store.dropped == 1 and [row["input_tokens"] for row in _stored(home)] == [2]
    assert read_drops(home).reasons == ("no value of this kind",)


def test_locked_database_drops_counts_and_recovers(home: Path) -> None:
    home.mkdir(parents=True)
    connect_database(home / DB_FILENAME).close()
    locker = sqlite3.connect(home / DB_FILENAME, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    store = TelemetryStore(home).start()
    _submit_all(store, 20)
    assert store.flush()
    assert store.dropped == 20 and store.stored == 0
    locker.execute("ROLLBACK")
    locker.close()
    _submit_all(store, 5)
    store.close()
    assert len(_stored(home)) == 5
    drops = read_drops(home)
    assert drops.count == 20 and "locked" in drops.reasons[0]


def test_full_disk_drops_and_counts(home: Path) -> None:
    store = TelemetryStore(home, connect=lambda path: sqlite3.connect(path, factory=FullDiskConnection)).start()
    _submit_all(store, 30)
    store.close()
    assert store.dropped == 30 and len(_stored(home)) == 0
    assert read_drops(home).count == 30 and read_drops(home).reasons == ("database or disk is full",)


def test_read_only_database_file_counts(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A read-only home, made by SQLite itself: permission bits would not stop root (CI runs as root).
    def read_only(path: str) -> sqlite3.Connection:
        return connect_read_only(Path(path))

    store = TelemetryStore(home, connect=read_only).start()
    _submit_all(store, 4)
    store.close()
    assert store.degraded is not None and store.dropped == 4
    assert read_drops(home).count == 4


def test_home_that_is_a_file_runs_degraded(home: Path) -> None:
    home.write_text("")  # the database cannot even be created: only counting is left, in the process
    store = TelemetryStore(home).start()
    _submit_all(store, 3)
    store.close()
    assert store.degraded and store.dropped == 3
    assert read_drops(home).count == 0  # never written anywhere but the home (docs/telemetry-bounds.md#drop-log)


def test_submit_of_garbage_never_raises(home: Path, store: TelemetryStore) -> None:
    store.submit("not an event")  # type: ignore[arg-type]
    store.submit(call_event())
    assert store.flush()
    assert store.dropped == 1 and store.stored == 1


def test_drops_from_several_processes_add_up(home: Path) -> None:
    for count in (2, 3):
        full = TelemetryStore(home, connect=lambda path: sqlite3.connect(path, factory=FullDiskConnection)).start()
        _submit_all(full, count)
        full.close()
    assert read_drops(home).count == 5


def test_event_round_trip_type(home: Path, store: TelemetryStore) -> None:
    event: CallEvent = call_event(stream=True, translated=False, ttfb_ms=None, error="overloaded", status=529)
    store.submit(event)
    assert store.flush()
    row = _stored(home)[0]
    assert (row["stream"], row["translated"], row["ttfb_ms"], row["error"], row["status"]) == (1, 0, None,
                                                                                                "overloaded", 529)


def test_attempts_are_stored_as_json(home: Path, store: TelemetryStore) -> None:
    attempts = [
        {"backend": "anthropic", "model": "claude-x", "status": 529, "failure": None, "ms": 3.5, "wait_ms": 0.0},
        {"backend": "openai", "model": "gpt-x", "status": 200, "failure": None, "ms": 80.0, "wait_ms": 0.0},
    ]
    store.submit(call_event(fallbacks=1, attempts=attempts))
    store.submit(call_event())
    assert store.flush()
    first, second = _stored(home)
    assert (first["fallbacks"], json.loads(first["attempts"])) == (1, attempts)
    assert (second["fallbacks"], second["attempts"]) == (0, None)


def test_a_version_1_database_gets_the_new_columns(home: Path) -> None:
    home.mkdir(parents=True)
    old = sqlite3.connect(home / DB_FILENAME)
    columns = ", ".join(f"{name} TEXT" for name in ("time", "backend", "status", "cost_usd"))
    old.executescript(f"CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);"
                      f"CREATE TABLE events (id INTEGER PRIMARY KEY, {columns});"
                      f"INSERT INTO events (time, backend, status) VALUES (1.0, 'openai', 200);")
    old.close()
    connect_database(home / DB_FILENAME).close()
    connection = sqlite3.connect(home / DB_FILENAME)
    assert connection.execute("SELECT version FROM schema_version").fetchall() == [(STORE_SCHEMA_VERSION,)]
    assert connection.execute("SELECT backend, fallbacks, attempts FROM events").fetchall() == [("openai", 0, None)]
    connection.close()
