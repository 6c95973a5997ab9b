"""Reading the store for ``router stats``, ``/stats`` and the dashboard holds the groups of a window,
not its rows (docs/telemetry-bounds.md#reading-the-store): the store keeps up to a million calls, and
any client of the proxy can ask for ``/stats?since=all``.

Memory is measured with tracemalloc (Python's own allocations: a row read from SQLite is one), as
bytes per call of the window, never as a time."""

import time
import tracemalloc
from pathlib import Path
from typing import Callable, Tuple

from telemetry_support import call_event

from host.stats_query import GROUP_LIMIT, OTHER_GROUPS, StatsReport, query_stats
from host.telemetry_store import TelemetryStore

CALLS = 30_000
BYTES_PER_CALL = 120  # the groups' latencies (8 bytes a call in each of two), their one sort; rows were ~600


def _store(home: Path, calls: int, model: Callable[[int], str] = lambda number: f"model-{number % 7}") -> None:
    store = TelemetryStore(home).start()
    first = time.time() - calls  # one a second, all within the store's 90 days
    for number in range(calls):
        store.submit(call_event(time=first + number, latency_ms=float(number % 977),
                                requested_model=model(number), upstream_model=model(number)), 0.001)
        if number % 5_000 == 4_999:
            store.flush(30.0)  # the writer's queue is bounded: a faster producer would see drops
    store.close()


def _read(home: Path) -> Tuple[StatsReport, int]:
    """The report of every stored call by model, and the peak of what reading it took."""
    tracemalloc.start()
    try:
        report = query_stats("all", "model", home=home)
        return report, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_window_is_read_call_by_call_not_held_whole(home: Path) -> None:
    _store(home, CALLS)
    report, peak = _read(home)
    assert report.problem is None
    assert report.total.calls == CALLS and len(report.groups) == 7  # the whole window was read
    assert sum(group.calls for group in report.groups) == CALLS
    latencies = sorted(float(number % 977) for number in range(CALLS))
    assert report.total.latency_p50_ms == latencies[CALLS // 2 - 1]  # nearest rank
    assert report.total.latency_p95_ms == latencies[CALLS * 95 // 100 - 1]
    assert peak < CALLS * BYTES_PER_CALL, f"{peak / CALLS:.0f} bytes per call"


def test_past_the_largest_groups_calls_are_summed_as_one(home: Path) -> None:
    """Model names are the clients' choice: 20,000 made-up ones are not 20,000 groups to hold."""
    made_up = CALLS * 2 // 3

    def model(number: int) -> str:
        return f"made-up-{number}" if number < made_up else f"real-{number % 5}"

    _store(home, CALLS, model)
    report, peak = _read(home)
    assert report.problem is None and report.total.calls == CALLS
    groups = {group.key: group.calls for group in report.groups}
    assert len(groups) == GROUP_LIMIT + 1
    assert all(groups[f"real-{number}"] == (CALLS - made_up) // 5 for number in range(5))  # the largest, exact
    assert groups[OTHER_GROUPS] == made_up - (GROUP_LIMIT - 5)  # the made-up names not kept, summed
    assert sum(groups.values()) == CALLS
    assert peak < CALLS * BYTES_PER_CALL, f"{peak / CALLS:.0f} bytes per call"
