"""Reading the store for ``router stats``, ``/stats`` and the dashboard: SQLite aggregates the window,
and the reading process holds a few objects per group, not per call (docs/telemetry-bounds.md#reading-the-store):
the store keeps up to a million calls, and any client of the proxy can ask for ``/stats?since=all``.

Memory is measured with tracemalloc (Python's own allocations: a row read from SQLite is one),
never as a time. SQLite's answers are checked against the same figures computed in Python."""

import random
import sqlite3
import time
import tracemalloc
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import pytest
from telemetry_support import call_event

from host import stats_query
from host.dashboard.data import summary
from host.stats_query import GROUP_LIMIT, OTHER_GROUPS, StatsReport, is_error, nearest_rank, percentile, query_stats
from host.telemetry_store import TelemetryStore

CALLS = 30_000
# A read's peak, whatever the calls: its groups (at most GROUP_LIMIT + 1) and the rows of SQLite's
# answers. Python aggregating the rows took 53 bytes a call (1.6 MB here), holding them 645.
READ_PEAK_BYTES = 160_000


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


def test_a_read_holds_groups_not_calls(home: Path) -> None:
    _store(home, CALLS)
    report, peak = _read(home)
    assert report.problem is None
    assert report.total.calls == CALLS and len(report.groups) == 7  # the whole window was read
    assert sum(group.calls for group in report.groups) == CALLS
    latencies = sorted(float(number % 977) for number in range(CALLS))
    assert report.total.latency_p50_ms == latencies[CALLS // 2 - 1]  # nearest rank
    assert report.total.latency_p95_ms == latencies[CALLS * 95 // 100 - 1]
    assert peak < READ_PEAK_BYTES, f"{peak} bytes at the peak"


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
    assert peak < READ_PEAK_BYTES, f"{peak} bytes at the peak"


def test_each_group_s_percentiles_are_its_nearest_ranks(home: Path) -> None:
    """SQLite ranks each group's latencies; sizes around the ranks' steps (p95 of 20 is the 19th)."""
    sizes = [1, 2, 3, 19, 20, 21, 39, 40, 41, 100, 101]
    shuffle = random.Random(7)
    latencies: Dict[str, List[float]] = {f"size-{size}": [float(shuffle.randrange(10_000)) for _ in range(size)]
                                         for size in sizes}
    store = TelemetryStore(home).start()
    for model, values in latencies.items():
        for value in values:
            store.submit(call_event(requested_model=model, upstream_model=model, latency_ms=value), 0.0)
    store.submit(call_event(requested_model="size-1", upstream_model="size-1", latency_ms=None), 0.0)
    latencies["size-1"].append(0.0)  # no latency counts as 0, as the totals always did
    store.close()
    report = query_stats("1d", "model", home=home)
    shown = {group.key: (group.latency_p50_ms, group.latency_p95_ms) for group in report.groups}
    assert shown == {model: (percentile(values, 0.5), percentile(values, 0.95)) for model, values in latencies.items()}
    everything = [value for values in latencies.values() for value in values]
    assert (report.total.latency_p50_ms, report.total.latency_p95_ms) == (percentile(everything, 0.5),
                                                                          percentile(everything, 0.95))


def test_a_nearest_rank_is_the_ceiling_of_its_fraction() -> None:
    for fraction in (0.5, 0.95, 0.99):
        for count in range(1, 20_000):
            assert nearest_rank(range(1, count + 1), fraction) == max(1, -(-count * round(fraction * 100) // 100))


@pytest.mark.parametrize(("status", "error"), [(200, None), (200, ""), (200, "Timeout"), (None, None), (0, None),
                                               (399, None), (400, None), (529, None), (None, "ConnectFailed")])
def test_sqlite_counts_errors_by_the_python_rule(home: Path, status: Optional[int], error: Optional[str]) -> None:
    store = TelemetryStore(home).start()
    store.submit(call_event(status=status, error=error), 0.0)
    store.close()
    assert query_stats("1d", home=home).total.errors == is_error(status, error)


ODD_ATTEMPTS = [
    [{"backend": "a"}, {"backend": "b"}, {"backend": "c"}],  # a → b, b → c
    [{"backend": "a"}, {"backend": "a"}, {"backend": "b"}],  # a retried, then a → b
    [{"backend": "a"}, {"status": 500}, {"backend": "b"}],  # the middle one names none: no move
    [{"backend": "b"}, 7, {"backend": "a"}],
    {"backend": "a"},  # not a list
]


@pytest.mark.parametrize("json_functions", [True, False], ids=["in SQLite", "in Python"])
def test_moves_between_backends_are_counted_against_the_one_left(
        home: Path, monkeypatch: pytest.MonkeyPatch, json_functions: bool) -> None:
    """SQLite takes the attempts apart; on a build without JSON functions Python does, with the same
    answer. The store holds what a router wrote, and also what it did not (a file can be edited)."""
    monkeypatch.setattr(stats_query, "has_json_functions", lambda connection: json_functions)
    store = TelemetryStore(home).start()
    for attempts in ODD_ATTEMPTS:
        store.submit(call_event(backend="b", fallbacks=1, attempts=attempts), 0.0)
    store.close()
    connection = sqlite3.connect(stats_query.db_path(home))
    with connection:
        connection.execute("UPDATE events SET attempts = 'not json' WHERE rowid = (SELECT max(rowid) FROM events)")
    connection.close()
    report = query_stats("1d", "backend", home=home)
    assert report.problem is None
    assert {group.key: group.left_for_another for group in report.groups} == {"a": 2, "b": 1}
    assert report.total.left_for_another == 3


def test_a_store_that_is_not_a_database_is_reported_not_raised(home: Path) -> None:
    home.mkdir(parents=True)
    stats_query.db_path(home).write_bytes(b"not an SQLite file " * 512)
    report = query_stats("all", home=home)
    assert report.problem is not None and "not a database" in report.problem
    assert (report.total.calls, report.groups) == (0, [])
    shown = summary("1h", home=home)
    assert shown["problem"] == report.problem and shown["total"]["calls"] == 0 and shown["processes"] == []
