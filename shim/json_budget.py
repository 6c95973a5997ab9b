"""How much work a request body is for the JSON parser, counted before it is parsed.

Parsing costs time per value, not per byte: 32 MiB of one base64 string parses in tens of
milliseconds, 32 MiB of ``[],[],…`` (16 million lists) in seconds and close to a gigabyte.
Python's JSON parser holds the interpreter lock for the whole parse, so no thread can take that
work off the proxy's event loop: the body is measured first, with byte counts and one regular
expression (both C-speed, a few milliseconds per megabyte), and a body holding more values than
any API call needs is refused before anything parses it (docs/proxy-limits.md#request-bodies).
The proxy counts as the body arrives (:class:`JsonValueCount`), so even the counting never holds
the loop for more than one received piece.

A Responses call that continues a stored conversation (``previous_response_id``) becomes a request
the client never sent: the stored conversation in front of its input. Its size is kept as a
:class:`JsonMeasure` with each stored record, so the expanded request is held to the same limits
as a body before the proxy builds it (docs/proxy-limits.md#continued-conversations).
"""

import re
from dataclasses import dataclass
from typing import Optional

from .errors import RequestTooLargeError

__all__ = ["MAX_JSON_VALUES", "JsonMeasure", "JsonValueCount", "check_json_values", "check_json_work",
           "count_json_values"]

# A long agent conversation holds tens of thousands of values; OpenAI's largest embeddings request
# (2,048 inputs, 300,000 tokens in all, given as token arrays) about 300,000. Parsing this many
# takes ~0.15 s at worst (empty lists, the cheapest value to write and the dearest to parse).
MAX_JSON_VALUES = 500_000
# Every value but the first in a container follows a comma, so a body can hold at most one value
# per two bytes: shorter ones need no counting.
_COUNT_ABOVE = 2 * MAX_JSON_VALUES
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # a JSON string, escapes included (unrolled: no backtracking)
_STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*"')  # the rest of a string begun in an earlier piece


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
    count = JsonValueCount()
    count.feed(raw)
    return count.values


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
        start = 0
        if self._in_string:
            start = self._end_of_open_string(piece)
            if self._in_string:
                return
        outside = _STRING.sub(b"", piece[start:] if start else piece)  # whole strings: their commas do not count
        opening = outside.find(b'"')  # what is left of a quote opens a string the next piece goes on with
        if opening < 0:
            self.values += _separators(outside)
            return
        self.values += _separators(outside[:opening])
        self._in_string = True
        self._escape_pending = _ends_in_odd_backslashes(piece)

    def check(self) -> None:
        check_json_values(self.values)

    def _end_of_open_string(self, piece: bytes) -> int:
        """Where the string the last piece left open ends in ``piece`` (after its closing quote)."""
        start = 1 if self._escape_pending else 0  # the escaped byte cannot close the string
        if start > len(piece):
            return 0
        self._escape_pending = False
        end = _STRING_REST.match(piece, start)
        if end is None:
            self._escape_pending = _ends_in_odd_backslashes(piece[start:])
            return len(piece)
        self._in_string = False
        return end.end()


def _ends_in_odd_backslashes(text: bytes) -> bool:
    return (len(text) - len(text.rstrip(b"\\"))) % 2 == 1


def _separators(raw: bytes) -> int:
    """An upper bound on the values in ``raw``: one per comma, plus the first of each container."""
    return len(raw) - len(raw.translate(None, b",[{"))  # one C pass for the three counts
