"""Anthropic Messages stream (backend) → OpenAI ``chat.completion.chunk`` stream (client).

The state machine of docs/protocol-rules.md#anthropic-to-openai-stream, emitting the chunk grammar
of docs/protocol-rules.md#openai-stream so that the OpenAI SDK's accumulator builds the right
message (docs/protocol-rules.md#sdk-conformance; P-numbers: docs/pitfalls.md):

* ``message_start`` → the one chunk carrying ``role`` (repeating it garbles the role, P4);
* ``tool_use`` blocks → ``tool_calls`` entries numbered 0, 1, … in order of appearance, never by
  the Anthropic block index, which starts at 1 after a text block (P3); id/name/type only in the
  first delta of each call (P4); a call that streamed no argument bytes gets ``"{}"`` (P6);
* unknown events, block types and delta types are skipped but their blocks are still tracked
  (P2); server-side blocks (``server_tool_use`` …) stream ``input_json_delta`` that is not ours;
* ``message_stop`` (or EOF after ``message_delta``) → the finish chunk (a tool call always
  finishes as ``tool_calls``, P7), then the usage chunk if the client asked for it, last (P8),
  then ``[DONE]``. A stream that ends earlier ends with an in-band error, never a fake finish.

Every chunk shares one JSON prefix (id, object, created, model), built once at ``message_start``;
a text delta then costs one ``json.loads`` and one ``json.dumps`` of the text (performance target:
≤ 10 µs per event).
"""

import json
from typing import Any, Callable, Dict, Mapping, Optional

from ..errors import RouterError, UpstreamProtocolError, error_from_stream_payload
from ..protocols import ANTHROPIC, OPENAI
from ..sse import SSEEvent
from ..stop_reasons import finish_reason_from_anthropic
from ..usage import Usage, usage_from_anthropic
from .chat_chunks import ChatChunkWriter
from .context import ResponseContext
from .held_text import HeldText
from .response_common import arguments_json
from .stream_base import StreamTranslator, render_stream_error, truncated_stream_error

__all__ = ["AnthropicToOpenAIStream"]

Payload = Dict[str, Any]

_COMPACT = (",", ":")
_JSON_DECODER = json.JSONDecoder()  # decode() directly: skips json.loads' argument checks per event
# Events that only make sense inside a message (an error may come at any point,
# docs/protocol-rules.md#anthropic-stream).
_MESSAGE_EVENTS = ("content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop")


class _ToolCall:
    """One streamed ``tool_use`` block, as the OpenAI client numbers it."""

    __slots__ = ("has_arguments", "index", "start_arguments")

    def __init__(self, index: int, start_arguments: str) -> None:
        self.index = index  # contiguous OpenAI tool_calls index (P3)
        self.start_arguments = start_arguments  # the block start's ``input`` as JSON text ("" for {})
        self.has_arguments = False  # a non-empty input_json_delta was forwarded

    def fallback_arguments(self) -> str:
        """Arguments for a call that streamed none: ``"{}"`` (P6: ``""`` breaks OpenAI clients),
        or the start's ``input`` when an Anthropic-compatible backend put the whole input there
        instead of streaming it (native Anthropic always starts with ``input: {}``)."""
        return self.start_arguments or "{}"


class AnthropicToOpenAIStream(StreamTranslator):
    """Feed an Anthropic backend's SSE bytes, get an OpenAI client's chunk SSE bytes."""

    def __init__(self, context: ResponseContext) -> None:
        super().__init__()
        self._context = context
        self._chunks = ChatChunkWriter("", context)  # replaced at message_start, with the message id
        self._started = False
        # Anthropic block index → its tool call, or None for every other block type (P2).
        self._open_blocks: Dict[int, Optional[_ToolCall]] = {}
        self._held = HeldText(context.max_held_bytes)  # the blocks and the start inputs kept till they stop
        self._tool_count = 0
        self._saw_message_delta = False
        self._stop_reason: Optional[str] = None
        self._stop_details: Optional[Mapping[str, Any]] = None

    # StreamTranslator hooks ----------------------------------------------------------------
    def _on_event(self, event: SSEEvent) -> bytes:
        # Pings carry nothing; empty events and a stray OpenAI-style [DONE] neither.
        if event.event == "ping" or not event.data or event.data == "[DONE]":
            return b""
        payload = _parse_payload(event.data)
        kind = payload.get("type")
        if event.event == "error" or not isinstance(kind, str):
            kind = event.event
        return self._dispatch(kind, payload)

    def _on_eof(self) -> bytes:
        # EOF after message_delta finishes as message_stop (docs/protocol-rules.md#anthropic-to-openai-stream)
        if self._saw_message_delta:
            return self._finish()
        return self.abort(truncated_stream_error())

    def _render_error(self, error: RouterError) -> bytes:
        return render_stream_error(OPENAI, error)

    # Events ----------------------------------------------------------------------------------
    def _dispatch(self, kind: Optional[str], payload: Payload) -> bytes:
        handler = _EVENT_HANDLERS.get(kind) if kind is not None else None
        if handler is None:
            # Unknown event type: "handle unknown event types gracefully" (docs/protocol-rules.md#anthropic-stream).
            return b""
        if not self._started and kind in _MESSAGE_EVENTS:
            raise UpstreamProtocolError(f"upstream stream sent {kind} before message_start")
        return handler(self, payload)

    def _on_message_start(self, payload: Payload) -> bytes:
        if self._started:
            return b""  # a duplicate message_start must not repeat the role (P4)
        message = _field(payload, "message", dict)
        message_id = message.get("id")
        if not isinstance(message_id, str) or not message_id:
            message_id = self._context.call_id
        self._chunks = ChatChunkWriter("chatcmpl-" + message_id, self._context, self.chunk_sink)
        self._started = True
        self._record_usage(message)
        return self._chunks.role()

    def _on_block_start(self, payload: Payload) -> bytes:
        index = _block_index(payload)
        if index in self._open_blocks:
            raise UpstreamProtocolError(f"upstream stream started content block {index} twice")
        self._held.keep_item()
        block = _field(payload, "content_block", dict)
        if block.get("type") != "tool_use":
            # text emits on its deltas; thinking, redacted_thinking, server-side and unknown
            # blocks emit nothing here but stay tracked so their deltas and stop are accepted.
            self._open_blocks[index] = None
            return b""
        return self._start_tool_call(index, block)

    def _start_tool_call(self, index: int, block: Payload) -> bytes:
        call_id = _identifier(block, "id")
        name = _identifier(block, "name")
        start = block.get("input")
        start_arguments = arguments_json(start, _COMPACT) if isinstance(start, dict) and start else ""
        tool = _ToolCall(self._tool_count, self._held.keep(start_arguments))
        self._tool_count += 1
        self._open_blocks[index] = tool
        return self._chunks.tool_start(tool.index, call_id, self._context.tool_names.get(name, name))

    def _on_block_delta(self, payload: Payload) -> bytes:
        tool = self._open_block(_block_index(payload))
        delta = _field(payload, "delta", dict)
        kind = delta.get("type")
        if kind == "text_delta":
            return self._chunks.text("content", _field(delta, "text", str))
        if kind == "input_json_delta":
            return self._arguments_chunk(tool, _field(delta, "partial_json", str))
        if kind == "thinking_delta":
            # Extension field both OpenAI SDKs keep in model_extra (docs/protocol-rules.md#reasoning-fields).
            return self._chunks.text("reasoning_content", _field(delta, "thinking", str))
        return b""  # signature_delta, citations_delta, compaction_delta, unknown: no slot (P2)

    def _arguments_chunk(self, tool: Optional[_ToolCall], fragment: str) -> bytes:
        if tool is None or not fragment:
            # Not one of our tool calls (e.g. server_tool_use input), or the empty first
            # fragment of a call: nothing to forward.
            return b""
        tool.has_arguments = True
        return self._chunks.arguments(tool.index, fragment)

    def _on_block_stop(self, payload: Payload) -> bytes:
        index = _block_index(payload)
        tool = self._open_block(index)
        del self._open_blocks[index]
        return self._close_tool_call(tool)

    def _close_tool_call(self, tool: Optional[_ToolCall]) -> bytes:
        if tool is None or tool.has_arguments:
            return b""
        return self._chunks.arguments(tool.index, tool.fallback_arguments())

    def _on_message_delta(self, payload: Payload) -> bytes:
        delta = _field(payload, "delta", dict)
        stop_reason = delta.get("stop_reason")
        if isinstance(stop_reason, str):
            self._stop_reason = stop_reason
        stop_details = delta.get("stop_details")
        if isinstance(stop_details, dict):
            self._stop_details = stop_details
        self._record_usage(payload)  # cumulative: overwrites only the fields present (docs/protocol-rules.md#usage)
        self._saw_message_delta = True
        return b""

    def _on_message_stop(self, payload: Payload) -> bytes:
        return self._finish()

    def _on_error(self, payload: Payload) -> bytes:
        return self.abort(error_from_stream_payload(ANTHROPIC, payload))

    # Finishing -------------------------------------------------------------------------------
    def _finish(self) -> bytes:
        """Finish chunk, usage chunk (last, P8), ``[DONE]``."""
        out = b"".join(self._close_tool_call(tool) for tool in self._open_blocks.values())
        self._open_blocks.clear()
        out += self._refusal_chunk()
        finish_reason = finish_reason_from_anthropic(self._stop_reason, self._tool_count > 0)
        out += self._chunks.finish(finish_reason)
        if self._context.include_usage:
            out += self._chunks.usage(self.usage or Usage())
        self.finished = True
        return out + self._chunks.done()

    def _refusal_chunk(self) -> bytes:
        """A refusal's explanation as ``delta.refusal`` (docs/protocol-rules.md#refusal: ``message.refusal``)."""
        if self._stop_reason != "refusal" or self._stop_details is None:
            return b""
        explanation = self._stop_details.get("explanation")
        if not isinstance(explanation, str) or not explanation:
            return b""
        return self._chunks.text("refusal", explanation)

    # Helpers ---------------------------------------------------------------------------------
    def _record_usage(self, holder: Payload) -> None:
        usage = holder.get("usage")
        if usage is None:
            return
        if not isinstance(usage, dict):
            raise UpstreamProtocolError("upstream stream sent a usage that is not an object")
        self.usage = usage_from_anthropic(usage, self.usage)

    def _open_block(self, index: int) -> Optional[_ToolCall]:
        try:
            return self._open_blocks[index]
        except KeyError:
            message = f"upstream stream referenced content block {index}, which is not open"
            raise UpstreamProtocolError(message) from None


# Event type → its handler, as functions of the class: a table of an instance's bound methods would
# make every translator a reference cycle, left for the cycle collector (docs/proxy-limits.md#no-cycles-per-call).
_EVENT_HANDLERS: Dict[str, Callable[[AnthropicToOpenAIStream, Payload], bytes]] = {
    "message_start": AnthropicToOpenAIStream._on_message_start,
    "content_block_start": AnthropicToOpenAIStream._on_block_start,
    "content_block_delta": AnthropicToOpenAIStream._on_block_delta,
    "content_block_stop": AnthropicToOpenAIStream._on_block_stop,
    "message_delta": AnthropicToOpenAIStream._on_message_delta,
    "message_stop": AnthropicToOpenAIStream._on_message_stop,
    "error": AnthropicToOpenAIStream._on_error,
}


def _parse_payload(data: str) -> Payload:
    try:
        payload = _JSON_DECODER.decode(data)
    except (ValueError, RecursionError):
        raise UpstreamProtocolError("upstream stream sent an event that is not JSON") from None
    if not isinstance(payload, dict):
        raise UpstreamProtocolError("upstream stream sent an event that is not a JSON object")
    return payload


def _field(holder: Mapping[str, Any], key: str, kind: type) -> Any:
    """``holder[key]``, which must be a ``kind``; anything else is an upstream protocol error."""
    value = holder.get(key)
    if not isinstance(value, kind):
        raise UpstreamProtocolError(f"upstream stream event has no valid {key!r} ({kind.__name__} expected)")
    return value


def _identifier(holder: Mapping[str, Any], key: str) -> str:
    """A tool call's id or name: a non-empty string (OpenAI clients key calls by them)."""
    value: str = _field(holder, key, str)
    if not value:
        raise UpstreamProtocolError(f"upstream stream event has an empty {key!r}")
    return value


def _block_index(payload: Payload) -> int:
    index = payload.get("index")
    if type(index) is not int:  # bool is an int subclass; lists are unhashable
        raise UpstreamProtocolError("upstream stream content block event has no integer 'index'")
    return index
