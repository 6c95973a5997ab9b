"""A Responses event stream (backend) → an OpenAI ``chat.completion.chunk`` stream (client).

Event by event (docs/responses-api.md#stream-grammar), writing the chunk grammar of
:class:`~.chat_chunks.ChatChunkWriter`:

* the first event (normally ``response.created``) → the one chunk carrying the role, with the id
  ``chatcmpl-`` + the response id;
* ``response.output_text.delta`` → ``content``; ``response.refusal.delta`` → ``refusal``;
  ``response.reasoning_summary_text.delta`` / ``response.reasoning_text.delta`` →
  ``reasoning_content`` (summary parts after the first are set apart by a blank line);
* a ``function_call`` item → a tool call numbered 0, 1, … in order of appearance (P3, docs/pitfalls.md): its id
  (``call_id``) and name in the first delta, then its ``function_call_arguments.delta`` fragments;
  a call whose arguments only arrive in ``output_item.done`` gets them there (``"{}"`` if none);
* ``response.completed`` / ``response.incomplete`` → the finish chunk (``tool_calls`` whenever a
  function was called, ``length`` / ``content_filter`` for an incomplete response, else ``stop``),
  the usage chunk if the client asked for it, ``[DONE]``;
* ``response.failed`` and ``error`` events → the client's in-band error; end of file before a
  terminal event → a cut stream, an in-band error too. Other events (built-in tools, annotations,
  keep-alives) carry nothing a Chat client has a place for and are skipped.
"""

import json
from typing import Any, Callable, Dict, Mapping, Optional

from ..errors import RouterError, UpstreamProtocolError
from ..protocols import OPENAI
from ..sse import SSEEvent
from ..usage import Usage, usage_from_responses
from .chat_chunks import ChatChunkWriter
from .context import ResponseContext
from .held_text import HeldText
from .response_responses_to_chat import completion_id, finish_reason_for
from .responses_events import error_from_failed_response, error_from_responses_event
from .stream_base import StreamTranslator, render_stream_error, truncated_stream_error

__all__ = ["ResponsesToChatStream"]

Payload = Dict[str, Any]
_JSON_DECODER = json.JSONDecoder()


class _Call:
    __slots__ = ("has_arguments", "index")

    def __init__(self, index: int) -> None:
        self.index = index  # contiguous Chat tool_calls index (P3)
        self.has_arguments = False


class ResponsesToChatStream(StreamTranslator):
    """Feed Responses SSE bytes, get Chat chunk SSE bytes (see the module docstring)."""

    def __init__(self, context: ResponseContext) -> None:
        super().__init__()
        self._context = context
        self._chunks: Optional[ChatChunkWriter] = None  # set by the first event
        self._calls: Dict[str, _Call] = {}  # item id (or output index) → its Chat tool call
        self._summary_index: Dict[str, int] = {}  # reasoning item id → the summary part being streamed
        self._held = HeldText(context.max_held_bytes)  # the two tables above, an entry per item
        self._handlers: Dict[str, Callable[[Payload], bytes]] = {
            "response.output_text.delta": self._on_text,
            "response.refusal.delta": self._on_refusal,
            "response.reasoning_summary_text.delta": self._on_summary,
            "response.reasoning_text.delta": self._on_reasoning_text,
            "response.output_item.added": self._on_item_added,
            "response.function_call_arguments.delta": self._on_arguments,
            "response.output_item.done": self._on_item_done,
            "response.completed": self._on_terminal,
            "response.incomplete": self._on_terminal,
            "response.failed": self._on_failed,
            "error": self._on_error,
        }

    # StreamTranslator hooks ----------------------------------------------------------------
    def _on_event(self, event: SSEEvent) -> bytes:
        if not event.data.strip() or event.data.startswith("[DONE]"):
            return b""  # keep-alives, and a [DONE] some servers add out of Chat habit
        payload = _parse(event.data)
        kind = payload.get("type")
        if not isinstance(kind, str):
            kind = event.event or ""
        out = b"" if self._chunks is not None or kind == "error" else self._start(payload)
        handler = self._handlers.get(kind)
        return out + handler(payload) if handler is not None else out

    def _on_eof(self) -> bytes:
        return self.abort(truncated_stream_error())  # a terminal event would have finished the stream

    def _render_error(self, error: RouterError) -> bytes:
        return render_stream_error(OPENAI, error)

    # Events ----------------------------------------------------------------------------------
    def _start(self, payload: Payload) -> bytes:
        response = payload.get("response")
        response_id = response.get("id") if isinstance(response, dict) else None
        self._chunks = ChatChunkWriter(
            completion_id(response_id, self._context.call_id), self._context, self.chunk_sink
        )
        return self._chunks.role()

    @property
    def _writer(self) -> ChatChunkWriter:
        assert self._chunks is not None  # _on_event starts the stream before any handler runs
        return self._chunks

    def _on_text(self, payload: Payload) -> bytes:
        return self._writer.text("content", _text(payload, "delta"))

    def _on_refusal(self, payload: Payload) -> bytes:
        return self._writer.text("refusal", _text(payload, "delta"))

    def _on_summary(self, payload: Payload) -> bytes:
        text = _text(payload, "delta")
        item, index = str(payload.get("item_id")), payload.get("summary_index")
        if isinstance(index, int) and item not in self._summary_index:
            self._held.keep(item)
        if isinstance(index, int) and self._summary_index.setdefault(item, index) != index:
            self._summary_index[item] = index
            text = "\n\n" + text  # a new summary part: keep the parts apart, as whole responses do
        return self._writer.text("reasoning_content", text)

    def _on_reasoning_text(self, payload: Payload) -> bytes:
        return self._writer.text("reasoning_content", _text(payload, "delta"))

    def _on_item_added(self, payload: Payload) -> bytes:
        item = _field(payload, "item", dict)
        if item.get("type") != "function_call":
            return b""
        key = self._held.keep(_item_key(payload, item))
        call = self._calls[key] = _Call(len(self._calls))
        name = _identifier(item, "name")
        call_id = item.get("call_id") or item.get("id")
        if not isinstance(call_id, str) or not call_id:
            raise UpstreamProtocolError("upstream function_call item has no call_id")
        out = self._writer.tool_start(call.index, call_id, self._context.tool_names.get(name, name))
        arguments = item.get("arguments")
        return out + (self._arguments(call, arguments) if isinstance(arguments, str) else b"")

    def _on_arguments(self, payload: Payload) -> bytes:
        call = self._calls.get(_item_key(payload, None))
        if call is None:
            raise UpstreamProtocolError("upstream sent function call arguments for an item it never added")
        return self._arguments(call, _text(payload, "delta"))

    def _on_item_done(self, payload: Payload) -> bytes:
        item = _field(payload, "item", dict)
        call = self._calls.get(_item_key(payload, item))
        if call is None or call.has_arguments:
            return b""
        arguments = item.get("arguments")
        return self._arguments(call, arguments if isinstance(arguments, str) and arguments else "{}")

    def _arguments(self, call: _Call, fragment: str) -> bytes:
        if not fragment:
            return b""
        call.has_arguments = True
        return self._writer.arguments(call.index, fragment)

    def _on_terminal(self, payload: Payload) -> bytes:
        response = _field(payload, "response", dict)
        usage = response.get("usage")
        if isinstance(usage, dict):
            self.usage = usage_from_responses(usage)
        writer = self._writer
        out = b"".join(self._arguments(call, "{}") for call in self._calls.values() if not call.has_arguments)
        out += writer.finish(finish_reason_for(response, bool(self._calls)))
        if self._context.include_usage:
            out += writer.usage(self.usage or Usage())
        self.finished = True
        return out + writer.done()

    def _on_failed(self, payload: Payload) -> bytes:
        return self.abort(error_from_failed_response(payload.get("response")))

    def _on_error(self, payload: Payload) -> bytes:
        return self.abort(error_from_responses_event(payload))


def _parse(data: str) -> Payload:
    try:
        payload = _JSON_DECODER.decode(data)
    except (ValueError, RecursionError):
        raise UpstreamProtocolError("upstream stream sent an event that is not JSON") from None
    if not isinstance(payload, dict):
        raise UpstreamProtocolError("upstream stream sent an event that is not a JSON object")
    return payload


def _field(holder: Mapping[str, Any], key: str, kind: type) -> Any:
    value = holder.get(key)
    if not isinstance(value, kind):
        raise UpstreamProtocolError(f"upstream stream event has no valid {key!r} ({kind.__name__} expected)")
    return value


def _text(payload: Mapping[str, Any], key: str) -> str:
    value: str = _field(payload, key, str)
    return value


def _identifier(holder: Mapping[str, Any], key: str) -> str:
    value: str = _field(holder, key, str)
    if not value:
        raise UpstreamProtocolError(f"upstream stream event has an empty {key!r}")
    return value


def _item_key(payload: Mapping[str, Any], item: Optional[Mapping[str, Any]]) -> str:
    """An item's key across its events: its id, else its output index (both are in every event)."""
    identifier = item.get("id") if item is not None else payload.get("item_id")
    if isinstance(identifier, str) and identifier:
        return identifier
    return f"#{payload.get('output_index')}"
