"""How much call history the telemetry store keeps, and the pruning that holds it there.

Every call any client makes adds a row to ``telemetry.db`` (about 215 bytes with its index), so
without a bound the database grows with what clients send: a flood of calls at a few thousand a second
would add gigabytes an hour, and a proxy runs for weeks. Two bounds, both in ``config.toml``
(docs/telemetry-bounds.md#retention)::

    [telemetry]
    max_age_days = 90        # rows older than this are deleted
    max_events = 1000000     # and only the newest this many are kept

Pruning runs on the store's writer thread (never on a call's path): when the store opens, then every
:data:`PRUNE_EVERY_EVENTS` rows it writes or :data:`PRUNE_EVERY_SECONDS`, whichever comes first. It
deletes in transactions of at most :data:`DELETE_CHUNK` rows, so another process writing the same
database (``router shim`` runs and the proxy share it) waits for one short transaction at most, never
for a whole backlog. Deleted pages are reused by later rows: the file stops growing, it does not shrink.
"""

import math
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shim.config import ConfigError

from .paths import CONFIG_FILENAME, StateFileError, read_toml

__all__ = [
    "DELETE_CHUNK",
    "PRUNE_EVERY_EVENTS",
    "PRUNE_EVERY_SECONDS",
    "TelemetryRetention",
    "load_retention",
    "prune",
]

PRUNE_EVERY_EVENTS = 10_000
PRUNE_EVERY_SECONDS = 60.0
DELETE_CHUNK = 5_000
_DAY = 86_400.0
_FIELDS = ("max_age_days", "max_events")


@dataclass(frozen=True)
class TelemetryRetention:
    """The ``[telemetry]`` table of ``config.toml``. The defaults keep a quarter of a year of history
    (the dashboard shows a week, ``router stats --since`` any span) in about 200 MiB (215 bytes a
    row, index included: bench/telemetry.py)."""

    max_age_days: float = 90.0
    max_events: int = 1_000_000

    @classmethod
    def from_table(cls, table: Any) -> "TelemetryRetention":
        """Validate the ``[telemetry]`` table; :class:`ConfigError` names the field at fault."""
        if not isinstance(table, dict):
            raise ConfigError("telemetry must be a table ([telemetry])")
        unknown = sorted(set(table) - set(_FIELDS))
        if unknown:
            raise ConfigError(f"telemetry: unknown field {unknown[0]!r} (it has {', '.join(_FIELDS)})")
        defaults = cls()
        return cls(
            max_age_days=_positive_number(table.get("max_age_days", defaults.max_age_days), "max_age_days"),
            max_events=_positive_whole(table.get("max_events", defaults.max_events), "max_events"),
        )

    @property
    def max_age_seconds(self) -> float:
        return self.max_age_days * _DAY


def load_retention(home: Path) -> TelemetryRetention:
    """The retention ``home``'s ``config.toml`` sets. The CLI refuses a file with a bad ``[telemetry]``
    before anything starts (host/config_store.py validates it with the rest), so a problem here means
    the file changed since: the defaults hold rather than no bound at all."""
    try:
        return TelemetryRetention.from_table(read_toml(home / CONFIG_FILENAME).get("telemetry", {}))
    except (StateFileError, ConfigError):
        return TelemetryRetention()


def prune(connection: sqlite3.Connection, retention: TelemetryRetention, now: float,
          chunk: int = DELETE_CHUNK) -> int:
    """Delete the rows ``retention`` does not keep, ``chunk`` rows per transaction; the number deleted.

    Two deletes, each on an index, so that a prune with nothing to do costs two index lookups, not a
    scan: by count on the rowid (``id`` grows with every insert, so the newest ``max_events`` rows are
    those above ``max(id) - max_events``; gaps left by earlier deletes only make that keep fewer), then
    by age on ``events_time``."""
    newest = connection.execute("SELECT max(id) FROM events").fetchone()[0]
    if newest is None:
        return 0
    by_count = _delete_in_chunks(connection, "SELECT id FROM events WHERE id <= ? ORDER BY id LIMIT ?",
                                 newest - retention.max_events, chunk)
    by_age = _delete_in_chunks(connection, "SELECT id FROM events WHERE time < ? LIMIT ?",
                               now - retention.max_age_seconds, chunk)
    return by_count + by_age


def _delete_in_chunks(connection: sqlite3.Connection, select_ids: str, bound: float, chunk: int) -> int:
    deleted = 0
    while True:
        with connection:
            removed = connection.execute(f"DELETE FROM events WHERE id IN ({select_ids})", (bound, chunk)).rowcount
        deleted += removed
        if removed < chunk:
            return deleted


def _positive_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"telemetry.{name} must be a number above 0, not {value!r}")
    return float(value)


def _positive_whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"telemetry.{name} must be a whole number above 0, not {value!r}")
    return value
