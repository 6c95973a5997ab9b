"""How much work JSON is for the parser — a request body, a backend's answer — counted before it is parsed.

Parsing costs time per value, not per byte: 32 MiB of one base64 string parses in tens of
milliseconds, 32 MiB of ``[],[],…`` (16 million lists) in seconds and close to a gigabyte.
Python's JSON parser holds the interpreter lock for the whole parse, so no thread can take that
work off the proxy's event loop: the body is measured first, with byte counts and one regular
expression (both C-speed, about 2 ms per megabyte), and a body holding more values than
any API call needs is refused before anything parses it (docs/proxy-limits.md#request-bodies).
The proxy counts as the body arrives (:class:`JsonValueCount`), so even the counting never holds
the loop for more than one received piece.

A backend's answer is held to the same budget wherever the router parses one — an answer to
translate, an error body, the usage of one passed on, a stream's event (:func:`loads_within_budget`):
it is parsed on the same event loop, and a backend that answers 32 MiB of empty lists would hold
it as long as such a request would (docs/proxy-limits.md#answers). JSON found inside a string — a
tool call's arguments — is one value to those counts; what a translation parses of it comes from
one :class:`JsonBudget` per call (docs/proxy-limits.md#request-bodies).

A Responses call that continues a stored conversation (``previous_response_id``) becomes a request
the client never sent: the stored conversation in front of its input. Its size is kept as a
:class:`JsonMeasure` with each stored record, so the expanded request is held to the same limits
as a body before the proxy builds it (docs/proxy-limits.md#continued-conversations).
"""

import json
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Union

from .errors import RequestTooLargeError, RouterError, UpstreamTransportError

__all__ = ["MAX_JSON_VALUES", "AnswerValueCount", "JsonBudget", "JsonMeasure", "JsonValueCount", "NotUtf8Json",
           "TooManyJsonValues", "check_json_values", "check_json_work", "count_json_values", "excess_json_values",
           "json_text", "loads_within_budget"]

# A long agent conversation holds tens of thousands of values; OpenAI's largest embeddings request
# (2,048 inputs, 300,000 tokens in all, given as token arrays) about 300,000. Parsing this many
# takes ~0.15 s at worst (empty lists, the cheapest value to write and the dearest to parse).
MAX_JSON_VALUES = 500_000
# Every value but the first in a container follows a comma, so a body can hold at most one value
# per two bytes: shorter ones need no counting.
_COUNT_ABOVE = 2 * MAX_JSON_VALUES


class TooManyJsonValues(ValueError):
    """JSON from a backend that holds more values than the router parses (:func:`loads_within_budget`).
    A ``ValueError``, as ``json.loads`` raises for what it cannot parse: a caller that treats an
    unparsable answer as having no usage, no error details or nothing to store treats this one so too."""

    def __init__(self, values: int) -> None:
        super().__init__(f"holds more than {values} JSON values; the router parses at most {MAX_JSON_VALUES}")
        self.values = values


class NotUtf8Json(ValueError):
    """JSON bytes in another encoding than UTF-8 (:func:`json_text`). A ``ValueError``, as
    ``json.loads`` raises for what it cannot parse."""


def json_text(raw: Union[bytes, str]) -> str:
    """``raw`` as text for the parser: bytes must be UTF-8, as RFC 8259 (section 8.1) requires of JSON
    that systems exchange; a byte order mark is skipped. :class:`NotUtf8Json` for UTF-16 or -32,
    which ``json.loads`` would read: every count in this module reads bytes as ASCII-compatible text,
    a quote being byte 0x22, and in UTF-16 a character such as "•" (U+2022) holds that byte. A UTF-16
    body counted as 3 values parsed as 4 million (docs/proxy-limits.md#request-bodies)."""
    if isinstance(raw, str):
        return raw
    encoding = json.detect_encoding(raw)  # from the first bytes, as json.loads finds it
    if not encoding.startswith("utf-8"):
        raise NotUtf8Json(f"JSON must be encoded in UTF-8 (RFC 8259, section 8.1), not {encoding.upper()}")
    return raw.decode(encoding, "surrogatepass")  # what json.loads does: lone surrogates are JSON's to judge


def loads_within_budget(raw: Union[bytes, str], values: Optional[int] = None) -> Any:
    """``json.loads(raw)`` of UTF-8 JSON (:func:`json_text`), or :class:`TooManyJsonValues` without
    parsing when ``raw`` holds more than :data:`MAX_JSON_VALUES` values. Small texts (most answers,
    almost every stream event) are parsed at once: they cannot hold that many. ``values``: the
    count an :class:`AnswerValueCount` made as ``raw`` arrived, so that it is not counted again here."""
    excess = excess_json_values(raw) if values is None else (values if values > MAX_JSON_VALUES else None)
    if excess is not None:
        raise TooManyJsonValues(excess)
    return json.loads(json_text(raw))


def excess_json_values(text: Union[bytes, str]) -> Optional[int]:
    """None when ``text`` holds at most :data:`MAX_JSON_VALUES` values (counted without parsing it);
    else how many the count had found when it passed that (the text holds at least as many)."""
    if len(text) <= _COUNT_ABOVE:
        return None
    values = _values_within(text, MAX_JSON_VALUES)
    return values if values > MAX_JSON_VALUES else None


class JsonBudget:
    """The JSON values one translation may still parse out of strings: every JSON text a
    translator finds inside a string of the body (or the answer) and parses — tool-call arguments,
    a JSON user id. To the body's own count such a string is one value (a 24 MiB arguments string
    of empty lists is one), so without this a request within the body's budget made the proxy
    parse eight million lists (docs/proxy-limits.md#request-bodies). A budget of its own, as large
    as a body's: a string's contents are also in the body's quick count, and spending the body's
    count here would count them twice. Past it, :meth:`loads` raises the error of its side: the
    client's 413, or the backend's 502.

    Each text spends an upper bound of its values while that fits (three C-speed passes); only a
    text that does not fit is counted exactly, and refused if that does not fit either — so a call
    whose strings hold over a megabyte of commas and brackets in all may be refused a little early."""

    __slots__ = ("_error", "left")

    def __init__(self, error: Callable[[str], RouterError]) -> None:
        self._error = error
        self.left = MAX_JSON_VALUES

    @classmethod
    def for_request(cls) -> "JsonBudget":
        """A request's (413 past it)."""
        return cls(RequestTooLargeError)

    @classmethod
    def for_answer(cls) -> "JsonBudget":
        """A backend answer's (502 past it)."""
        return cls(UpstreamTransportError)

    def loads(self, text: Union[bytes, str], what: str = "JSON") -> Any:
        """``json.loads(text)`` once its values are taken from the budget (``ValueError`` as
        ``json.loads`` raises them); ``what`` names the text in the error past the budget."""
        values = _values_within(text, self.left)
        if values > self.left:
            raise self._error(f"{what}: more than {values} JSON values to parse; the router parses at "
                              f"most {MAX_JSON_VALUES} per call")
        self.left -= values
        return json.loads(json_text(text))


def check_json_work(raw: bytes) -> Optional[int]:
    """Refuse (413) a body with more than :data:`MAX_JSON_VALUES` values, without parsing it; the
    count it made (:func:`count_json_values`), or None for a body too short to need one."""
    if len(raw) <= _COUNT_ABOVE:
        return None  # too short to hold that many
    values = count_json_values(raw)
    check_json_values(values)
    return values


def check_json_values(values: int) -> None:
    """Refuse (413) a body of ``values`` JSON values when that is more than :data:`MAX_JSON_VALUES`."""
    if values > MAX_JSON_VALUES:
        raise RequestTooLargeError(f"request body holds about {values} JSON values; "
                                   f"the router parses at most {MAX_JSON_VALUES} per call")


def count_json_values(raw: bytes) -> int:
    """The values in ``raw``, counted without parsing: an upper bound that is exact (strings'
    contents left out) whenever the quick bound is over :data:`MAX_JSON_VALUES`, the case where
    being exact matters."""
    quick = _separators(raw)  # commas and brackets inside strings count too
    if quick <= MAX_JSON_VALUES:
        return quick
    return _count_in_pieces(raw, quick)  # the exact count is never over the quick one: it runs to the end


@dataclass(frozen=True)
class JsonMeasure:
    """How much JSON something is for the parser: its size in bytes, and (an upper bound on) its
    values. Measures add up: a continued conversation is its stored part plus what the new call brings."""

    size: int
    values: int

    @classmethod
    def of(cls, raw: bytes) -> "JsonMeasure":
        return cls(len(raw), count_json_values(raw))

    def __add__(self, other: "JsonMeasure") -> "JsonMeasure":
        return JsonMeasure(self.size + other.size, self.values + other.values)

    def excess(self, max_bytes: int) -> Optional[str]:
        """What is over a call's limits (``max_bytes``, :data:`MAX_JSON_VALUES`), said for a person;
        None when both hold."""
        if self.size > max_bytes:
            return f"{self.size} bytes, over the limit of {max_bytes}"
        if self.values > MAX_JSON_VALUES:
            return f"about {self.values} JSON values, over the limit of {MAX_JSON_VALUES}"
        return None


class JsonValueCount:
    """:func:`check_json_work`'s count, made piece by piece as a body arrives.

    The proxy feeds it each piece it receives: a few milliseconds of counting per megabyte, spread
    over the pieces, instead of one pass over the whole body that would hold the event loop (and
    every other client) for as long; a body over the limit is refused before the rest of it is
    even read (docs/proxy-limits.md#request-bodies). State between pieces: whether the last piece
    ended inside a string, and whether it ended on the backslash of an escape."""

    __slots__ = ("_escape_pending", "_in_string", "values")

    def __init__(self) -> None:
        self.values = 0
        self._in_string = False
        self._escape_pending = False

    def feed(self, piece: bytes) -> None:
        start = 1 if self._in_string and self._escape_pending else 0  # an escaped byte cannot end a string
        if start > len(piece):
            return  # an empty piece changes nothing
        self._escape_pending = False
        text = piece[start:] if start else piece
        # Escapes made into other bytes, every position kept: the escaped backslashes first (pairs,
        # from the left, as JSON reads them), then the escaped quotes. Each quote left starts or ends
        # a string, so finding strings is a search for quotes — linear, where a pattern that reads
        # escapes retried from every escaped quote of a string the piece does not end (a 64 KiB
        # piece of quoted code took 11 s: docs/proxy-limits.md#request-bodies). Most pieces hold
        # no backslash, and the search for one is the cheapest pass of all.
        if b"\\" in text:
            text = text.replace(b"\\\\", b"__").replace(b'\\"', b"__")
        if self._in_string:
            close = text.find(b'"')
            if close < 0:
                self._escape_pending = _ends_in_odd_backslashes(text)
                return
            self._in_string = False
            text = text[close + 1:]
        if b'"' not in text:  # a piece of numbers or padding: a search for one byte, no split
            self.values += _separators(text)
            return
        # Split at the quotes, what lies outside strings is every other part (strings' commas do not
        # count); an even number of parts means the last quote opens a string the next piece goes on
        # with. One split and one join: a regular expression that cut the strings out took 2.5–4
        # times as long (docs/proxy-limits.md#request-bodies).
        parts = text.split(b'"')
        if len(parts) % 2 == 0:
            self._in_string = True
            self._escape_pending = _ends_in_odd_backslashes(parts[-1])
        self.values += _separators(b"".join(parts[::2]))

    def check(self) -> None:
        check_json_values(self.values)


class AnswerValueCount:
    """A backend's answer counted as its pieces arrive, for :func:`loads_within_budget`'s ``values``:
    counted whole once read, an 8 MiB answer held the event loop ~10 ms at once, every other
    client waiting (docs/proxy-limits.md#answers). An answer too short to hold more than the budget
    (most are a few KiB) is never counted: its pieces are only remembered until it outgrows that
    size, then counted, and each later piece as it comes. Past the budget the count stops: the answer
    will not be parsed, whatever the rest holds."""

    __slots__ = ("_count", "_size", "_waiting")

    def __init__(self) -> None:
        self._count: Optional[JsonValueCount] = None  # from the piece that takes the answer past _COUNT_ABOVE
        self._size = 0
        self._waiting: List[bytes] = []  # the pieces before it, uncounted (references, not copies)

    def feed(self, piece: bytes) -> None:
        count = self._count
        if count is None:
            self._size += len(piece)
            self._waiting.append(piece)
            if self._size <= _COUNT_ABOVE:
                return
            count = self._count = JsonValueCount()
            waiting, self._waiting = self._waiting, []
            for earlier in waiting:
                self._feed(count, earlier)
        else:
            self._feed(count, piece)

    @staticmethod
    def _feed(count: JsonValueCount, piece: bytes) -> None:
        if count.values <= MAX_JSON_VALUES:
            count.feed(piece)

    @property
    def values(self) -> Optional[int]:
        """The answer's values so far (more than :data:`MAX_JSON_VALUES` once past it), or None for
        an answer too short to need a count."""
        return None if self._count is None else self._count.values


def _ends_in_odd_backslashes(text: bytes) -> bool:
    return (len(text) - len(text.rstrip(b"\\"))) % 2 == 1


_PIECE = 1 << 20


def _count_in_pieces(text: Union[bytes, str], stop_above: int) -> int:
    """:func:`count_json_values`'s exact count, a megabyte at a time — what the count holds beside
    ``text`` is one piece, never a second copy of a text that may be tens of megabytes — ended as
    soon as it passes ``stop_above``: a text of tens of millions of values is refused after its
    first megabytes, not after all of them."""
    count = JsonValueCount()
    for start in range(0, len(text), _PIECE):
        piece = text[start:start + _PIECE]
        count.feed(piece.encode("utf-8", "surrogatepass") if isinstance(piece, str) else piece)
        if count.values > stop_above:
            break
    return count.values


def _values_within(text: Union[bytes, str], limit: int) -> int:
    """The values in ``text`` as far as ``limit`` needs: the quick upper bound (three C-speed passes)
    while that is within it, else the exact count — more than ``limit`` only when the text holds more
    (the exact count stops as soon as it passes it). The quick bound goes a megabyte at a time and
    stops where it passes ``limit`` too: 8 MiB of empty lists passed it in their first megabyte, and
    the rest of a whole-text bound was 16 ms of the event loop for nothing (docs/proxy-limits.md#request-bodies)."""
    quick = 0
    for start in range(0, len(text), _PIECE):
        quick += _separators(text, start, start + _PIECE)
        if quick > limit:
            return _count_in_pieces(text, limit)
    return quick


def _separators(text: Union[bytes, str], start: int = 0, end: Optional[int] = None) -> int:
    """An upper bound on the values in ``text[start:end]``: one per comma, plus the first of each
    container. Bytes of a piece's size at most (what :meth:`JsonValueCount.feed` counts): none at all
    when three one-byte searches find none of the three (padding, digits), else one pass that deletes
    them, a copy of what is left; anything longer, a range, or text: three counting passes and no
    copy — a whole body is up to 32 MiB."""
    if isinstance(text, (bytes, bytearray)):
        if start == 0 and end is None and len(text) <= _PIECE:
            if b"," not in text and b"[" not in text and b"{" not in text:
                return 0  # padding, digits: three one-byte searches, where the deletion copies the piece
            return len(text) - len(text.translate(None, b",[{"))
        return text.count(b",", start, end) + text.count(b"[", start, end) + text.count(b"{", start, end)
    return text.count(",", start, end) + text.count("[", start, end) + text.count("{", start, end)
