"""A loopback HTTP server that answers in both providers' real wire formats.

One server serves both protocols under the same root, because backend base URLs follow the SDK
conventions (OpenAI ``<root>/v1`` + ``/chat/completions``; Anthropic ``<root>`` + ``/v1/messages``).
Streams go out with chunked transfer-encoding, one HTTP chunk per write, flushed at once, so a
client sees the stream as it is written.

:class:`WireServer` (lifecycle) and :class:`WireHandler` (HTTP plumbing) are the shared base of
``router demo``'s provider (:mod:`.provider`) and the tests' scripted fake (``tests/fakes``).
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Mapping, Optional, Sequence, Type, Union

from .reply import Reply
from .wire_anthropic import AnthropicWire, anthropic_error_body
from .wire_openai import CREATED, OpenAIWire, openai_error_body
from .wire_responses import ResponsesWire

__all__ = [
    "ANTHROPIC",
    "MODELS",
    "OPENAI",
    "RESPONSES",
    "Wire",
    "WireHandler",
    "WireServer",
    "error_body",
    "model_list",
    "wire_for",
]

ANTHROPIC = "anthropic"
OPENAI = "openai"
RESPONSES = "responses"  # OpenAI's Responses API: OpenAI's protocol, its own wire format
MODELS = ("claude-sonnet-4-6", "gpt-5.1", "llama-3.3-70b")
Wire = Union[AnthropicWire, OpenAIWire, ResponsesWire]


class WireServer:
    """A ``ThreadingHTTPServer`` on 127.0.0.1 (ephemeral port) in a daemon thread.

    Use as a context manager, or ``start()``/``stop()``. Handlers reach this object as
    ``self.server.owner``."""

    def __init__(self, handler: Type[BaseHTTPRequestHandler], thread_name: str) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, name=thread_name, daemon=True)

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> "WireServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "WireServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class WireHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive plumbing: JSON bodies in and out, chunked streams out."""

    protocol_version = "HTTP/1.1"  # keep-alive and chunked responses
    disable_nagle_algorithm = True  # one tiny chunk must not wait for the previous one's ACK

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the demo prints its own lines, tests their own

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):
            pass  # the peer reset a keep-alive connection (e.g. an SDK raised mid-stream): not an error

    def read_body(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def route_path(self) -> str:
        """The request path without query string or trailing slash."""
        return self.path.split("?")[0].rstrip("/")

    def send_json(self, status: int, body: Union[bytes, Any], extra: Optional[Mapping[str, str]] = None) -> bytes:
        """Send a complete JSON response; returns the body bytes sent."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self._send_extra_headers(extra)
        self.end_headers()
        self.wfile.write(data)
        return data

    def start_stream(self, extra: Optional[Mapping[str, str]] = None) -> None:
        """Headers of a 200 ``text/event-stream`` response with chunked framing."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self._send_extra_headers(extra)
        self.end_headers()

    def write_chunk(self, piece: bytes) -> None:
        """One HTTP chunk, flushed now."""
        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.flush()

    def end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def send_stream(self, events: Sequence[bytes], extra: Optional[Mapping[str, str]] = None) -> None:
        """A whole SSE stream, one chunk per event."""
        self.start_stream(extra)
        for event in events:
            self.write_chunk(event)
        self.end_stream()

    def _send_extra_headers(self, extra: Optional[Mapping[str, str]]) -> None:
        self.send_header("x-request-id", "req_fake_0001")
        for name, value in (extra or {}).items():
            self.send_header(name, value)


def wire_for(protocol: str, reply: Reply, body: Dict[str, Any], serial: int) -> Wire:
    """The writer rendering ``reply`` for a request ``body`` in ``protocol``."""
    model = body.get("model") if isinstance(body.get("model"), str) else "unknown-model"
    assert isinstance(model, str)
    if protocol == ANTHROPIC:
        return AnthropicWire(reply, model, serial)
    if protocol == RESPONSES:
        return ResponsesWire(reply, model, serial, body)
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    return OpenAIWire(reply, model, serial, include_usage=include_usage)


def error_body(protocol: str, status: int, message: Optional[str] = None) -> Dict[str, Any]:
    """An error body as ``protocol``'s API sends it."""
    return anthropic_error_body(status, message) if protocol == ANTHROPIC else openai_error_body(status, message)


def model_list(anthropic_shape: bool, models: Sequence[str] = MODELS) -> Dict[str, Any]:
    """``GET /v1/models`` in the caller's shape (Anthropic when it sent ``anthropic-version``)."""
    if anthropic_shape:
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2026-01-01T00:00:00Z", "lifecycle": "active"}
            for m in models
        ]
        return {"data": data, "has_more": False, "first_id": models[0], "last_id": models[-1]}
    return {"object": "list", "data": [{"id": m, "object": "model", "created": CREATED, "owned_by": "fake"}
                                       for m in models]}
