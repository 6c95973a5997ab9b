"""One translation direction as three steps, and two directions composed through the Chat hub.

A :class:`Translation` is what the plan needs for a (client format, upstream format) pair: the
request step (client → upstream), the whole-response step and the stream step (upstream → client).
Responses and Messages never meet directly: Chat Completions is the hub between them
(docs/responses-api.md#composition), so Responses ⇄ Messages is two translations chained:

* request: client → hub → upstream, each step with its own options (the first one writes a hub body
  for the second translator, :attr:`RequestOptions.intermediate`);
* whole response: upstream → hub → client, each step with its own context;
* stream: the upstream-side translator's output bytes are fed, as they come, to the client-side one
  (:class:`ComposedStream`): nothing is buffered beyond what each translator holds itself.
"""

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from ..errors import RouterError
from .context import RequestOptions, ResponseContext, TranslatedRequest
from .stream_base import StreamTranslator
from .stream_front import StreamFront

__all__ = [
    "ComposedStream",
    "RequestTranslator",
    "ResponseTranslator",
    "StreamFactory",
    "Translation",
    "compose",
    "hub_options",
]

RequestTranslator = Callable[[Dict[str, Any], RequestOptions], TranslatedRequest]
ResponseTranslator = Callable[[Dict[str, Any], ResponseContext], Dict[str, Any]]
StreamFactory = Callable[[ResponseContext], StreamTranslator]


@dataclass(frozen=True)
class Translation:
    """The three steps of one direction (see the module docstring)."""

    request: RequestTranslator
    response: ResponseTranslator
    stream: StreamFactory


def hub_options(options: RequestOptions) -> RequestOptions:
    """Options for the first step of a composition: its body goes to the second translator, which
    applies the backend's own limits and fields."""
    return RequestOptions(
        upstream_model=options.upstream_model,
        default_max_tokens=options.default_max_tokens,
        intermediate=True,
        json_budget=options.json_budget,  # one call's: both steps parse from it
    )


def compose(client_side: Translation, upstream_side: Translation) -> Translation:
    """``client_side`` (client format ⇄ Chat) followed by ``upstream_side`` (Chat ⇄ upstream)."""

    def request(body: Dict[str, Any], options: RequestOptions) -> TranslatedRequest:
        first = client_side.request(body, hub_options(options))
        second = upstream_side.request(first.body, options)
        return dataclasses.replace(second, notes=first.notes + second.notes, hub=first)

    def response(body: Dict[str, Any], context: ResponseContext) -> Dict[str, Any]:
        return client_side.response(upstream_side.response(body, _inner(context)), context)

    def stream(context: ResponseContext) -> StreamTranslator:
        return ComposedStream(upstream_side.stream(_inner(context)), client_side.stream(context))

    return Translation(request, response, stream)


def _inner(context: ResponseContext) -> ResponseContext:
    # The plan builds both contexts for a composed request; a caller that built only one gets the
    # same facts on both sides, which is what a one-step context would say.
    return context.inner or context


class ComposedStream(StreamFront):
    """``inner`` (upstream format → hub) feeding ``outer`` (hub → client format).

    Usage is the upstream's (what ``inner`` read); completion, errors and the final response are
    what the client saw (``outer``). An error ``inner`` reports in-band reaches the client through
    ``outer``, translated like any other upstream error."""

    def __init__(self, inner: StreamTranslator, outer: StreamTranslator) -> None:
        super().__init__(outer)  # what the client sees is outer's; _synced takes the usage from inner
        self._inner = inner
        self._outer = outer
        # The hub's chunks pass as objects (translate/chat_chunks.py): encoding them as SSE only
        # for the next translator to parse them again cost more than either translation.
        self._hub: List[Optional[Dict[str, Any]]] = []
        inner.chunk_sink = self._hub

    def feed(self, chunk: bytes) -> bytes:
        if self.finished:
            return b""
        return self._synced(self._hand_over(self._inner.feed(chunk)))

    def close(self) -> bytes:
        if self.finished:
            return b""
        out = self._hand_over(self._inner.close())
        return self._synced(out + self._outer.close())

    def _hand_over(self, hub_bytes: bytes) -> bytes:
        """What ``inner`` produced, to ``outer``: its chunks, then its bytes — only an in-band
        error is written as bytes, and it is always the last thing ``inner`` says."""
        out = b""
        if self._hub:
            chunks, self._hub[:] = list(self._hub), []
            out = self._outer.feed_chunks(chunks)
        if hub_bytes:
            out += self._outer.feed(hub_bytes)
        return out

    def abort(self, error: RouterError) -> bytes:
        if self.finished:
            return b""
        self._inner.abort(error)  # its hub-format error has no reader: the client gets outer's
        return self._synced(self._outer.abort(error))

    def _synced(self, out: bytes) -> bytes:
        inner, outer = self._inner, self._outer
        self.usage = inner.usage
        self.error = outer.error or inner.error
        self.finished = outer.finished
        self._end_seen = outer.complete
        self.final_response = outer.final_response
        return out

