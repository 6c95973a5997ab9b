"""``GET /stats``: the same report as ``router stats --json``, read from the proxy's store."""

from typing import Any, Dict
from urllib.parse import parse_qs

from ..stats_query import GROUPINGS, WINDOWS
from ..store_reads import StoreReads
from ..telemetry_store import TelemetryStore

__all__ = ["STORE_FLUSH_SECONDS", "stats_params", "stored_stats"]

STORE_FLUSH_SECONDS = 1.0  # wait for the calls already answered to be stored, so they are counted


def stats_params(query_string: bytes) -> Dict[str, Any]:
    """``?since=1h|1d|7d|all&by=model|backend|program|day`` (defaults as the CLI) as the read's
    parameters; ValueError when invalid (checked here: a client's mistake never reaches a read)."""
    params = parse_qs(query_string.decode("latin-1"))
    window = params.get("since", ["1d"])[-1]
    by = params.get("by", ["model"])[-1]
    if window not in WINDOWS:
        raise ValueError(f"since must be one of {', '.join(WINDOWS)}, not {window!r}")
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}, not {by!r}")
    return {"window": window, "by": by}


def stored_stats(store: TelemetryStore, reads: StoreReads, params: Dict[str, Any]) -> Dict[str, Any]:
    """The report of ``params`` (from :func:`stats_params`), once the calls already answered are stored
    (blocking: run it off the event loop); StoreReadFailed when the store could not be read."""
    store.flush(STORE_FLUSH_SECONDS)
    return reads.read("stats", params)
