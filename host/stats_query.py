"""Aggregations over the telemetry store: what ``router stats``, ``--json``, the proxy's ``/stats`` and the
dashboard show.

A window (``1h``, ``1d``, ``7d``, ``all``) selects events by start time through the time index, and
SQLite aggregates them (:class:`StoreWindow`): sums and counts by ``GROUP BY``, percentiles by
ranking each group's latencies with a window function. A read makes a few Python objects per group,
whatever the number of calls (the store keeps up to a million), and what SQLite sorts past its cache
goes to a temporary file (docs/telemetry-bounds.md#reading-the-store).
Cost is the sum of the known costs; ``cost_unknown_calls`` says how many calls had no price, so a
total is never silently short.
"""

import contextlib
import itertools
import json
import sqlite3
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from .sqlite_connections import PAGE_CACHE_KIB
from .telemetry_store import (
    SENDER_DROP_REASON,
    DropRecord,
    connect_read_only,
    db_path,
    has_json_functions,
    read_drops,
)

__all__ = [
    "ERROR_SQL",
    "GROUPINGS",
    "GROUP_LIMIT",
    "KEY_SQL",
    "OTHER_GROUPS",
    "SENDER_DROP_REASON",
    "WINDOWS",
    "GroupStats",
    "StatsReport",
    "StoreWindow",
    "all_drops",
    "is_error",
    "nearest_rank",
    "open_window",
    "percentile",
    "query_stats",
    "reports",
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
# The group of an event in each grouping, as SQL over the events table. Days are UTC.
KEY_SQL = {
    "model": "coalesce(nullif(upstream_model, ''), nullif(requested_model, ''), '?')",
    "backend": f"coalesce(nullif(backend, ''), '{NO_BACKEND}')",
    "endpoint": "coalesce(nullif(endpoint, ''), '?')",  # chat, messages, responses …: which API the clients called
    "program": "coalesce(nullif(program, ''), '(proxy client)')",
    "day": "strftime('%Y-%m-%d', time, 'unixepoch')",
}
# The rule of :func:`is_error` (and of the shim's summary) as SQL: an error kind, no response, or an
# HTTP error status.
ERROR_SQL = "(coalesce(error, '') != '' OR coalesce(status, 0) = 0 OR status >= 400)"
_TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
_PERCENTILES = (0.5, 0.95)  # what a report shows of each group's latencies


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

    @classmethod
    def from_sums(cls, key: str, sums: sqlite3.Row) -> "GroupStats":
        """A group from a row of :meth:`StoreWindow.sums`."""
        return cls(key, calls=sums["calls"], errors=sums["errors"],
                   **{name: sums[name] for name in _TOKENS},
                   cost_usd=round(sums["cost_usd"], 10),  # float sums: no 0.30000000000000004 in the JSON
                   cost_unknown_calls=sums["cost_unknown_calls"], fallbacks=sums["fallbacks"])

    def as_dict(self) -> Dict[str, Any]:
        data = asdict(self)
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
    return ordered[_rank(len(ordered), fraction) - 1]


def _rank(count: int, fraction: float) -> int:
    """The nearest rank, ceil(fraction × count) and at least 1, in whole per mille: the very
    arithmetic :func:`_rank_sql` gives SQLite, so Python and the store agree on every count."""
    per_mille = round(fraction * 1000)
    return max(1, (count * per_mille + 999) // 1000)


def _rank_sql(count: str, fraction: float) -> str:
    return f"max(1, ({count} * {round(fraction * 1000)} + 999) / 1000)"  # integers: / is whole division


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
    with open_window(home, since) as (store, problem):
        return reports(store, problem, window, since, (by,), home)[by]


def reports(store: Optional["StoreWindow"], problem: Optional[str], window: str, since: Optional[float],
            groupings: Sequence[str], home: Optional[Path] = None) -> Dict[str, StatsReport]:
    """The reports of an open window (:func:`open_window`; None: nothing stored), one per grouping;
    the totals, the same in each, are read once."""
    total = GroupStats("total")
    grouped: Dict[str, List[GroupStats]] = {by: [] for by in groupings}
    if store is not None:
        try:
            departures = store.departures()
            total = _totals(store, departures)
            grouped = {by: _groups(store, by, departures) for by in groupings}
        except sqlite3.Error as exc:  # the file went bad while it was read
            total, grouped, problem = GroupStats("total"), {by: [] for by in groupings}, _one_line(exc)
    dropped, path = all_drops(home), str(db_path(home))
    return {by: StatsReport(window, since, by, total, groups, dropped, path, problem) for by, groups in grouped.items()}


def _totals(store: "StoreWindow", departures: Dict[str, int]) -> GroupStats:
    sums = store.sums(("'total'",))
    total = GroupStats.from_sums("total", sums[0]) if sums else GroupStats("total")
    percentiles = store.percentiles("'total'", (), _PERCENTILES)
    total.latency_p50_ms, total.latency_p95_ms = percentiles.get("total", (None, None))
    total.left_for_another = sum(departures.values())
    return total


def _groups(store: "StoreWindow", by: str, departures: Dict[str, int]) -> List[GroupStats]:
    kept = store.largest(KEY_SQL[by], GROUP_LIMIT) if by != "day" else None
    key_sql, key_params = fold(KEY_SQL[by], kept, OTHER_GROUPS)
    grouped = {str(row["key0"]): GroupStats.from_sums(str(row["key0"]), row)
               for row in store.sums((key_sql,), key_params)}
    for key, (p50, p95) in store.percentiles(key_sql, key_params, _PERCENTILES).items():
        grouped[key].latency_p50_ms, grouped[key].latency_p95_ms = p50, p95
    if by == "backend":  # each move counted against the backend left, which may have answered no call
        for backend, moves in departures.items():
            key = backend if kept is None or backend in kept else OTHER_GROUPS
            grouped.setdefault(key, GroupStats(key)).left_for_another += moves
    groups = sorted(grouped.values(), key=lambda g: (-g.calls, g.key))
    if by == "day":
        groups.sort(key=lambda g: g.key)
    return groups


def fold(key_sql: str, kept: Optional[Sequence[str]], other: str) -> Tuple[str, Tuple[Any, ...]]:
    """``key_sql`` with every group not ``kept`` named ``other`` (None: keep all), and its parameters."""
    if kept is None:
        return key_sql, ()
    marks = ", ".join("?" * len(kept))
    return f"CASE WHEN {key_sql} IN ({marks}) THEN {key_sql} ELSE ? END", (*kept, other)


@contextlib.contextmanager
def open_window(home: Optional[Path], since: Optional[float]) -> Iterator[Tuple[Optional["StoreWindow"],
                                                                                Optional[str]]]:
    """The store's events from ``since`` (None: all), read-only, and why it cannot be read (one line);
    no window when nothing was ever stored."""
    path = db_path(home)
    if not path.exists():
        yield None, None
        return
    try:
        connection = connect_read_only(path)
    except sqlite3.Error as exc:
        yield None, _one_line(exc)
        return
    try:
        try:
            store = StoreWindow(connection, since)
        except sqlite3.Error as exc:
            yield None, _one_line(exc)
            return
        yield (store if store.exists else None), None  # no table: created but never written to
    finally:
        connection.close()


class StoreWindow:
    """SQLite's aggregates over the events of a window, on one read-only connection.

    Its cache is the router's usual bound (``PAGE_CACHE_KIB``): a sort larger than that, of a
    million latencies, goes to a temporary file, not into the reading process's memory."""

    def __init__(self, connection: sqlite3.Connection, since: Optional[float]) -> None:
        connection.row_factory = sqlite3.Row
        connection.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
        self.since = since
        self._connection = connection
        self.params: Tuple[Any, ...] = (since,) if since is not None else ()  # what where()'s clause takes
        columns = {row[1] for row in connection.execute("PRAGMA table_info(events)")}
        self.exists = bool(columns)
        # Event schema 2's columns; a database no router of that version has opened yet lacks them.
        self._has_attempts = "attempts" in columns
        self._fallback_sql = "coalesce(fallbacks, 0) != 0" if self._has_attempts else "0"
        self._json = has_json_functions(connection)

    def where(self, *conditions: str) -> str:
        """The window's ``WHERE`` clause with ``conditions`` (SQL) added; its parameters are :attr:`params`."""
        parts = (["time >= ?"] if self.since is not None else []) + [f"({condition})" for condition in conditions]
        return f"WHERE {' AND '.join(parts)}" if parts else ""

    def rows(self, query: str) -> List[sqlite3.Row]:
        """Any other query's rows (its ``WHERE`` from :meth:`where`, whose :attr:`params` it is given)."""
        return self._connection.execute(query, self.params).fetchall()

    def largest(self, key_sql: str, limit: int) -> Optional[List[str]]:
        """The ``limit`` groups with the most calls (ties: by name), when there are more."""
        largest = self._connection.execute(
            f"SELECT {key_sql} AS key, count(*) AS calls FROM events {self.where()} "
            "GROUP BY key ORDER BY calls DESC, key LIMIT ?", (*self.params, limit + 1)).fetchall()
        if len(largest) <= limit:
            return None
        return [str(row["key"]) for row in largest[:limit]]

    def sums(self, keys: Sequence[str], key_params: Tuple[Any, ...] = (),
             extra: Sequence[str] = ()) -> List[sqlite3.Row]:
        """Per group of ``keys`` (SQL, named key0, key1 … in the rows): calls, errors, tokens, the
        known cost, the calls without one, fallbacks; and each ``extra`` expression (``AS`` its name)."""
        named = ", ".join(f"{key} AS key{number}" for number, key in enumerate(keys))
        columns = ", ".join([
            "count(*) AS calls", f"sum({ERROR_SQL}) AS errors",
            *(f"coalesce(sum({name}), 0) AS {name}" for name in _TOKENS),
            "total(cost_usd) AS cost_usd", "count(*) - count(cost_usd) AS cost_unknown_calls",
            f"sum({self._fallback_sql}) AS fallbacks", *extra])
        group = ", ".join(f"key{number}" for number in range(len(keys)))
        return self._connection.execute(
            f"SELECT {named}, {columns} FROM events {self.where()} GROUP BY {group}",
            (*key_params, *self.params)).fetchall()

    def percentiles(self, key_sql: str, key_params: Tuple[Any, ...], fractions: Sequence[float],
                    value_sql: str = "coalesce(latency_ms, 0.0)",
                    only: str = "") -> Dict[str, Tuple[Optional[float], ...]]:
        """Nearest-rank percentiles of ``value_sql`` per group (of the events where ``only`` holds): SQLite
        ranks each group's values in one sort, and returns only the values at the ranks asked for."""
        ranks = " OR ".join(f"rank = {_rank_sql('n', fraction)}" for fraction in fractions)
        where = self.where(*([only] if only else []))
        rows = self._connection.execute(
            "SELECT key, value, rank, n FROM ("
            " SELECT key, value, row_number() OVER ranked AS rank,"
            "  count(*) OVER (ranked ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS n"
            f" FROM (SELECT {key_sql} AS key, {value_sql} AS value FROM events {where})"
            " WINDOW ranked AS (PARTITION BY key ORDER BY value))"
            f" WHERE {ranks}", (*key_params, *self.params))
        found: Dict[str, Tuple[int, Dict[int, float]]] = {}  # key → (its count, value at each rank)
        for row in rows:
            found.setdefault(str(row["key"]), (row["n"], {}))[1][row["rank"]] = row["value"]
        return {key: tuple(values[_rank(count, fraction)] for fraction in fractions)
                for key, (count, values) in found.items()}

    def departures(self) -> Dict[str, int]:
        """Per backend, the times a call that fell back moved from it to another backend (a retry on
        the same backend is no move). The attempts are JSON the router wrote; an attempt that names
        no backend moves nowhere."""
        if not self._has_attempts:
            return {}
        where = self.where("fallbacks != 0")
        if not self._json:  # an SQLite built without them: the attempts of the calls that fell back, in Python
            return _departures(attempts for (attempts,) in self._connection.execute(
                f"SELECT attempts FROM events {where}", self.params))
        backend = "CAST(json_extract({}.value, '$.backend') AS TEXT)"
        rows = self._connection.execute(
            f"SELECT {backend.format('left_one')} AS backend, count(*) AS moves"
            " FROM (SELECT CASE WHEN json_valid(attempts) AND json_type(attempts) = 'array'"
            f"  THEN attempts ELSE '[]' END AS attempts FROM events {where}) AS call,"
            " json_each(call.attempts) AS left_one, json_each(call.attempts) AS went"
            f" WHERE went.key = left_one.key + 1 AND {backend.format('went')} != {backend.format('left_one')}"
            " GROUP BY 1", self.params)
        return {str(row["backend"]): row["moves"] for row in rows}


def _departures(calls: Iterable[Optional[str]]) -> Dict[str, int]:
    """:meth:`StoreWindow.departures` of each call's attempts (JSON text), read in Python."""
    moves: Counter[str] = Counter()
    for text in calls:
        try:
            attempts = json.loads(text or "[]")
        except ValueError:
            continue
        if not isinstance(attempts, list):
            continue
        backends = [_backend_of(attempt) for attempt in attempts]
        for left, went in itertools.pairwise(backends):
            if left is not None and went is not None and left != went:
                moves[left] += 1
    return dict(moves)


def _backend_of(attempt: Any) -> Optional[str]:
    backend = attempt.get("backend") if isinstance(attempt, dict) else None
    return None if backend is None else str(backend)


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
        connection = connect_read_only(path)
        try:
            row = connection.execute(
                "SELECT coalesce(sum(dropped_before), 0), min(time) FROM events WHERE dropped_before > 0"
            ).fetchone()
        finally:
            connection.close()
    except sqlite3.Error:  # not created yet, or unreadable (reported by open_window)
        return 0, 0.0
    return int(row[0]), float(row[1] or 0.0)


def _one_line(exc: sqlite3.Error) -> str:
    return " ".join(str(exc).split())


def is_error(status: Optional[int], error: Optional[str]) -> int:
    """The same rule as the shim's summary: an error kind, no response, or an HTTP error status."""
    return int(bool(error) or not status or status >= 400)
