"""Whole batches to the store: ``submit_many`` (one hand-off) and the proxy's loop-side batcher."""

import asyncio
from pathlib import Path
from typing import List

from telemetry_support import call_event

from host.event_sink import EventSink
from host.proxy import store_batch
from host.proxy.store_batch import StoreBatcher
from host.telemetry_store import TelemetryStore


def test_submit_many_stores_the_good_and_counts_the_bad(home: Path) -> None:
    store = TelemetryStore(home).start()
    try:
        store.submit_many([(call_event(input_tokens=n), float(n)) for n in range(3)] + [("garbage", None)])  # type: ignore[list-item]
        store.submit_many([])
        assert store.flush()
        assert (store.stored, store.dropped) == (3, 1)
    finally:
        store.close()


class _RecordingStore(TelemetryStore):
    """Counts hand-offs instead of storing."""

    def __init__(self, home: Path) -> None:
        super().__init__(home)
        self.handoffs: List[int] = []

    def submit_many(self, events):  # type: ignore[no-untyped-def]
        self.handoffs.append(len(list(events)))


def test_batcher_hands_over_by_size_by_time_and_at_stop(home: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(store_batch, "MAX_BATCH_EVENTS", 4)
    store = _RecordingStore(home)
    sink = EventSink(store)

    async def run() -> None:
        batcher = StoreBatcher.install(sink)
        assert batcher is not None
        for _ in range(5):
            sink.record(call_event())
        assert store.handoffs == [4]  # full batch at once, one event left waiting
        await asyncio.sleep(store_batch.MAX_BATCH_SECONDS * 3)
        assert store.handoffs == [4, 1]  # the timer handed over the rest
        sink.record(call_event())
        batcher.stop()
        assert store.handoffs == [4, 1, 1]
        sink.record(call_event())  # after stop: straight through
        assert store.handoffs == [4, 1, 1, 1]

    asyncio.run(run())
