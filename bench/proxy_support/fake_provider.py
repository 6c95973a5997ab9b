"""A fast loopback fake LLM provider: pre-encoded answers in both wire formats, no per-request work.

It must never be the bottleneck of the bench, so it is a raw asyncio ``Protocol`` on uvloop with
httptools' C parser (the same parser uvicorn uses), and every response is encoded once at start-up:

- ``POST …/chat/completions``: an OpenAI ``chat.completion``, or with ``"stream": true`` a chunked
  SSE stream (role, 10 content chunks, finish, usage, ``[DONE]``);
- ``POST …/messages``: an Anthropic ``message``, or its SSE stream (10 text deltas);
- ``POST …/responses``: an OpenAI Responses ``response``, or its SSE stream (10 text deltas);
- ``GET …/models``: a one-model OpenAI list (some proxies probe it); anything else: 404.

Each SSE event is its own HTTP chunk, like a real provider. The request body is parsed as JSON
only to read ``stream`` (a few µs for these small bodies). Run standalone (from ``bench/``):
``python -m proxy_support.fake_provider --port 18000``; it prints ``READY <port>`` once listening.
"""

import asyncio
import json
from typing import Dict, List, Optional, Tuple

import httptools

from .serving import run_server_main
from .wire_bodies import (
    OPENAI_MODEL,
    anthropic_message,
    anthropic_stream,
    openai_completion,
    openai_stream,
    responses_object,
    responses_stream,
)

__all__ = ["FakeProviderProtocol", "Responses", "build_responses", "main", "serve"]

Responses = Dict[str, bytes]


def _json_response(status: str, payload: object) -> bytes:
    body = json.dumps(payload, separators=(",", ":")).encode()
    head = f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    return head.encode() + body


def _sse_response(events: List[bytes]) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    head += b"transfer-encoding: chunked\r\n\r\n"
    chunks = [b"%x\r\n%s\r\n" % (len(event), event) for event in events]
    return head + b"".join(chunks) + b"0\r\n\r\n"


def build_responses() -> Responses:
    """Every answer the fake gives, fully encoded (status line, headers, body)."""
    openai_events = [b"data: %s\n\n" % data.encode() for data in openai_stream()]
    anthropic_events = [
        b"event: %s\ndata: %s\n\n" % (name.encode(), data.encode()) for name, data in anthropic_stream()
    ]
    responses_events = [
        b"event: %s\ndata: %s\n\n" % (name.encode(), data.encode()) for name, data in responses_stream()
    ]
    models = {"object": "list", "data": [{"id": OPENAI_MODEL, "object": "model", "created": 0, "owned_by": "fake"}]}
    return {
        "openai": _json_response("200 OK", openai_completion()),
        "openai_stream": _sse_response(openai_events),
        "anthropic": _json_response("200 OK", anthropic_message()),
        "anthropic_stream": _sse_response(anthropic_events),
        "responses": _json_response("200 OK", responses_object()),
        "responses_stream": _sse_response(responses_events),
        "models": _json_response("200 OK", models),
        "not_found": _json_response("404 Not Found", {"error": {"message": "not found", "type": "not_found"}}),
        "bad_request": _json_response("400 Bad Request", {"error": {"message": "bad json", "type": "invalid"}}),
    }


def _wants_stream(body: bytes) -> Optional[bool]:
    """``stream`` of a JSON request body; None when the body is not a JSON object."""
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        return None
    return parsed.get("stream") is True if isinstance(parsed, dict) else None


def choose_response(method: bytes, path: bytes, body: bytes) -> str:
    """The key in :func:`build_responses` that answers this request."""
    path = path.split(b"?", 1)[0].rstrip(b"/")
    if method == b"GET":
        return "models" if path.endswith(b"/models") else "not_found"
    if path.endswith(b"/chat/completions"):
        family = "openai"
    elif path.endswith(b"/messages"):
        family = "anthropic"
    elif path.endswith(b"/responses"):
        family = "responses"
    else:
        return "not_found"
    stream = _wants_stream(body)
    if stream is None:
        return "bad_request"
    return family + "_stream" if stream else family


class FakeProviderProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection: parse requests with httptools, answer with pre-encoded bytes."""

    def __init__(self, responses: Responses) -> None:
        self._responses = responses
        self._parser = httptools.HttpRequestParser(self)
        self._transport: Optional[asyncio.Transport] = None
        self._url = b""
        self._body: List[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport is no subclass

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            if self._transport is not None:
                self._transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._body = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        key = choose_response(self._parser.get_method(), self._url, b"".join(self._body))
        self._transport.write(self._responses[key])
        if not self._parser.should_keep_alive():
            self._transport.close()


async def serve(host: str, port: int) -> Tuple[asyncio.AbstractServer, int]:
    """Start listening; returns the server and the bound port (``port=0`` picks a free one)."""
    responses = build_responses()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: FakeProviderProtocol(responses), host, port, backlog=1024)
    return server, server.sockets[0].getsockname()[1]


def main(argv: Optional[List[str]] = None) -> None:
    """Command-line entry point: serve until SIGINT/SIGTERM."""
    run_server_main(serve, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
