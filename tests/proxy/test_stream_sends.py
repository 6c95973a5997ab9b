"""How the driver turns upstream chunks into ASGI sends (in-process, no sockets): every chunk goes
out as soon as it is read, and only a chunk read once the upstream body is complete is sent
together with the stream's end (one send instead of two)."""

import asyncio
from typing import Any, AsyncIterator, Dict, List, Mapping, MutableMapping, Sequence, Tuple

from host.proxy.asgi_io import ResponseWriter
from host.proxy.call_trace import CallTrace
from host.proxy.forward import _relay_stream
from shim.translate.stream_passthrough import PassthroughStream

EVENTS = [b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n', b"data: [DONE]\n\n"]


class _Response:
    """Yields ``chunks``; ``ended()`` is true from the chunk at index ``ended_from`` on."""

    def __init__(self, chunks: Sequence[bytes], ended_from: int) -> None:
        self.status, self.headers = 200, {"content-type": "text/event-stream"}
        self._chunks, self._ended_from, self._read = chunks, ended_from, 0

    async def chunks(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            self._read += 1
            yield chunk

    def ended(self) -> bool:
        return self._read > self._ended_from


class _Plan:
    client_protocol = "openai"
    endpoint = "chat"

    def stream_translator(self) -> PassthroughStream:
        return PassthroughStream("openai")

    def stream_headers(self, headers: Mapping[str, str]) -> Dict[str, str]:
        return dict(headers)


def _relay(response: _Response) -> List[Tuple[bytes, bool]]:
    sent: List[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    writer = ResponseWriter(send, lambda: 1.0)
    trace = CallTrace.begin("POST", "/v1/chat/completions", "chat")
    asyncio.run(_relay_stream(None, _Plan(), trace, writer, response))  # type: ignore[arg-type]
    assert sent[0]["type"] == "http.response.start"
    return [(m["body"], m["more_body"]) for m in sent[1:]]


def test_a_stream_already_complete_goes_out_with_its_end_in_one_send() -> None:
    whole = b"".join(EVENTS)
    sends = _relay(_Response([whole], ended_from=0))
    assert sends == [(whole, False)]


def test_chunks_before_the_end_go_out_at_once_and_the_last_with_the_end() -> None:
    sends = _relay(_Response(EVENTS, ended_from=1))
    assert sends == [(EVENTS[0], True), (EVENTS[1], False)]


def test_without_an_early_end_the_end_is_its_own_send() -> None:
    sends = _relay(_Response(EVENTS, ended_from=2))
    assert sends == [(EVENTS[0], True), (EVENTS[1], True), (b"", False)]
