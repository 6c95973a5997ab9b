"""The common frame of every stream translator: decode upstream SSE, translate event by event.

A translator is fed upstream bytes as they arrive and returns the bytes to send to the client
right away; it never holds a whole stream. Subclasses implement three hooks: one upstream event,
upstream end-of-file, and how an error looks in-band for their client. Whatever goes wrong
inside a hook becomes an in-band error in the client's protocol
(docs/protocol-rules.md#in-band-errors: once headers are out, errors are in-band only), and the
translator then ignores further input, so a client never sees a half-finished stream that looks
complete.
"""

import json
from typing import Any, Callable, Dict, List, Optional, Union

from ..errors import RouterError, UpstreamProtocolError, nested_too_deeply
from ..protocols import ANTHROPIC
from ..sse import SSEDecoder, SSEEvent, encode_event
from ..upstream_failures import UpstreamFailure
from ..usage import Usage

__all__ = ["StreamTranslator", "TruncatedStream", "render_stream_error", "truncated_stream_error"]


class StreamTranslator:
    """Base class; see the module docstring."""

    def __init__(self) -> None:
        self._decoder = SSEDecoder()
        self.usage: Optional[Usage] = None  # the call's usage, once the stream has reported it
        self.finished = False  # the client stream is complete (normally, or by an in-band error)
        self.error: Optional[RouterError] = None  # set when the stream ended in an error
        self._end_seen = False  # the upstream sent its protocol's end marker (pass-through only)
        # Responses clients: the Response object of the stream's terminal event, once it went by
        # (what a driver stores for previous_response_id, docs/responses-api.md#state-previous_response_id).
        self.final_response: Optional[Dict[str, Any]] = None
        # Translators that write Chat chunks: set by a composition, chunks go there as objects
        # for the next translator instead of out as bytes (translate/chat_chunks.py).
        self.chunk_sink: Optional[List[Optional[Dict[str, Any]]]] = None
        # Why a stream held until its first content failed before any (.stream_opening.OpeningHold):
        # the driver takes it as a failure before the first byte, and the client never sees the stream.
        self.opening_failure: Optional[Union[RouterError, UpstreamFailure]] = None

    @property
    def complete(self) -> bool:
        """The client has the whole stream: it ended, or its end marker (``message_stop``,
        ``[DONE]``) went by. SDKs stop reading there and close the response before EOF, so a
        driver must count such a call as complete, not as abandoned by the client."""
        return self.finished or self._end_seen

    def feed(self, chunk: bytes) -> bytes:
        """Bytes from upstream in, bytes for the client out (possibly empty)."""
        if self.finished:
            return b""
        return self._translate_decoded(self._decoder.feed(chunk))

    def close(self) -> bytes:
        """Upstream reached end-of-file: flush and finish the client stream."""
        if self.finished:
            return b""
        out = self._translate_decoded(self._decoder.close())
        if not self.finished:
            try:
                out += self._on_eof()
            except RouterError as error:
                out += self.abort(error)
            except RecursionError:  # the stream's end echoes the request (a Response's tools)
                out += self.abort(nested_too_deeply())
        self.finished = True
        return out

    def abort(self, error: RouterError) -> bytes:
        """End the client stream with ``error`` in-band (connection lost, timeout, bad bytes)."""
        if self.finished:
            return b""
        self.finished = True
        self.error = error
        return self._render_error(error)

    def feed_chunks(self, chunks: List[Optional[Dict[str, Any]]]) -> bytes:
        """Chat chunks as objects (None: ``[DONE]``) from the translator before this one in a
        composition, for translators that read Chat streams: as if their bytes had been fed."""
        if self.finished:
            return b""
        return self._translate(chunks, self._on_chunk_object)

    def _translate_decoded(self, events: List[SSEEvent]) -> bytes:
        """The events the decoder gave, then its failure in-band if it stopped at a bad one."""
        out = self._translate(events, self._on_event)
        if self._decoder.failure is not None:
            out += self.abort(self._decoder.failure)  # nothing when an event already ended the stream
        return out

    def _translate(self, items: List[Any], handle: Callable[[Any], bytes]) -> bytes:
        # An error in one event keeps what the events before it produced: otherwise the client
        # would see different bytes depending on how the upstream split its writes.
        out = bytearray()
        for item in items:
            try:
                out += handle(item)
            except RouterError as error:
                out += self.abort(error)
            except RecursionError:
                out += self.abort(nested_too_deeply())
            if self.finished:
                break
        return bytes(out)

    # Hooks -------------------------------------------------------------------------------
    def _on_event(self, event: SSEEvent) -> bytes:
        raise NotImplementedError

    def _on_eof(self) -> bytes:
        raise NotImplementedError

    def _render_error(self, error: RouterError) -> bytes:
        raise NotImplementedError

    def _on_chunk_object(self, chunk: Optional[Dict[str, Any]]) -> bytes:
        raise UpstreamProtocolError(f"{type(self).__name__} reads no Chat chunks")


def render_stream_error(protocol: str, error: RouterError) -> bytes:
    """An in-band stream error: ``event: error`` for Anthropic clients (the only channel the SDK
    reads), a ``data: {"error": …}`` chunk for OpenAI clients (the SDK raises ``APIError``)."""
    body = json.dumps(error.body_for(protocol))
    if protocol == ANTHROPIC:
        return encode_event(body, "error")
    return encode_event(body)


class TruncatedStream(UpstreamProtocolError):
    """The upstream stream ended (end of file) before its protocol's end: a ``bad_gateway`` like any
    broken answer, told apart so that one that ended before any content can be taken as a cut
    connection (:mod:`.stream_opening`)."""


def truncated_stream_error() -> TruncatedStream:
    return TruncatedStream("the upstream stream ended before it was complete")
