"""One function for both drivers: ``sink.record(event)`` prices a call once and hands it to the store,
the Prometheus metrics (proxy) and the OpenTelemetry export (when configured).

``record`` never raises and never blocks (the store queues; the metrics are in-memory counters; the
OTel SDK's batch processor queues): it runs on the proxy's event loop and on the collector's thread.
"""

import os
import sys
from pathlib import Path
from types import TracebackType
from typing import Callable, List, Mapping, Optional, Protocol, Sequence, Type

from shim.telemetry import CallEvent

from .pricing import PriceBook, price_book
from .telemetry_store import TelemetryStore

__all__ = ["EventObserver", "EventSink", "open_sink"]

EventCallback = Callable[[CallEvent], None]
StoreSubmit = Callable[[CallEvent, Optional[float]], None]


class EventObserver(Protocol):
    """Anything that wants every priced event (metrics, the OTel exporter)."""

    def observe(self, event: CallEvent, cost: Optional[float]) -> None: ...


class EventSink:
    """Fans each event out; see the module docstring."""

    def __init__(self, store: Optional[TelemetryStore], observers: Sequence[EventObserver] = (),
                 prices: Optional[PriceBook] = None) -> None:
        self.store = store
        # Where priced events go for storage: the store itself, or a batcher in front of it (the proxy
        # hands its store whole batches from the event loop: one thread hand-off per batch, not per call).
        self.submit_to_store: Optional[StoreSubmit] = store.submit if store is not None else None
        self.observers: List[EventObserver] = list(observers)
        self.failures = 0  # observer errors swallowed (a broken exporter must not break a call)
        self._prices = prices or price_book()

    def record(self, event: CallEvent) -> None:
        """Price ``event`` and pass it on. Never raises."""
        try:
            cost = self._prices.cost(event)
        except Exception:
            cost = None
        if self.submit_to_store is not None:
            self.submit_to_store(event, cost)
        for observer in self.observers:
            try:
                observer.observe(event, cost)
            except Exception:
                self.failures += 1

    def callback(self, then: Optional[EventCallback] = None) -> EventCallback:
        """A per-event callback that records into this sink, then calls ``then`` (e.g. ``-v`` printing)."""

        def on_event(event: CallEvent) -> None:
            self.record(event)
            if then is not None:
                then(event)

        return on_event

    def lost_callback(self) -> Callable[[int], None]:
        """For :class:`~host.collector.TelemetryCollector`'s ``on_lost``: events a shimmed process
        could not send, counted in the store's drop log."""

        def on_lost(count: int) -> None:
            if self.store is not None:
                self.store.note_lost(count)

        return on_lost

    def close(self) -> None:
        """Store what is queued and flush the exporters."""
        if self.store is not None:
            self.store.close()
        for observer in self.observers:
            close = getattr(observer, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    self.failures += 1

    def __enter__(self) -> "EventSink":
        return self

    def __exit__(self, kind: Optional[Type[BaseException]], value: Optional[BaseException],
                 trace: Optional[TracebackType]) -> None:
        self.close()


def open_sink(observers: Sequence[EventObserver] = (), home: Optional[Path] = None,
              environ: Optional[Mapping[str, str]] = None) -> EventSink:
    """The store in ``$ROUTER_HOME`` (started), ``observers``, and the OTel exporter when configured.

    Starts the store's writer thread: call it after anything that must happen before threads exist
    (``SignalGate`` in ``router shim``)."""
    from .otel_export import OtelExporter

    exporter = OtelExporter.from_environment(os.environ if environ is None else environ, sys.stderr)
    extra: List[EventObserver] = [exporter] if exporter is not None else []
    return EventSink(TelemetryStore(home).start(), [*observers, *extra])
