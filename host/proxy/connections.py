"""Client connections: the limits uvicorn's httptools protocol does not set (docs/proxy-limits.md#connections).

uvicorn's ``HttpToolsProtocol`` parses each request with llhttp and hands it to the app. It puts no
limit on the request line or the headers, no time limit on reading them, and a connection that never
sends a byte stays open for good (its keep-alive timer starts only after a first response). Any
local process, without the router's key, could hold every file descriptor the proxy has, or make it
spend seconds of CPU on one endless header. :class:`GuardedHttpToolsProtocol` adds, per connection:

- a cap on the request line and headers together (:attr:`ConnectionLimits.max_header_bytes`),
  counted as bytes arrive, so an endless header is refused after one read past the cap, with 431
  in the client's protocol (the path, when it came, says which);
- a header timeout: from a request's first byte to the end of its headers; then the connection
  is closed;
- a body timeout: the longest pause between two pieces of a request body; then the connection is
  closed (a body that trickles in, or stops one byte short, held its connection and its memory for
  good);
- an idle timeout: a connection with no request under way (just opened, or kept alive after an
  answer) is closed after this long, measured from when it became idle (stray bytes that start no
  request do not reset it);
- a send timeout: a client that takes none of an answer the proxy holds for it (the transport's
  buffer over its high-water mark) for this long has its connection reset (a call waiting to
  write held its connection slot, its upstream connection and its body's room for good);
- a cap on open connections, :class:`ConnectionBook`: at the cap, a new connection makes room by
  closing the connection that has waited longest without a request under way (idle, or still
  sending its headers or its body); only when every connection is serving a request is the new
  one closed;
- a cap on requests read ahead of their answers (HTTP/1.1 pipelining, :data:`MAX_READ_AHEAD`):
  uvicorn parses every request a read holds and queues each one not yet served, so one client
  writing requests without reading answers made the proxy queue them by the million; past the cap
  the connection takes no more requests, answers those it has read (the last one saying
  ``connection: close``) and closes;
- every request llhttp cannot parse is answered 400 in the client's protocol (uvicorn answers in
  plain text), and an upgrade request goes to the app as plain HTTP (the app refuses WebSockets in
  the client's protocol, ``websocket_refusal.py``; another upgrade is ignored, as RFC 9110 section 7.8
  allows, and the connection closes after the answer).

Each connection is in one of these states::

    WAITING ──first byte──► READING_HEAD ──headers complete──► READING_BODY ──body complete──► IN_REQUEST
       ▲                                                                                         │
       └────────────────────────────── answer complete (kept alive) ─────────────────────────────┘

A request without a body, or whose body came with its head, passes READING_BODY at once. WAITING,
READING_HEAD and READING_BODY connections (the last only while their body is still arriving, with
no earlier request of theirs unanswered) are the ones the book may close to make room: they have
not yet asked for anything the proxy could do; IN_REQUEST ones are serving a client and are never
touched. The subclass relies on uvicorn's parser callbacks
(``on_message_begin``, ``on_headers_complete``, ``on_message_complete``, ``on_response_complete``)
and its ``url``/``headers``/``cycle``/``pipeline`` attributes, as of uvicorn 0.55 (pinned in
tests/constraints/project.txt; tests/proxy/test_client_limits.py exercises each of them).
"""

import asyncio
import contextlib
import logging
import socket
import struct
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Optional, Type

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from shim.errors import HeadersTooLargeError, InvalidRequestError, RouterError

from .asgi_io import CLOSE_CONNECTION, CONNECTION_END, STOPPED_READING, ConnectionEnd
from .error_shape import client_protocol, raw_error_response
from .turn_writes import TurnWrites

__all__ = ["IN_REQUEST", "MAX_READ_AHEAD", "READING_BODY", "READING_HEAD", "WAITING", "ConnectionBook",
           "ConnectionLimits", "guarded_protocol"]

WAITING = "waiting"
READING_HEAD = "reading_head"
READING_BODY = "reading_body"
IN_REQUEST = "in_request"

_RESET_ON_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on with no time: close() sends a reset (socket(7))

# Requests one connection may have read and queued behind the one being answered
# (docs/proxy-limits.md#connections, "Pipelining").
MAX_READ_AHEAD = 16
# What a chunk's size line and line ends take (16 hex digits and two CRLFs fit): a chunked
# body's framing may be this much per chunk plus one head's worth, for extensions and trailers.
_CHUNK_LINE_BYTES = 32
# The most a connection answered before the end of its request (a refusal, an answer before a body
# it was asked leave for, a last answer before requests it will not read) reads and drops so its
# client, still writing, comes to read the answer (docs/proxy-limits.md#connections, "Lingering"):
# 512 heads at the default limit.
LINGER_MAX_BYTES = 16 * 1024 * 1024

_logger = logging.getLogger("router.proxy")


@dataclass(frozen=True)
class ConnectionLimits:
    """docs/proxy-limits.md#connections: each limit, its default and why."""

    max_header_bytes: int
    header_timeout: float
    idle_timeout: float
    max_connections: int
    body_timeout: float
    send_timeout: float
    max_unsent_bytes: int = 256 * 1024 * 1024  # answers waiting for clients that take none of them


class ConnectionBook:
    """The open connections of one server, and which of them may be closed to make room: those with
    no request under way or one whose head or body is still arriving, the one that has waited
    longest first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: set[GuardedHttpToolsProtocol] = set()
        # Insertion order is the order they started waiting: the first is the longest idle.
        self._waiting: OrderedDict[GuardedHttpToolsProtocol, None] = OrderedDict()
        # Those whose transport stopped taking writes, in the order they stopped (the first has waited
        # on its client longest), with what each held then: no more until it takes writes again
        # (uvicorn waits for that before it writes), so their sum bounds what they hold at once.
        self._stalled: OrderedDict[GuardedHttpToolsProtocol, int] = OrderedDict()
        self._stalled_bytes = 0
        self.evicted = 0  # connections closed to make room (for tests and -v)
        self.refused = 0  # connections closed at once because every open one was serving a request

    @property
    def open_count(self) -> int:
        return len(self._open)

    def admit(self, connection: "GuardedHttpToolsProtocol") -> bool:
        """Count ``connection`` in, closing the longest-waiting one if the book is full; False when
        every open connection is serving a request (``connection`` must then be closed)."""
        if len(self._open) >= self.limit:
            if not self._waiting:
                self.refused += 1
                return False
            oldest, _ = self._waiting.popitem(last=False)
            self._open.discard(oldest)
            self.evicted += 1
            oldest.evict()
        self._open.add(connection)
        return True

    def waiting(self, connection: "GuardedHttpToolsProtocol") -> None:
        """``connection`` may be closed for room from now on: it has no request under way, or its
        request's body is still arriving (it goes to the back of the queue)."""
        if connection in self._open:
            self._waiting.pop(connection, None)
            self._waiting[connection] = None

    def busy(self, connection: "GuardedHttpToolsProtocol") -> None:
        self._waiting.pop(connection, None)

    def stalled(self, connection: "GuardedHttpToolsProtocol", budget: int) -> None:
        """``connection``'s client stopped taking its answer: while the answers every stalled
        connection holds pass ``budget``, the one stalled longest is cut off (never the last one:
        one answer is within the budget, docs/proxy-limits.md#connections)."""
        self.writable(connection)
        self._stalled[connection] = held = connection.unsent()
        self._stalled_bytes += held
        if self._stalled_bytes <= budget:
            return  # the common case, without asking every stalled transport what it holds now
        for stalled in self._stalled:  # some have sent part of theirs since: what they hold now
            self._stalled[stalled] = stalled.unsent()
        self._stalled_bytes = sum(self._stalled.values())
        while self._stalled_bytes > budget and len(self._stalled) > 1:
            oldest, held = self._stalled.popitem(last=False)
            self._stalled_bytes -= held
            oldest.cut_off()

    def writable(self, connection: "GuardedHttpToolsProtocol") -> None:
        self._stalled_bytes -= self._stalled.pop(connection, 0)

    def gone(self, connection: "GuardedHttpToolsProtocol") -> None:
        self._waiting.pop(connection, None)
        self.writable(connection)
        self._open.discard(connection)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's protocol with the limits of the module docstring; made by :func:`guarded_protocol`."""

    limits: ConnectionLimits
    book: ConnectionBook

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._state = WAITING
        # Timers cost a call_later and a cancel each; a kept-alive connection should not pay that per
        # request. So the idle timer is armed once and, when it fires, looks at how long the connection
        # has really been idle (re-arming for the rest); the header timer only for a head that did not
        # arrive in one read (a client writes its head at once).
        self._idle_timer: Optional[asyncio.TimerHandle] = None
        self._idle_since = 0.0
        self._head_timer: Optional[asyncio.TimerHandle] = None
        # Armed once a body spans reads, like the idle timer: it looks at when the body last grew.
        self._body_timer: Optional[asyncio.TimerHandle] = None
        self._body_since = 0.0
        # Armed when the transport stops taking writes (its buffer over the high-water mark), like the
        # idle timer once: when it fires it looks for progress since — the transport took writes
        # again, or holds fewer bytes — to tell a client that reads slowly from one that reads nothing.
        self._send_timer: Optional[asyncio.TimerHandle] = None
        self._unsent = 0
        self._writable_since_check = False
        self._head_bytes = 0  # bytes received since the current request's head began (or could have)
        self._counting_head = True  # the next bytes belong to a request line or headers
        # Bytes received since the head ended that were not body: a chunked body's size lines, their
        # extensions and its trailers, which nothing else bounds (docs/proxy-limits.md#body-framing).
        self._framing_bytes = 0
        self._chunks = 0
        # The declared body of an upgrade request not yet read: llhttp skips it, the proxy reads it
        # (docs/proxy-limits.md#upgrades).
        self._upgrade_body_left = 0
        self._cycle_before: Optional[RequestResponseCycle] = None
        self._lingering = False  # reading only to drop what comes (_linger)
        self._linger_left = 0  # bytes still dropped while lingering; then the connection is closed
        self._refusal: Optional[RouterError] = None
        # False once the connection has read as many requests ahead as it may: it answers those and
        # closes, and reads nothing more.
        self._taking_requests = True
        # For the app: a request whose body is still arriving may be dropped to make room for others'
        # (body_budget.py). Weak: the connection holds its request's scope.
        self._closer = weakref.WeakMethod(self._close)
        self._end = ConnectionEnd()  # why the proxy ended the connection, for the app's record of its calls

    # Connection ---------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # uvicorn's writes of one loop turn leave as one (turn_writes.py): an answer's head and body together.
        self._writes = TurnWrites(transport, self.loop)
        super().connection_made(self._writes)  # type: ignore[arg-type]
        if not self.book.admit(self):
            transport.close()  # every slot is serving a request: the client retries (docs/proxy-limits.md)
            return
        self._wait()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._cancel_timers()
        self._writes.instead_of_close(None)  # it holds this protocol: no cycle outlives the connection
        self.book.gone(self)
        super().connection_lost(exc)

    def evict(self) -> None:
        """Closed by the book to make room for a new connection."""
        self._close()

    def eof_received(self) -> None:
        """The client half-closed: the transport closes itself when this returns, past
        :class:`TurnWrites`, so what this turn wrote goes out first (an answer being written as the
        client's FIN arrives was dropped on uvloop, whose flush ran after the close)."""
        self._writes.flush()
        super().eof_received()

    def data_received(self, data: bytes) -> None:
        """uvicorn's, with the head counted and timed and every refusal in the client's protocol."""
        if self._lingering:
            self._drop(len(data))  # the rest of a request answered already (_linger)
            return
        if not self._taking_requests:
            self.flow.pause_reading()  # uvicorn resumes reading after each answer: what came is dropped
            return
        self._unset_keepalive_if_required()
        if self._upgrade_body_left:  # llhttp would read these bytes as another request
            self._take_upgrade_body(data)
            return
        if self._counting_head:
            self._head_bytes += len(data)
        else:
            self._framing_bytes += len(data)  # on_body takes the body's bytes back out
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._upgrade_as_plain_http()
            self._take_upgrade_body(data[upgrade.args[0]:])
            return
        except httptools.HttpParserError:
            if not self._taking_requests:  # past the read-ahead cap: a flood's pattern, not a client's
                self._stop_reading(linger=False)
                return
            self._refuse(self._refusal or InvalidRequestError("the request is not valid HTTP/1.1"))
            return
        if self._counting_head:
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse(self._head_too_large())
            elif self._state == READING_HEAD and self._head_timer is None:
                self._head_timer = self.loop.call_later(self.limits.header_timeout, self._close)
        elif self._framing_bytes > self.limits.max_header_bytes + _CHUNK_LINE_BYTES * self._chunks:
            self._refuse(self._framing_too_large())
            return
        self._watch_body()

    def pause_writing(self) -> None:
        """The transport holds more than its high-water mark for the client: uvicorn makes the app
        wait; the send timer starts (:meth:`_send_check`)."""
        super().pause_writing()
        if self._send_timer is None and not self.transport.is_closing():
            self._unsent, self._writable_since_check = self.transport.get_write_buffer_size(), False
            self._send_timer = self.loop.call_later(self.limits.send_timeout, self._send_check)
        self.book.stalled(self, self.limits.max_unsent_bytes)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._writable_since_check = True  # the client took what was over the mark: progress
        self.book.writable(self)

    def unsent(self) -> int:
        """Bytes of the answer the client has not taken that the proxy holds (a closed transport
        holds them until they are sent)."""
        return self.transport.get_write_buffer_size()

    def cut_off(self) -> None:
        """Reset by the book: the answers waiting for clients that take none are over their budget."""
        self._reset()

    def handle_websocket_upgrade(self) -> None:  # never called: the server runs with ws="none"
        raise AssertionError("WebSocket upgrades are answered by the app as plain HTTP")

    # Parser callbacks ---------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        if len(self.pipeline) >= MAX_READ_AHEAD:
            self._taking_requests = False
            raise _ReadAheadFull()  # stops llhttp before this request; data_received ends the reading
        super().on_message_begin()
        self.scope[CLOSE_CONNECTION] = self._closer  # type: ignore[literal-required]
        self.scope[CONNECTION_END] = self._end  # type: ignore[literal-required]
        if self._state == WAITING:
            self._state = READING_HEAD

    def on_header(self, name: bytes, value: bytes) -> None:
        """A head's header; a trailer (a field after a chunked body) is dropped, as RFC 9110 section
        6.5.1 allows: uvicorn added trailers to the request's headers, unbounded."""
        if self._counting_head:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._head_bytes > self.limits.max_header_bytes and self._head_size() > self.limits.max_header_bytes:
            self._refusal = self._head_too_large()
            raise _Refused()  # stops llhttp here; data_received answers
        self._counting_head, self._head_bytes = False, 0
        self._framing_bytes = self._chunks = 0
        self._state = READING_BODY
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self.book.busy(self)
        upgrade_body = self._upgrade_body_length() if self.parser.should_upgrade() else 0
        before = self.cycle
        super().on_headers_complete()
        self._upgrade_body_left = upgrade_body
        # A request queued behind another keeps that one at hand, should it be refused while its body
        # arrives (_forget_queued_refused_request); for any other request, nothing is kept.
        self._cycle_before = before if self.pipeline and self.pipeline[0][0] is self.cycle else None

    def _upgrade_body_length(self) -> int:
        """An upgrade request's declared body, which llhttp skips (it expects another protocol next):
        the proxy ignores the upgrade (RFC 9110 section 7.8) and serves the request, body and all. A
        chunked one, which would need llhttp to read, is refused."""
        length = 0
        for name, value in self.headers:
            if name == b"transfer-encoding":
                self._refusal = InvalidRequestError("an Upgrade request with a chunked body is not served: "
                                                    "send it without Upgrade, or with content-length")
                raise _Refused()
            if name == b"content-length":
                length = int(value)  # llhttp has checked it is one number
        return length

    def on_chunk_header(self) -> None:
        self._chunks += 1

    def on_body(self, body: bytes) -> None:
        self._framing_bytes -= len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self._upgrade_body_left:
            return  # llhttp skipped the body: the message completes once the proxy has read it
        super().on_message_complete()
        self._counting_head, self._head_bytes = True, 0  # what follows is the next request's head
        if self._state == READING_BODY:
            self._state = IN_REQUEST
            self.book.busy(self)  # it was closable while its body arrived (_watch_body)

    def on_response_complete(self) -> None:
        super().on_response_complete()  # starts the request read ahead next, if there is one
        if self.transport.is_closing() or self.pipeline or self._lingering:
            return
        if self.cycle is None or self.cycle.response_complete:
            if self._state == READING_BODY and self.expect_100_continue:
                self._linger(self.limits.body_timeout)
                return
            self._wait()  # nothing under way (what still comes of a body answered early is skipped)
        else:
            self._watch_body()  # a request read ahead is the one served now; is its body still coming?

    # Helpers ------------------------------------------------------------------------------------
    def _linger(self, deadline: float) -> None:
        """Answered before the end of the request: the rest of it is not wanted (a body the client
        asked leave to send may not come now, RFC 9110 section 10.1.1, and its next request would be
        read as that body; an oversized head is refused). The proxy ends its side after the answer
        and reads on, dropping what comes, until the client closes, ``deadline`` seconds pass or
        :data:`LINGER_MAX_BYTES` are dropped: closed at once with request bytes unread, the kernel
        would send a reset, and a client still writing (``http.client`` writes a whole request
        before it reads) saw the reset instead of the answer (docs/proxy-limits.md#connections)."""
        self._lingering, self._linger_left = True, LINGER_MAX_BYTES
        self._writes.write_eof()
        self._cancel_timers(keep_send=True)
        self._body_timer = self.loop.call_later(deadline, self._close)
        self.book.waiting(self)  # wants nothing more of the proxy: may be closed for room

    def _drop(self, received: int) -> None:
        self._linger_left -= received
        if self._linger_left < 0:
            self._close()  # still writing after all that: the reset it gets is its own doing

    def _wait(self) -> None:
        self._state = WAITING
        self.book.waiting(self)
        self._idle_since = self.loop.time()
        if self._idle_timer is None:
            self._idle_timer = self.loop.call_later(self.limits.idle_timeout, self._idle_check)

    def _watch_body(self) -> None:
        """After a read: if the request being served still awaits its body, the connection may be
        closed for room, and the body timer runs from now (the body's last bytes)."""
        if self._state != READING_BODY or self.pipeline or self.transport.is_closing():
            return  # no body awaited, an earlier request of this connection still unanswered, or closed
        self._body_since = self.loop.time()
        self.book.waiting(self)
        if self._body_timer is None:
            self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_check)

    def _body_check(self) -> None:
        """The body timer fired: close a connection whose body has not grown for that long."""
        self._body_timer = None
        if self.transport.is_closing() or self._state != READING_BODY:
            return
        left = self.limits.body_timeout
        if not self.flow.read_paused:  # paused, the proxy is not reading: the client is not late
            left = self._body_since + self.limits.body_timeout - self.loop.time()
            if left <= 0:
                self._close()
                return
        self._body_timer = self.loop.call_later(left, self._body_check)

    def _idle_check(self) -> None:
        """The idle timer fired: close a connection idle that long; else look again when it could be."""
        self._idle_timer = None
        if self.transport.is_closing():
            return
        left = self.limits.idle_timeout
        if self._state == WAITING:  # bytes that start no request did not reset _idle_since
            left = self._idle_since + self.limits.idle_timeout - self.loop.time()
            if left <= 0:
                self._close()
                return
        self._idle_timer = self.loop.call_later(left, self._idle_check)

    def _send_check(self) -> None:
        """The send timer fired: reset a connection whose client took none of what the transport
        held for a whole send timeout; one that took some is looked at again after another."""
        self._send_timer = None
        if not self.flow.write_paused:  # closing or not: a closed transport still waits to send what it holds
            return  # writing again: the next pause starts the timer anew
        unsent = self.transport.get_write_buffer_size()
        if unsent >= self._unsent and not self._writable_since_check:
            self._reset()
            return
        self._unsent, self._writable_since_check = unsent, False
        self._send_timer = self.loop.call_later(self.limits.send_timeout, self._send_check)

    def _reset(self) -> None:
        """Drop the connection with what it holds: close() would wait to send what the client does not
        read, and the kernel would go on holding the unsent bytes of the closed socket (megabytes, for
        minutes) unless lingering is off, which makes the close a reset. uvicorn's connection_lost
        ends the answer; the app sees its client gone (docs/proxy-limits.md#connections)."""
        self._cancel_timers()
        self._end.reason = STOPPED_READING
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
        self.transport.abort()

    def _head_size(self) -> int:
        """The request line and headers as received (a head can be no larger than the bytes counted,
        so this is needed only when those are over the limit)."""
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def _cancel_timers(self, *, keep_send: bool = False) -> None:
        """``keep_send``: the connection is closing, and a closing transport still waits to send what
        it holds: the send timer goes on looking for progress (docs/proxy-limits.md#connections)."""
        for timer in (self._idle_timer, self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._idle_timer = self._head_timer = self._body_timer = None
        if not keep_send and self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _close(self) -> None:
        self._cancel_timers(keep_send=True)
        self._writes.instead_of_close(None)  # closed now, whatever the last answer was to do
        if not self.transport.is_closing():
            self.transport.close()

    def _framing_too_large(self) -> HeadersTooLargeError:
        return HeadersTooLargeError(
            "the chunked body's framing (chunk extensions and trailers) is over the router proxy's limit of "
            f"{self.limits.max_header_bytes} bytes")

    def _head_too_large(self) -> HeadersTooLargeError:
        return HeadersTooLargeError(
            f"the request line and headers are over the router proxy's limit of {self.limits.max_header_bytes} bytes")

    def _refuse(self, error: RouterError) -> None:
        """Answer ``error`` in the client's protocol (as far as the request tells it) and close once
        the client has read it (:meth:`_linger`); while
        an earlier request's answer is still to come, the refusal could not be written before it: that
        answer goes out and the connection ends after it, no more requests read (a client that
        pipelines retries what was not answered, RFC 9112 section 9.3.2)."""
        self._counting_head = False
        self._cancel_timers(keep_send=True)
        if self.transport.is_closing():
            return
        if self._answer_to_come_first():
            self._forget_queued_refused_request()
            self._taking_requests = False
            self._stop_reading()
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # The refused request's app is under way (its head was whole; its body broke the rules):
            # it answers nobody now, as if its client had left (uvicorn drops what it sends then).
            cycle.disconnected = True
            cycle.message_event.set()
        url: bytes = getattr(self, "url", b"") or b""  # unset when not even a method arrived
        path = url.split(b"?", 1)[0].decode("latin-1", "replace")
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in self.headers or ()}
        self.transport.write(raw_error_response(error, client_protocol(path, headers)))
        self._linger(self.limits.header_timeout)

    def _answer_to_come_first(self) -> bool:
        """An earlier request than the one refused is unanswered, or the refused one's answer began."""
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            return False
        if cycle.scope is not self.scope:  # an earlier request's: the refused one has no cycle yet
            return True
        return bool(self.pipeline) or cycle.response_started

    def _forget_queued_refused_request(self) -> None:
        """The refused request, queued behind another, is never served (its body will not be read):
        the one before it becomes the last this connection answers."""
        if self.pipeline and self.pipeline[0][0] is self.cycle and self._cycle_before is not None:
            self.pipeline.popleft()
            self.cycle, self._cycle_before = self._cycle_before, None

    def _take_upgrade_body(self, data: bytes) -> None:
        """Bytes after an upgrade request's head: its body, up to the declared length (what follows
        is dropped: the connection closes after the answer)."""
        if not self._upgrade_body_left:
            return
        piece = data[:self._upgrade_body_left]
        self._upgrade_body_left -= len(piece)
        if piece:
            self.on_body(piece)
        if self._upgrade_body_left:
            self._watch_body()
        else:
            self.on_message_complete()

    def _upgrade_as_plain_http(self) -> None:
        """llhttp stopped at an ``Upgrade`` request: the app has it as plain HTTP already (and answers a
        WebSocket handshake in the client's protocol). Nothing after it on this connection can be
        parsed, so the connection closes once the answer is out."""
        self._close_after_the_last_answer()

    def _stop_reading(self, *, linger: bool = True) -> None:
        """No more requests on this connection: those read are answered, the last one with
        ``connection: close`` (a client that pipelines retries what was not answered, RFC 9112
        section 9.3.2), and nothing more is read as a request."""
        self.flow.pause_reading()
        self._close_after_the_last_answer(linger=linger)

    def _close_after_the_last_answer(self, *, linger: bool = True) -> None:
        """Once the newest request read is answered, the connection ends, with a lingering close
        (:meth:`_linger`) unless ``linger`` is False: its client may still be writing what the proxy
        will not read as requests (a head refused behind another request, what follows an upgrade),
        and closed at once, the kernel's reset could reach it before the answers did. Past the
        read-ahead cap it is closed at once: no client of the router pipelines, and reading on
        what a pipelining flood writes, to drop it, doubled what each of its connections cost
        (docs/proxy-limits.md#connections, "Lingering")."""
        lingering_close = self._linger_after_the_last_answer if linger else None
        cycle = self.cycle  # the newest request read (uvicorn sets it before queueing one)
        if cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False  # uvicorn closes the transport once it is answered
            self._writes.instead_of_close(lingering_close)
        elif not self.transport.is_closing():
            (lingering_close or self.transport.close)()

    def _linger_after_the_last_answer(self) -> None:
        if self.transport.is_closing():
            return  # the client left (or the connection was cut off) before its last answer
        self._linger(self.limits.header_timeout)
        self.flow.resume_reading()  # paused when the connection stopped taking requests: drop what comes


class _Refused(Exception):
    """Raised in a parser callback to stop llhttp; the refusal is in ``_refusal``."""


class _ReadAheadFull(Exception):
    """Raised in a parser callback to stop llhttp before a request the connection may not queue."""


def guarded_protocol(limits: ConnectionLimits) -> Type[GuardedHttpToolsProtocol]:
    """A protocol class for one server: its connections share one :class:`ConnectionBook`
    (uvicorn makes a protocol per connection from the class it is given)."""
    book = ConnectionBook(limits.max_connections)
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"limits": limits, "book": book})
