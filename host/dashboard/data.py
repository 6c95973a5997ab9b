"""What the dashboard shows, as JSON-ready dicts, read from the telemetry store.

* :func:`summary` — one window (``1h``/``1d``/``7d``): the totals and the groups by model, backend
  and program (the very reports ``router stats --json`` prints, so the numbers agree by
  construction), the same three breakdowns over time in buckets, latency and time-to-first-token
  percentiles per backend, and the process tree (who started whom, from each event's pid/ppid).
* :func:`calls_after` — the live tail: the calls stored after a given row id, never bodies or keys
  (the store holds none).

Read-only connections (``mode=ro``): the dashboard never creates or writes the store. The summary
is SQLite's aggregates over one connection (``host/stats_query.StoreWindow``): what it holds is what
it shows, whatever the number of calls (docs/telemetry-bounds.md#reading-the-store).
"""

import math
import sqlite3
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from ..stats_query import (
    ERROR_SQL,
    KEY_SQL,
    OTHER_GROUPS,
    GroupStats,
    StoreWindow,
    fold,
    is_error,
    open_window,
    reports,
    window_start,
)
from ..telemetry_store import connect_read_only, db_path

__all__ = ["BREAKDOWNS", "DASHBOARD_WINDOWS", "TAIL_LIMIT", "calls_after", "summary"]

DASHBOARD_WINDOWS: Dict[str, float] = {"1h": 60.0, "1d": 1800.0, "7d": 6 * 3600.0}  # window → bucket seconds
BREAKDOWNS = ("model", "backend", "program")
TAIL_LIMIT = 100
_SERIES_GROUPS = 6  # the largest groups get a series each; the rest are summed as "other"
_SERIES_OTHER = "other"
_TAIL_COLUMNS = (
    "id, time, source, pid, ppid, program, client_protocol, endpoint, backend, upstream_model, requested_model, "
    "stream, translated, status, error, latency_ms, ttfb_ms, input_tokens, output_tokens, cost_usd"
)


def _rows(home: Optional[Path], query: str, params: Tuple[Any, ...]) -> Iterator[sqlite3.Row]:
    """The query's rows, one at a time as SQLite reads them (none when the store cannot be read; the
    rest of them when it fails part way)."""
    try:
        path = db_path(home)
        if not path.exists():
            return
        connection = connect_read_only(path)
        connection.row_factory = sqlite3.Row
        try:
            yield from connection.execute(query, params)
        finally:
            connection.close()
    except sqlite3.Error:  # created but never written to, or busy: nothing (more) to show this time
        return


# Summary --------------------------------------------------------------------------------------
def summary(window: str = "1h", home: Optional[Path] = None, now: Optional[float] = None) -> Dict[str, Any]:
    """See the module docstring. Raises KeyError for a window the dashboard does not offer."""
    bucket = DASHBOARD_WINDOWS[window]
    now = time.time() if now is None else now
    since = window_start(window, now)
    assert since is not None
    first_bucket = math.floor(since / bucket) * bucket
    count = int(math.floor(now / bucket) * bucket - first_bucket) // int(bucket) + 1
    slots = _Slots(first_bucket, bucket, count)
    with open_window(home, since) as (store, problem):  # SQLite aggregates (docs/telemetry-bounds.md#reading-the-store)
        shown = reports(store, problem, window, since, BREAKDOWNS, home)
        problem = shown["model"].problem
        series: Dict[str, List[Dict[str, Any]]] = {by: [] for by in BREAKDOWNS}
        latency: List[Dict[str, Any]] = []
        processes: List[Dict[str, Any]] = []
        if store is not None and problem is None:
            try:
                series = {by: _series(store, by, shown[by].groups, slots) for by in BREAKDOWNS}
                latency, processes = _backend_timings(store), _process_tree(store)
            except sqlite3.Error:  # the file went bad since the reports were read: they say so next time
                pass
    by_model = shown["model"]
    return {
        "window": window,
        "since": since,
        "now": now,
        "store": by_model.store,
        "problem": problem,
        "dropped": by_model.as_dict()["dropped"],
        "total": by_model.total.as_dict(),
        "groups": {by: [group.as_dict() for group in shown[by].groups] for by in BREAKDOWNS},
        "series": {"start": first_bucket, "bucket_seconds": bucket, "count": count, **series},
        "latency": latency,
        "processes": processes,
    }


class _Slots:
    """The window's buckets: their first second, their length, how many."""

    def __init__(self, start: float, seconds: float, count: int) -> None:
        self.start, self.seconds, self.count = start, seconds, count

    def sql(self) -> str:
        """The bucket of an event as SQL (an event stored after ``now`` counts in the last one)."""
        return f"min({self.count - 1}, max(0, CAST((time - {self.start!r}) / {self.seconds!r} AS INTEGER)))"


def _series(store: StoreWindow, by: str, groups: Sequence[GroupStats], slots: _Slots) -> List[Dict[str, Any]]:
    """One breakdown over time: calls, errors, tokens and cost per bucket for each of its largest
    groups (by calls, as ``router stats`` ranks them), the rest summed as "other"."""
    # Not a backend only left by fallbacks (no calls), nor the report's own sum of its smallest groups.
    ranked = [group.key for group in groups if group.calls and group.key != OTHER_GROUPS]
    folded = any(group.key == OTHER_GROUPS and group.calls for group in groups)
    names = ranked[:_SERIES_GROUPS] + ([_SERIES_OTHER] if len(ranked) > _SERIES_GROUPS or folded else [])
    lines = {name: _empty_line(name, slots.count) for name in names}
    key_sql, key_params = fold(KEY_SQL[by], ranked[:_SERIES_GROUPS], _SERIES_OTHER)
    tokens = "coalesce(sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0)), 0) AS tokens"
    for row in store.sums((key_sql, slots.sql()), key_params, extra=(tokens,)):
        # "other" may also be a group first seen after the totals were read
        line = lines.setdefault(row["key0"], _empty_line(row["key0"], slots.count))
        index = row["key1"]
        line["calls"][index], line["errors"][index] = row["calls"], row["errors"]
        line["tokens"][index], line["cost"][index] = row["tokens"], round(row["cost_usd"], 10)
    return list(lines.values())


def _empty_line(name: str, count: int) -> Dict[str, Any]:
    return {"key": name, "calls": [0] * count, "errors": [0] * count, "tokens": [0] * count, "cost": [0.0] * count}


def _backend_timings(store: StoreWindow) -> List[Dict[str, Any]]:
    """Latency and time-to-first-token percentiles per backend (a streamed call's first byte is its
    first token), the backends with the most calls first."""
    key = KEY_SQL["backend"]
    streams = "stream AND ttfb_ms IS NOT NULL"
    sums = store.sums((key,), extra=(f"sum({streams}) AS streams",))
    latencies = store.percentiles(key, (), (0.5, 0.95, 0.99))
    first_tokens = store.percentiles(key, (), (0.5, 0.95), value_sql="ttfb_ms", only=streams)
    timings = []
    for row in sorted(sums, key=lambda row: (-row["calls"], row["key0"])):
        p50, p95, p99 = latencies[row["key0"]]
        ttft_p50, ttft_p95 = first_tokens.get(row["key0"], (None, None))
        timings.append({"backend": row["key0"], "calls": row["calls"], "errors": row["errors"],
                        "p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "streams": row["streams"],
                        "ttft_p50_ms": ttft_p50, "ttft_p95_ms": ttft_p95})
    return timings


def _process_tree(store: StoreWindow) -> List[Dict[str, Any]]:
    """Shimmed processes as a forest: a process whose parent also made calls is shown under it (a
    ``router shim`` run: the script, the workers it started). Proxy clients have no process of their
    own in the events and are left out. A process's parent and program are those of its first call."""
    first = ("SELECT pid, ppid, coalesce(program, '') AS program, time AS first,"
             f" max(time) OVER every AS last, count(*) OVER every AS calls, sum({ERROR_SQL}) OVER every AS errors,"
             " row_number() OVER (PARTITION BY pid ORDER BY time) AS nth")
    where = store.where("source = 'shim' OR coalesce(program, '') != ''")
    rows = store.rows(f"SELECT pid, ppid, program, first, last, calls, errors FROM ({first} FROM events {where}"
                      " WINDOW every AS (PARTITION BY pid)) WHERE nth = 1 ORDER BY first")
    nodes = {row["pid"]: {**dict(row), "children": []} for row in rows}
    roots = []
    for node in nodes.values():  # oldest first
        parent = nodes.get(node["ppid"])
        if parent is None or _descends_from(parent, node["pid"], nodes):  # a reused pid must not make a cycle
            roots.append(node)
        else:
            parent["children"].append(node)
    return roots


def _descends_from(node: Dict[str, Any], pid: int, nodes: Dict[int, Dict[str, Any]]) -> bool:
    """True when ``pid`` is ``node`` or one of its ancestors (following ppid within ``nodes``)."""
    seen = set()
    current: Optional[Dict[str, Any]] = node
    while current is not None and current["pid"] not in seen:
        if current["pid"] == pid:
            return True
        seen.add(current["pid"])
        current = nodes.get(current["ppid"])
    return False


# Live tail ------------------------------------------------------------------------------------
def calls_after(after: Optional[int], home: Optional[Path] = None, limit: int = TAIL_LIMIT) -> Dict[str, Any]:
    """Calls stored after row ``after`` (oldest first); None: the latest ``limit``. ``last`` is the
    id to ask after next time."""
    if after is None:
        query = f"SELECT {_TAIL_COLUMNS} FROM events ORDER BY id DESC LIMIT ?"
        rows = list(reversed(list(_rows(home, query, (limit,)))))
    else:
        query = f"SELECT {_TAIL_COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?"
        rows = list(_rows(home, query, (after, limit)))
    calls = [{**dict(row), "failed": bool(is_error(row["status"], row["error"]))} for row in rows]
    last = calls[-1]["id"] if calls else (after or 0)
    return {"calls": calls, "last": last}
