"""A stream's opening held back until its first content, so that a stream that fails before any
content can still go to the route's next target (docs/routing.md#what-falls-back).

Backends answer ``200`` and only then fail: Anthropic sends ``overloaded_error`` as an event of a
stream it has begun; OpenAI-compatible servers and gateways send ``data: {"error": …}`` as a
stream's first chunk (a rate limit, a bad request found late); a Responses backend sends
``response.created`` and then ``response.failed``. Each of those streams begins with events that
carry nothing yet — Anthropic's ``message_start`` and ``ping``, a Chat chunk with only the role,
Responses' ``response.created``, ``response.queued`` and ``response.in_progress`` — and the
drivers sent those at once: the client had bytes, so the failure after them was in-band and final.

:class:`OpeningHold` stands in front of the call's stream translator on a route that can fall back
(another target, or retries) and keeps what the client would see while every event is such an
opening event. The first event with content (text, a tool call, reasoning, a block's start, a stop
reason, usage, the end) releases what it held, and from there on the stream passes as it comes. A
stream that fails or ends while held never reaches the client: :attr:`~.stream_base.StreamTranslator.opening_failure`
says why, and the driver takes it as a failure before the first byte — the backend's own error,
by its kind's status; a stream that ended with nothing in it, as a connection cut. Once a failure
event went by, nothing after it releases the stream (vLLM ends an error chunk with ``[DONE]``).

What it holds is bounded in bytes (:data:`MAX_OPENING_BYTES`) and in time
(:data:`MAX_OPENING_SECONDS`): past either, the opening is released as it is, with whatever
arrives next — a backend slow to its first token sends keep-alives (pings, comments) so that the
client and the proxies between see bytes, and held, they would not.

The events are read as the client would read them, whatever translation made them: the rules are
those of the stream's protocol (:data:`OPENING_EVENTS`, :func:`_chat_opening`). The Anthropic SDK
reads an event by its name alone (an event without one is nothing to it), the OpenAI SDK a
Responses event by its data's ``type``.
"""

import json
import time
from typing import Callable, Optional, Tuple, Union

from ..errors import RouterError
from ..protocols import ANTHROPIC, RESPONSES
from ..sse import SSEDecoder, SSEEvent
from ..upstream_failures import ConnectionCut, UpstreamFailure
from .stream_base import StreamTranslator, TruncatedStream
from .stream_front import StreamFront

__all__ = ["MAX_OPENING_BYTES", "OPENING_EVENTS", "OpeningHold"]

# A Responses opening echoes the request (instructions, tools): tens of KiB for a coding agent.
MAX_OPENING_BYTES = 1 << 20
# Errors a stream opens with come at once (a rate limit, an overload, a request refused); held
# longer, an opening would hide keep-alives from proxies whose idle timeouts are often 60 s.
MAX_OPENING_SECONDS = 10.0
# An event this long is not an opening (a role chunk is ~200 bytes): it is not parsed to be judged.
_JUDGED_BYTES = 64 << 10
# Named events that carry no content, by stream protocol; Chat chunks are read (_chat_opening).
OPENING_EVENTS = {
    ANTHROPIC: frozenset({"message_start", "ping"}),
    RESPONSES: frozenset({"response.created", "response.queued", "response.in_progress"}),
}
# Named events that are the stream's failure: held with the opening, never a release.
_FAILURE_EVENTS = {ANTHROPIC: frozenset({"error"}), RESPONSES: frozenset({"error", "response.failed"})}
_EMPTY_DELTA_VALUES: Tuple[object, ...] = (None, "", [])  # what a delta says nothing with


class OpeningHold(StreamFront):
    """See the module docstring. ``protocol``: the stream's (``anthropic``, ``openai`` for Chat
    chunks, or ``responses``)."""

    def __init__(self, inner: StreamTranslator, protocol: str, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(inner)
        self._protocol = protocol
        self._held: Optional[bytearray] = bytearray()  # None once released
        self._reader = SSEDecoder()
        self._failure_seen = False  # a failure event went by: nothing after it releases
        self._clock = clock
        self._deadline = clock() + MAX_OPENING_SECONDS

    def feed(self, chunk: bytes) -> bytes:
        if self.finished or self.opening_failure is not None:
            return b""
        return self._passed(self._behind.feed(chunk), ended=False)

    def close(self) -> bytes:
        if self.finished or self.opening_failure is not None:
            return b""
        return self._passed(self._behind.close(), ended=True)

    def abort(self, error: RouterError) -> bytes:
        """The driver ends the stream (it had been released: a driver aborts only a stream it sent)."""
        held = self._release() if self._held is not None else b""
        return held + super().abort(error)

    def _passed(self, out: bytes, *, ended: bool) -> bytes:
        held = self._held
        if held is None:
            return self._synced(out)
        held += out
        if self._has_content(out) or len(held) > MAX_OPENING_BYTES or self._clock() > self._deadline:
            return self._synced(self._release())
        inner = self._behind
        if inner.error is not None or inner.finished or ended:
            self.opening_failure = _failure(inner.error)
            self._held = None  # what it held goes nowhere: the driver tries again or answers the failure
        return b""

    def _release(self) -> bytes:
        held, self._held = self._held, None
        self._reader = SSEDecoder()  # its buffer, no longer needed
        return bytes(held or b"")

    def _has_content(self, out: bytes) -> bool:
        """Whether ``out`` (whole events, or pieces of them) holds an event with content before any
        failure event: an opening event is none, and what follows a failure does not count."""
        if not out or self._failure_seen:
            return False
        for event in self._reader.feed(out):
            if _is_failure(self._protocol, event):
                self._failure_seen = True
                return False
            if not _is_opening(self._protocol, event):
                return True
        return False


def _is_opening(protocol: str, event: SSEEvent) -> bool:
    """An event that carries nothing for the client yet: an opening one, or one its SDK skips
    (no type it reads)."""
    names = OPENING_EVENTS.get(protocol)
    if names is not None:
        kind = _event_type(protocol, event)
        return kind is None or kind in names
    return _chat_opening(event.data)


def _is_failure(protocol: str, event: SSEEvent) -> bool:
    names = _FAILURE_EVENTS.get(protocol)
    if names is not None:
        return _event_type(protocol, event) in names
    payload = _json(event.data)
    return isinstance(payload, dict) and bool(payload.get("error"))  # truthy, as the OpenAI SDK tests it


def _event_type(protocol: str, event: SSEEvent) -> Optional[str]:
    """An event's type as the client's SDK reads it: the Anthropic SDK by its ``event:`` name only,
    the OpenAI SDK a Responses event by its name, else its data's ``type``."""
    if event.event or protocol == ANTHROPIC:
        return event.event
    payload = _json(event.data)
    kind = payload.get("type") if isinstance(payload, dict) else None
    return kind if isinstance(kind, str) else None


def _chat_opening(data: str) -> bool:
    """A Chat chunk that says nothing yet: choices whose deltas hold at most the role (and empty
    text), no finish reason, no usage."""
    chunk = _json(data)
    if not isinstance(chunk, dict) or chunk.get("usage") or chunk.get("error"):
        return False
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        return False
    for choice in choices:
        if not isinstance(choice, dict) or choice.get("finish_reason") is not None:
            return False
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return False
        if any(value not in _EMPTY_DELTA_VALUES for key, value in delta.items() if key != "role"):
            return False
    return True


def _json(data: str) -> object:
    """``data`` parsed, or None: not JSON, nested past the parser's depth, or too long to be an
    opening or a failure worth judging (judged as content: released)."""
    if len(data) > _JUDGED_BYTES:
        return None
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def _failure(error: Optional[RouterError]) -> Union[RouterError, UpstreamFailure]:
    """Why a held stream failed: the backend's own error as it said it; a stream that ended (or was
    cut off) with nothing in it, as a cut connection — a failure the route may pass on, as a
    transport's; the router's own verdict on a broken stream as it is."""
    if error is None or isinstance(error, TruncatedStream):
        return ConnectionCut("the stream ended before its first content")
    return error
