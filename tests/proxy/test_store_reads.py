"""The proxy reads its telemetry store for one request at a time — ``/stats`` and the dashboard's
API alike — however many clients ask at once (docs/telemetry-bounds.md#reading-the-store).

Eight clients asking for ``/stats?since=all`` side by side had eight worker threads walking the
store in Python: the proxy's memory grew with each, and a normal client's p99 went from 5 to 79 ms.
Order, not time: each read is held inside the store until the test lets it go, and the test
watches for a second read to begin while the first is held.

A read that cannot be answered (its reading process stuck) is a 503 in the endpoint's own shape."""

import asyncio
import json
import os
import signal
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from host.dashboard.site import DashboardSite
from host.event_sink import EventSink
from host.proxy.app import ProxyApp
from host.proxy.settings import ProxySettings
from host.store_reader import ReaderProcess
from host.store_reads import InProcessReads
from host.telemetry_store import TelemetryStore
from shim.config import RouterConfig

SAFETY_SECONDS = 10.0  # a held read is let go after this whatever happens, so the test ends
OVERLAP_SECONDS = 1.0  # how long a second read is given to begin while the first is held


class HeldStore(TelemetryStore):
    """The real store, whose reads (each begins by flushing it) wait for the test's word and count
    how many are under way."""

    def __init__(self, home: Path) -> None:
        super().__init__(home)
        self.release = threading.Event()
        self.began = threading.Semaphore(0)
        self._lock = threading.Lock()
        self.reading = 0
        self.most_at_once = 0

    def flush(self, timeout: float = 10.0) -> bool:
        with self._lock:
            self.reading += 1
            self.most_at_once = max(self.most_at_once, self.reading)
        self.began.release()
        try:
            self.release.wait(SAFETY_SECONDS)
            return super().flush(timeout)
        finally:
            with self._lock:
                self.reading -= 1


class Client:
    """One client's side of ASGI: its request (no body), then ``http.disconnect`` once it leaves."""

    def __init__(self) -> None:
        self.asked = False
        self.leaves = asyncio.Event()
        self.left = asyncio.Event()  # the app has been told
        self.sent: List[Dict[str, Any]] = []

    async def receive(self) -> Dict[str, Any]:
        if not self.asked:
            self.asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.leaves.wait()
        self.left.set()
        return {"type": "http.disconnect"}

    async def send(self, message: Dict[str, Any]) -> None:
        self.sent.append(message)


def _scope(path: str, query: bytes) -> Dict[str, Any]:
    return {"type": "http", "method": "GET", "path": path, "headers": [(b"host", b"127.0.0.1")], "query_string": query}


async def _get(app: ProxyApp, path: str, query: bytes = b"", client: Optional[Client] = None) -> int:
    """The status the client was sent (0: none)."""
    client = client or Client()
    await app(_scope(path, query), client.receive, client.send)
    return int(client.sent[0]["status"]) if client.sent else 0


def test_reads_of_the_store_run_one_at_a_time(tmp_path: Path) -> None:
    store = HeldStore(tmp_path).start()
    app = ProxyApp(RouterConfig(), ProxySettings())
    app.state.sink = EventSink(store)
    app.dashboard = DashboardSite(api_key=None, reads=InProcessReads(tmp_path), before_read=lambda: store.flush())
    requests = [("/stats", b"since=all")] * 5 + [("/dashboard/api/summary", b"window=1h")] * 3

    async def scenario() -> List[int]:
        answers = asyncio.gather(*(_get(app, path, query) for path, query in requests))
        assert await asyncio.to_thread(store.began.acquire, True, SAFETY_SECONDS), "no read began"
        second_began = await asyncio.to_thread(store.began.acquire, True, OVERLAP_SECONDS)
        store.release.set()
        statuses = await answers
        assert not second_began, "a second read began while the first was under way"
        return statuses

    try:
        statuses = asyncio.run(scenario())
    finally:
        store.release.set()
        store.close()
    assert statuses == [200] * len(requests)  # every client was answered, in turn
    assert store.most_at_once == 1


def test_a_client_that_left_while_its_read_waited_costs_no_read(tmp_path: Path) -> None:
    store = HeldStore(tmp_path).start()
    app = ProxyApp(RouterConfig(), ProxySettings())
    app.state.sink = EventSink(store)
    leaving = Client()

    async def scenario() -> List[int]:
        first = asyncio.ensure_future(_get(app, "/stats", b"since=all"))
        assert await asyncio.to_thread(store.began.acquire, True, SAFETY_SECONDS), "no read began"
        second = asyncio.ensure_future(_get(app, "/stats", b"since=all", leaving))
        leaving.leaves.set()
        await asyncio.wait_for(leaving.left.wait(), SAFETY_SECONDS)  # told, while its read waits its turn
        store.release.set()
        return [await first, await second]

    try:
        statuses = asyncio.run(scenario())
        second_read = store.began.acquire(timeout=0)
    finally:
        store.release.set()
        store.close()
    assert statuses == [200, 0]  # the one who stayed is answered; nothing is sent to the one who left
    assert not second_read, "the store was read for a client that had left"



def test_a_read_that_cannot_be_answered_is_a_503_in_each_endpoints_shape(tmp_path: Path) -> None:
    """The reading process stops answering (stopped by a signal: its read times out): the client of
    /stats gets its JSON error, the dashboard's its own, and a new process answers the next read
    (docs/telemetry-bounds.md#reads-in-a-process-of-their-own)."""
    store = TelemetryStore(tmp_path).start()
    reads = ReaderProcess(tmp_path, read_timeout=SAFETY_SECONDS)
    app = ProxyApp(RouterConfig(), ProxySettings())
    app.state.sink = EventSink(store)
    app.store_reads = reads
    app.dashboard = DashboardSite(api_key=None, reads=reads)

    def answer(path: str, query: bytes = b"") -> Tuple[int, Any]:
        client = Client()
        asyncio.run(app(_scope(path, query), client.receive, client.send))
        body = b"".join(message.get("body", b"") for message in client.sent[1:])
        return int(client.sent[0]["status"]), json.loads(body)

    def stuck_reader() -> None:
        reads.read_timeout = SAFETY_SECONDS
        assert answer("/dashboard/api/calls")[0] == 200  # a reading process runs
        assert reads.pid is not None
        os.kill(reads.pid, signal.SIGSTOP)
        reads.read_timeout = 0.5

    try:
        stuck_reader()
        stats = answer("/stats", b"since=all")
        stuck_reader()
        summary = answer("/dashboard/api/summary", b"window=1h")
        reads.read_timeout = SAFETY_SECONDS
        after = answer("/stats", b"since=all")
    finally:
        reads.close()
        store.close()
    failure = "the telemetry store could not be read: the store took longer than 0.5 s to read"
    assert stats == (503, {"error": {"type": "api_error", "message": failure}})
    assert summary == (503, {"error": failure})
    assert after[0] == 200 and after[1]["total"]["calls"] == 0
