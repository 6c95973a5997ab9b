"""The host end of the telemetry socket: receive datagrams from every shimmed process, aggregate.

Children send, fire and forget, to an ``AF_UNIX`` ``SOCK_DGRAM`` socket in the private run
directory (DESIGN.md "Telemetry"). Three kinds of datagram arrive:

* ``{"v":1,"kind":"hello","pid","ppid","program","python","executable"}`` — a process loaded the shim;
* a call event, :func:`shim.telemetry.encode_event` of a :class:`~shim.telemetry.CallEvent`;
* ``{"v":1,"kind":"shim_error","pid","message"}`` — the shim failed somewhere and stood aside.

Linux queues only ``max_dgram_qlen`` (10) datagrams per socket and a sender drops on ``EAGAIN``
(SHIM.md §8), so a dedicated reader thread does nothing but ``recv`` and hand the bytes to a second
thread, which decodes, aggregates and calls the per-event callback (``router shim -v``). Drops
counted by senders travel in their next event (``dropped_before``) and are summed here.
"""

import json
import queue
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Union

from shim.telemetry import CallEvent, decode_event

__all__ = ["ProcessInfo", "RunTelemetry", "ShimError", "TelemetryCollector"]

_MAX_DATAGRAM = 65536
_RECEIVE_BUFFER = 1 << 20
_POLL_SECONDS = 0.1

EventCallback = Callable[[CallEvent], None]


@dataclass(frozen=True)
class ProcessInfo:
    """A process that loaded the shim (from its hello)."""

    pid: int
    ppid: int
    program: str
    python: str
    executable: str


@dataclass(frozen=True)
class ShimError:
    pid: int
    message: str


@dataclass
class RunTelemetry:
    """Everything received during one run."""

    events: List[CallEvent] = field(default_factory=list)
    processes: Dict[int, ProcessInfo] = field(default_factory=dict)
    shim_errors: List[ShimError] = field(default_factory=list)
    dropped: int = 0  # events the senders reported as dropped (their queue was full)
    malformed: int = 0  # datagrams we could not read


class TelemetryCollector:
    """Bind ``socket_path``, read on a background thread; :meth:`stop` drains and joins."""

    def __init__(self, socket_path: Path, on_event: Optional[EventCallback] = None) -> None:
        self.socket_path = socket_path
        self._on_event = on_event
        self._lock = threading.Lock()
        self._data = RunTelemetry()
        self._inbox: queue.SimpleQueue[Optional[bytes]] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._socket = _bind(socket_path)
        self._reader = threading.Thread(target=self._read_loop, name="router-telemetry-reader", daemon=True)
        self._worker = threading.Thread(target=self._work_loop, name="router-telemetry-worker", daemon=True)

    def start(self) -> "TelemetryCollector":
        self._reader.start()
        self._worker.start()
        return self

    def stop(self) -> RunTelemetry:
        """Stop reading, process what already arrived, and return the run's telemetry."""
        self._stopping.set()
        if self._reader.is_alive():
            _wake(self.socket_path)
            self._reader.join()
        self._drain()
        self._socket.close()
        self._inbox.put(None)
        if self._worker.is_alive():
            self._worker.join()
        return self.snapshot()

    def snapshot(self) -> RunTelemetry:
        """A copy of what has been aggregated so far."""
        with self._lock:
            data = self._data
            return RunTelemetry(
                list(data.events), dict(data.processes), list(data.shim_errors), data.dropped, data.malformed
            )

    def record_event(self, event: CallEvent) -> None:
        """Add an event that did not come through the socket (e.g. from an in-process proxy)."""
        with self._lock:
            self._data.events.append(event)
            self._data.dropped += max(0, event.dropped_before)
        if self._on_event is not None:
            self._on_event(event)

    def handle_datagram(self, raw: bytes) -> None:
        """Decode one datagram and aggregate it (the worker thread calls this; tests may too)."""
        message = _json_object(raw)
        if message is None:
            self._count_malformed()
        elif message.get("kind") == "hello":
            self._add_process(message)
        elif message.get("kind") == "shim_error":
            self._add_shim_error(message)
        else:
            event = decode_event(raw)
            if event is None:
                self._count_malformed()
            else:
                self.record_event(event)

    # Threads ---------------------------------------------------------------------------------
    def _read_loop(self) -> None:
        self._socket.settimeout(_POLL_SECONDS)
        while not self._stopping.is_set():
            try:
                raw = self._socket.recv(_MAX_DATAGRAM)
            except TimeoutError:
                continue
            except OSError:
                return
            if raw:  # empty: our own wake-up from stop()
                self._inbox.put(raw)

    def _drain(self) -> None:
        """Take whatever is still queued in the socket (the child has exited: nothing more comes)."""
        self._socket.setblocking(False)
        while True:
            try:
                raw = self._socket.recv(_MAX_DATAGRAM)
            except OSError:  # BlockingIOError: empty
                return
            if raw:
                self._inbox.put(raw)

    def _work_loop(self) -> None:
        while True:
            raw = self._inbox.get()
            if raw is None:
                return
            try:
                self.handle_datagram(raw)
            except Exception:  # a bad callback or datagram must never stop the collection
                self._count_malformed()

    # Aggregation -----------------------------------------------------------------------------
    def _add_process(self, message: Dict[str, Any]) -> None:
        info = ProcessInfo(
            pid=_int(message.get("pid")),
            ppid=_int(message.get("ppid")),
            program=str(message.get("program") or ""),
            python=str(message.get("python") or ""),
            executable=str(message.get("executable") or ""),
        )
        with self._lock:
            self._data.processes[info.pid] = info

    def _add_shim_error(self, message: Dict[str, Any]) -> None:
        error = ShimError(_int(message.get("pid")), str(message.get("message") or ""))
        with self._lock:
            self._data.shim_errors.append(error)

    def _count_malformed(self) -> None:
        with self._lock:
            self._data.malformed += 1


def _bind(path: Path) -> socket.socket:
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)
        receiver.bind(str(path))
    except OSError:
        receiver.close()
        raise
    return receiver


def _wake(path: Path) -> None:
    """An empty datagram, so the reader notices the stop at once instead of at its next poll."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as waker:
            waker.setblocking(False)
            waker.sendto(b"", str(path))
    except OSError:
        pass  # full queue: the reader is busy and will see the flag soon anyway


def _json_object(raw: bytes) -> Optional[Dict[str, Any]]:
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return message if isinstance(message, dict) and message.get("v") == 1 else None


def _int(value: Union[int, Any]) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
