"""What a backend's 2xx answer is, by its ``content-type``: an event stream, or one JSON body.

A call asks for one or the other (``stream``), and most backends answer as asked; some do not
(docs/protocol-rules.md#whole-answers-to-streams, docs/protocol-rules.md#streams-to-whole-answers).
The router goes by the header, and the body's first byte that is not space where the two disagree
(the SDKs parse what they get, whatever its label): an answer with another or no ``content-type``
is read as the call asked.
"""

import re
from typing import Mapping, Optional

__all__ = ["EVENT_STREAM_FIRST_BYTES", "first_byte", "is_event_stream", "is_whole_answer", "media_type",
           "starts_as_json"]

# The bytes an event stream's first line starts with: ``data:``, ``event:``, ``id:``, ``retry:``, or
# ``:`` for a comment (what a body labelled JSON that begins so is: the SDKs read it as events).
EVENT_STREAM_FIRST_BYTES = frozenset(b"deir:")

_SIGNIFICANT = re.compile(rb"\S")


def media_type(headers: Mapping[str, str]) -> str:
    """The answer's media type, lower case, without parameters (``""`` when there is none)."""
    content_type = headers.get("content-type")  # both drivers' headers are lower-cased: one lookup
    if content_type is None:
        content_type = next((value for name, value in headers.items() if name.lower() == "content-type"), "")
    return content_type.split(";", 1)[0].strip().lower()


def is_event_stream(headers: Mapping[str, str]) -> bool:
    return media_type(headers) == "text/event-stream"


def is_whole_answer(headers: Mapping[str, str]) -> bool:
    """JSON: ``application/json``, or a ``+json`` type."""
    kind = media_type(headers)
    return kind == "application/json" or kind.endswith("+json")


def first_byte(data: bytes) -> Optional[int]:
    """The first byte of ``data`` that is not space: what an answer is, one JSON value or events,
    shows there (None: nothing but space so far)."""
    found = _SIGNIFICANT.search(data)
    return None if found is None else data[found.start()]


def starts_as_json(body: bytes) -> bool:
    """``body`` is one JSON object, whatever its label said: its first byte that is not space is ``{``
    (an event stream's is a field name or ``:``). The SDKs parse what they get, not what it is called."""
    return first_byte(body) == ord("{")
