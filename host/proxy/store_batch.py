"""Hand call events to the telemetry store in batches, from the event loop.

``TelemetryStore.submit`` puts each event on a thread queue, which wakes the SQLite writer thread
for every call; under load that thread then fights the event loop for the GIL (17–27 % of the
proxy's samples in ``bench/proxy.py``'s profile). Buffering on the loop and handing over a whole
batch with one ``submit_many`` makes that one wake-up per batch. Only storage waits: metrics,
OTel and the live ``/stats`` counters still see each event at once.
"""

import asyncio
from typing import TYPE_CHECKING, List, Optional, Tuple

from shim.telemetry import CallEvent

from ..telemetry_store import TelemetryStore

if TYPE_CHECKING:
    from ..event_sink import EventSink

__all__ = ["MAX_BATCH_EVENTS", "MAX_BATCH_SECONDS", "StoreBatcher"]

MAX_BATCH_EVENTS = 200
MAX_BATCH_SECONDS = 0.1  # the store's writer batches over the same window: no added delay to speak of

Pending = Tuple[CallEvent, Optional[float]]


class StoreBatcher:
    """Collects ``(event, cost)`` on the loop; hands them over every :data:`MAX_BATCH_SECONDS` or
    :data:`MAX_BATCH_EVENTS`, whichever comes first. Loop thread only; never raises, never blocks."""

    def __init__(self, store: TelemetryStore, loop: asyncio.AbstractEventLoop) -> None:
        self._store = store
        self._loop = loop
        self._pending: List[Pending] = []
        self._timer: Optional[asyncio.TimerHandle] = None
        self._stopped = False

    @classmethod
    def install(cls, sink: "Optional[EventSink]") -> "Optional[StoreBatcher]":
        """Put a batcher between ``sink`` and its store (call on the running loop); None without a store."""
        if sink is None or sink.store is None:
            return None
        batcher = cls(sink.store, asyncio.get_running_loop())
        sink.submit_to_store = batcher.submit
        return batcher

    def submit(self, event: CallEvent, cost: Optional[float]) -> None:
        """Buffer one event (after :meth:`stop`: straight to the store)."""
        if self._stopped:
            self._store.submit(event, cost)
            return
        self._pending.append((event, cost))
        if len(self._pending) >= MAX_BATCH_EVENTS:
            self.flush()
        elif self._timer is None:
            self._timer = self._loop.call_later(MAX_BATCH_SECONDS, self.flush)

    def flush(self) -> None:
        """Hand everything buffered to the store now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            batch, self._pending = self._pending, []
            self._store.submit_many(batch)

    def stop(self) -> None:
        """Flush, then pass later events straight through (shutdown: no timer may outlive the loop)."""
        self.flush()
        self._stopped = True
