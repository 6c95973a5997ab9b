"""The Responses stream's framing: typed events with a strictly increasing ``sequence_number``.

Every event is ``event: <type>`` plus one ``data:`` line whose JSON starts with ``type`` and
``sequence_number``, as OpenAI writes them (docs/responses-api.md#stream-grammar). An error the
router reports in-band is an ``error`` event — ``{"type": "error", "code", "message", "param",
"sequence_number"}`` — and nothing follows it: the openai SDK yields it as a typed event, and
``get_final_response()`` then raises, since no ``response.completed`` came.
"""

import json
from typing import Any, Dict, List, Mapping, Optional

from ..errors import RouterError, UpstreamError, error_from_stream_payload
from ..protocols import OPENAI
from ..sse import encode_event

__all__ = [
    "ResponsesEventWriter",
    "error_from_failed_response",
    "error_from_responses_event",
    "responses_error_code",
]

_compact = json.JSONEncoder(separators=(",", ":")).encode


def responses_error_code(error: RouterError) -> str:
    """The ``code`` of an ``error`` event: the error's own code, else its kind's OpenAI code/type."""
    return error.code or error.kind.openai_code or error.kind.openai_type


class ResponsesEventWriter:
    """Numbers and frames the events of one Responses stream.

    It also remembers what it wrote since :meth:`mark`: when a translator fails halfway through an
    upstream event, the events it already numbered must still reach the client before the error
    (:meth:`unsent`), or the client would see a gap in the sequence numbers."""

    __slots__ = ("_written", "next_sequence")

    def __init__(self, first_sequence: int = 0) -> None:
        self.next_sequence = first_sequence
        self._written: List[bytes] = []

    def mark(self) -> None:
        """Everything written so far has been handed on."""
        self._written.clear()

    def unsent(self) -> bytes:
        """What was written since the last :meth:`mark` (and forget it)."""
        out = b"".join(self._written)
        self._written.clear()
        return out

    def event(self, kind: str, fields: Mapping[str, Any]) -> bytes:
        """One event of type ``kind`` carrying ``fields`` (JSON-ready values)."""
        return self.raw(kind, _compact(fields)[1:-1])

    def raw(self, kind: str, fields_json: str) -> bytes:
        """One event whose other members are given as JSON text (``"a":1,"b":2``; may be empty):
        the hot path builds text deltas by hand."""
        sequence = self.next_sequence
        self.next_sequence = sequence + 1
        head = '{"type":"' + kind + '","sequence_number":' + str(sequence)
        event = encode_event(head + ("," + fields_json if fields_json else "") + "}", kind)
        self._written.append(event)
        return event

    def error(self, error: RouterError) -> bytes:
        """The in-band ``error`` event for ``error`` (the last event of the stream)."""
        return self.event(
            "error", {"code": responses_error_code(error), "message": error.message, "param": error.param}
        )


def error_from_responses_event(payload: Mapping[str, Any]) -> UpstreamError:
    """An upstream ``error`` event (``code``/``message``/``param`` at the top level)."""
    return error_from_stream_payload(OPENAI, {"error": _error_fields(payload)})


def error_from_failed_response(response: Optional[Mapping[str, Any]]) -> UpstreamError:
    """The error of an upstream ``response.failed`` (its ``response.error``, when it has one)."""
    error = response.get("error") if isinstance(response, Mapping) else None
    fields = _error_fields(error) if isinstance(error, Mapping) else {}
    fields.setdefault("message", "the upstream response failed")
    return error_from_stream_payload(OPENAI, {"error": fields})


def _error_fields(source: Mapping[str, Any]) -> Dict[str, Any]:
    fields: Dict[str, Any] = {}
    for key in ("message", "code", "type", "param"):
        value = source.get(key)
        if isinstance(value, str) and value:
            fields[key] = value
    return fields
