"""What the dashboard shows, as JSON-ready dicts, read from the telemetry store.

* :func:`summary` — one window (``1h``/``1d``/``7d``): the totals and the groups by model, backend
  and program (the very reports ``router stats --json`` prints, so the numbers agree by
  construction), the same three breakdowns over time in buckets, latency and time-to-first-token
  percentiles per backend, and the process tree (who started whom, from each event's pid/ppid).
* :func:`calls_after` — the live tail: the calls stored after a given row id, never bodies or keys
  (the store holds none).

Read-only connections (``mode=ro``): the dashboard never creates or writes the store.
"""

import math
import sqlite3
import time
from array import array
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from ..stats_query import OTHER_GROUPS, GroupStats, group_key, is_error, nearest_rank, query_stats, window_start
from ..telemetry_store import db_path

__all__ = ["BREAKDOWNS", "DASHBOARD_WINDOWS", "TAIL_LIMIT", "calls_after", "summary"]

DASHBOARD_WINDOWS: Dict[str, float] = {"1h": 60.0, "1d": 1800.0, "7d": 6 * 3600.0}  # window → bucket seconds
BREAKDOWNS = ("model", "backend", "program")
TAIL_LIMIT = 100
_SERIES_GROUPS = 6  # the largest groups get a series each; the rest are summed as "other"
_ROW_COLUMNS = (
    "id, time, source, pid, ppid, program, backend, upstream_model, requested_model, status, error, latency_ms, "
    "ttfb_ms, stream, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd"
)
_TAIL_COLUMNS = (
    "id, time, source, pid, ppid, program, client_protocol, endpoint, backend, upstream_model, requested_model, "
    "stream, translated, status, error, latency_ms, ttfb_ms, input_tokens, output_tokens, cost_usd"
)


def _connect(home: Optional[Path]) -> Optional[sqlite3.Connection]:
    path = db_path(home)
    if not path.exists():
        return None
    connection = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    return connection


def _rows(home: Optional[Path], query: str, params: Tuple[Any, ...]) -> Iterator[sqlite3.Row]:
    """The query's rows, one at a time as SQLite reads them (none when the store cannot be read; the
    rest of them when it fails part way: the page shows what was read)."""
    try:
        connection = _connect(home)
        if connection is None:
            return
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
    reports = {by: query_stats(window, by, home=home, now=now) for by in BREAKDOWNS}
    first_bucket = math.floor(since / bucket) * bucket
    count = int(math.floor(now / bucket) * bucket - first_bucket) // int(bucket) + 1
    series = {by: _SeriesTable(by, reports[by].groups, first_bucket, bucket, count) for by in BREAKDOWNS}
    timings, tree = _BackendTimings(), _ProcessTree()
    rows = _rows(home, f"SELECT {_ROW_COLUMNS} FROM events WHERE time >= ? ORDER BY time", (since,))
    for row in rows:  # one pass, as SQLite reads them (docs/telemetry-bounds.md#reading-the-store)
        for table in series.values():
            table.add(row)
        timings.add(row)
        tree.add(row)
    report = reports["model"]
    return {
        "window": window,
        "since": since,
        "now": now,
        "store": report.store,
        "problem": report.problem,
        "dropped": report.as_dict()["dropped"],
        "total": report.total.as_dict(),
        "groups": {by: [group.as_dict() for group in reports[by].groups] for by in BREAKDOWNS},
        "series": {"start": first_bucket, "bucket_seconds": bucket, "count": count,
                   **{by: table.as_list() for by, table in series.items()}},
        "latency": timings.as_list(),
        "processes": tree.roots(),
    }


def _is_error(row: sqlite3.Row) -> bool:
    """``router stats``' rule (the live tail shows it as true or false)."""
    return bool(is_error(row["status"], row["error"]))


class _SeriesTable:
    """One breakdown over time: calls, errors, tokens and cost per bucket for each of its largest
    groups (by calls, as ``router stats`` ranks them), the rest summed as "other"."""

    def __init__(self, by: str, groups: Sequence[GroupStats], start: float, bucket: float, count: int) -> None:
        self._by, self._start, self._bucket, self._count = by, start, bucket, count
        # Not a backend only left by fallbacks (no calls), nor the report's own sum of its smallest groups.
        ranked = [group.key for group in groups if group.calls and group.key != OTHER_GROUPS]
        self._kept = set(ranked[:_SERIES_GROUPS])
        folded = any(group.key == OTHER_GROUPS and group.calls for group in groups)
        names = ranked[:_SERIES_GROUPS] + (["other"] if len(ranked) > _SERIES_GROUPS or folded else [])
        self._series: Dict[str, Dict[str, Any]] = {name: self._empty(name) for name in names}

    def _empty(self, name: str) -> Dict[str, Any]:
        count = self._count
        return {"key": name, "calls": [0] * count, "errors": [0] * count, "tokens": [0] * count, "cost": [0.0] * count}

    def add(self, row: sqlite3.Row) -> None:
        key = group_key(row, self._by)
        name = key if key in self._kept else "other"  # also a group first seen after the totals were read
        entry = self._series.get(name)
        if entry is None:
            entry = self._series[name] = self._empty(name)
        index = min(self._count - 1, max(0, int((row["time"] - self._start) // self._bucket)))
        entry["calls"][index] += 1
        entry["errors"][index] += _is_error(row)
        entry["tokens"][index] += (row["input_tokens"] or 0) + (row["output_tokens"] or 0)
        entry["cost"][index] = round(entry["cost"][index] + (row["cost_usd"] or 0.0), 10)

    def as_list(self) -> List[Dict[str, Any]]:
        return list(self._series.values())


@dataclass
class _Timings:
    latencies: "array[float]" = field(default_factory=lambda: array("d"))  # 8 bytes a call
    first_tokens: "array[float]" = field(default_factory=lambda: array("d"))  # streamed calls: first byte = first token
    errors: int = 0


class _BackendTimings:
    """Latency and time-to-first-token percentiles per backend."""

    def __init__(self) -> None:
        self._timings: Dict[str, _Timings] = defaultdict(_Timings)

    def add(self, row: sqlite3.Row) -> None:
        entry = self._timings[group_key(row, "backend")]
        entry.latencies.append(row["latency_ms"] or 0.0)
        entry.errors += _is_error(row)
        if row["stream"] and row["ttfb_ms"] is not None:
            entry.first_tokens.append(row["ttfb_ms"])

    def as_list(self) -> List[Dict[str, Any]]:
        return [_percentiles(name, entry)
                for name, entry in sorted(self._timings.items(), key=lambda item: (-len(item[1].latencies), item[0]))]


def _percentiles(backend: str, entry: _Timings) -> Dict[str, Any]:
    latencies, first_tokens = sorted(entry.latencies), sorted(entry.first_tokens)  # each sorted once
    return {"backend": backend, "calls": len(latencies), "errors": entry.errors,
            "p50_ms": nearest_rank(latencies, 0.5), "p95_ms": nearest_rank(latencies, 0.95),
            "p99_ms": nearest_rank(latencies, 0.99), "streams": len(first_tokens),
            "ttft_p50_ms": nearest_rank(first_tokens, 0.5), "ttft_p95_ms": nearest_rank(first_tokens, 0.95)}


class _ProcessTree:
    """Shimmed processes as a forest: a process whose parent also made calls is shown under it (a
    ``router shim`` run: the script, the workers it started). Proxy clients have no process of their
    own in the events and are left out."""

    def __init__(self) -> None:
        self._nodes: Dict[int, Dict[str, Any]] = {}

    def add(self, row: sqlite3.Row) -> None:
        if row["source"] != "shim" and not row["program"]:
            return
        node = self._nodes.setdefault(row["pid"], {
            "pid": row["pid"], "ppid": row["ppid"], "program": row["program"] or "", "first": row["time"],
            "last": row["time"], "calls": 0, "errors": 0, "children": []})
        node["calls"] += 1
        node["errors"] += _is_error(row)
        node["last"] = row["time"]

    def roots(self) -> List[Dict[str, Any]]:
        nodes, roots = self._nodes, []
        for node in sorted(nodes.values(), key=lambda item: item["first"]):
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
    calls = [{**dict(row), "failed": _is_error(row)} for row in rows]
    last = calls[-1]["id"] if calls else (after or 0)
    return {"calls": calls, "last": last}
