"""A :class:`Reply` in the Anthropic Messages wire format (docs/protocol-rules.md#anthropic-stream,
docs/protocol-rules.md#responses, docs/protocol-rules.md#errors).

Shapes follow real captures (docs/protocol-rules.md#sources): ``message_start`` with input-side usage and a placeholder
``output_tokens: 1``, a ``ping`` after it, thinking blocks with ``thinking_delta``s then an empty
``thinking_delta`` and one ``signature_delta`` just before the stop, tool_use blocks whose start
carries ``input: {}`` and whose first ``input_json_delta`` is ``""``, a ``message_delta`` with the
cumulative usage (including input and cache fields), then ``message_stop``.
"""

import json
from typing import Any, Dict, List, Optional, Tuple

from .reply import Reply, split_fragments

__all__ = ["AnthropicWire", "anthropic_error_body"]

_STOP_REASONS = {"end": "end_turn", "max_tokens": "max_tokens", "stop_sequence": "stop_sequence", "tool": "tool_use"}
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

Event = Tuple[str, Dict[str, Any]]


def _dumps(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"))


class AnthropicWire:
    """Renders one reply for one request; ``serial`` makes ids unique per call."""

    protocol = "anthropic"

    def __init__(self, reply: Reply, model: str, serial: int) -> None:
        self.reply = reply
        self.model = reply.model or model
        self.message_id = f"msg_01FakeMessage{serial:06d}"
        self.serial = serial

    # Non-streaming -------------------------------------------------------------------------
    def body(self) -> Dict[str, Any]:
        """The whole (non-streaming) response body."""
        if self.reply.opening_error is not None:
            return anthropic_error_body(self.reply.opening_error)
        return self.message()

    def message(self) -> Dict[str, Any]:
        return {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": self._final_blocks(),
            "stop_reason": self._stop_reason(),
            "stop_sequence": "\n\nHuman:" if self.reply.stop_kind == "stop_sequence" else None,
            "stop_details": None,
            "usage": {**self._input_usage(), **self._output_usage(), "inference_geo": "global"},
        }

    def _stop_reason(self) -> str:
        return self.reply.wire_stop or _STOP_REASONS[self.reply.stop_kind]

    def tool_id(self, position: int) -> str:
        call = self.reply.tool_calls[position]
        return call.id or f"toolu_01Fake{self.serial:04d}x{position}"

    def _final_blocks(self) -> List[Dict[str, Any]]:
        blocks: List[Dict[str, Any]] = []
        if self.reply.thinking is not None:
            blocks.append({"type": "thinking", "thinking": self.reply.thinking, "signature": self.reply.signature})
        if self.reply.text:
            blocks.append({"type": "text", "text": self.reply.text})
        for position, call in enumerate(self.reply.tool_calls):
            tool_id = self.tool_id(position)
            blocks.append({"type": "tool_use", "id": tool_id, "name": call.name, "input": call.arguments})
        return blocks

    def _input_usage(self) -> Dict[str, Any]:
        usage = self.reply.usage
        return {
            "input_tokens": usage.input,
            "cache_creation_input_tokens": usage.cache_write,
            "cache_read_input_tokens": usage.cache_read,
            "cache_creation": {"ephemeral_5m_input_tokens": usage.cache_write, "ephemeral_1h_input_tokens": 0},
        }

    def _output_usage(self) -> Dict[str, Any]:
        usage = self.reply.usage
        return {
            "output_tokens": usage.output,
            "output_tokens_details": {"thinking_tokens": usage.reasoning},
            "service_tier": "standard",
        }

    # Streaming -----------------------------------------------------------------------------
    def stream_events(self) -> List[bytes]:
        """Every SSE event as the bytes the provider writes, terminator included."""
        return [f"event: {name}\ndata: {_dumps(payload)}\n\n".encode() for name, payload in self._events()]

    def _events(self) -> List[Event]:
        events: List[Event] = [self._message_start(), ("ping", {"type": "ping"})]
        if self.reply.opening_error is not None:
            return [*events, ("error", anthropic_error_body(self.reply.opening_error))]
        groups = self._block_event_groups()
        if self.reply.fail_midstream:  # cut inside the first block: its start and first delta went out
            first = groups[0][:2] if groups else []
            return events + first + [self._midstream_error()]
        for block_events in groups:
            events.extend(block_events)
        events.append(self._message_delta())
        events.append(("message_stop", {"type": "message_stop"}))
        return events

    def _message_start(self) -> Event:
        message = {**self.message(), "content": [], "stop_reason": None, "stop_sequence": None}
        del message["stop_details"]
        message["usage"] = {**self._input_usage(), "output_tokens": 1, "service_tier": "standard"}
        return "message_start", {"type": "message_start", "message": message}

    def _message_delta(self) -> Event:
        stop_sequence = "\n\nHuman:" if self.reply.stop_kind == "stop_sequence" else None
        usage = {key: value for key, value in self._input_usage().items() if key != "cache_creation"}
        usage["output_tokens"] = self.reply.usage.output
        usage["output_tokens_details"] = {"thinking_tokens": self.reply.usage.reasoning}
        delta = {"stop_reason": self._stop_reason(), "stop_sequence": stop_sequence}
        return "message_delta", {"type": "message_delta", "delta": delta, "usage": usage}

    def _midstream_error(self) -> Event:
        return "error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}

    def _block_event_groups(self) -> List[List[Event]]:
        groups: List[List[Event]] = []
        if self.reply.thinking is not None:
            groups.append(self._thinking_block(len(groups)))
        if self.reply.text:
            groups.append(self._text_block(len(groups), self.reply.text))
        for position in range(len(self.reply.tool_calls)):
            groups.append(self._tool_block(len(groups), position))
        return groups

    def _thinking_block(self, index: int) -> List[Event]:
        assert self.reply.thinking is not None
        deltas = [{"type": "thinking_delta", "thinking": piece} for piece in split_fragments(self.reply.thinking)]
        deltas.append({"type": "thinking_delta", "thinking": ""})  # real captures send one before the signature
        deltas.append({"type": "signature_delta", "signature": self.reply.signature})
        return _block(index, {"type": "thinking", "thinking": "", "signature": ""}, deltas)

    def _text_block(self, index: int, text: str) -> List[Event]:
        deltas = [{"type": "text_delta", "text": piece} for piece in split_fragments(text)]
        return _block(index, {"type": "text", "text": ""}, deltas)

    def _tool_block(self, index: int, position: int) -> List[Event]:
        call = self.reply.tool_calls[position]
        start = {"type": "tool_use", "id": self.tool_id(position), "name": call.name, "input": {}}
        arguments = json.dumps(call.arguments) if call.arguments else ""
        pieces = ("", *split_fragments(arguments))
        deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]
        return [*_block(index, start, deltas), ("ping", {"type": "ping"})]


def _block(index: int, start: Dict[str, Any], deltas: List[Dict[str, Any]]) -> List[Event]:
    start_event = {"type": "content_block_start", "index": index, "content_block": start}
    events: List[Event] = [("content_block_start", start_event)]
    for delta in deltas:
        events.append(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events


def anthropic_error_body(status: int, message: Optional[str] = None) -> Dict[str, Any]:
    """The body Anthropic sends for ``status`` (docs/protocol-rules.md#error-kinds)."""
    error_type = _ERROR_TYPES.get(status, "api_error")
    text = message or {529: "Overloaded", 429: "Number of request tokens has exceeded your rate limit"}.get(
        status, f"fake {error_type}"
    )
    return {"type": "error", "error": {"type": error_type, "message": text}, "request_id": "req_011FakeRequest"}

