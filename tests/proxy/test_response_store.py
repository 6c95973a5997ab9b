"""The proxy's SQLite store of responses: the engine's ResponseStore contract, its bounds, its file
modes, records readable as soon as ``put`` returns (the file is written behind, in batches), and
reads that a writer (this proxy's, or another process's) never blocks."""

import dataclasses
import io
import sqlite3
import stat
import threading
from itertools import groupby
from pathlib import Path
from typing import Any, Dict, List

import pytest

from host.proxy.response_store import (
    MAX_PENDING,
    MAX_PENDING_BYTES,
    RESPONSES_DB_FILENAME,
    ResponseStoreLimits,
    SQLiteResponseStore,
    open_response_store,
)
from host.proxy.response_table import ResponseTable, rows_per_statement
from shim.errors import RequestTooLargeError
from shim.json_budget import MAX_JSON_VALUES, JsonMeasure
from shim.responses_store import MemoryResponseStore, StoredResponse

NOW = 1_800_000_000.0


def _record(number: int, created_at: float = NOW, text: str = "hello") -> StoredResponse:
    response: Dict[str, Any] = {"id": f"resp_{number}", "object": "response", "output": [{"type": "message",
                                "role": "assistant", "content": [{"type": "output_text", "text": text}]}]}
    conversation = ({"role": "user", "content": f"question {number}"}, response["output"][0])
    return StoredResponse(f"resp_{number}", created_at, response, conversation)


def _backends(number: int, text: str) -> StoredResponse:
    """A record whose id a backend gave (it may repeat; the router's own never do)."""
    return dataclasses.replace(_record(number, text=text), named_by_backend=True)


@pytest.fixture
def store(tmp_path: Path) -> SQLiteResponseStore:
    opened = SQLiteResponseStore(tmp_path / RESPONSES_DB_FILENAME)
    yield opened
    opened.close()


def test_put_get_delete_round_trip(store: SQLiteResponseStore) -> None:
    stored = _record(1)
    store.put(stored)
    assert store.get("resp_1", NOW + 1) == stored  # at once, written or not
    assert store.flush()
    assert store.get("resp_1", NOW + 1) == stored  # from the file
    assert store.get("resp_2", NOW + 1) is None
    assert store.delete("resp_1") is True
    assert store.delete("resp_1") is False
    assert store.get("resp_1", NOW + 1) is None
    assert store.flush() and _ids(store) == []


def test_a_record_put_and_deleted_before_the_writer_ran_is_gone(store: SQLiteResponseStore) -> None:
    store.put(_record(1))
    assert store.delete("resp_1") is True
    assert store.get("resp_1", NOW) is None
    assert store.flush() and _ids(store) == []

@pytest.mark.parametrize("written_between", [False, True], ids=["both-waiting", "first-in-the-file"])
def test_an_id_put_twice_names_no_record(store: SQLiteResponseStore, written_between: bool) -> None:
    """Two conversations under one id (a backend that reuses ids): neither is served, whether the
    first still waits for the writer or is in the file, from the second ``put`` on, and the id stays
    unknown after a third (docs/responses-api.md#one-id-one-conversation)."""
    store.put(_backends(1, text="first client's"))
    if written_between:
        store.flush()
    store.put(_backends(1, text="second client's"))
    assert store.get("resp_1", NOW) is None
    store.flush()
    assert store.get("resp_1", NOW) is None
    store.put(_backends(1, text="third client's"))
    store.flush()
    assert store.get("resp_1", NOW) is None
    assert _totals(store) == (1, 0)  # a tombstone: one row, no bytes
    assert store.delete("resp_1") is True  # deleting it frees the id
    store.put(_backends(1, text="after the delete"))
    store.flush()
    got = store.get("resp_1", NOW)
    assert got is not None and got.response["output"][0]["content"][0]["text"] == "after the delete"


def test_records_expire_and_are_evicted_by_later_writes(tmp_path: Path) -> None:
    store = SQLiteResponseStore(tmp_path / "r.db", ResponseStoreLimits(max_age_seconds=60))
    store.put(_record(1, created_at=NOW))
    assert store.get("resp_1", NOW + 59) is not None
    assert store.get("resp_1", NOW + 61) is None  # expired: not served even before eviction
    store.put(_record(2, created_at=NOW + 61))
    store.flush()
    assert _ids(store) == ["resp_2"]  # the write removed the expired row
    store.close()


def test_the_oldest_go_first_past_the_entry_bound(tmp_path: Path) -> None:
    store = SQLiteResponseStore(tmp_path / "r.db", ResponseStoreLimits(max_entries=3))
    for number in range(5):
        store.put(_record(number, created_at=NOW + number))
        store.flush()
    assert _ids(store) == ["resp_2", "resp_3", "resp_4"]
    assert _totals(store)[0] == 3
    store.close()


def test_the_oldest_go_first_past_the_byte_bound(tmp_path: Path) -> None:
    size = len(_record(0).to_json())
    store = SQLiteResponseStore(tmp_path / "r.db", ResponseStoreLimits(max_bytes=size * 2 + size // 2))
    for number in range(4):
        store.put(_record(number, created_at=NOW + number))
    store.flush()  # one batch or several: the bounds hold after each
    assert _ids(store) == ["resp_2", "resp_3"]
    assert _totals(store)[1] <= store.limits.max_bytes
    store.close()


def test_a_record_larger_than_the_byte_bound_is_not_kept(tmp_path: Path) -> None:
    store = SQLiteResponseStore(tmp_path / "r.db", ResponseStoreLimits(max_bytes=400))
    store.put(_record(1))
    store.flush()
    store.put(_record(1, text="x" * 1000))  # a second record under the id, too large anyway: not kept
    store.flush()
    assert store.get("resp_1", NOW) is None and _totals(store) == (1, 0)  # a tombstone
    store.close()


def test_files_are_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = open_response_store(home)
    assert isinstance(store, SQLiteResponseStore)
    store.put(_record(1))
    store.flush()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    files = sorted(path.name for path in home.iterdir())
    assert files == [RESPONSES_DB_FILENAME, RESPONSES_DB_FILENAME + "-shm", RESPONSES_DB_FILENAME + "-wal"]
    assert {stat.S_IMODE((home / name).stat().st_mode) for name in files} == {0o600}
    store.close()


def test_an_existing_file_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / RESPONSES_DB_FILENAME
    path.touch(mode=0o644)
    path.chmod(0o644)
    SQLiteResponseStore(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_records_outlive_the_store_and_are_shared_between_processes(tmp_path: Path) -> None:
    first = SQLiteResponseStore(tmp_path / "r.db")
    second = SQLiteResponseStore(tmp_path / "r.db")  # another proxy on the same home
    first.put(_record(1))
    assert first.flush()
    assert second.get("resp_1", NOW) == _record(1)
    first.close()
    second.close()
    reopened = SQLiteResponseStore(tmp_path / "r.db")
    assert reopened.get("resp_1", NOW) == _record(1)
    reopened.close()


def test_a_read_is_not_blocked_by_an_open_write(tmp_path: Path) -> None:
    store = SQLiteResponseStore(tmp_path / "r.db")
    store.put(_record(1))
    store.flush()
    other = sqlite3.connect(str(tmp_path / "r.db"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the write lock, uncommitted
    other.execute("DELETE FROM responses")
    answered = threading.Event()
    reader = threading.Thread(target=lambda: store.get("resp_1", NOW) is not None and answered.set())
    reader.start()
    reader.join(timeout=5)
    assert answered.is_set()  # the committed record, read at once
    other.execute("ROLLBACK")
    other.close()
    store.close()


def test_a_broken_record_reads_as_absent(store: SQLiteResponseStore) -> None:
    store.put(_record(1))
    store.flush()
    with sqlite3.connect(str(store.path)) as raw:
        raw.execute("UPDATE responses SET record = ? WHERE id = 'resp_1'", (b"not json",))
    assert store.get("resp_1", NOW) is None


def test_a_write_that_fails_costs_the_record_and_one_warning(tmp_path: Path) -> None:
    warnings = io.StringIO()
    store = SQLiteResponseStore(tmp_path / "r.db", warn=warnings)
    blocker = sqlite3.connect(str(tmp_path / "r.db"), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock past the writer's busy timeout
    store.put(_record(1))
    store.put(_record(2))
    assert store.flush(timeout=30)  # pending changes drain even when they cannot be written
    blocker.execute("ROLLBACK")
    blocker.close()
    assert warnings.getvalue().count("\n") == 1 and "responses cannot be stored" in warnings.getvalue()
    assert store.get("resp_1", NOW) is None  # lost, not kept in memory without bound
    store.put(_record(3))
    assert store.flush() and _ids(store) == ["resp_3"]  # later writes work again
    store.close()


def test_records_waiting_for_the_writer_are_bounded(tmp_path: Path) -> None:
    # A flood of small Responses calls grew the proxy ~15 MiB/s while every record waited in memory.
    warnings = io.StringIO()
    store = SQLiteResponseStore(tmp_path / "r.db", warn=warnings)
    blocker = sqlite3.connect(str(tmp_path / "r.db"), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the writer waits (its busy timeout, 2 s) while these are put
    for number in range(MAX_PENDING + 10):
        store.put(_record(number))
    assert store.dropped == 10
    assert store.get(f"resp_{MAX_PENDING - 1}", NOW) is not None and store.get(f"resp_{MAX_PENDING}", NOW) is None
    store.put(_record(5, text="again"))  # an id already waiting becomes a tombstone, never refused
    assert store.dropped == 10 and store.get("resp_5", NOW) is None
    blocker.execute("ROLLBACK")
    blocker.close()
    assert store.flush(timeout=60)
    assert "records waiting to be written fill the queue" in warnings.getvalue()
    store.put(_record(99_999))  # room again
    assert store.flush() and "resp_99999" in _ids(store)
    store.close()


def test_records_waiting_for_the_writer_are_bounded_in_bytes(tmp_path: Path) -> None:
    # A record may be a conversation as large as a request body: 1,024 of them could be gigabytes.
    warnings = io.StringIO()
    store = SQLiteResponseStore(tmp_path / "r.db", warn=warnings)
    blocker = sqlite3.connect(str(tmp_path / "r.db"), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the writer waits while these are put
    third = MAX_PENDING_BYTES // 3 - 1_000  # as the engine measured them (the store trusts a measure)
    for number in range(4):
        store.put(dataclasses.replace(_record(number), measure=JsonMeasure(third, 10)))
    assert store.dropped == 1 and store.get("resp_2", NOW) is not None and store.get("resp_3", NOW) is None
    store.put(_record(4))  # a small one still fits beside the three
    assert store.dropped == 1 and store.get("resp_4", NOW) is not None
    blocker.execute("ROLLBACK")
    blocker.close()
    assert store.flush(timeout=60)
    assert "records waiting to be written fill the queue" in warnings.getvalue()
    store.put(dataclasses.replace(_record(5), measure=JsonMeasure(third, 10)))  # room again once written
    assert store.flush() and "resp_5" in _ids(store)
    store.close()


@pytest.mark.parametrize("oversized", ["bytes", "values"])
def test_a_record_over_a_bodys_limits_is_not_read_back(tmp_path: Path, oversized: str) -> None:
    # Records written by another proxy (a larger --max-body-mib) or before a lower limit: the proxy
    # does not parse on its loop what it would refuse as a body (docs/proxy-limits.md#continued-conversations).
    path = tmp_path / "r.db"
    small = _record(1)
    if oversized == "bytes":
        large = _record(2, text="x" * 5_000)
    else:
        items = tuple({"n": 1} for _ in range(MAX_JSON_VALUES // 2 + 1))  # two values an item
        large = StoredResponse("resp_2", NOW, _record(2).response, items)
    writer = SQLiteResponseStore(path)
    writer.put(small)
    writer.put(large)
    assert writer.flush()
    writer.close()
    reader = SQLiteResponseStore(path, ResponseStoreLimits(max_read_bytes=4_000 if oversized == "bytes" else 64 << 20))
    try:
        assert reader.get("resp_1", NOW) == small
        with pytest.raises(RequestTooLargeError) as refused:
            reader.get("resp_2", NOW)
        assert "resp_2" in str(refused.value)
        assert ("over the limit of 4000" if oversized == "bytes" else f"over the limit of {MAX_JSON_VALUES}") in str(
            refused.value)
    finally:
        reader.close()


def test_a_batch_of_writes_is_a_few_statements(tmp_path: Path) -> None:
    # Many rows per statement: the writer waits for the GIL a few times a batch, not once a row
    # (docs/response-store.md#the-writer).
    table = ResponseTable(tmp_path / "r.db", ResponseStoreLimits(max_entries=250))
    statements: List[str] = []
    table._writer.set_trace_callback(statements.append)
    records = [_record(number, created_at=NOW + number) for number in range(300)]
    table.write([(record.response_id, record.created_at, record.to_json()) for record in records])
    table.write([("resp_299", None, None)])
    # A trigger's steps repeat their statement's text (with its values): one run of a text is one statement.
    executed = [text for text, _ in groupby(statements)]
    assert len(executed) < 40, executed  # 300 rows, their eviction, a deletion: 600 and more before
    with sqlite3.connect(str(tmp_path / "r.db")) as raw:
        ids = [row[0] for row in raw.execute("SELECT id FROM responses ORDER BY created_at")]
        totals = raw.execute("SELECT entries, bytes FROM totals").fetchone()
        size = raw.execute("SELECT sum(size) FROM responses").fetchone()[0]
    assert ids == [f"resp_{number}" for number in range(50, 299)] and totals == (249, size)
    table.close()


@pytest.mark.parametrize("rows", [1, 29, 242, 256])
def test_a_batch_costs_the_same_statements_whatever_its_size(tmp_path: Path, rows: int) -> None:
    # The writer's batches are as big as what waited: under a flood of Responses calls, 29, 157, 242
    # rows. Runs of 256/64/16/4/1 rows made a batch of 242 sixteen statements, each a wait for the
    # GIL, and the writer fell behind the calls (docs/response-store.md#the-writer).
    table = ResponseTable(tmp_path / "r.db", ResponseStoreLimits(max_entries=100))
    old = [_record(number, created_at=NOW + number) for number in range(100)]
    table.write([(record.response_id, record.created_at, record.to_json()) for record in old])
    statements: List[str] = []
    table._writer.set_trace_callback(statements.append)
    new = [_record(1000 + number, created_at=NOW + 1000 + number) for number in range(rows)]
    table.write([(record.response_id, record.created_at, record.to_json()) for record in new])
    table._writer.set_trace_callback(None)
    executed = [text for text, _ in groupby(statements)]
    # BEGIN, the insert, the expired and the oldest beyond the count, the size bound's check, COMMIT
    assert len(executed) == 5, [text[:60] for text in executed]
    with sqlite3.connect(str(tmp_path / "r.db")) as raw:
        ids = [row[0] for row in raw.execute("SELECT id FROM responses ORDER BY created_at")]
        totals = raw.execute("SELECT entries, bytes FROM totals").fetchone()
        size = raw.execute("SELECT sum(size) FROM responses").fetchone()[0]
    kept = [record.response_id for record in old + new][-100:]
    assert ids == kept and totals == (100, size)
    table.close()


def test_the_size_bound_evicts_the_oldest_until_it_holds(tmp_path: Path) -> None:
    record_size = len(_record(100).to_json())  # records 100 to 499 are all this size
    table = ResponseTable(tmp_path / "r.db", ResponseStoreLimits(max_bytes=int(record_size * 150.5)))
    for start in range(100, 500, 100):  # 400 records; room for 150 of them
        records = [_record(number, created_at=NOW + number) for number in range(start, start + 100)]
        table.write([(record.response_id, record.created_at, record.to_json()) for record in records])
    with sqlite3.connect(str(tmp_path / "r.db")) as raw:
        ids = [row[0] for row in raw.execute("SELECT id FROM responses ORDER BY created_at")]
    assert ids == [f"resp_{number}" for number in range(350, 500)]
    table.close()


def test_a_record_written_again_leaves_a_tombstone_and_the_totals_follow(tmp_path: Path) -> None:
    table = ResponseTable(tmp_path / "r.db", ResponseStoreLimits(max_bytes=4096))
    first = [_record(number) for number in range(3)]
    table.write([(record.response_id, record.created_at, record.to_json()) for record in first])
    again, too_big = _record(0, text="another conversation, same id"), _record(3, text="x" * 5000)
    table.write([(record.response_id, record.created_at, record.to_json()) for record in (again, too_big)])
    assert table.read("resp_0", NOW) is None  # two conversations under one id: neither
    assert table.read("resp_3", NOW) is None  # over max_bytes: not kept
    assert table.read("resp_1", NOW) == first[1].to_json()
    with sqlite3.connect(str(tmp_path / "r.db")) as raw:
        totals = raw.execute("SELECT entries, bytes FROM totals").fetchone()
        assert totals == raw.execute("SELECT count(*), sum(size) FROM responses").fetchone()
    assert totals == (4, len(first[1].to_json()) + len(first[2].to_json()))
    table.close()


def test_an_old_sqlite_gets_statements_within_its_parameter_limit() -> None:
    # Before 3.32 SQLite allowed 999 values a statement: 256 rows of four would not even prepare.
    assert rows_per_statement((3, 31, 1)) * 4 <= 999 and rows_per_statement((3, 40, 1)) == 256


def test_a_sqlite_without_upsert_keeps_responses_in_memory_and_says_so(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 22, 0))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.22.0")
    with pytest.raises(sqlite3.NotSupportedError, match=r"3\.24\.0 or newer is needed \(this is 3\.22\.0\)"):
        ResponseTable(tmp_path / "r.db", ResponseStoreLimits())
    warnings = io.StringIO()
    store = open_response_store(tmp_path, warn=warnings)
    assert isinstance(store, MemoryResponseStore) and "3.24.0 or newer is needed" in warnings.getvalue()


def test_an_unusable_home_falls_back_to_memory_with_one_warning(tmp_path: Path) -> None:
    blocker = tmp_path / "home"
    blocker.write_text("a file where the directory should be")
    warnings = io.StringIO()
    store = open_response_store(blocker, ResponseStoreLimits(max_entries=7), warn=warnings)
    assert isinstance(store, MemoryResponseStore) and store.max_entries == 7
    assert warnings.getvalue().count("\n") == 1 and "kept in memory only" in warnings.getvalue()
    store.put(_record(1))
    assert store.get("resp_1", NOW) == _record(1)


def _ids(store: SQLiteResponseStore) -> list:
    store.flush()
    with sqlite3.connect(str(store.path)) as raw:
        return [row[0] for row in raw.execute("SELECT id FROM responses ORDER BY created_at")]


def _totals(store: SQLiteResponseStore) -> tuple:
    store.flush()
    with sqlite3.connect(str(store.path)) as raw:
        entries, size = raw.execute("SELECT entries, bytes FROM totals").fetchone()
        assert (entries, size) == raw.execute("SELECT count(*), coalesce(sum(size), 0) FROM responses").fetchone()
        return entries, size


@pytest.mark.parametrize("written_between", [False, True], ids=["tombstone-waiting", "in-the-file"])
def test_an_id_whose_record_aged_out_takes_a_new_one(tmp_path: Path, written_between: bool) -> None:
    """An aged-out row not yet evicted is as good as gone: reusing its id later is no collision."""
    store = SQLiteResponseStore(tmp_path / "r.db", ResponseStoreLimits(max_age_seconds=60))
    store.put(_record(1, text="long ago"))
    store.put(_record(1, text="long ago, again"))  # a tombstone
    if written_between:
        store.flush()
    later = _record(1, created_at=NOW + 61, text="today's")
    store.put(later)
    store.flush()
    assert store.get("resp_1", NOW + 61) == later
    store.close()
