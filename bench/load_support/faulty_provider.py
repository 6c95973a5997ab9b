"""A loopback fake provider for load and soak runs: both wire formats, and the faults real providers have.

What it answers is chosen by the model name the proxy sends upstream (so a client picks a fault by
picking a model, with the router's built-in families routing ``gpt-*`` to the OpenAI backend and
``claude-*`` to the Anthropic one):

- ``…slow…``: a stream whose 10 text events come 50 ms apart (a non-stream answer after 0.5 s):
  what a client can walk away from mid-stream;
- ``…err500…``: ``500`` with the protocol's error body; ``…err429…``: ``429`` with ``retry-after``;
- ``…reset…``: a stream cut after three events (the connection aborted), or no answer at all;
- ``…hang…``: nothing, ever (the proxy's read timeout has to end it);
- ``…overload…``: a stream that begins (``message_start`` and ``ping``; the role chunk) and then
  fails in-band before any content, as Anthropic's ``overloaded_error`` and vLLM's error chunk do
  (on a route that can fall back, the next target answers: docs/routing.md#errors-a-stream-opens-with);
  not a stream: ``200`` with the overload as its body, as gateways answer (#errors-an-answer-is);
- ``…lists…``: the answer (not a stream) with 8 MiB of empty lists beside its message, as a broken
  or hostile backend could send: a proxy that translates the answer parses it;
- anything else: the answer at once (stream or not, as asked).

Bodies come pre-encoded from ``proxy_support.wire_bodies`` (the same answers ``bench/proxy.py``'s fake
gives). asyncio + httptools, like that fake; run it as ``python -m load_support.faulty_provider``
(from ``bench/``): it prints ``READY <port>``.
"""

import asyncio
import json
from typing import Any, Dict, List, Optional, Tuple

import httptools
from proxy_support.serving import run_server_main
from proxy_support.wire_bodies import anthropic_message, anthropic_stream, openai_completion, openai_stream

__all__ = ["main"]

SLOW_EVENT_GAP = 0.05
_HANG_SECONDS = 3600.0


def _head(status: str, content_type: str, extra: str = "", chunked: bool = False, length: int = 0) -> bytes:
    framing = "transfer-encoding: chunked" if chunked else f"content-length: {length}"
    return f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\n{extra}{framing}\r\n\r\n".encode()


def _json(status: str, payload: object, extra: str = "") -> bytes:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return _head(status, "application/json", extra, length=len(body)) + body


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


_OPENAI_EVENTS = [b"data: %s\n\n" % data.encode() for data in openai_stream()]
_ANTHROPIC_EVENTS = [b"event: %s\ndata: %s\n\n" % (name.encode(), data.encode()) for name, data in anthropic_stream()]
_WHOLE = {"openai": _json("200 OK", openai_completion()), "anthropic": _json("200 OK", anthropic_message())}
_ERRORS = {
    "openai": {"error": {"message": "upstream exploded", "type": "server_error", "code": None, "param": None}},
    "anthropic": {"type": "error", "error": {"type": "api_error", "message": "upstream exploded"}},
}
_RATE = {
    "openai": {"error": {"message": "slow down", "type": "rate_limit_exceeded", "code": None, "param": None}},
    "anthropic": {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
}
_LISTS_SIZE = 8 << 20
# A stream's opening, then its in-band error: vLLM follows its error chunk with [DONE].
_OVERLOADED = {
    "openai": [_OPENAI_EVENTS[0], b'data: {"error":{"code":503,"message":"overloaded"}}\n\n', b"data: [DONE]\n\n"],
    "anthropic": [_ANTHROPIC_EVENTS[0], b'event: ping\ndata: {"type":"ping"}\n\n',
                  b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
                  b'"message":"Overloaded"}}\n\n'],
}

# The same overload for a call answered whole: a 200 whose body is the error.
_OVERLOADED_WHOLE = {
    "openai": _json("200 OK", {"error": {"code": 503, "message": "overloaded"}}),
    "anthropic": _json("200 OK", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
}


def _with_lists(payload: Dict[str, Any]) -> bytes:
    """``payload`` answered with ``_LISTS_SIZE`` bytes of empty lists in one more member."""
    body = json.dumps(payload, separators=(",", ":")).encode()[:-1]
    body += b',"extra":[' + b"[]," * (_LISTS_SIZE // 3) + b"[]]}"
    return _head("200 OK", "application/json", length=len(body)) + body


_LISTS = {"openai": _with_lists(openai_completion()), "anthropic": _with_lists(anthropic_message())}
_STREAM_HEAD = _head("200 OK", "text/event-stream", "cache-control: no-cache\r\n", chunked=True)
_NOT_FOUND = _json("404 Not Found", {"error": {"message": "not found", "type": "not_found"}})


def _request_of(path: bytes, body: bytes) -> Tuple[Optional[str], str, bool]:
    """(protocol or None, model, stream)."""
    path = path.split(b"?", 1)[0].rstrip(b"/")
    protocol = "openai" if path.endswith(b"/chat/completions") else "anthropic" if path.endswith(b"/messages") else None
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        parsed = {}
    parsed = parsed if isinstance(parsed, dict) else {}
    return protocol, str(parsed.get("model", "")), parsed.get("stream") is True


class FaultyProviderProtocol(asyncio.Protocol):
    """One connection; each request is answered by a task (a slow answer must not block the parser)."""

    def __init__(self) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self._transport: Optional[asyncio.Transport] = None
        self._url = b""
        self._body: List[bytes] = []
        self._task: Optional[asyncio.Task[None]] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if self._task is not None:
            self._task.cancel()

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            if self._transport is not None:
                self._transport.close()

    def on_message_begin(self) -> None:
        self._url, self._body = b"", []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        protocol, model, stream = _request_of(self._url, b"".join(self._body))
        self._task = asyncio.ensure_future(self._answer(protocol, model, stream))

    async def _answer(self, protocol: Optional[str], model: str, stream: bool) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if protocol is None:
            transport.write(_NOT_FOUND)
        elif "hang" in model:
            await asyncio.sleep(_HANG_SECONDS)
        elif "err500" in model:
            transport.write(_json("500 Internal Server Error", _ERRORS[protocol]))
        elif "err429" in model:
            transport.write(_json("429 Too Many Requests", _RATE[protocol], "retry-after: 1\r\n"))
        elif "reset" in model:
            if stream:
                transport.write(_STREAM_HEAD + b"".join(_chunk(e) for e in self._events(protocol)[:3]))
            transport.abort()
        elif "overload" in model and stream:
            transport.write(_STREAM_HEAD + b"".join(_chunk(e) for e in _OVERLOADED[protocol]) + b"0\r\n\r\n")
        elif "overload" in model:
            transport.write(_OVERLOADED_WHOLE[protocol])
        elif "lists" in model and not stream:
            transport.write(_LISTS[protocol])
        elif stream:
            await self._stream(transport, protocol, SLOW_EVENT_GAP if "slow" in model else 0.0)
        else:
            if "slow" in model:
                await asyncio.sleep(SLOW_EVENT_GAP * 10)
            transport.write(_WHOLE[protocol])

    @staticmethod
    def _events(protocol: str) -> List[bytes]:
        return _OPENAI_EVENTS if protocol == "openai" else _ANTHROPIC_EVENTS

    async def _stream(self, transport: asyncio.Transport, protocol: str, gap: float) -> None:
        events = self._events(protocol)
        if not gap:
            transport.write(_STREAM_HEAD + b"".join(_chunk(e) for e in events) + b"0\r\n\r\n")
            return
        transport.write(_STREAM_HEAD)
        for event in events:
            if transport.is_closing():
                return
            transport.write(_chunk(event))
            await asyncio.sleep(gap)
        transport.write(b"0\r\n\r\n")


async def serve(host: str, port: int) -> Tuple[asyncio.AbstractServer, int]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FaultyProviderProtocol, host, port, backlog=1024)
    return server, server.sockets[0].getsockname()[1]


def main(argv: Optional[List[str]] = None) -> None:
    run_server_main(serve, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
