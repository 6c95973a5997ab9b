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
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ..stats_query import percentile, query_stats, window_start
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


def _rows(home: Optional[Path], query: str, params: Tuple[Any, ...]) -> List[sqlite3.Row]:
    try:
        connection = _connect(home)
        if connection is None:
            return []
        try:
            return connection.execute(query, params).fetchall()
        finally:
            connection.close()
    except sqlite3.Error:  # created but never written to, or busy: nothing to show this time
        return []


# Summary --------------------------------------------------------------------------------------
def summary(window: str = "1h", home: Optional[Path] = None, now: Optional[float] = None) -> Dict[str, Any]:
    """See the module docstring. Raises KeyError for a window the dashboard does not offer."""
    bucket = DASHBOARD_WINDOWS[window]
    now = time.time() if now is None else now
    since = window_start(window, now)
    assert since is not None
    reports = {by: query_stats(window, by, home=home, now=now) for by in BREAKDOWNS}
    rows = _rows(home, f"SELECT {_ROW_COLUMNS} FROM events WHERE time >= ? ORDER BY time", (since,))
    first_bucket = math.floor(since / bucket) * bucket
    count = int(math.floor(now / bucket) * bucket - first_bucket) // int(bucket) + 1
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
                   **{by: _series(rows, by, first_bucket, bucket, count) for by in BREAKDOWNS}},
        "latency": _latency_by_backend(rows),
        "processes": _process_tree(rows),
    }


def _key(row: sqlite3.Row, by: str) -> str:
    """The same group names as ``router stats`` (``host.stats_query``)."""
    if by == "model":
        return str(row["upstream_model"] or row["requested_model"] or "?")
    if by == "backend":
        return str(row["backend"] or "(no route)")
    return str(row["program"] or "(proxy client)")


def _is_error(row: sqlite3.Row) -> bool:
    return bool(row["error"]) or not row["status"] or row["status"] >= 400


def _series(rows: Iterable[sqlite3.Row], by: str, start: float, bucket: float, count: int) -> List[Dict[str, Any]]:
    """Per group (the largest few, then "other"): calls, errors, tokens and cost per bucket."""
    rows = list(rows)
    totals: Dict[str, int] = defaultdict(int)
    for row in rows:
        totals[_key(row, by)] += 1
    kept = sorted(totals, key=lambda key: (-totals[key], key))[:_SERIES_GROUPS]
    names = kept + (["other"] if len(totals) > len(kept) else [])
    series: Dict[str, Dict[str, Any]] = {
        name: {"key": name, "calls": [0] * count, "errors": [0] * count, "tokens": [0] * count, "cost": [0.0] * count}
        for name in names}
    for row in rows:
        key = _key(row, by)
        entry = series[key if key in kept else "other"]
        index = min(count - 1, max(0, int((row["time"] - start) // bucket)))
        entry["calls"][index] += 1
        entry["errors"][index] += _is_error(row)
        entry["tokens"][index] += (row["input_tokens"] or 0) + (row["output_tokens"] or 0)
        entry["cost"][index] = round(entry["cost"][index] + (row["cost_usd"] or 0.0), 10)
    return list(series.values())


@dataclass
class _Timings:
    latencies: List[float] = field(default_factory=list)
    first_tokens: List[float] = field(default_factory=list)  # streamed calls only: the first byte is the first token
    errors: int = 0


def _latency_by_backend(rows: Iterable[sqlite3.Row]) -> List[Dict[str, Any]]:
    timings: Dict[str, _Timings] = defaultdict(_Timings)
    for row in rows:
        entry = timings[_key(row, "backend")]
        entry.latencies.append(row["latency_ms"] or 0.0)
        entry.errors += _is_error(row)
        if row["stream"] and row["ttfb_ms"] is not None:
            entry.first_tokens.append(row["ttfb_ms"])
    return [
        {"backend": name, "calls": len(entry.latencies), "errors": entry.errors,
         "p50_ms": percentile(entry.latencies, 0.5), "p95_ms": percentile(entry.latencies, 0.95),
         "p99_ms": percentile(entry.latencies, 0.99), "streams": len(entry.first_tokens),
         "ttft_p50_ms": percentile(entry.first_tokens, 0.5), "ttft_p95_ms": percentile(entry.first_tokens, 0.95)}
        for name, entry in sorted(timings.items(), key=lambda item: (-len(item[1].latencies), item[0]))
    ]


def _process_tree(rows: Iterable[sqlite3.Row]) -> List[Dict[str, Any]]:
    """Shimmed processes as a forest: a process whose parent also made calls is shown under it (a
    ``router shim`` run: the script, the workers it started). Proxy clients have no process of their
    own in the events and are left out."""
    nodes: Dict[int, Dict[str, Any]] = {}
    for row in rows:
        if row["source"] != "shim" and not row["program"]:
            continue
        node = nodes.setdefault(row["pid"], {"pid": row["pid"], "ppid": row["ppid"], "program": row["program"] or "",
                                             "first": row["time"], "last": row["time"], "calls": 0, "errors": 0,
                                             "children": []})
        node["calls"] += 1
        node["errors"] += _is_error(row)
        node["last"] = row["time"]
    roots: List[Dict[str, Any]] = []
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
        rows = list(reversed(_rows(home, query, (limit,))))
    else:
        query = f"SELECT {_TAIL_COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?"
        rows = _rows(home, query, (after, limit))
    calls = [{**dict(row), "failed": _is_error(row)} for row in rows]
    last = calls[-1]["id"] if calls else (after or 0)
    return {"calls": calls, "last": last}
