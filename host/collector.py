"""The host end of the telemetry socket: receive datagrams from every shimmed process, aggregate.

Children send, fire and forget, to an ``AF_UNIX`` socket in the private run directory
(docs/architecture.md#telemetry). Three kinds of message arrive:

* ``{"v":1,"kind":"hello","pid","ppid","program","python","executable"}`` — a process loaded the shim;
* a call event, :func:`shim.telemetry.encode_event` of a :class:`~shim.telemetry.CallEvent`;
* ``{"v":1,"kind":"shim_error","pid","message"}`` — the shim failed somewhere and stood aside;
* ``{"v":1,"kind":"dropped","pid","count"}`` — at a process's exit, the events it dropped that no
  later event reported;
* ``{"v":1,"kind":"local_answer","pid","endpoint"}`` — a process answered a non-LLM platform call
  itself (a keyless trace upload, docs/platform-calls.md).

Which socket (docs/shim.md#telemetry-socket): Linux queues only ``net.unix.max_dgram_qlen`` (10) datagrams on a
``SOCK_DGRAM`` receiver *shared by every sender*, so a 5 ms GIL hold-up of the reader loses events at
a few thousand per second. On Linux the collector therefore listens with ``SOCK_SEQPACKET``: each
process connects once (per PID) and gets its own queue, bounded by its send buffer (hundreds of
events), message boundaries kept, still non-blocking on the child's side. Elsewhere (macOS has no
``AF_UNIX`` ``SOCK_SEQPACKET``) it binds ``SOCK_DGRAM``; the sender falls back to datagrams by itself
when the host's socket is one (``EPROTOTYPE``).

Threads: the reader does nothing but accept and ``recv_into`` a preallocated buffer until every ready
socket is empty, then hands the whole round's messages to the worker in one queue put (in connected
mode it polls every 10 ms rather than blocking, so that a child's send never has to wake it); the worker
decodes, aggregates and calls the per-event callback (the store, ``router shim -v``). The messages
handed over and not yet aggregated hold at most :data:`INBOX_BYTES`: at the bound the reader stops
reading until the worker catches up, the kernel's per-sender queues fill, and senders drop and count
as they do when the host is slow (docs/telemetry-bounds.md#the-collectors-inbox). Drops counted by
senders travel in their next event (``dropped_before``), or in ``dropped`` at exit, and are summed
here; the exit counts also go to ``on_lost`` (the store's drop log: no event carries them).
"""

import json
import os
import queue
import select
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Union

from shim.telemetry import TEXT_LIMIT, CallEvent, event_from_message

from .run_calls import RunCalls

__all__ = ["ProcessInfo", "RunTelemetry", "ShimError", "TelemetryCollector", "socket_kind"]

RECENT_EVENTS = 1000  # events kept whole (the summary uses ``calls``, which sums every one)
PROCESSES_KEPT = 10_000  # shimmed processes told apart (a run that starts more still counts their calls)
SHIM_ERRORS_KEPT = 100
_MESSAGE_LIMIT = 1000
_MAX_MESSAGE = 65536  # events are ≤ 2 KB; a bigger message is cut by the kernel and counted malformed
_RECEIVE_BUFFER = 1 << 20
_POLL_SECONDS = 0.5  # datagram mode: the reader also wakes at once on stop() (a pipe); a safety net
_IDLE_SECONDS = 0.01  # connected mode: look again this long after finding nothing (see _read_loop)
_BACKLOG = 4096  # connections waiting to be accepted: a burst of forked workers each connects once
INBOX_BYTES = 8 << 20  # messages read but not yet aggregated (docs/telemetry-bounds.md#the-collectors-inbox)

EventCallback = Callable[[CallEvent], None]


def socket_kind() -> int:
    """``SOCK_SEQPACKET`` on Linux (a queue per sender), ``SOCK_DGRAM`` elsewhere (see the module docstring)."""
    seqpacket = getattr(socket, "SOCK_SEQPACKET", None)
    return seqpacket if seqpacket is not None and hasattr(select, "epoll") else socket.SOCK_DGRAM


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
    """Everything received during one run, in bounded memory (docs/telemetry-bounds.md#a-shim-runs-summary):
    ``calls`` sums every call; ``events`` keeps only the most recent :data:`RECENT_EVENTS`. Built
    with ``events`` alone (tests, a caller with its own list), ``calls`` is summed from them."""

    events: List[CallEvent] = field(default_factory=list)
    processes: Dict[int, ProcessInfo] = field(default_factory=dict)
    shim_errors: List[ShimError] = field(default_factory=list)
    dropped: int = 0  # events the senders reported as dropped (their queue was full)
    malformed: int = 0  # messages we could not read (and callbacks that raised)
    local_answers: Dict[str, int] = field(default_factory=dict)  # platform endpoint → calls answered in-process
    calls: RunCalls = field(default_factory=RunCalls)
    shim_error_count: int = 0  # every shim error reported; ``shim_errors`` keeps the first SHIM_ERRORS_KEPT

    def __post_init__(self) -> None:
        if self.events and not self.calls.total.calls:
            self.calls = RunCalls.of(self.events)
        self.shim_error_count = max(self.shim_error_count, len(self.shim_errors))


class TelemetryCollector:
    """Listen on ``socket_path``, read on a background thread; :meth:`stop` drains and joins."""

    def __init__(self, socket_path: Path, on_event: Optional[EventCallback] = None,
                 on_lost: Optional[Callable[[int], None]] = None) -> None:
        self.socket_path = socket_path
        self._on_event = on_event
        self._on_lost = on_lost
        self._lock = threading.Lock()
        self._data = RunTelemetry()
        self._inbox: queue.SimpleQueue[Optional[_Round]] = queue.SimpleQueue()
        self._inbox_bytes = 0  # bytes of the messages in the inbox and in the worker's hands
        self._inbox_changed = threading.Condition()
        self._stopping = threading.Event()
        self._buffer = bytearray(_MAX_MESSAGE)
        self._view = memoryview(self._buffer)
        self.kind = socket_kind()
        self._socket = _listen(socket_path, self.kind)
        self._wake_read, self._wake_write = _wake_pipe()
        self._poller = _Poller()
        self._poller.add(self._wake_read, _WAKE)
        self._poller.add(self._socket.fileno(), _LISTENER if self.kind != socket.SOCK_DGRAM else _DGRAM)
        self._connections: Dict[int, socket.socket] = {}
        self._reader = threading.Thread(target=self._read_loop, name="router-telemetry-reader", daemon=True)
        self._worker = threading.Thread(target=self._work_loop, name="router-telemetry-worker", daemon=True)

    def start(self) -> "TelemetryCollector":
        self._reader.start()
        self._worker.start()
        return self

    def stop(self) -> RunTelemetry:
        """Stop reading, process what already arrived, and return the run's telemetry (once; again: the same)."""
        if self._stopping.is_set():
            return self.snapshot()  # closed already: never close the (maybe reused) descriptors twice
        self._stopping.set()
        with self._inbox_changed:
            self._inbox_changed.notify_all()  # a reader waiting for room
        if self._reader.is_alive():
            _wake(self._wake_write)
            self._reader.join()
        self._drain()
        self._close_sockets()
        self._inbox.put(None)
        if self._worker.ident is None:  # never started: process what the drain found all the same
            self._worker.start()
        self._worker.join()
        return self.snapshot()

    @property
    def inbox_bytes(self) -> int:
        """Bytes of messages read and not yet aggregated (at most :data:`INBOX_BYTES` and one message)."""
        with self._inbox_changed:
            return self._inbox_bytes

    def snapshot(self) -> RunTelemetry:
        """A copy of what has been aggregated so far."""
        with self._lock:
            data = self._data
            return RunTelemetry(
                list(data.events), dict(data.processes), list(data.shim_errors), data.dropped, data.malformed,
                dict(data.local_answers), data.calls.copy(), data.shim_error_count,
            )

    def record_event(self, event: CallEvent) -> None:
        """Add an event that did not come through the socket (e.g. from an in-process proxy)."""
        self._record_events([event])

    def handle_datagram(self, raw: bytes) -> None:
        """Decode one message and aggregate it (the worker thread calls this; tests may too)."""
        self._handle_messages([raw])

    # Reader thread: accept and receive only --------------------------------------------------
    def _read_loop(self) -> None:
        # Connected mode never sleeps in epoll: it looks, and when nothing came waits _IDLE_SECONDS. A send
        # to a socket nobody is blocked on does not wake a thread: ~2 µs for the child instead of ~13 µs
        # (measured, bench/telemetry.py), and each sender's own queue holds the ~10 ms in between.
        polling = self.kind != socket.SOCK_DGRAM
        while not self._stopping.is_set():
            room = self._wait_for_room()
            try:
                ready = self._poller.wait(0.0 if polling else _POLL_SECONDS)
            except OSError:
                return
            batch = _Round(room)
            for descriptor, role in ready:
                self._service(descriptor, role, batch)
            if batch.messages:
                self._hand_over(batch)  # one hand-off per round, however many messages
            elif polling:
                self._stopping.wait(_IDLE_SECONDS)

    def _wait_for_room(self) -> int:
        """Bytes the inbox can take, once it can take any (or the collector is stopping). Meanwhile
        nothing is read: what senders send waits in their kernel queues, or is dropped and counted."""
        with self._inbox_changed:
            while self._inbox_bytes >= INBOX_BYTES and not self._stopping.is_set():
                self._inbox_changed.wait()
            return INBOX_BYTES - self._inbox_bytes

    def _hand_over(self, batch: "_Round") -> None:
        with self._inbox_changed:
            self._inbox_bytes += batch.size
        self._inbox.put(batch)

    def _service(self, descriptor: int, role: str, batch: "_Round") -> None:
        if role == _LISTENER:
            self._accept_all()
        elif role == _DGRAM:
            _receive_all(self._socket, self._view, batch)
        elif role == _CONNECTION:
            connection = self._connections.get(descriptor)
            if connection is not None and _receive_all(connection, self._view, batch):
                self._forget(descriptor)
        # _WAKE: stop() wrote a byte; the loop condition sees the flag

    def _accept_all(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:  # BlockingIOError: none waiting; others: a sender that already went away
                return
            connection.setblocking(False)
            self._connections[connection.fileno()] = connection
            self._poller.add(connection.fileno(), _CONNECTION)

    def _forget(self, descriptor: int) -> None:
        connection = self._connections.pop(descriptor)
        self._poller.remove(descriptor)
        connection.close()

    def _drain(self) -> None:
        """Take whatever is still queued (the child has exited: nothing more comes; what the kernel
        holds is bounded by the senders' queues, so the inbox's bound does not apply)."""
        batch = _Round(room=None)
        if self.kind == socket.SOCK_DGRAM:
            _receive_all(self._socket, self._view, batch, limit=None)
        else:
            self._accept_all()  # connections made but never accepted still hold their messages
            for connection in list(self._connections.values()):
                _receive_all(connection, self._view, batch, limit=None)
        if batch.messages:
            self._hand_over(batch)

    def _close_sockets(self) -> None:
        for descriptor in list(self._connections):
            self._forget(descriptor)
        self._poller.close()
        self._socket.close()
        for descriptor in (self._wake_read, self._wake_write):
            _close_fd(descriptor)

    # Worker thread: decode and aggregate -----------------------------------------------------
    def _work_loop(self) -> None:
        while True:
            batch = self._inbox.get()
            if batch is None:
                return
            try:
                self._handle_messages(batch.messages)
            finally:
                with self._inbox_changed:
                    self._inbox_bytes -= batch.size
                    self._inbox_changed.notify()

    def _handle_messages(self, messages: List[bytes]) -> None:
        events: List[CallEvent] = []
        for raw in messages:
            try:
                self._sort(raw, events)
            except Exception:  # a bad message must never stop the collection
                self._count_malformed()
        if events:
            self._record_events(events)

    def _sort(self, raw: bytes, events: List[CallEvent]) -> None:
        message = _json_object(raw)
        kind = message.get("kind") if message is not None else None
        if message is None:
            self._count_malformed()
        elif kind == "hello" and message.get("v") == _LIFECYCLE_VERSION:
            self._add_process(message)
        elif kind == "shim_error" and message.get("v") == _LIFECYCLE_VERSION:
            self._add_shim_error(message)
        elif kind == "dropped" and message.get("v") == _LIFECYCLE_VERSION:
            self._add_lost(_int(message.get("count")))
        elif kind == "local_answer" and message.get("v") == _LIFECYCLE_VERSION:
            self._add_local_answer(str(message.get("endpoint") or "")[:_NAME_LIMIT])
        else:
            event = event_from_message(message) if kind is None else None
            if event is None:
                self._count_malformed()
            else:
                events.append(event)

    def _record_events(self, events: List[CallEvent]) -> None:
        with self._lock:
            data = self._data
            for event in events:
                data.calls.add(event)
            data.events.extend(events)
            if len(data.events) > RECENT_EVENTS:
                del data.events[: len(data.events) - RECENT_EVENTS]
            self._data.dropped += sum(max(0, event.dropped_before) for event in events)
        if self._on_event is None:
            return
        for event in events:
            try:
                self._on_event(event)
            except Exception:  # a bad callback must never stop the collection
                self._count_malformed()

    # Aggregation -----------------------------------------------------------------------------
    def _add_process(self, message: Dict[str, Any]) -> None:
        info = ProcessInfo(
            pid=_int(message.get("pid")),
            ppid=_int(message.get("ppid")),
            program=_text(message.get("program")),
            python=_text(message.get("python")),
            executable=_text(message.get("executable")),
        )
        with self._lock:
            processes = self._data.processes
            if info.pid in processes or len(processes) < PROCESSES_KEPT:
                processes[info.pid] = info

    def _add_shim_error(self, message: Dict[str, Any]) -> None:
        error = ShimError(_int(message.get("pid")), _text(message.get("message"), _MESSAGE_LIMIT))
        with self._lock:
            self._data.shim_error_count += 1
            if len(self._data.shim_errors) < SHIM_ERRORS_KEPT:
                self._data.shim_errors.append(error)

    def _add_lost(self, count: int) -> None:
        with self._lock:
            self._data.dropped += max(0, count)
        if self._on_lost is not None and count > 0:
            try:
                self._on_lost(count)
            except Exception:  # a bad callback must never stop the collection
                self._count_malformed()

    def _add_local_answer(self, endpoint: str) -> None:
        with self._lock:
            answers = self._data.local_answers
            if endpoint in answers or len(answers) < _LOCAL_ANSWER_KINDS:
                answers[endpoint] = answers.get(endpoint, 0) + 1

    def _count_malformed(self) -> None:
        with self._lock:
            self._data.malformed += 1


_NAME_LIMIT = 64  # a platform endpoint's name (the shim sends a handful of fixed ones)
_LOCAL_ANSWER_KINDS = 16  # distinct names kept: children cannot grow the host's memory
_LIFECYCLE_VERSION = 1  # shim/lifecycle_events.py LIFECYCLE_VERSION (not imported: it is the child's module)
_WAKE, _LISTENER, _DGRAM, _CONNECTION = "wake", "listener", "dgram", "connection"
_ROUND_LIMIT = 256  # messages taken from one socket per round, so one busy sender cannot starve the others


class _Poller:
    """``select.epoll`` where there is one (Linux), else ``select.poll``; file descriptor → role."""

    def __init__(self) -> None:
        self._roles: Dict[int, str] = {}
        self._epoll = select.epoll() if hasattr(select, "epoll") else None
        self._poll = select.poll() if self._epoll is None else None

    def add(self, descriptor: int, role: str) -> None:
        self._roles[descriptor] = role
        if self._epoll is not None:
            self._epoll.register(descriptor, select.EPOLLIN)
        else:
            self._poll.register(descriptor, select.POLLIN)  # type: ignore[union-attr]

    def remove(self, descriptor: int) -> None:
        self._roles.pop(descriptor, None)
        (self._epoll or self._poll).unregister(descriptor)  # type: ignore[union-attr]

    def wait(self, timeout: float) -> List["tuple[int, str]"]:
        if self._epoll is not None:
            ready = self._epoll.poll(timeout)
        else:
            ready = self._poll.poll(timeout * 1000)  # type: ignore[union-attr]
        return [(descriptor, self._roles.get(descriptor, _WAKE)) for descriptor, _ in ready]

    def close(self) -> None:
        if self._epoll is not None:
            self._epoll.close()


class _Round:
    """The messages one round of the reader takes, up to ``room`` bytes (None: no bound)."""

    __slots__ = ("messages", "room", "size")

    def __init__(self, room: Optional[int]) -> None:
        self.messages: List[bytes] = []
        self.size = 0
        self.room = room

    @property
    def full(self) -> bool:
        return self.room is not None and self.size >= self.room

    def add(self, message: bytes) -> None:
        self.messages.append(message)
        self.size += len(message)


def _receive_all(sock: socket.socket, view: memoryview, batch: _Round, limit: Optional[int] = _ROUND_LIMIT
                 ) -> bool:
    """Add the messages waiting on ``sock`` to ``batch`` (at most ``limit``, and none once the batch is
    full); True when the peer has gone."""
    receive = sock.recv_into
    connected = sock.type != socket.SOCK_DGRAM
    taken = 0
    while (limit is None or taken < limit) and not batch.full:
        try:
            size = receive(view)
        except BlockingIOError:
            return False
        except OSError:  # ECONNRESET: the sender died; what it sent before is already read
            return connected
        if size == 0 and connected:
            return True  # end of file: the process exited (our senders never send empty messages)
        if size:
            batch.add(bytes(view[:size]))
        taken += 1
    return False


def _listen(path: Path, kind: int) -> socket.socket:
    receiver = socket.socket(socket.AF_UNIX, kind)
    try:
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)
        receiver.bind(str(path))
        if kind != socket.SOCK_DGRAM:
            receiver.listen(_BACKLOG)
        receiver.setblocking(False)
    except OSError:
        receiver.close()
        raise
    return receiver


def _wake_pipe() -> "tuple[int, int]":
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    return read_end, write_end


def _wake(descriptor: int) -> None:
    """A byte on the pipe, so the reader notices the stop at once instead of at its next poll."""
    try:
        os.write(descriptor, b"x")
    except OSError:
        pass


def _close_fd(descriptor: int) -> None:
    try:
        os.close(descriptor)
    except OSError:
        pass


def _json_object(raw: bytes) -> Optional[Dict[str, Any]]:
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return message if isinstance(message, dict) else None


def _text(value: Any, limit: int = TEXT_LIMIT) -> str:
    """A text field of a lifecycle message, cut as event texts are (any process may have sent it)."""
    return str(value or "")[:limit]


def _int(value: Union[int, Any]) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
