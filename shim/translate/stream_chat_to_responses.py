"""A Chat Completions stream (backend) → a Responses event stream (client).

Emits the grammar of docs/responses-api.md#stream-grammar so that the openai SDK's
``responses.stream(...)`` accumulates the same Response the whole-body translator
(:mod:`.response_chat_to_responses`) returns:

* ``response.created`` then ``response.in_progress`` as soon as the first chunk arrives;
* output items open as their first delta arrives and close before the next one opens — reasoning
  (``reasoning_summary_*`` events, one summary part), a message (an ``output_text`` part, and a
  ``refusal`` part for refusal text), function calls (``function_call_arguments.*``) — each with
  ``output_item.added`` before its content and ``output_item.done`` with the whole item after it;
* tool calls follow the policy of the Anthropic stream translator: the first call whose name is
  known streams live, a call that arrives while another is open is buffered and emitted whole at
  the end (calls are told apart by their Chat ``index``, P5 in docs/pitfalls.md); a ``custom`` tool's input is sent
  whole when its call ends, since it travels inside JSON arguments;
* the terminal event waits for the usage chunk that follows the finish chunk (the request always
  asks for it) or for ``[DONE]`` / end of file: ``response.completed``, or
  ``response.incomplete`` for ``length`` / ``content_filter``, with every output item and usage;
* an upstream error chunk, a cut stream (end of file before any finish reason) or bytes that break
  the Chat protocol end the stream with one ``error`` event — never a fake completion.
"""

import json
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..errors import RouterError, UpstreamProtocolError, error_from_stream_payload
from ..protocols import OPENAI
from ..sse import SSEEvent
from ..usage import Usage, usage_from_openai
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
from .response_common import fallback_tool_id, optional_field
from .responses_events import ResponsesEventWriter
from .responses_objects import (
    call_item,
    custom_input,
    item_id,
    message_item,
    output_text_part,
    reasoning_item,
    refusal_part,
    response_object,
    status_for_finish_reason,
)
from .stream_base import StreamTranslator, truncated_stream_error

__all__ = ["ChatToResponsesStream"]

_REASONING = "reasoning"
_MESSAGE = "message"
_CALL = "call"
_TEXT = "output_text"
_REFUSAL = "refusal"

_compact = json.JSONEncoder(separators=(",", ":")).encode
# The C string encoder behind json.dumps: the text-delta hot path serializes one string, not a dict.
_json_string = json.encoder.encode_basestring_ascii


class _Part:
    """One content part of the open message item."""

    __slots__ = ("delta_head", "index", "kind", "texts")

    def __init__(self, kind: str, index: int, delta_head: str) -> None:
        self.kind = kind  # output_text or refusal
        self.index = index  # content_index
        self.delta_head = delta_head  # the delta event's fields up to the delta's value
        self.texts: List[str] = []

    def whole(self) -> Dict[str, Any]:
        text = "".join(self.texts)
        return output_text_part(text) if self.kind == _TEXT else refusal_part(text)


class ChatToResponsesStream(StreamTranslator):
    """Feed Chat chunk SSE bytes, get Responses SSE bytes (see the module docstring)."""

    def __init__(self, context: ResponseContext) -> None:
        super().__init__()
        self._context = context
        self._held = HeldText(context.max_held_bytes)  # every text kept for the final Response
        self._events = ResponsesEventWriter()
        self._started = False
        self._output: List[Dict[str, Any]] = []  # closed items, in output order
        self._open_kind: Optional[str] = None  # reasoning, message or call; None: nothing is open
        self._open_id = ""
        self._item_head = ""  # '"item_id":…,"output_index":…' of the open item
        self._reasoning: List[str] = []
        self._parts: List[_Part] = []
        self._open_call: Optional[StreamedToolCall] = None
        self._calls: Dict[int, StreamedToolCall] = {}
        self._sent: Dict[int, List[str]] = {}  # arguments fragments emitted, per call index
        self._finish_reason: Optional[str] = None

    # StreamTranslator hooks ----------------------------------------------------------------
    def _on_event(self, event: SSEEvent) -> bytes:
        self._events.mark()
        out = self._on_data(event.data)
        self._events.mark()  # not reached when the event fails: _render_error sends what it wrote
        return out

    def _on_chunk_object(self, chunk: Optional[Dict[str, Any]]) -> bytes:
        self._events.mark()
        out = self._on_done() if chunk is None else self._on_chunk(chunk)
        self._events.mark()
        return out

    def _on_eof(self) -> bytes:
        if self._finish_reason is None:
            return self.abort(truncated_stream_error())  # neither a finish reason nor [DONE]: cut
        self._events.mark()
        out = self._finish()
        self._events.mark()
        return out

    def _render_error(self, error: RouterError) -> bytes:
        # What the failing event had already written comes first, so the numbers have no gap;
        # the SDK's stream helper reads nothing before response.created, not even an error.
        out = self._events.unsent()
        if not self._started:
            out += self._start()
        return out + self._events.error(error)

    def _on_data(self, data: str) -> bytes:
        if data.startswith("[DONE]"):
            return self._on_done()
        text = data.strip()
        return self._on_chunk(parse_chunk(text)) if text else b""

    # Upstream chunks ------------------------------------------------------------------------
    def _on_done(self) -> bytes:
        if not self._started:
            raise truncated_stream_error()  # [DONE] and nothing else: no answer to report
        return self._finish()  # [DONE] ends the answer even without a finish chunk (P20)

    def _on_chunk(self, chunk: Dict[str, Any]) -> bytes:
        if chunk.get("error"):  # truthy, as the OpenAI SDK tests it
            raise error_from_stream_payload(OPENAI, chunk)
        out = b"" if self._started else self._start()
        choice = first_choice(chunk)
        if choice is not None:
            out += self._on_choice(choice)
        usage = optional_field(chunk, "usage", dict, "")
        if usage is not None:
            self.usage = usage_from_openai(usage)
            if choice is None and self._finish_reason is not None:
                out += self._finish()  # the usage chunk after the finish chunk: nothing else comes
        return out

    def _on_choice(self, choice: Mapping[str, Any]) -> bytes:
        text = text_only_delta(choice)
        if text is not None:
            return self._text_delta(_TEXT, text)  # the hot path: a text delta and nothing else
        delta = optional_field(choice, "delta", dict, "choices[0]") or {}
        out = self._other_delta(delta)
        finish_reason = optional_field(choice, "finish_reason", str, "choices[0]")
        if finish_reason:
            self._finish_reason = finish_reason
        return out

    def _other_delta(self, delta: Mapping[str, Any]) -> bytes:
        """A delta's pieces in the order a model produces them: reasoning, text, refusal, calls."""
        out = self._reasoning_delta(reasoning_delta(delta))
        out += self._text_delta(_TEXT, optional_field(delta, "content", str, "choices[0].delta"))
        out += self._text_delta(_REFUSAL, optional_field(delta, "refusal", str, "choices[0].delta"))
        calls = optional_field(delta, "tool_calls", list, "choices[0].delta")
        for position, call in enumerate(calls or ()):
            if not isinstance(call, dict):
                raise UpstreamProtocolError(f"upstream stream field `choices[0].delta.tool_calls[{position}]` "
                                            "should be an object")
            out += self._on_tool_delta(absorb_tool_delta(self._calls, call, position, self._held))
        return out

    # The response envelope -----------------------------------------------------------------------
    def _start(self) -> bytes:
        self._started = True
        response = response_object(self._context, status="in_progress", output=[], usage=None)
        fields = '"response":' + _compact(response)
        return self._events.raw("response.created", fields) + self._events.raw("response.in_progress", fields)

    def _finish(self) -> bytes:
        out = self._close_open() + self._emit_buffered_calls()
        status, reason = status_for_finish_reason(self._finish_reason)
        # No usage chunk (a backend that ignores include_usage): zeros for the client, and
        # self.usage stays None so telemetry knows the numbers are unknown.
        response = response_object(
            self._context, status=status, output=self._output, usage=self.usage or Usage(), incomplete_reason=reason
        )
        self.final_response = response
        self.finished = True
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return out + self._events.event(kind, {"response": response})

    # Items -----------------------------------------------------------------------------------
    def _open(self, kind: str, item: Dict[str, Any]) -> bytes:
        index = len(self._output)
        self._open_kind = kind
        self._open_id = item["id"]
        self._item_head = '"item_id":' + _json_string(self._open_id) + ',"output_index":' + str(index)
        return self._events.event("response.output_item.added", {"output_index": index, "item": item})

    def _close_open(self) -> bytes:
        kind = self._open_kind
        if kind is None:
            return b""
        if kind == _REASONING:
            out, item = self._close_reasoning()
        elif kind == _MESSAGE:
            out, item = self._close_message()
        else:
            out, item = self._close_call()
        index = len(self._output)
        self._output.append(item)
        self._open_kind = None
        return out + self._events.event("response.output_item.done", {"output_index": index, "item": item})

    def _reasoning_delta(self, text: Optional[str]) -> bytes:
        if not text:
            return b""
        out = b""
        if self._open_kind != _REASONING:
            out = self._close_open() + self._open_reasoning()
        self._reasoning.append(self._held.keep(text))
        fields = self._item_head + ',"summary_index":0,"delta":' + _json_string(text)
        return out + self._events.raw("response.reasoning_summary_text.delta", fields)

    def _open_reasoning(self) -> bytes:
        self._reasoning = []
        out = self._open(_REASONING, reasoning_item(item_id("rs", self._context, len(self._output)), []))
        part = {"type": "summary_text", "text": ""}
        return out + self._events.raw(
            "response.reasoning_summary_part.added", self._item_head + ',"summary_index":0,"part":' + _compact(part)
        )

    def _close_reasoning(self) -> Tuple[bytes, Dict[str, Any]]:
        text = "".join(self._reasoning)
        head = self._item_head + ',"summary_index":0,'
        out = self._events.raw("response.reasoning_summary_text.done", head + '"text":' + _json_string(text))
        part = _compact({"type": "summary_text", "text": text})
        out += self._events.raw("response.reasoning_summary_part.done", head + '"part":' + part)
        return out, reasoning_item(self._open_id, [text])

    def _text_delta(self, kind: str, text: Optional[str]) -> bytes:
        """Append ``text`` to the open message's part of ``kind``, opening what is needed."""
        if not text:
            return b""
        out = b""
        if self._open_kind != _MESSAGE:
            out = self._close_open() + self._open_message()
        part = self._parts[-1] if self._parts else None
        if part is None or part.kind != kind:
            out += self._close_part() + self._open_part(kind)
            part = self._parts[-1]
        part.texts.append(self._held.keep(text))
        if kind == _TEXT:
            return out + self._events.raw("response.output_text.delta", part.delta_head + _json_string(text)
                                          + ',"logprobs":[]')
        return out + self._events.raw("response.refusal.delta", part.delta_head + _json_string(text))

    def _open_message(self) -> bytes:
        self._parts = []
        item = message_item(item_id("msg", self._context, len(self._output)), [], "in_progress")
        return self._open(_MESSAGE, item)

    def _open_part(self, kind: str) -> bytes:
        index = len(self._parts)
        head = self._item_head + ',"content_index":' + str(index)
        part = _Part(kind, index, head + ',"delta":')
        self._parts.append(part)
        return self._events.raw("response.content_part.added", head + ',"part":' + _compact(part.whole()))

    def _close_part(self) -> bytes:
        if not self._parts:
            return b""
        part = self._parts[-1]
        head = self._item_head + ',"content_index":' + str(part.index)
        whole = part.whole()
        if part.kind == _TEXT:
            out = self._events.raw("response.output_text.done",
                                   head + ',"text":' + _json_string(whole["text"]) + ',"logprobs":[]')
        else:
            out = self._events.raw("response.refusal.done", head + ',"refusal":' + _json_string(whole["refusal"]))
        return out + self._events.raw("response.content_part.done", head + ',"part":' + _compact(whole))

    def _close_message(self) -> Tuple[bytes, Dict[str, Any]]:
        out = self._close_part()
        return out, message_item(self._open_id, [part.whole() for part in self._parts], "completed")

    # Tool calls ------------------------------------------------------------------------------
    def _on_tool_delta(self, call: StreamedToolCall) -> bytes:
        if call is self._open_call:
            return self._flush_arguments(call)
        if not call.started and call.name is not None and self._open_call is None:
            return self._close_open() + self._start_call(call)  # nothing else is open: stream it live
        return b""  # buffered: name unknown yet, or another call is open

    def _call_item(self, call: StreamedToolCall, arguments: str, status: str) -> Dict[str, Any]:
        call_id = call.id or fallback_tool_id(self._context.call_id, call.index)
        return call_item(self._context, call.output_index, call_id, call.name or "", arguments, status)

    def _custom(self, call: StreamedToolCall) -> bool:
        tool = self._context.client_tools.get(call.name or "")
        return tool is not None and tool.custom

    def _start_call(self, call: StreamedToolCall) -> bytes:
        call.started = True
        call.output_index = len(self._output)
        self._open_call = call
        self._sent[call.index] = []
        item = self._call_item(call, "", "in_progress")
        if item["type"] == "custom_tool_call":
            item["input"] = ""
        return self._open(_CALL, item) + self._flush_arguments(call)

    def _flush_arguments(self, call: StreamedToolCall) -> bytes:
        if not call.arguments or self._custom(call):
            return b""  # a custom tool's input is unwrapped from the whole arguments at the end
        fragment = "".join(call.arguments)
        call.arguments = []
        call.sent_arguments = True
        self._sent[call.index].append(fragment)
        return self._events.raw("response.function_call_arguments.delta",
                                self._item_head + ',"delta":' + _json_string(fragment))

    def _close_call(self) -> Tuple[bytes, Dict[str, Any]]:
        call = self._open_call
        assert call is not None
        if not call.arguments and not call.sent_arguments:
            call.arguments = ["{}"]  # a no-argument call streams "{}", never "" (P6)
        out = self._flush_arguments(call)
        arguments = "".join(self._sent.pop(call.index, []) + call.arguments)
        call.done = True
        self._open_call = None
        item = self._call_item(call, arguments, "completed")
        if item["type"] == "custom_tool_call":
            text = custom_input(arguments, self._context.json_budget)
            out += self._events.raw("response.custom_tool_call_input.delta", self._item_head + ',"delta":'
                                    + _json_string(text))
            out += self._events.raw("response.custom_tool_call_input.done", self._item_head + ',"input":'
                                    + _json_string(text))
            return out, item
        fields = ',"name":' + _json_string(item["name"]) + ',"arguments":' + _json_string(arguments)
        return out + self._events.raw("response.function_call_arguments.done", self._item_head + fields), item

    def _emit_buffered_calls(self) -> bytes:
        """At the end: every call not emitted yet, whole, in order of arrival."""
        out = b""
        for call in self._calls.values():
            if call.started:
                continue
            if call.name is None:
                raise UpstreamProtocolError(f"upstream tool call {call.index} never named its function")
            out += self._close_open() + self._start_call(call) + self._close_open()
        return out
