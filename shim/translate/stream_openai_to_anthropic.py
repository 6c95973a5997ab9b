"""An OpenAI(-compatible) ``chat.completion.chunk`` stream → an Anthropic Messages event stream.

docs/protocol-rules.md#openai-to-anthropic-stream, emitting the grammar of
docs/protocol-rules.md#anthropic-stream under the SDK constraints listed there (P-numbers:
docs/pitfalls.md):

* exactly one ``message_start``, sent as soon as the first upstream chunk arrives (P2); its usage
  is all zeros because nothing is pre-counted, so the *real* input, cache and output numbers go
  into ``message_delta.usage`` (P8: never a fake constant);
* content blocks get indexes 0..n-1 in emission order, each is start → deltas → stop, blocks never
  interleave and a stopped block is never re-opened (P2); no text block is opened for ``""`` or
  null content (P9); the delta that opens a block is emitted with it (P2);
* ``reasoning_content`` (DeepSeek) or ``reasoning`` (vLLM, OpenRouter) → a ``thinking`` block (P14)
  with ``signature: ""`` and **no** ``signature_delta``: the router never forges signatures (P13) —
  a made-up one would be rejected by real Anthropic ("Invalid signature") if the client later
  replays this history there, while an empty one is visibly unsigned and can be stripped;
* tool calls are told apart by their OpenAI ``index``, not by the presence of an ``id`` (P5); the
  first call streams live, a call whose name is not known yet or that arrives while another call's
  block is open is buffered and emitted whole (start, one delta, stop) when it can become the open
  block or at the finish — so interleaved argument fragments never interleave blocks;
* one upstream chunk carrying reasoning, text, tool calls and a finish reason at once (fake-streamed
  providers) is handled as those pieces in that order;
* the ``message_delta`` is held until the usage chunk (which OpenAI sends *after* the finish chunk
  when ``stream_options.include_usage`` is set) or until ``[DONE]``/end of file; any tool call makes
  the stop reason ``tool_use`` whatever the backend said (P7); a vLLM/SGLang matched stop string
  becomes ``stop_sequence``.

End of stream (P20): ``[DONE]`` ends the message even without a finish chunk, because some backends
(Cerebras) never send one (https://github.com/9j/claude-code-mux/pull/11) — ``end_turn``, or
``tool_use`` if a tool was called. End of file with neither a finish reason nor ``[DONE]`` is a cut
stream and ends in an in-band ``api_error``, never a fake clean end. End of file after a finish
reason ends normally (the OpenAI SDK also treats ``[DONE]`` as optional). An upstream
``data: {"error": …}`` becomes an ``event: error`` with the translated type
(docs/protocol-rules.md#in-band-errors) and no ``message_stop``.
"""

import json
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..errors import RouterError, UpstreamProtocolError, error_from_stream_payload
from ..protocols import ANTHROPIC, OPENAI
from ..sse import SSEEvent, encode_event
from ..stop_reasons import matched_stop_from_openai_choice, stop_reason_from_openai
from ..usage import Usage, usage_from_openai, usage_to_anthropic
from .chat_chunks import (
    StreamedToolCall,
    absorb_tool_delta,
    first_choice,
    parse_chunk,
    reasoning_delta,
    text_only_delta,
)
from .context import ResponseContext
from .held_text import HeldText
from .response_common import anthropic_message_id, client_tool_name, fallback_tool_id, optional_field, sanitize_tool_id
from .stream_base import StreamTranslator, render_stream_error, truncated_stream_error

__all__ = ["OpenAIToAnthropicStream"]

_TEXT = "text"
_THINKING = "thinking"
_TOOL_USE = "tool_use"

# content_block_start bodies of the two text-like blocks (the tool_use one carries id and name).
_EMPTY_BLOCKS = {
    _TEXT: {"type": "text", "text": ""},
    _THINKING: {"type": "thinking", "thinking": "", "signature": ""},  # no signature is ever forged (P13)
}
# The JSON after the index of each text-like block's delta: the delta type must match the block
# (docs/protocol-rules.md#anthropic-stream).
_DELTA_PREFIXES = {
    _TEXT: ',"delta":{"type":"text_delta","text":',
    _THINKING: ',"delta":{"type":"thinking_delta","thinking":',
}

_ZERO_USAGE = {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}

_compact_json = json.JSONEncoder(separators=(",", ":")).encode
# The C string encoder behind json.dumps: the text-delta hot path serializes one string, not a dict.
_json_string = json.encoder.encode_basestring_ascii


class OpenAIToAnthropicStream(StreamTranslator):
    """Feed OpenAI chat-completion SSE bytes, get Anthropic Messages SSE bytes (module docstring)."""

    def __init__(self, context: ResponseContext) -> None:
        super().__init__()
        self._context = context
        self._held = HeldText(context.max_held_bytes)  # tool arguments and refusal text kept for later
        self._started = False  # message_start was emitted
        self._block_count = 0  # blocks opened so far: the next block's index (P2)
        self._open_kind: Optional[str] = None  # type of the open block, None when no block is open
        self._open_tool: Optional[StreamedToolCall] = None  # the call whose block is open
        self._tools: Dict[int, StreamedToolCall] = {}  # OpenAI tool index → call, in order of arrival (P5)
        self._refusal: List[str] = []  # refusal text seen (it is also streamed as text)
        self._finish_reason: Optional[str] = None
        self._matched_stop: Optional[str] = None

    # StreamTranslator hooks ----------------------------------------------------------------
    def _on_event(self, event: SSEEvent) -> bytes:
        return self._on_data(event.data)

    def _on_eof(self) -> bytes:
        if self._finish_reason is None:
            return self.abort(truncated_stream_error())  # no finish, no [DONE]: a cut stream (P20)
        return self._finish_message()

    def _render_error(self, error: RouterError) -> bytes:
        return render_stream_error(ANTHROPIC, error)

    # Upstream events -----------------------------------------------------------------------
    def _on_data(self, data: str) -> bytes:
        if data.startswith("[DONE]"):  # the OpenAI SDK's own test (docs/protocol-rules.md#sse-framing)
            return self._on_done()
        text = data.strip()
        if not text:
            return b""  # an empty data line carries nothing (keep-alive)
        return self._on_chunk(parse_chunk(text))

    def _on_chunk_object(self, chunk: Optional[Dict[str, Any]]) -> bytes:
        return self._on_done() if chunk is None else self._on_chunk(chunk)

    def _on_done(self) -> bytes:
        if not self._started:
            raise truncated_stream_error()  # [DONE] and nothing else: no answer to report
        return self._finish_message()

    def _on_chunk(self, chunk: Dict[str, Any]) -> bytes:
        if chunk.get("error"):  # truthy, as the OpenAI SDK tests it (docs/protocol-rules.md#in-band-errors)
            raise error_from_stream_payload(OPENAI, chunk)
        out = b"" if self._started else self._message_start(chunk)
        choice = first_choice(chunk)
        if choice is not None:
            out += self._on_choice(choice)
        usage = optional_field(chunk, "usage", dict, "")
        if usage is not None:
            self.usage = usage_from_openai(usage)
            if choice is None and self._finish_reason is not None:
                # The include_usage chunk (choices: []) after the finish chunk: the stream is
                # complete, no need to wait for [DONE].
                out += self._finish_message()
        return out

    def _on_choice(self, choice: Mapping[str, Any]) -> bytes:
        text = text_only_delta(choice)
        if text is not None:
            return self._text_like(_TEXT, text)  # the hot path: a text delta and nothing else
        delta = optional_field(choice, "delta", dict, "choices[0]") or {}
        # The pieces of one chunk in the order a model produces them (LiteLLM's combined-chunk split).
        out = self._text_like(_THINKING, reasoning_delta(delta))
        out += self._text_like(_TEXT, optional_field(delta, "content", str, "choices[0].delta"))
        out += self._on_refusal(optional_field(delta, "refusal", str, "choices[0].delta"))
        out += self._on_tool_calls(optional_field(delta, "tool_calls", list, "choices[0].delta"))
        finish_reason = optional_field(choice, "finish_reason", str, "choices[0]")
        if finish_reason:
            self._finish_reason = finish_reason
            self._matched_stop = matched_stop_from_openai_choice(choice)
        return out

    def _on_refusal(self, refusal: Optional[str]) -> bytes:
        if not refusal:
            return b""
        # decides the stop reason at the end (docs/protocol-rules.md#refusal)
        self._refusal.append(self._held.keep(refusal))
        return self._text_like(_TEXT, refusal)

    def _on_tool_calls(self, calls: Optional[List[Any]]) -> bytes:
        out = b""
        for position, call in enumerate(calls or ()):
            if not isinstance(call, dict):
                raise UpstreamProtocolError(f"upstream stream field `choices[0].delta.tool_calls[{position}]` "
                                            "should be an object")
            out += self._on_tool_delta(absorb_tool_delta(self._tools, call, position, self._held))
        return out

    # Message envelope ----------------------------------------------------------------------
    def _message_start(self, chunk: Mapping[str, Any]) -> bytes:
        self._started = True
        message: Dict[str, Any] = {
            "id": anthropic_message_id(chunk.get("id"), self._context.call_id),
            "type": "message",
            "role": "assistant",
            "model": self._context.client_model,  # the client never learns which vendor answered
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            # Not pre-counted (docs/protocol-rules.md#input-tokens-at-message-start): zeros here, the real
            # numbers in message_delta (P8).
            "usage": dict(_ZERO_USAGE),
        }
        return _event({"type": "message_start", "message": message})

    def _finish_message(self) -> bytes:
        out = self._close_block() + self._emit_buffered_tools()
        stop_reason, stop_sequence = self._stop_reason()
        delta: Dict[str, Any] = {"stop_reason": stop_reason, "stop_sequence": stop_sequence}
        if stop_reason == "refusal":  # docs/protocol-rules.md#refusal: refusal with stop_details
            delta["stop_details"] = {"type": "refusal", "category": None, "explanation": "".join(self._refusal) or None}
        # No usage chunk (a backend that ignores include_usage): zeros, and self.usage stays None
        # so telemetry knows the numbers are unknown.
        usage = usage_to_anthropic(self.usage or Usage())
        out += _event({"type": "message_delta", "delta": delta, "usage": usage})
        self.finished = True
        return out + _event({"type": "message_stop"})

    def _stop_reason(self) -> Tuple[str, Optional[str]]:
        finish_reason = self._finish_reason
        if self._refusal and finish_reason in (None, "stop"):
            # OpenAI finishes a refusal with "stop"; the refusal field is the stronger signal
            # (docs/protocol-rules.md#refusal).
            finish_reason = "content_filter"
        return stop_reason_from_openai(finish_reason, bool(self._tools), self._matched_stop)

    # Blocks ----------------------------------------------------------------------------------
    def _text_like(self, kind: str, text: Optional[str]) -> bytes:
        """Append ``text`` to the open block of ``kind``, opening one if needed (never for "", P9)."""
        if not text:
            return b""
        out = b"" if self._open_kind == kind else self._close_block() + self._open_block(kind, _EMPTY_BLOCKS[kind])
        # Built by hand: this is the hot path (one event per token), and only the text needs escaping.
        data = '{"type":"content_block_delta","index":' + str(self._block_count - 1)
        data += _DELTA_PREFIXES[kind] + _json_string(text) + "}}"
        return out + encode_event(data, "content_block_delta")

    def _open_block(self, kind: str, block: Mapping[str, Any]) -> bytes:
        index = self._block_count
        self._block_count += 1
        self._open_kind = kind
        return _event({"type": "content_block_start", "index": index, "content_block": block})

    def _close_block(self) -> bytes:
        if self._open_kind is None:
            return b""
        out = b""
        tool = self._open_tool
        if tool is not None:
            if not tool.sent_arguments:
                # ≥1 delta, as native no-argument calls stream (docs/protocol-rules.md#anthropic-stream)
                out += self._arguments_delta("")
            tool.done = True
            self._open_tool = None
        self._open_kind = None
        return out + _event({"type": "content_block_stop", "index": self._block_count - 1})

    # Tool calls ----------------------------------------------------------------------------
    def _on_tool_delta(self, tool: StreamedToolCall) -> bytes:
        if tool is self._open_tool:
            return self._flush_arguments(tool)
        if not tool.started and tool.name is not None and self._open_tool is None:
            return self._start_tool(tool)  # no other call is open: this one streams live
        return b""  # buffered: name unknown yet, or another call's block is open

    def _start_tool(self, tool: StreamedToolCall) -> bytes:
        out = self._close_block()
        tool.started = True
        block = {
            "type": "tool_use",
            "id": sanitize_tool_id(tool.id) if tool.id else fallback_tool_id(self._context.call_id, tool.index),
            "name": client_tool_name(tool.name or "", self._context),  # P18 reverse mapping
            # The real input arrives only through input_json_delta (docs/protocol-rules.md#anthropic-stream).
            "input": {},
        }
        out += self._open_block(_TOOL_USE, block)
        self._open_tool = tool
        return out + self._flush_arguments(tool)

    def _flush_arguments(self, tool: StreamedToolCall) -> bytes:
        if not tool.arguments:
            return b""
        fragment = "".join(tool.arguments)
        tool.arguments.clear()
        tool.sent_arguments = True
        return self._arguments_delta(fragment)

    def _arguments_delta(self, fragment: str) -> bytes:
        delta = {"type": "input_json_delta", "partial_json": fragment}
        return _event({"type": "content_block_delta", "index": self._block_count - 1, "delta": delta})

    def _emit_buffered_tools(self) -> bytes:
        """At the end: every call not emitted yet, whole, in order of arrival."""
        out = b""
        for tool in self._tools.values():
            if tool.started:
                continue
            if tool.name is None:
                raise UpstreamProtocolError(f"upstream tool call {tool.index} never named its function")
            out += self._start_tool(tool) + self._close_block()
        return out


def _event(payload: Dict[str, Any]) -> bytes:
    """One Anthropic SSE event: ``event:`` equals ``data.type`` (P1), blank line included
    (docs/protocol-rules.md#sse-framing)."""
    return encode_event(_compact_json(payload), payload["type"])
