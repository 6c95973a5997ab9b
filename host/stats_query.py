"""Aggregations over the telemetry store: what ``router stats``, ``--json`` and the proxy's ``/stats`` show.

A window (``1h``, ``1d``, ``7d``, ``all``) selects events by start time through the time index; rows
are grouped in Python (percentiles need every latency of a group anyway, and the store is local),
one at a time as SQLite reads them: what a query holds is its groups and their latencies (8 bytes a
call), not the window's rows, which the store keeps up to a million of (docs/telemetry-bounds.md#reading-the-store).
Cost is the sum of the known costs; ``cost_unknown_calls`` says how many calls had no price, so a
total is never silently short.
"""

import contextlib
import itertools
import json
import math
import sqlite3
import time
from array import array
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterable, Iterator, List, Optional, Sequence, Tuple

from .telemetry_store import SENDER_DROP_REASON, DropRecord, db_path, read_drops

__all__ = [
    "GROUPINGS",
    "GROUP_LIMIT",
    "OTHER_GROUPS",
    "SENDER_DROP_REASON",
    "WINDOWS",
    "GroupStats",
    "StatsReport",
    "all_drops",
    "group_key",
    "is_error",
    "nearest_rank",
    "percentile",
    "query_stats",
    "window_start",
]

WINDOWS: Dict[str, Optional[float]] = {"1h": 3600.0, "1d": 86400.0, "7d": 7 * 86400.0, "all": None}
GROUPINGS = ("model", "backend", "endpoint", "program", "day")
NO_BACKEND = "(no route)"
# Most groups a report has; the calls of the rest are one more group, OTHER_GROUPS. Model and program
# names are the clients' choice: a flood of made-up names is a group per name, and a read held them
# all (docs/telemetry-bounds.md#reading-the-store). Days are not capped: one per day the store keeps.
GROUP_LIMIT = 100
OTHER_GROUPS = "(other)"
# The SQL of each capped grouping's key, the same as group_key's (SQLite counts the groups, in C).
_KEY_SQL = {
    "model": "coalesce(nullif(upstream_model, ''), nullif(requested_model, ''), '?')",
    "backend": f"coalesce(nullif(backend, ''), '{NO_BACKEND}')",
    "endpoint": "coalesce(nullif(endpoint, ''), '?')",
    "program": "coalesce(nullif(program, ''), '(proxy client)')",
}
_COLUMNS = (
    "time, backend, upstream_model, requested_model, endpoint, program, status, error, latency_ms, "
    "input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd"
)
# Event schema 2's columns; a database no router of that version has opened yet lacks them.
_FALLBACK_COLUMNS = ", fallbacks, attempts"
_NO_FALLBACK_COLUMNS = ", 0 AS fallbacks, NULL AS attempts"


@dataclass
class GroupStats:
    """Totals of one group (or of the whole window)."""

    key: str
    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float = 0.0  # the sum of the known costs
    cost_unknown_calls: int = 0  # calls whose cost is unknown (unknown model or no token counts)
    fallbacks: int = 0  # calls of this group answered after moving off another target
    left_for_another: int = 0  # --by backend: times a call moved from this backend to another one
    latency_p50_ms: Optional[float] = None
    latency_p95_ms: Optional[float] = None
    _latencies: "array[float]" = field(default_factory=lambda: array("d"), repr=False)  # 8 bytes a call

    def add(self, row: sqlite3.Row) -> None:
        self.calls += 1
        self.errors += is_error(row["status"], row["error"])
        self.fallbacks += bool(row["fallbacks"])
        for name in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens"):
            setattr(self, name, getattr(self, name) + (row[name] or 0))
        if row["cost_usd"] is None:
            self.cost_unknown_calls += 1
        else:
            self.cost_usd += row["cost_usd"]
        self._latencies.append(row["latency_ms"] or 0.0)

    def finish(self) -> "GroupStats":
        ordered = sorted(self._latencies)  # once for both
        self.latency_p50_ms = nearest_rank(ordered, 0.5)
        self.latency_p95_ms = nearest_rank(ordered, 0.95)
        self.cost_usd = round(self.cost_usd, 10)  # float sums: no 0.30000000000000004 in the JSON
        return self

    def as_dict(self) -> Dict[str, Any]:
        latencies, self._latencies = self._latencies, array("d")  # not copied by asdict: not shown
        try:
            data = asdict(self)
        finally:
            self._latencies = latencies
        data.pop("_latencies")
        data["cost_known"] = self.cost_unknown_calls == 0
        return data


@dataclass
class StatsReport:
    """Everything ``router stats`` shows for one window and grouping."""

    window: str
    since: Optional[float]  # unix seconds; None: all time
    by: str
    total: GroupStats
    groups: List[GroupStats]
    dropped: DropRecord
    store: str  # the database path
    problem: Optional[str] = None  # the store exists but could not be read (one line)

    def as_dict(self) -> Dict[str, Any]:
        return {
            "window": self.window,
            "since": self.since,
            "by": self.by,
            "total": self.total.as_dict(),
            "groups": [group.as_dict() for group in self.groups],
            "dropped": {
                "count": self.dropped.count, "since": self.dropped.since, "reasons": list(self.dropped.reasons)
            },
            "store": self.store,
            "problem": self.problem,
        }


def percentile(values: Sequence[float], fraction: float) -> Optional[float]:
    """Nearest-rank percentile (p50 of [1, 2, 3, 4] is 2); None for no values."""
    return nearest_rank(sorted(values), fraction)


def nearest_rank(ordered: Sequence[float], fraction: float) -> Optional[float]:
    """:func:`percentile` of values already in order."""
    if not ordered:
        return None
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def window_start(window: str, now: Optional[float] = None) -> Optional[float]:
    """The first second of ``window`` (None: everything). Raises KeyError for an unknown window."""
    span = WINDOWS[window]
    return None if span is None else (time.time() if now is None else now) - span


def query_stats(window: str = "1d", by: str = "model", home: Optional[Path] = None,
                now: Optional[float] = None) -> StatsReport:
    """Aggregate the store's events of ``window`` grouped ``by`` (see :data:`GROUPINGS`)."""
    if by not in GROUPINGS:
        raise ValueError(f"cannot group by {by!r}; one of: {', '.join(GROUPINGS)}")
    since = window_start(window, now)
    path = db_path(home)
    total = GroupStats("total")
    grouped: Dict[str, GroupStats] = defaultdict(lambda: GroupStats(""))
    with _window_rows(path, since, by) as (rows, kept, problem):
        try:
            for row in rows:
                total.add(row)
                key = group_key(row, by)
                if kept is not None and key not in kept:
                    key = OTHER_GROUPS
                grouped[key].key = key
                grouped[key].add(row)
                if row["fallbacks"]:
                    _count_departures(row, total, grouped if by == "backend" else None, kept)
        except sqlite3.Error as exc:  # the file went bad while it was read: what was read is shown
            problem = _one_line(exc)
    groups = sorted((g.finish() for g in grouped.values()), key=lambda g: (-g.calls, g.key))
    if by == "day":
        groups.sort(key=lambda g: g.key)
    dropped = all_drops(home)
    return StatsReport(window, since, by, total.finish(), groups, dropped, str(path), problem)


def all_drops(home: Optional[Path] = None) -> DropRecord:
    """Every event known to be lost: the drop logs, and the children's counts carried by later events."""
    return _with_sender_drops(read_drops(home), db_path(home))


def _with_sender_drops(store_drops: DropRecord, path: Path) -> DropRecord:
    """The store's drops plus those the children counted and reported in later events (``dropped_before``).

    All time, like the drop log: a drop has no call time of its own."""
    count, first = _sender_drops(path)
    if not count:
        return store_drops
    since = first if store_drops.since is None else min(first, store_drops.since)
    reasons = tuple(sorted({*store_drops.reasons, SENDER_DROP_REASON}))
    return DropRecord(store_drops.count + count, since, reasons)


def _sender_drops(path: Path) -> Tuple[int, float]:
    if not path.exists():
        return 0, 0.0
    try:
        connection = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        try:
            row = connection.execute(
                "SELECT coalesce(sum(dropped_before), 0), min(time) FROM events WHERE dropped_before > 0"
            ).fetchone()
        finally:
            connection.close()
    except sqlite3.Error:  # not created yet, or unreadable (reported by _window_rows)
        return 0, 0.0
    return int(row[0]), float(row[1] or 0.0)


WindowRows = Tuple[Iterable[sqlite3.Row], Optional[FrozenSet[str]], Optional[str]]


@contextlib.contextmanager
def _window_rows(path: Path, since: Optional[float], by: str) -> Iterator[WindowRows]:
    """The window's rows as SQLite reads them (the connection stays open while they are read); the
    groups to keep when there are more than GROUP_LIMIT (None: keep all); and why there are no rows
    when the store cannot be read."""
    if not path.exists():
        yield (), None, None
        return
    try:
        connection = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        yield (), None, _one_line(exc)
        return
    try:
        connection.row_factory = sqlite3.Row
        where, params = ("WHERE time >= ?", (since,)) if since is not None else ("", ())
        try:
            present = {row[1] for row in connection.execute("PRAGMA table_info(events)")}
            columns = _COLUMNS + (_FALLBACK_COLUMNS if "attempts" in present else _NO_FALLBACK_COLUMNS)
            kept = _largest_groups(connection, by, where, params)
            rows = connection.execute(f"SELECT {columns} FROM events {where} ORDER BY time", params)
        except sqlite3.Error as exc:
            yield (), None, None if "no such table" in str(exc) else _one_line(exc)  # no such table: never written to
            return
        yield rows, kept, None
    finally:
        connection.close()


def _largest_groups(connection: sqlite3.Connection, by: str, where: str,
                    params: Tuple[Any, ...]) -> Optional[FrozenSet[str]]:
    """The GROUP_LIMIT groups of the window with the most calls (ties: by name), when it has more."""
    if by not in _KEY_SQL:
        return None
    largest = connection.execute(
        f"SELECT {_KEY_SQL[by]} AS key, count(*) AS calls FROM events {where} "
        "GROUP BY key ORDER BY calls DESC, key LIMIT ?", (*params, GROUP_LIMIT + 1)).fetchall()
    if len(largest) <= GROUP_LIMIT:
        return None
    return frozenset(str(row["key"]) for row in largest[:GROUP_LIMIT])


def _one_line(exc: sqlite3.Error) -> str:
    return " ".join(str(exc).split())


def _count_departures(row: sqlite3.Row, total: GroupStats, by_backend: Optional[Dict[str, GroupStats]],
                      kept: Optional[FrozenSet[str]] = None) -> None:
    """Each move of the call from one backend to another, counted against the backend it left (in the
    row of that backend when grouping by backend: it may not have answered a single call)."""
    try:
        attempts = json.loads(row["attempts"] or "[]")
        backends = [str(attempt["backend"]) for attempt in attempts]
    except (ValueError, TypeError, KeyError):
        return  # not what a router wrote: the call still counts as a fallback, only not per backend
    for left, went in itertools.pairwise(backends):
        if left == went:
            continue
        total.left_for_another += 1
        if by_backend is not None:
            group = left if kept is None or left in kept else OTHER_GROUPS
            by_backend[group].key = group
            by_backend[group].left_for_another += 1


def group_key(row: sqlite3.Row, by: str) -> str:
    """The group ``row`` counts in when grouping ``by`` (the dashboard's series use the same names)."""
    if by == "model":
        return str(row["upstream_model"] or row["requested_model"] or "?")
    if by == "backend":
        return str(row["backend"] or NO_BACKEND)
    if by == "endpoint":  # chat, messages, responses …: which API the clients called
        return str(row["endpoint"] or "?")
    if by == "program":
        return str(row["program"] or "(proxy client)")
    return datetime.fromtimestamp(row["time"], timezone.utc).strftime("%Y-%m-%d")


def is_error(status: Optional[int], error: Optional[str]) -> int:
    """The same rule as the shim's summary: an error kind, no response, or an HTTP error status."""
    return int(bool(error) or not status or status >= 400)
