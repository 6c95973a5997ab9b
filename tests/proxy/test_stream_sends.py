"""How the driver turns upstream chunks into ASGI sends (in-process, no sockets): every chunk goes
out as soon as it is read, and only a chunk read once the upstream body is complete is sent
together with the stream's end (one send instead of two)."""

import asyncio
import json
from typing import Any, AsyncIterator, List, MutableMapping, Sequence, Tuple

from host.proxy.asgi_io import ResponseWriter
from host.proxy.call_trace import CallTrace
from host.proxy.forward import _ForwardedCall
from host.proxy.generation import ConfigGeneration
from host.proxy.settings import ProxySettings
from host.proxy.state import ProxyState
from host.proxy.upstream import BackendLimiter
from shim.config import RouterConfig
from shim.plan import ClientCall, plan_call

CONFIG = RouterConfig.from_dict({"backends": {"openai": {"protocol": "openai", "base_url": "http://o.test/v1"}}})

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


def _relay(response: _Response) -> List[Tuple[bytes, bool]]:
    """The sends of relaying ``response``: a same-protocol stream (its bytes pass unchanged)."""
    sent: List[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    body = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    plan = plan_call(CONFIG, ClientCall("chat", {}, json.dumps(body).encode()), now=1.0, call_id="c")
    limiter = BackendLimiter(4, 1.0)
    state = ProxyState(ConfigGeneration.first(CONFIG, "", limiter, 1.0), ProxySettings())
    writer = ResponseWriter(send, lambda: 1.0)
    call = _ForwardedCall(state, limiter, plan, CallTrace.begin("POST", "/v1/chat/completions", "chat"), writer)
    call.attempts.start(0.0)
    call.attempts.sending(0.0)
    call.attempts.answered(200, response.headers, now=0.0, wall_now=0.0)  # the answer to relay
    asyncio.run(call._relay_stream(plan, response))  # type: ignore[arg-type]
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
