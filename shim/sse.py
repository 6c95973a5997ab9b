"""Incremental Server-Sent Events decoding and encoding.

The decoder follows the WHATWG event-stream rules the SDKs implement: lines end in LF, CRLF or
CR; a line starting with ``:`` is a comment; ``field: value`` strips one leading space; several
``data:`` lines join with ``\\n``; an event is dispatched on the blank line that ends it. It is fed
bytes split anywhere (one byte at a time works) and never holds more than ``max_event_bytes`` of
one unfinished event, so a backend that never sends a blank line cannot exhaust memory. An event
too large to be parsed at once is counted first and refused when it holds more JSON values than
the router parses for a call (docs/proxy-limits.md#answers): every translator parses the events it
is given, on the proxy's event loop.
"""

import re
from dataclasses import dataclass
from typing import List, Optional

from .errors import UpstreamProtocolError
from .json_budget import MAX_JSON_VALUES, excess_json_values

__all__ = ["MAX_EVENT_BYTES", "SSEDecoder", "SSEEvent", "encode_event"]

MAX_EVENT_BYTES = 16 * 1024 * 1024
_LINE_BREAK = re.compile("\r\n|\r|\n")


@dataclass(frozen=True)
class SSEEvent:
    event: Optional[str]
    data: str


class SSEDecoder:
    """Feed bytes, get the complete events they finish.

    An event over a limit ends the decoding: :meth:`feed` returns the events before it and sets
    :attr:`failure`, and returns nothing after. The events before the bad one are delivered
    however the bytes were split — fed whole or one byte at a time, a client sees the same."""

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._max_event_bytes = max_event_bytes
        # Smaller events can be over neither limit: an event holds at most a value per two bytes.
        self._check_above = min(max_event_bytes, 2 * MAX_JSON_VALUES)
        self.failure: Optional[UpstreamProtocolError] = None
        self._buffer = bytearray()
        self._pending_cr = False  # a CR ended the last chunk; a following LF belongs to it
        self._event: Optional[str] = None
        self._data: List[str] = []
        self._event_bytes = 0

    def feed(self, chunk: bytes) -> List[SSEEvent]:
        events: List[SSEEvent] = []
        if self.failure is not None:
            return events
        try:
            self._feed(chunk, events)
        except UpstreamProtocolError as error:
            self.failure = error
        return events

    def _feed(self, chunk: bytes, events: List[SSEEvent]) -> None:
        if not chunk:  # an empty read must not forget a CR that may be half of a CRLF
            return
        if self._pending_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._pending_cr = False
        if not self._buffer and b"\r" not in chunk:
            self._feed_lines(chunk, events)
            return
        # The kept buffer holds no line end, so searching resumes where the new bytes begin
        # (keeps one-byte-at-a-time feeding of a long line linear, not quadratic).
        scanned = len(self._buffer)
        self._buffer += chunk
        start = 0
        buffer = self._buffer
        while True:
            end = _find_line_end(buffer, max(start, scanned))
            if end < 0:
                break
            line = bytes(buffer[start:end])
            start = end + 1
            if buffer[end] == 0x0D:  # CR: swallow the LF of a CRLF pair
                if start < len(buffer):
                    if buffer[start] == 0x0A:
                        start += 1
                else:
                    self._pending_cr = True
            event = self._take_line(line)
            if event is not None:
                events.append(event)
        del buffer[:start]
        self._check_size()

    def _feed_lines(self, chunk: bytes, events: List[SSEEvent]) -> None:
        """The common case, fast: no partial line is held and the chunk ends its lines with LF
        only (as every SDK-facing server writes them), so ``split`` finds every line at C speed.
        Same rules as the general path; ``data:`` lines, most of a stream, are handled inline."""
        lines = chunk.split(b"\n")
        tail = lines.pop()  # after the last LF: the start of a line still to come (or nothing)
        for raw in lines:
            if raw[:5] == b"data:":
                value = raw[6:] if raw[5:6] == b" " else raw[5:]
                self._data.append(value.decode("utf-8", "replace"))
                self._event_bytes += len(raw)
            elif not raw:
                if self._data or self._event is not None:
                    data = "\n".join(self._data)
                    if self._event_bytes > self._check_above:
                        self._check_event(data)
                    events.append(SSEEvent(self._event, data))
                    self._event, self._data, self._event_bytes = None, [], 0
            elif raw[:6] == b"event:":
                value = raw[7:] if raw[6:7] == b" " else raw[6:]
                self._event = value.decode("utf-8", "replace")
            else:
                self._take_line(raw)  # a comment, or a field no client reads: nothing to dispatch
        if tail:
            self._buffer += tail
        self._check_size()

    def _check_size(self) -> None:
        if len(self._buffer) + self._event_bytes > self._max_event_bytes:
            raise UpstreamProtocolError("upstream stream event exceeds the size limit")

    def close(self) -> List[SSEEvent]:
        """End of input: a last event without its blank line is still delivered (lenient)."""
        events: List[SSEEvent] = []
        if self.failure is not None:
            return events
        try:
            if self._buffer:
                event = self._take_line(bytes(self._buffer))
                self._buffer.clear()
                if event is not None:
                    events.append(event)
            final = self._dispatch()
            if final is not None:
                events.append(final)
        except UpstreamProtocolError as error:
            self.failure = error
        return events

    def _take_line(self, raw: bytes) -> Optional[SSEEvent]:
        if not raw:
            return self._dispatch()
        if raw[:1] == b":":
            return None
        line = raw.decode("utf-8", "replace")
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._event_bytes += len(raw)
        elif name == "event":
            self._event = value
        return None

    def _dispatch(self) -> Optional[SSEEvent]:
        if not self._data and self._event is None:
            return None
        data = "\n".join(self._data)
        if self._event_bytes > self._check_above:
            self._check_event(data)
        event = SSEEvent(self._event, data)
        self._event, self._data, self._event_bytes = None, [], 0
        return event

    def _check_event(self, data: str) -> None:
        """A whole event large enough to be over a limit: its size (one that came whole in one chunk
        was never held unfinished), then its JSON values, before any translator parses it."""
        if self._event_bytes > self._max_event_bytes:
            raise UpstreamProtocolError("upstream stream event exceeds the size limit")
        values = excess_json_values(data)
        if values is not None:
            raise UpstreamProtocolError(f"upstream stream event holds more than {values} JSON values; "
                                        f"the router parses at most {MAX_JSON_VALUES}")


def _find_line_end(buffer: bytearray, start: int) -> int:
    lf = buffer.find(b"\n", start)
    cr = buffer.find(b"\r", start, lf if lf >= 0 else len(buffer))
    return cr if cr >= 0 else lf


def encode_event(data: str, event: Optional[str] = None) -> bytes:
    """One SSE event, terminated by its blank line (docs/protocol-rules.md#sse-framing: the SDKs drop an
    unterminated last event). ``data`` is normally single-line JSON or ``[DONE]``; text with line
    breaks is sent as several ``data:`` lines, which decoders join with ``\\n`` again. Lone
    surrogates (possible in Python strings, impossible in UTF-8) become "?" instead of raising."""
    if "\n" in data or "\r" in data:
        lines = _LINE_BREAK.split(data)
        payload = b"".join(b"data: " + _utf8(line) + b"\n" for line in lines)
    else:
        payload = b"data: " + _utf8(data) + b"\n"
    if event is None:
        return payload + b"\n"
    return b"event: " + _utf8(event) + b"\n" + payload + b"\n"


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "replace")
