"""``GET /stats``: the same report as ``router stats --json``, read from the proxy's store."""

from typing import Any, Dict
from urllib.parse import parse_qs

from ..stats_query import GROUPINGS, WINDOWS, query_stats
from ..telemetry_store import TelemetryStore

__all__ = ["STORE_FLUSH_SECONDS", "stored_stats"]

STORE_FLUSH_SECONDS = 1.0  # wait for the calls already answered to be stored, so they are counted


def stored_stats(store: TelemetryStore, query_string: bytes) -> Dict[str, Any]:
    """``?since=1h|1d|7d|all&by=model|backend|program|day`` (defaults as the CLI); ValueError when invalid."""
    params = parse_qs(query_string.decode("latin-1"))
    window = params.get("since", ["1d"])[-1]
    by = params.get("by", ["model"])[-1]
    if window not in WINDOWS:
        raise ValueError(f"since must be one of {', '.join(WINDOWS)}, not {window!r}")
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}, not {by!r}")
    store.flush(STORE_FLUSH_SECONDS)
    return query_stats(window, by, home=store.home).as_dict()
