"""How much work a request body is for the JSON parser, counted before it is parsed.

Parsing costs time per value, not per byte: 32 MiB of one base64 string parses in tens of
milliseconds, 32 MiB of ``[],[],…`` (16 million lists) in seconds and close to a gigabyte.
Python's JSON parser holds the interpreter lock for the whole parse, so no thread can take that
work off the proxy's event loop: the body is measured first, with byte counts and one regular
expression (both C-speed, a few milliseconds per megabyte), and a body holding more values than
any API call needs is refused before anything parses it (docs/proxy-limits.md#request-bodies).
"""

import re

from .errors import RequestTooLargeError

__all__ = ["MAX_JSON_VALUES", "check_json_work"]

# A long agent conversation holds tens of thousands of values; OpenAI's largest embeddings request
# (2,048 inputs, 300,000 tokens in all, given as token arrays) about 300,000. Parsing this many
# takes ~0.15 s at worst (empty lists, the cheapest value to write and the dearest to parse).
MAX_JSON_VALUES = 500_000
# Every value but the first in a container follows a comma, so a body can hold at most one value
# per two bytes: shorter ones need no counting.
_COUNT_ABOVE = 2 * MAX_JSON_VALUES
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # a JSON string, escapes included (unrolled: no backtracking)


def check_json_work(raw: bytes) -> None:
    """Refuse (413) a body with more than :data:`MAX_JSON_VALUES` values, without parsing it."""
    if len(raw) <= _COUNT_ABOVE or _separators(raw) <= MAX_JSON_VALUES:
        return  # the common case: commas and brackets in strings count too, and still too few
    values = _separators(_STRING.sub(b'""', raw))  # the same count, strings' contents left out
    if values > MAX_JSON_VALUES:
        raise RequestTooLargeError(
            f"request body holds about {values} JSON values; the router parses at most {MAX_JSON_VALUES} per call")


def _separators(raw: bytes) -> int:
    """An upper bound on the values in ``raw``: one per comma, plus the first of each container."""
    return len(raw) - len(raw.translate(None, b",[{"))  # one C pass for the three counts
