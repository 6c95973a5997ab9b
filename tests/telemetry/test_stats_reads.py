"""Reading the store for ``router stats``, ``/stats`` and the dashboard holds the groups of a window,
not its rows (docs/telemetry-bounds.md#reading-the-store): the store keeps up to a million calls, and
any client of the proxy can ask for ``/stats?since=all``.

Memory is measured with tracemalloc (Python's own allocations: a row read from SQLite is one), as
bytes per call of the window, never as a time."""

import time
import tracemalloc
from pathlib import Path

from telemetry_support import call_event

from host.stats_query import query_stats
from host.telemetry_store import TelemetryStore

CALLS = 30_000
BYTES_PER_CALL = 120  # the groups' latencies (8 bytes a call in each of two), their one sort; rows were ~600


def _store(home: Path, calls: int) -> None:
    store = TelemetryStore(home).start()
    first = time.time() - calls  # one a second, all within the store's 90 days
    for number in range(calls):
        store.submit(call_event(time=first + number, latency_ms=float(number % 977),
                                requested_model=f"model-{number % 7}", upstream_model=f"model-{number % 7}"), 0.001)
        if number % 5_000 == 4_999:
            store.flush(30.0)  # the writer's queue is bounded: a faster producer would see drops
    store.close()


def test_a_window_is_read_call_by_call_not_held_whole(home: Path) -> None:
    _store(home, CALLS)
    tracemalloc.start()
    try:
        report = query_stats("all", "model", home=home)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.problem is None
    assert report.total.calls == CALLS and len(report.groups) == 7  # the whole window was read
    assert sum(group.calls for group in report.groups) == CALLS
    latencies = sorted(float(number % 977) for number in range(CALLS))
    assert report.total.latency_p50_ms == latencies[CALLS // 2 - 1]  # nearest rank
    assert report.total.latency_p95_ms == latencies[CALLS * 95 // 100 - 1]
    assert peak < CALLS * BYTES_PER_CALL, f"{peak / CALLS:.0f} bytes per call"
