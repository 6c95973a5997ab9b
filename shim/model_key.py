"""Where a request body spells its ``model`` key: to refuse a body that names it twice at the top
level, and to splice another model into a same-protocol body without re-encoding it
(docs/protocol-rules.md#one-model-per-request).

Both ask the same questions of the body's bytes: how often ``"model"`` appears, where first, and
whether the key could be written with escapes. :class:`ModelKeys` answers them in one look at the
bytes, and a driver that receives a body in pieces can ask it piece by piece as they arrive
(the proxy does): the searches are about a millisecond per MiB of body, and made at the end they
held the event loop 10 ms for an 8 MiB body, every other client waiting
(docs/proxy-limits.md#request-bodies).
"""

import json
import re
from typing import Any, Mapping, Optional

__all__ = ["ModelKeys", "may_repeat_model", "replace_model"]

_PLAIN = b'"model"'
_CUT = len(_PLAIN) - 1  # the bytes before a cut that a spelling across it can start in
# Every letter of "model" is U+006x: a key spelled with escapes holds "\u006" (ordinary non-ASCII
# text escapes other code points, and no encoder escapes ASCII letters unasked).
_ESCAPED = b"\\u006"


class ModelKeys:
    """The plain spellings of ``"model"`` in a body (anywhere: in a value such as ``["model"]`` too,
    so :attr:`plain` is an upper bound on the plain keys), the first one's offset, and whether an
    escaped spelling may be there. :meth:`feed` takes the body's pieces in order; a spelling cut
    between two pieces is counted once, in the piece it ends in. Two spellings that share a quote
    (``"model"model"``, never valid JSON) may both be counted where a count of the whole body finds
    one: a count too high only takes the slower way that is right for any body."""

    __slots__ = ("_size", "_tail", "escaped", "first", "plain")

    def __init__(self) -> None:
        self.plain = 0
        self.first = -1  # the offset of the first plain spelling; -1: none so far
        self.escaped = False
        self._size = 0
        self._tail = b""  # the last _CUT bytes so far: where a spelling across the next cut starts

    @classmethod
    def of(cls, raw: bytes) -> "ModelKeys":
        keys = cls()
        keys.feed(raw)
        return keys

    def feed(self, piece: bytes) -> None:
        # What spans the cut is the tail and the piece's first bytes: each too short to hold a plain
        # spelling alone, so each one found there crosses the cut (the escape is shorter, but only
        # whether it is there matters).
        joint = self._tail + piece[:_CUT]
        found = joint.count(_PLAIN)
        # A search for one byte is many times faster than one for several, and the bulk of most big
        # bodies (base64 in a string) holds neither a quote nor a backslash: those skip the searches.
        if b'"' in piece:
            found += piece.count(_PLAIN)
        if found and self.first < 0:
            at = joint.find(_PLAIN)
            self.first = self._size - len(self._tail) + at if at >= 0 else self._size + piece.find(_PLAIN)
        self.plain += found
        if not self.escaped and (b"\\" in piece or b"\\" in joint):
            self.escaped = _ESCAPED in joint or _ESCAPED in piece
        self._size += len(piece)
        self._tail = (self._tail + piece[-_CUT:])[-_CUT:]


# A JSON object key "model" with a string value. Inside JSON strings every quote is escaped, so
# an unescaped `"model"` followed by a colon can only be a key (at some depth). Each letter may
# also be written as a \u escape (`"mod\u0065l"` is the same key): the top-level key must always
# match, so that a single match is provably the top-level one.
def _json_key_pattern(key: str) -> bytes:
    """A regex for ``"key"`` as JSON source may spell it: each character literal or \\u-escaped."""
    parts = []
    for char in key:
        hex_digits = "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in f"{ord(char):04x}")
        parts.append(f"(?:{re.escape(char)}|\\\\u{hex_digits})")
    return ('"' + "".join(parts) + '"').encode()


_MODEL_FIELD = re.compile(_json_key_pattern("model") + rb'\s*:\s*"((?:[^"\\]|\\.)*)"')
_MODEL_KEY = re.compile(_json_key_pattern("model") + rb"\s*:")


def may_repeat_model(raw: bytes, keys: ModelKeys) -> bool:
    """False when ``raw`` provably names ``model`` as a key at most once (at any depth), so a plain
    parse is enough; ``keys`` describes ``raw``. Without an escaped spelling the count has decided."""
    if keys.plain > 1:
        return True
    if not keys.escaped:
        return False
    return len(_MODEL_KEY.findall(raw)) > 1


def replace_model(raw: bytes, body: Mapping[str, Any], new_model: str, keys: Optional[ModelKeys] = None) -> bytes:
    """``raw`` with the top-level model replaced, every other byte kept when that is provably safe
    (``keys``: what :class:`ModelKeys` found in ``raw``, looked for here when not given).

    Splices when exactly one ``"model": "…"`` pair exists and it decodes to the top-level model;
    otherwise (a nested ``model`` key with a string value) re-encodes the parsed body.
    """
    if body.get("model") == new_model:
        return raw
    match = _only_model_field(raw, keys or ModelKeys.of(raw))
    if match is not None and _decodes_to(match.group(1), body.get("model")):
        start, end = match.span(1)
        return raw[:start] + json.dumps(new_model)[1:-1].encode() + raw[end:]
    return json.dumps({**body, "model": new_model}).encode()


def _only_model_field(raw: bytes, keys: ModelKeys) -> Optional["re.Match[bytes]"]:
    """The one ``"model": "…"`` pair of ``raw``, or None when there are several (or none)."""
    if not keys.escaped:
        # The common case: the key can only be spelled plainly, so the count proves it unique and the
        # pattern is tried where it is (a search from the start went through the whole body when, as
        # the OpenAI SDK writes it, the model came after the messages).
        return _MODEL_FIELD.match(raw, keys.first) if keys.plain == 1 else None
    matches = list(_MODEL_FIELD.finditer(raw))
    return matches[0] if len(matches) == 1 else None


def _decodes_to(escaped: bytes, expected: Any) -> bool:
    if b"\\" not in escaped:  # no escapes: the UTF-8 text is the value itself
        return bool(escaped.decode("utf-8", "replace") == expected)
    try:
        return bool(json.loads(b'"' + escaped + b'"') == expected)
    except ValueError:
        return False
