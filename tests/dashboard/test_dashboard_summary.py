"""The dashboard's summary (``host/dashboard/data.py``), aggregated by SQLite, holding what it shows,
not the window's calls (docs/telemetry-bounds.md#reading-the-store): its series rank groups as
``router stats`` does (the six largest, then "other"), its percentiles are nearest ranks, its
process tree is each process's first call's parent, and its memory is measured with tracemalloc,
never as a time."""

import math
import time
import tracemalloc
from pathlib import Path
from typing import Any, Dict, List, Tuple

from host.dashboard.data import summary
from host.telemetry_store import TelemetryStore
from shim.telemetry import CallEvent

NOW = time.time()
MODELS = 9  # more than the six series the dashboard draws: the rest are "other"
# What a summary holds, whatever its calls: three reports' groups, the series, SQLite's answers.
# Aggregating the rows in Python took 98 bytes a call (2.9 MB here), holding them 712.
SUMMARY_PEAK_BYTES = 250_000


def _event(number: int) -> CallEvent:
    model = f"model-{number % MODELS}" if number % 3 else "model-0"  # model-0 the largest group
    streamed = number % 2 == 1
    return CallEvent(time=NOW - 3000 + number % 2900, source="shim", pid=200 + number % 3, ppid=1, program="agent.py",
                     client_protocol="openai", endpoint="chat", backend=("alpha", "beta")[number % 2],
                     upstream_host="127.0.0.1:9", requested_model=model, upstream_model=model, stream=streamed,
                     translated=False, status=500 if number % 10 == 0 else 200, latency_ms=float(number % 503),
                     ttfb_ms=float(number % 101) if streamed else None, input_tokens=10, output_tokens=1)


def _store(home: Path, count: int) -> List[CallEvent]:
    events = [_event(number) for number in range(count)]
    store = TelemetryStore(home).start()
    for number, event in enumerate(events):
        store.submit(event, 0.0)
        if number % 5_000 == 4_999:
            store.flush(30.0)  # the writer's queue is bounded: a faster producer would see drops
    store.close()
    return events


def _nearest_rank(values: List[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def test_the_summary_ranks_counts_and_times_every_call(home: Path) -> None:
    events = _store(home, 3_000)
    shown = summary("1h", home=home, now=NOW)
    series = shown["series"]["model"]
    assert [line["key"] for line in series] == [group["key"] for group in shown["groups"]["model"][:6]] + ["other"]
    assert series[0]["key"] == "model-0"
    calls = {line["key"]: sum(line["calls"]) for line in series}
    assert calls["other"] == sum(group["calls"] for group in shown["groups"]["model"][6:])
    assert sum(calls.values()) == len(events)
    assert sum(sum(line["errors"]) for line in series) == sum(event.status >= 400 for event in events)
    by_backend = {entry["backend"]: entry for entry in shown["latency"]}
    for backend in ("alpha", "beta"):
        mine = [event for event in events if event.backend == backend]
        latencies = [event.latency_ms for event in mine]
        assert by_backend[backend]["calls"] == len(mine)
        assert by_backend[backend]["p50_ms"] == _nearest_rank(latencies, 0.5)
        assert by_backend[backend]["p99_ms"] == _nearest_rank(latencies, 0.99)
    first_tokens = [event.ttfb_ms for event in events if event.ttfb_ms is not None]
    assert by_backend["beta"]["ttft_p95_ms"] == _nearest_rank(first_tokens, 0.95)  # odd numbers: beta streams
    assert sorted(node["pid"] for node in shown["processes"]) == [200, 201, 202]
    assert sum(node["calls"] for node in shown["processes"]) == len(events)


def test_a_summary_holds_what_it_shows_not_the_rows(home: Path) -> None:
    calls = 30_000
    _store(home, calls)
    tracemalloc.start()
    try:
        shown = summary("1h", home=home, now=NOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert shown["total"]["calls"] == calls
    assert peak < SUMMARY_PEAK_BYTES, f"{peak} bytes at the peak"


def test_the_process_tree_nests_children_under_their_parents(home: Path) -> None:
    """A process's parent and program are those of its first call; a reused pid makes no cycle; proxy
    clients (no program) are not processes of the tree."""
    def call(at: float, pid: int, ppid: int, program: str = "agent.py", source: str = "shim",
             status: int = 200) -> CallEvent:
        return CallEvent(time=NOW - at, source=source, pid=pid, ppid=ppid, program=program, client_protocol="openai",
                         endpoint="chat", backend="alpha", upstream_host="127.0.0.1:9", requested_model="m",
                         upstream_model="m", stream=False, translated=False, status=status, latency_ms=1.0)

    store = TelemetryStore(home).start()
    for event in [call(50, 10, 1), call(40, 11, 10, "worker.py"), call(30, 11, 99, "reused.py", status=500),
                  call(20, 12, 11, "worker.py"), call(10, 10, 1),
                  call(45, 20, 21), call(44, 21, 20),  # each the other's parent: two roots, no cycle
                  call(5, 4242, 1, program="", source="proxy")]:
        store.submit(event, 0.0)
    store.close()
    tree = summary("1h", home=home, now=NOW)["processes"]

    def shape(node: Dict[str, Any]) -> Tuple[Any, ...]:
        return (node["pid"], node["program"], node["calls"], node["errors"], node["first"], node["last"],
                [shape(child) for child in node["children"]])

    assert [shape(root) for root in tree] == [
        (10, "agent.py", 2, 0, NOW - 50, NOW - 10, [
            (11, "worker.py", 2, 1, NOW - 40, NOW - 30, [(12, "worker.py", 1, 0, NOW - 20, NOW - 20, [])])]),
        (20, "agent.py", 1, 0, NOW - 45, NOW - 45, []),
        (21, "agent.py", 1, 0, NOW - 44, NOW - 44, [])]
