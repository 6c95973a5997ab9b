"""The reads of the telemetry store that servers answer, by name, and where they run.

``/stats`` and the dashboard's API read the store through a :class:`StoreReads`: ``read(name, params)``
returns the JSON-ready answer of one of :data:`READS`. Two places run them:

- :class:`InProcessReads`, on the calling thread (``router dashboard``, tests);
- :class:`host.store_reader.ReaderProcess`, in a short-lived process of its own (``router proxy``):
  what a read's allocations leave behind in a process — SQLite's and Python's freed pages that the
  allocator keeps — then goes when that process ends, not into the proxy for good
  (docs/telemetry-bounds.md#reads-in-a-process-of-their-own).

A read's parameters are checked by the server before it asks (a bad window is the client's 400, and
never crosses a process); the functions here take them as given.
"""

from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Protocol

from .dashboard.data import calls_after, summary
from .stats_query import query_stats

__all__ = ["READS", "InProcessReads", "StoreReadFailed", "StoreReads", "run_read"]

Answer = Dict[str, Any]


class StoreReadFailed(Exception):
    """A read did not produce its answer: the reading process died, timed out, or the read raised."""

    def client_message(self) -> str:
        """What a server answers with its 503."""
        return f"the telemetry store could not be read: {self}"


class StoreReads(Protocol):
    def read(self, name: str, params: Mapping[str, Any]) -> Answer:
        """The answer of ``READS[name]`` over the store, with ``params``; StoreReadFailed when the place
        the read runs failed it (in-process, a read's own exception propagates as it is)."""
        ...

    def close(self) -> None:
        """No more reads (at shutdown)."""
        ...


def _stats(home: Optional[Path], params: Mapping[str, Any]) -> Answer:
    return query_stats(params["window"], params["by"], home=home).as_dict()


def _summary(home: Optional[Path], params: Mapping[str, Any]) -> Answer:
    return summary(params["window"], home=home)


def _calls(home: Optional[Path], params: Mapping[str, Any]) -> Answer:
    return calls_after(params["after"], home=home)


# name → the read: ``router stats --json``'s report, the dashboard's summary and its live tail.
READS: Dict[str, Callable[[Optional[Path], Mapping[str, Any]], Answer]] = {
    "stats": _stats,
    "summary": _summary,
    "calls": _calls,
}


def run_read(home: Optional[Path], name: str, params: Mapping[str, Any]) -> Answer:
    """One read, wherever it runs; KeyError for a name that is not one of :data:`READS`."""
    return READS[name](home, params)


class InProcessReads:
    """Reads on the calling thread. ``home``: the state directory (None: ``$ROUTER_HOME`` at each read)."""

    def __init__(self, home: Optional[Path] = None) -> None:
        self.home = home

    def read(self, name: str, params: Mapping[str, Any]) -> Answer:
        return run_read(self.home, name, params)

    def close(self) -> None:
        """Nothing to let go of (the same surface as a reading process)."""
