"""A loopback fake of both providers, speaking their real wire formats, scripted per test.

One server (stdlib ``ThreadingHTTPServer`` on 127.0.0.1, an ephemeral port, a background thread)
serves both protocols under the same root, because backend base URLs follow the SDK conventions
(OpenAI ``<root>/v1`` + ``/chat/completions``; Anthropic ``<root>`` + ``/v1/messages``):

* ``POST /v1/chat/completions`` — OpenAI (``host.demo.wire_openai``),
* ``POST /v1/responses`` — OpenAI's Responses API (``host.demo.wire_responses``),
* ``POST /v1/messages`` — Anthropic (``host.demo.wire_anthropic``),
* ``POST /v1/messages/count_tokens`` — ``{"input_tokens": provider.count_tokens_result}``,
* ``GET /v1/models`` — a model list in the caller's shape (Anthropic if it sent ``anthropic-version``),
* ``POST /v1/traces/ingest`` — ``204`` (OpenAI's trace upload, which the OpenAI Agents SDK makes).

With :attr:`FakeProvider.accepted_keys` set, a request whose ``x-api-key`` / bearer token is not one of
them gets the provider's 401, whose message quotes part of the key as OpenAI's does
(``Incorrect API key provided: sk-wro****1234``), so tests can prove that text never reaches a user.

Tests script answers with :meth:`FakeProvider.reply` (one per upstream call, consumed in order), or
hand every call without a queued reply to a *responder* that decides from the request:
:meth:`FakeProvider.agent_loop` (a model running one tool, then answering: what real agents need,
see :mod:`.agent_loop`) or any :meth:`FakeProvider.respond_with`. They inspect
:attr:`FakeProvider.exchanges`: every request received (headers, parsed body) and the exact
body bytes sent back. Streams go out with chunked transfer-encoding, one HTTP chunk per SSE event —
or one per byte with ``byte_by_byte`` — flushed at once, so the engine sees the upstream as it is
written.

The wire writers and the protocol-shaped error and model-list bodies are the ones ``router demo``
ships (``host.demo``); this module adds the scripting and recording tests need.
"""

import dataclasses
import itertools
import json
import os
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Mapping, Optional, Set, Union

from host.demo.wire_openai import openai_error_body
from host.demo.wire_server import Wire, WireServer
from host.demo.wire_server import error_body as _error_body
from host.demo.wire_server import model_list as _model_list
from host.demo.wire_server import wire_for as _wire

from .agent_loop import AgentLoop
from .scenario import Reply

__all__ = ["Exchange", "FakeProvider", "RecordedRequest", "Responder"]

# Responses ids as a real provider's are: unique for the whole test run, whatever the tests reset
# (the router keeps records by id, and treats an id given twice as naming no conversation:
# docs/responses-api.md#one-id-one-conversation). A test that plays a server reusing an id sets
# ``Reply.response_id``.
_RUN_TAG = os.urandom(4).hex()
_RESPONSE_NUMBERS = itertools.count(1)


def _new_response_id() -> str:
    return f"resp_Fake{_RUN_TAG}{next(_RESPONSE_NUMBERS):06d}"

_HOLD_TIMEOUT = 5.0
_HOLD_SLICE = 0.01  # how often a hold looks at its connection


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # as received, query included
    headers: Dict[str, str]  # keys lower-cased
    raw_body: bytes
    json: Any  # the parsed body, or None when it was not JSON

    def header(self, name: str) -> Optional[str]:
        return self.headers.get(name.lower())


@dataclass
class Exchange:
    """One call the fake answered: what came in and the exact body bytes that went out."""

    request: RecordedRequest
    status: int = 0
    sent_body: bytes = b""  # for streams: the SSE bytes, before chunked framing
    stream: bool = False


# Decides the answer to a call from its protocol and parsed body.
Responder = Callable[[str, Dict[str, Any]], Reply]


@dataclass
class _Script:
    replies: List[Reply] = field(default_factory=list)
    responder: Optional[Responder] = None  # answers the calls no queued reply is left for
    exchanges: List[Exchange] = field(default_factory=list)
    serial: int = 0


class FakeProvider(WireServer):
    """See the module docstring. Use as a context manager, or ``start()``/``stop()``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script = _Script()
        self.byte_by_byte = False  # default for replies that do not say
        # Answer a streaming call with the whole JSON body, as servers that ignore ``stream`` do.
        self.answers_streams_whole = False
        # Stream every answer, whatever was asked, as servers that stream when ``stream`` is left out do.
        self.streams_every_answer = False
        self.count_tokens_result = 42
        self.accepted_keys: Optional[Set[str]] = None  # None: any key (or none) is accepted
        self.release = threading.Event()  # opens streams held by ``Reply.hold_after_events``
        self.holding = threading.Event()  # set once a stream has written everything before its hold
        self.hold_timed_out = False  # a held stream gave up waiting for ``release``
        self.peer_closed = threading.Event()  # set when the client closed its connection during a hold
        super().__init__(_Handler, "fake-provider")
        self._server.provider = self  # type: ignore[attr-defined]  # how _Handler reaches the script

    def __enter__(self) -> "FakeProvider":
        self.start()
        return self

    # Scripting -----------------------------------------------------------------------------
    def reply(self, **fields: Any) -> Reply:
        """Queue the answer to the next upstream call; fields as in :class:`~.scenario.Reply`
        (``tool_calls`` may be ``("name", {...})`` tuples)."""
        scripted = Reply.build(**fields)
        with self._lock:
            self._script.replies.append(scripted)
        return scripted

    def respond_with(self, responder: Responder) -> None:
        """Answer every call no queued reply is left for with ``responder(protocol, body)``."""
        with self._lock:
            self._script.responder = responder

    def agent_loop(self, tool: str, arguments: Mapping[str, Any], final_text: str, **options: Any) -> AgentLoop:
        """Play a model that calls ``tool`` with ``arguments``, then answers ``final_text`` once the
        tool's result is in the conversation; every protocol, every call (:class:`.AgentLoop`)."""
        loop = AgentLoop(tool, arguments, final_text, **options)
        self.respond_with(loop)
        return loop

    def reset(self) -> None:
        """Forget queued replies, the responder and recorded exchanges (between tests)."""
        with self._lock:
            self._script = _Script()
        self.byte_by_byte = False
        self.answers_streams_whole = False
        self.streams_every_answer = False
        self.count_tokens_result = 42
        self.accepted_keys = None
        self.new_hold()

    def new_hold(self) -> None:
        """Ready for the next held stream (``Reply.hold_after_events``): held until ``release`` again."""
        self.release.clear()
        self.holding.clear()
        self.hold_timed_out = False
        self.peer_closed = threading.Event()  # new, not cleared: a hold left over from a test keeps its own

    @property
    def pending_replies(self) -> int:
        with self._lock:
            return len(self._script.replies)

    @property
    def exchanges(self) -> List[Exchange]:
        with self._lock:
            return list(self._script.exchanges)

    @property
    def requests(self) -> List[RecordedRequest]:
        return [exchange.request for exchange in self.exchanges]

    @property
    def last(self) -> Exchange:
        exchanges = self.exchanges
        assert exchanges, "the fake provider received no request"
        return exchanges[-1]

    # Used by the handler -------------------------------------------------------------------
    def _record(self, request: RecordedRequest) -> Exchange:
        exchange = Exchange(request)
        with self._lock:
            self._script.exchanges.append(exchange)
        return exchange

    def _next_reply(self, protocol: str, body: Dict[str, Any]) -> "tuple[Optional[Reply], int]":
        with self._lock:
            self._script.serial += 1
            serial, responder = self._script.serial, self._script.responder
            if self._script.replies:
                return self._script.replies.pop(0), serial
        # outside the lock: a responder only reads the request
        return (responder(protocol, body) if responder is not None else None), serial


def _error_protocol(wire_format: str) -> str:
    """The protocol whose error bodies a wire format uses (Responses errors are OpenAI's)."""
    return "anthropic" if wire_format == "anthropic" else "openai"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked responses
    disable_nagle_algorithm = True  # one tiny chunk must not wait for the previous one's ACK
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):
            pass  # the peer reset a keep-alive connection (e.g. an SDK raised mid-stream): not an error

    @property
    def provider(self) -> FakeProvider:
        return self.server.provider  # type: ignore[attr-defined, no-any-return]

    def do_GET(self) -> None:
        exchange = self.provider._record(self._read_request())
        if self._rejected_key(exchange):
            return
        if self.path.split("?")[0].rstrip("/") != "/v1/models":
            self._send_json(exchange, 404, openai_error_body(404, f"no such path {self.path}"))
            return
        self._send_json(exchange, 200, _model_list("anthropic-version" in exchange.request.headers))

    def do_POST(self) -> None:
        exchange = self.provider._record(self._read_request())
        if self._rejected_key(exchange):
            return
        path = self.path.split("?")[0].rstrip("/")
        body = exchange.request.json if isinstance(exchange.request.json, dict) else {}
        if path == "/v1/messages/count_tokens":
            self._send_json(exchange, 200, {"input_tokens": self.provider.count_tokens_result})
        elif path == "/v1/messages":
            self._answer(exchange, body, "anthropic")
        elif path == "/v1/chat/completions":
            self._answer(exchange, body, "openai")
        elif path == "/v1/responses":
            self._answer(exchange, body, "responses")
        elif path == "/v1/traces/ingest":
            self._send_no_content(exchange)
        else:
            self._send_json(exchange, 404, openai_error_body(404, f"no such path {self.path}"))

    def _rejected_key(self, exchange: Exchange) -> bool:
        """Answer 401 (True) when keys are checked and the request carries none of the accepted ones."""
        accepted = self.provider.accepted_keys
        headers = exchange.request.headers
        presented = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
        if accepted is None or presented in accepted:
            return False
        anthropic_shaped = "anthropic-version" in headers or "/messages" in self.path
        masked = f"{presented[:6]}****{presented[-4:]}" if len(presented) > 10 else "****"
        message = f"Incorrect API key provided: {masked}."
        if anthropic_shaped:
            self._send_json(exchange, 401, _error_body("anthropic", 401, "invalid x-api-key " + masked))
        else:
            body = openai_error_body(401, message)
            body["error"]["code"] = "invalid_api_key"
            self._send_json(exchange, 401, body)
        return True

    def _read_request(self) -> RecordedRequest:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        headers = {key.lower(): value for key, value in self.headers.items()}
        return RecordedRequest(self.command, self.path, headers, raw, parsed)

    def _answer(self, exchange: Exchange, body: Dict[str, Any], protocol: str) -> None:
        reply, serial = self.provider._next_reply(protocol, body)
        if reply is not None and reply.reset:
            self._reset_connection()
            return
        if reply is None:
            message = "fake provider: no reply scripted for this call"
            self._send_json(exchange, 500, _error_body(_error_protocol(protocol), 500, message))
            return
        streamed_whole = body.get("stream") is True and self.provider.answers_streams_whole
        if reply.error is not None and reply.error[0] == 200 and streamed_whole:
            content = reply.error[1]  # a 200 that is an error, or not JSON at all, sent as the whole answers are
            data = content if isinstance(content, bytes) else json.dumps(content).encode()
            self._send_whole_to_stream(exchange, data, reply)
            return
        if reply.error is not None:
            self._send_error(exchange, protocol, reply)
            return
        if protocol == "responses" and reply.response_id is None:
            reply = dataclasses.replace(reply, response_id=_new_response_id())
        if self.provider.streams_every_answer:  # its usage in the stream whatever was asked, as such servers write it
            body = {**body, "stream_options": {"include_usage": True}}
        wire = _wire(protocol, reply, body, serial)
        if streamed_whole:
            self._send_whole_to_stream(exchange, json.dumps(wire.body()).encode(), reply)
        elif body.get("stream") is True or self.provider.streams_every_answer:
            self._send_stream(exchange, wire, reply)
        else:
            if reply.hold_after_events == 0:  # a whole answer held before its first byte
                self._hold()
            self._send_json(exchange, 200, wire.body(), reply.headers)

    def _send_error(self, exchange: Exchange, protocol: str, reply: Reply) -> None:
        assert reply.error is not None
        status, body = reply.error
        if body is None:
            body = _error_body(_error_protocol(protocol), status)
        self._send_json(exchange, status, body, reply.headers)

    def _send_json(
        self, exchange: Exchange, status: int, body: Union[bytes, Any], extra: Optional[Dict[str, str]] = None
    ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        exchange.status, exchange.sent_body = status, data
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-request-id", "req_fake_0001")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_no_content(self, exchange: Exchange) -> None:
        exchange.status = 204
        self.send_response(204)
        self.end_headers()

    def _send_stream(self, exchange: Exchange, wire: Wire, reply: Reply) -> None:
        events = wire.stream_events()
        if reply.truncate_after_events is not None:
            events = events[: reply.truncate_after_events]
        exchange.status, exchange.stream = 200, True
        exchange.sent_body = b"".join(events)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("x-request-id", "req_fake_0001")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self._write_stream_body(events, reply)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the engine gave up on us; nothing more to do

    def _send_whole_to_stream(self, exchange: Exchange, data: bytes, reply: Reply) -> None:
        """The whole JSON answer to a streaming call, chunked (one chunk, or one a byte)."""
        exchange.status, exchange.sent_body = 200, data
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("x-request-id", "req_fake_0001")
        self.end_headers()
        byte_by_byte = self.provider.byte_by_byte if reply.byte_by_byte is None else reply.byte_by_byte
        self._write_chunks([data], byte_by_byte)
        self.wfile.write(b"0\r\n\r\n")

    def _write_stream_body(self, events: List[bytes], reply: Reply) -> None:
        byte_by_byte = self.provider.byte_by_byte if reply.byte_by_byte is None else reply.byte_by_byte
        held = len(events) if reply.hold_after_events is None else reply.hold_after_events
        self._write_chunks(events[:held], byte_by_byte)
        if held < len(events):
            self._hold()
            self._write_chunks(events[held:], byte_by_byte)
        if reply.drop_connection:
            self._drop_connection()
        else:
            self.wfile.write(b"0\r\n\r\n")

    def _write_chunks(self, events: List[bytes], byte_by_byte: bool) -> None:
        for event in events:
            pieces = [event[i : i + 1] for i in range(len(event))] if byte_by_byte else [event]
            for piece in pieces:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()

    def _hold(self) -> None:
        """Wait for ``release``, watching the connection meanwhile: a peer that closes it sets
        ``peer_closed`` (what the client-disconnect tests assert, without timing or /proc)."""
        peer_closed = self.provider.peer_closed
        self.provider.holding.set()
        deadline = time.monotonic() + _HOLD_TIMEOUT
        while not self.provider.release.wait(timeout=_HOLD_SLICE):
            if not peer_closed.is_set() and self._peer_has_closed():
                peer_closed.set()
            if time.monotonic() >= deadline:
                self.provider.hold_timed_out = True
                return

    def _peer_has_closed(self) -> bool:
        """EOF (or a reset) on the request socket; the request was read whole, so nothing else is pending.
        ``poll``, not ``select``: a test process past descriptor 1,024 made ``select`` fail here, and
        the held stream was dropped."""
        watch = select.poll()
        watch.register(self.connection, select.POLLIN)
        if not watch.poll(0):
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _reset_connection(self) -> None:
        """Close with a TCP reset (SO_LINGER 0) before a byte of the answer: the client's read fails
        the way a crashed or overloaded server's does."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    def _drop_connection(self) -> None:
        """Close without the terminating chunk: the reader sees the connection die mid-body."""
        self.close_connection = True
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)

