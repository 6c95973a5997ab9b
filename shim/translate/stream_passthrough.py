"""Same-format streams: forward the upstream bytes unchanged, only watching them for usage.

The same-protocol fast path (docs/protocol-rules.md#same-protocol): when client and backend speak
the same format the bytes go through untouched. Most events carry text and nothing the call's
event needs, so the bytes are not decoded as they pass: they are only cut at event boundaries
(blank lines), and of each run of whole events only those that can hold what is watched — usage,
an error, the end marker (``_MARKERS``, found at C speed) — are decoded. Decoding every event was
an eighth of the proxy's time on a pass-through stream.

The format is a protocol (``anthropic``, ``openai`` for Chat) or ``responses``: a Responses stream
holds its usage, its final Response object and its errors in ``response.completed`` /
``response.incomplete`` / ``response.failed`` and ``error`` events, and an error the router adds
itself continues the upstream's ``sequence_number`` (docs/responses-api.md#stream-grammar).
"""

import re
from typing import Any, Dict, List, Optional, Tuple

from ..errors import RouterError, error_from_stream_payload
from ..json_budget import loads_within_budget
from ..protocols import ANTHROPIC, RESPONSES
from ..sse import MAX_EVENT_BYTES, SSEDecoder, SSEEvent
from ..usage import usage_from_anthropic, usage_from_openai, usage_from_responses
from .responses_events import ResponsesEventWriter, error_from_failed_response, error_from_responses_event
from .stream_base import StreamTranslator, render_stream_error, truncated_stream_error

__all__ = ["PassthroughStream"]

_ANTHROPIC_USAGE_EVENTS = ("message_start", "message_delta", "error")
# Bytes found only in events that can hold usage, an error or the end marker (searched with
# bytes.find, at C speed). OpenAI sends "usage":null in every chunk once include_usage is on:
# those are skipped (_NULL_AFTER_KEY), not decoded.
_USAGE_KEY = b'"usage"'
_MARKERS = {
    ANTHROPIC: (b"message_", b"error"),
    "openai": (_USAGE_KEY, b'"error"', b"[DONE]"),
    # Every Response object carries "error" (null until it fails): the lifecycle events are
    # decoded, the many delta events are not.
    RESPONSES: (_USAGE_KEY, b'"error"', b"response.completed", b"response.incomplete", b"response.failed"),
}
_RESPONSES_FINAL = ("response.completed", "response.incomplete")
_SEQUENCE_KEY = b'"sequence_number":'
_DIGITS = re.compile(rb"[ \t]*(\d+)")  # not across a line end: an event boundary may fall there
_NULL_AFTER_KEY = re.compile(rb"\s*:\s*null\b")
_COMPACT_NULL_USAGE = b'"usage":null'
# A blank line ends an event: two line ends (LF, CRLF or CR) in a row. An LF-then-CRLF pair is
# not looked for: such bytes wait for the next boundary, which is still exact, only later.
_BOUNDARIES = (b"\n\n", b"\r\r", b"\r\n\r\n")
_LONGEST_BOUNDARY = 4


class PassthroughStream(StreamTranslator):
    def __init__(self, protocol: str) -> None:
        super().__init__()
        self._protocol = protocol  # anthropic, openai (Chat) or responses: see the module docstring
        self._markers = _MARKERS[protocol if protocol in (ANTHROPIC, RESPONSES) else "openai"]
        # Bytes after the last event boundary: not sent yet, so that an error the router adds
        # starts an event of its own (see _render_error).
        self._unscanned = bytearray()
        self._mid_event = False  # the client has the start of an event: one over MAX_EVENT_BYTES
        self._last_sequence = -1  # responses: the last sequence_number forwarded so far

    def feed(self, chunk: bytes) -> bytes:
        """The upstream's bytes to the last event boundary: whole events, unchanged. The bytes of an
        event still arriving wait for its end (an SSE client does nothing with them before)."""
        if self.finished:
            return b""
        unscanned = self._unscanned
        searched_from = max(0, len(unscanned) - _LONGEST_BOUNDARY + 1)  # earlier bytes hold no boundary
        unscanned += chunk
        end = _last_boundary_end(unscanned, searched_from)
        if end > 0:
            events = bytes(unscanned[:end])
            del unscanned[:end]
            self._mid_event = False
            self._scan(events)
            return events
        if len(unscanned) > MAX_EVENT_BYTES:  # a backend that never ends an event: stop holding it
            self._mid_event = True
            out = bytes(unscanned)
            unscanned.clear()
            return out
        return b""

    def close(self) -> bytes:
        if self.finished:
            return b""
        last = bytes(self._unscanned)
        self._scan(last)  # a last event without its blank line still counts
        if self._protocol == RESPONSES and not self._end_seen and self.error is None:
            # A Responses stream cut before its terminal event ends with the router's in-band
            # error, as translated streams do: the SDK then reports an error, not a silent end.
            return self.abort(truncated_stream_error())
        self._unscanned.clear()
        self.finished = True
        return last  # the backend's own last bytes, as they came

    def _scan(self, events: bytes) -> None:
        """Watch the events in ``events`` (whole events, from a boundary on) that can matter."""
        if self._protocol == RESPONSES:
            self._note_sequence(events)
        for start, end in self._watched_spans(events):
            decoder = SSEDecoder()
            try:
                for event in decoder.feed(events[start:end]) + decoder.close():
                    self._on_event(event)
            except RouterError:
                pass  # observation only: the client still gets the upstream bytes as they are

    def _watched_spans(self, events: bytes) -> List[Tuple[int, int]]:
        """(start, end) of each event holding a marker, in stream order."""
        spans = set()
        for marker in self._markers:
            if marker == _USAGE_KEY and events.count(marker) == events.count(_COMPACT_NULL_USAGE):
                continue  # every usage is null, written as OpenAI writes it: two counts, no loop
            found = events.find(marker)
            while found >= 0:
                if marker != _USAGE_KEY or not _NULL_AFTER_KEY.match(events, found + len(marker)):
                    spans.add(_event_span(events, found))
                found = events.find(marker, found + len(marker))
        return sorted(spans)

    def _on_event(self, event: SSEEvent) -> bytes:
        if self._protocol == ANTHROPIC:
            self._watch_anthropic(event)
        elif self._protocol == RESPONSES:
            self._watch_responses(event)
        else:
            self._watch_openai(event)
        return b""

    def _watch_responses(self, event: SSEEvent) -> None:
        payload = _loads(event.data)
        if payload is None:
            return
        kind = payload.get("type")
        if kind == "error":
            self.error = error_from_responses_event(payload)
            return
        response = payload.get("response")
        if not isinstance(response, dict):
            return
        usage = response.get("usage")
        if isinstance(usage, dict):
            self.usage = usage_from_responses(usage)
        if kind in _RESPONSES_FINAL:
            self._end_seen = True
            self.final_response = response
        elif kind == "response.failed":
            self._end_seen = True
            self.error = error_from_failed_response(response)

    def _note_sequence(self, events: bytes) -> None:
        """Remember the last ``sequence_number`` of these whole events (a reverse search, at C
        speed), so that an error this stream adds keeps the client's numbers increasing.

        The last one *with a number*, on its own line: then the result is the same however the
        upstream's bytes were cut into reads, as everything a stream adds must be."""
        at = events.rfind(_SEQUENCE_KEY)
        while at >= 0:
            digits = _DIGITS.match(events, at + len(_SEQUENCE_KEY))
            if digits is not None:
                self._last_sequence = int(digits.group(1))
                return
            at = events.rfind(_SEQUENCE_KEY, 0, at)

    def _watch_anthropic(self, event: SSEEvent) -> None:
        if event.event == "message_stop":
            self._end_seen = True
            return
        if event.event not in _ANTHROPIC_USAGE_EVENTS:
            return
        payload = _loads(event.data)
        if payload is None:
            return
        if event.event == "error":
            self.error = error_from_stream_payload(ANTHROPIC, payload)
            return
        holder = payload.get("message") if event.event == "message_start" else payload
        usage = holder.get("usage") if isinstance(holder, dict) else None
        if isinstance(usage, dict):
            self.usage = usage_from_anthropic(usage, self.usage)
        if event.event == "message_delta" and _has_stop_reason(payload):
            # The last message_delta carries the final stop reason and cumulative usage; only
            # message_stop follows, and some clients (LiteLLM's async parser) never read it.
            self._end_seen = True

    def _watch_openai(self, event: SSEEvent) -> None:
        data = event.data
        if data.startswith("[DONE]"):  # the OpenAI SDK stops reading here
            self._end_seen = True
            return
        if '"usage"' not in data and '"error"' not in data:
            return
        payload = _loads(data)
        if payload is None:
            return
        if payload.get("error"):
            self.error = error_from_stream_payload(self._protocol, payload)
        usage = payload.get("usage")
        if isinstance(usage, dict):
            self.usage = usage_from_openai(usage)

    def _on_eof(self) -> bytes:
        return b""

    def _render_error(self, error: RouterError) -> bytes:
        """The router's error as an event of its own (docs/protocol-rules.md#same-protocol): the
        incomplete event before it is dropped, as an SSE client drops one at the end of a stream.
        Written after it, the error was read as that event's rest — swallowed by the Anthropic SDK,
        a JSONDecodeError in OpenAI's."""
        self._unscanned.clear()
        start = b"\n\n" if self._mid_event else b""  # only after an event too long to hold
        if self._protocol == RESPONSES:
            return start + ResponsesEventWriter(self._last_sequence + 1).error(error)
        return start + render_stream_error(self._protocol, error)


def _event_span(events: bytes, inside: int) -> Tuple[int, int]:
    """The event around offset ``inside``: from the boundary before it to the one after (or the end)."""
    start, end = 0, len(events)
    for boundary in _BOUNDARIES:
        before = events.rfind(boundary, 0, inside)
        if before >= 0:
            start = max(start, before + len(boundary))
        after = events.find(boundary, inside)
        if after >= 0:
            end = min(end, after + len(boundary))
    return start, end


def _last_boundary_end(buffer: bytearray, start: int) -> int:
    """Where the bytes after the last event boundary in ``buffer[start:]`` begin; -1 if there is none."""
    end = -1
    for boundary in _BOUNDARIES:
        found = buffer.rfind(boundary, start)
        if found >= 0:
            end = max(end, found + len(boundary))
    return end


def _has_stop_reason(payload: Dict[str, Any]) -> bool:
    delta = payload.get("delta")
    return isinstance(delta, dict) and delta.get("stop_reason") is not None


def _loads(data: str) -> Optional[Dict[str, Any]]:
    try:
        value = loads_within_budget(data)  # too much to parse: nothing read from it
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
