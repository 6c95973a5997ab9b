"""A :class:`Reply` in the OpenAI Chat Completions wire format (docs/protocol-rules.md#openai-stream,
docs/protocol-rules.md#responses, docs/protocol-rules.md#errors).

Stream shape follows the openai-python recordings (docs/protocol-rules.md#sources): a role chunk
``{"role":"assistant","content":"","refusal":null}``, content / ``reasoning_content`` deltas
(DeepSeek-style, docs/protocol-rules.md#reasoning-fields), tool-call deltas where
``id``/``type``/``name`` appear only on the first delta of each index, a finish chunk with an empty
delta, then — only when the request asked ``stream_options.include_usage`` — a usage chunk with
``choices: []`` (every earlier chunk then carries ``usage: null``), and ``[DONE]``.
"""

import json
from typing import Any, Dict, List, Optional

from .reply import Reply, split_fragments

__all__ = ["OpenAIWire", "openai_error_body"]

_FINISH_REASONS = {"end": "stop", "max_tokens": "length", "stop_sequence": "stop", "tool": "tool_calls"}
CREATED = 1_770_000_000

# (type, code, message) per status, as the OpenAI API answers (docs/protocol-rules.md#error-kinds).
_ERRORS = {
    400: ("invalid_request_error", None, "Invalid value for 'messages'."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("permission_error", None, "You are not allowed to sample from this model."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", "server_error", "The server had an error while processing your request."),
    503: ("service_unavailable_error", "server_is_overloaded", "The server is overloaded, please try again later."),
}


def _dumps(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"))


class OpenAIWire:
    """Renders one reply for one request; ``serial`` makes ids unique per call."""

    protocol = "openai"

    def __init__(self, reply: Reply, model: str, serial: int, include_usage: bool = False) -> None:
        self.reply = reply
        self.model = reply.model or model
        self.completion_id = f"chatcmpl-Fake{serial:06d}"
        self.serial = serial
        self.include_usage = include_usage

    def tool_id(self, position: int) -> str:
        call = self.reply.tool_calls[position]
        return call.id or f"call_Fake{self.serial:04d}x{position}"

    def usage(self) -> Dict[str, Any]:
        usage = self.reply.usage
        prompt_details: Dict[str, Any] = {"cached_tokens": usage.cache_read, "audio_tokens": 0}
        if usage.cache_write:
            prompt_details["cache_write_tokens"] = usage.cache_write
        return {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.output,
            "total_tokens": usage.prompt_tokens + usage.output,
            "prompt_tokens_details": prompt_details,
            "completion_tokens_details": {
                "reasoning_tokens": usage.reasoning,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    # Non-streaming -------------------------------------------------------------------------
    def body(self) -> Dict[str, Any]:
        """The whole (non-streaming) response body."""
        if self.reply.opening_error is not None:
            return self._status_error(self.reply.opening_error)
        return self.completion()

    @staticmethod
    def _status_error(status: int) -> Dict[str, Any]:
        """An error standing for ``status``, as OpenRouter writes one in a 200 answer or stream."""
        return {"error": {"code": status, "message": openai_error_body(status)["error"]["message"]}}

    def completion(self) -> Dict[str, Any]:
        message: Dict[str, Any] = {"role": "assistant", "content": self.reply.text, "refusal": None, "annotations": []}
        if self.reply.thinking is not None:
            message["reasoning_content"] = self.reply.thinking
        if self.reply.tool_calls:
            message["tool_calls"] = [self._full_tool_call(position) for position in range(len(self.reply.tool_calls))]
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": self._finish_reason()}
        return {**self._envelope("chat.completion"), "choices": [choice], "usage": self.usage()}

    def _full_tool_call(self, position: int) -> Dict[str, Any]:
        call = self.reply.tool_calls[position]
        function = {"name": call.name, "arguments": json.dumps(call.arguments)}
        return {"id": self.tool_id(position), "type": "function", "function": function}

    def _finish_reason(self) -> str:
        return self.reply.wire_stop or _FINISH_REASONS[self.reply.stop_kind]

    def _envelope(self, kind: str) -> Dict[str, Any]:
        return {
            "id": self.completion_id,
            "object": kind,
            "created": CREATED,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": "fp_fake0001",
        }

    # Streaming -----------------------------------------------------------------------------
    def stream_events(self) -> List[bytes]:
        """Every SSE event as the bytes the provider writes, ``[DONE]`` included."""
        events = [f"data: {_dumps(chunk)}\n\n".encode() for chunk in self._chunks()]
        if not self.reply.fail_midstream:  # an opening error is followed by [DONE], as vLLM writes it
            events.append(b"data: [DONE]\n\n")
        return events

    def _chunks(self) -> List[Dict[str, Any]]:
        chunks = [self._chunk({"role": "assistant", "content": "", "refusal": None})]
        if self.reply.opening_error is not None:
            return [*chunks, self._status_error(self.reply.opening_error)]
        deltas = self._content_deltas()
        if self.reply.fail_midstream:
            return chunks + [self._chunk(delta) for delta in deltas[:1]] + [self._error_chunk()]
        chunks.extend(self._chunk(delta) for delta in deltas)
        chunks.append(self._chunk({}, finish_reason=self._finish_reason()))
        if self.include_usage:
            chunks.append({**self._envelope("chat.completion.chunk"), "choices": [], "usage": self.usage()})
        return chunks

    def _content_deltas(self) -> List[Dict[str, Any]]:
        deltas: List[Dict[str, Any]] = []
        if self.reply.thinking is not None:
            deltas.extend({"reasoning_content": piece} for piece in split_fragments(self.reply.thinking))
        if self.reply.text:
            deltas.extend({"content": piece} for piece in split_fragments(self.reply.text))
        for position in range(len(self.reply.tool_calls)):
            deltas.extend(self._tool_deltas(position))
        return deltas

    def _tool_deltas(self, position: int) -> List[Dict[str, Any]]:
        call = self.reply.tool_calls[position]
        first = {
            "index": position,
            "id": self.tool_id(position),
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        pieces = split_fragments(json.dumps(call.arguments))
        fragments = [{"index": position, "function": {"arguments": piece}} for piece in pieces]
        return [{"tool_calls": [item]} for item in [first, *fragments]]

    def _chunk(self, delta: Dict[str, Any], finish_reason: Optional[str] = None) -> Dict[str, Any]:
        chunk = {
            **self._envelope("chat.completion.chunk"),
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def _error_chunk(self) -> Dict[str, Any]:
        return {"error": {"message": "The server had an error while processing your request.",
                          "type": "server_error", "param": None, "code": None}}


def openai_error_body(status: int, message: Optional[str] = None) -> Dict[str, Any]:
    """The body OpenAI sends for ``status`` (docs/protocol-rules.md#error-kinds)."""
    error_type, code, default_message = _ERRORS.get(status, ("server_error", None, f"fake error {status}"))
    return {"error": {"message": message or default_message, "type": error_type, "param": None, "code": code}}
