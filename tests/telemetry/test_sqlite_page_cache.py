"""The SQLite connections the proxy keeps open hold little page cache (docs/proxy-limits.md#memory-after-a-burst).

Measured with SQLite's own count of the memory it holds (``sqlite3_memory_used``), read from the
library this process's ``sqlite3`` module is linked with.
"""

import ctypes
import sqlite3
import time
from pathlib import Path
from typing import Callable, Optional

import pytest
from telemetry_support import call_event

from host import stats_query
from host.dashboard.data import summary
from host.proxy.response_table import ResponseStoreLimits, ResponseTable
from host.telemetry_store import TelemetryStore
from shim.responses_store import StoredResponse

NOW = 1_800_000_000.0
MIB = 1 << 20


def _linked_sqlite() -> Optional[ctypes.CDLL]:
    """The SQLite library mapped into this process, when it is a shared one."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "libsqlite3" in line}
    if len(paths) != 1:
        return None
    library = ctypes.CDLL(paths.pop())
    library.sqlite3_memory_used.restype = ctypes.c_int64
    library.sqlite3_memory_highwater.restype = ctypes.c_int64
    library.sqlite3_memory_highwater.argtypes = [ctypes.c_int]
    return library


sqlite_library = _linked_sqlite()
memory_used: Optional[Callable[[], int]] = sqlite_library.sqlite3_memory_used if sqlite_library else None
pytestmark = pytest.mark.skipif(memory_used is None, reason="needs sqlite3 linked with a shared libsqlite3")


def _grown_by(work: Callable[[], object]) -> float:
    assert memory_used is not None
    before = memory_used()
    work()
    return (memory_used() - before) / MIB


def test_a_connection_at_sqlite_s_default_keeps_megabytes(tmp_path: Path) -> None:
    # What the bound below is measured against: 8 MiB written and read back through one connection.
    connection = sqlite3.connect(str(tmp_path / "plain.db"))

    def work() -> None:
        connection.execute("CREATE TABLE t (x BLOB)")
        with connection:
            connection.executemany("INSERT INTO t VALUES (?)", [(b"x" * 1000,) for _ in range(8000)])
        connection.execute("SELECT sum(length(x)) FROM t").fetchone()

    assert _grown_by(work) > 1.5
    connection.close()


def test_the_stored_responses_keep_little_page_cache(tmp_path: Path) -> None:
    table = ResponseTable(tmp_path / "r.db", ResponseStoreLimits())

    def work() -> None:
        for start in range(0, 8000, 256):
            records = [StoredResponse(f"resp_{number}", NOW + number, {"id": f"resp_{number}", "text": "x" * 1000}, ())
                       for number in range(start, start + 256)]
            table.write([(record.response_id, record.created_at, record.to_json()) for record in records])
        for number in range(0, 8000, 7):
            assert table.read(f"resp_{number}", NOW + 8000) is not None

    assert _grown_by(work) < 2  # two connections and their prepared statements; 4.8 MiB at SQLite's default
    table.close()


def test_the_telemetry_writer_keeps_little_page_cache(tmp_path: Path) -> None:
    store = TelemetryStore(tmp_path).start()

    def work() -> None:
        for number in range(20):
            store.submit_many((call_event(requested_model=f"model-{number}-{index}", error="e" * 200), None)
                              for index in range(500))
            assert store.flush()

    assert _grown_by(work) < 1  # 2.3 MiB at SQLite's default
    assert store.stored == 10_000
    store.close()


def _reading_peak(home: Path) -> float:
    """SQLite's peak memory (MiB) while the dashboard's week summary is read."""
    assert sqlite_library is not None
    sqlite_library.sqlite3_memory_highwater(1)  # from now
    summary("7d", home=home)
    return sqlite_library.sqlite3_memory_highwater(1) / MIB


def test_reading_the_store_sorts_within_the_page_cache(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite sorts a window's latencies for their percentiles; past the reading connection's cache the
    sort goes to a temporary file (docs/telemetry-bounds.md#reading-the-store). 30,000 calls: 3.5 MiB at
    SQLite's peak, 11.4 without the bound (100,000: 3.7, and 6.5 at SQLite's default cache of 2 MiB)."""
    store = TelemetryStore(home).start()
    for start in range(0, 30_000, 5_000):
        store.submit_many((call_event(time=time.time() - number, requested_model=f"model-{number % 7}",
                                      latency_ms=float(number % 977)), None) for number in range(start, start + 5_000))
        assert store.flush(30.0)
    store.close()
    bounded = _reading_peak(home)
    monkeypatch.setattr(stats_query, "PAGE_CACHE_KIB", 64 * 1024)  # as good as no bound for this store
    unbounded = _reading_peak(home)
    assert bounded < 5 and unbounded > 2 * bounded, (bounded, unbounded)
