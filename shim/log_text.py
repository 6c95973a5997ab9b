"""Values that came from outside, made safe to print in one of router's own lines.

A model name is what a client sent, a program name what a process calls itself, a request id what
a backend answered: any of them may hold a newline (a forged second log line), an ANSI escape (a
terminal that changes colour, title or clipboard when the log is read), a NUL or megabytes of text.
Every line router prints (``-v``, the shim's summary, ``router stats``, warnings) passes such values
through :func:`printable` (docs/telemetry-bounds.md#log-lines).
"""

from typing import Dict, Optional

__all__ = ["LOG_VALUE_LIMIT", "PROBLEM_LIMIT", "printable"]

LOG_VALUE_LIMIT = 200  # characters of one value in a line; as telemetry cuts texts (shim.telemetry.TEXT_LIMIT)
PROBLEM_LIMIT = 1000  # a sentence of ours around such values (a configuration problem naming a file)
_ELLIPSIS = "…"

# Escapes for the characters str.isprintable() refuses that have a short conventional form.
_SHORT_ESCAPES: Dict[str, str] = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e", "\\": "\\\\"}


def printable(value: Optional[object], limit: int = LOG_VALUE_LIMIT) -> str:
    """``value`` as one line of visible text: control and other non-printable characters (C0, C1,
    DEL, line and paragraph separators, bidirectional overrides…) written as escapes (``\\n``,
    ``\\e``, ``\\x00``, ``\\u202e``), and cut to ``limit`` characters with ``…``. A backslash is
    doubled, so an escape in the output can only have come from us. None is ``-``."""
    if value is None:
        return "-"
    text = value if isinstance(value, str) else str(value)
    cut = len(text) > limit
    if cut:
        text = text[:limit]
    if not text.isprintable() or "\\" in text:
        text = "".join(_escaped(char) for char in text)
    return text + _ELLIPSIS if cut else text


def _escaped(char: str) -> str:
    if char.isprintable() and char != "\\":
        return char
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
