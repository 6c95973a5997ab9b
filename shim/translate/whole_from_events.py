"""A stream a backend sent to a call that asked for one whole answer, put back together.

Several OpenAI-compatible servers stream when a request does not say ``"stream": false`` — the
OpenAI SDK leaves ``stream`` out of a non-streaming call — and some stream always
(docs/protocol-rules.md#streams-to-whole-answers). A client that asked for one JSON body cannot read
``text/event-stream``. The router reads such an answer whole, as it reads every answer to a
non-streaming call, and these functions build from its events the body the same backend sends
when it answers whole, in the upstream's own format: a ``chat.completion``, a Messages
``message``, a Response. The call's response translation then takes it as it takes any whole
answer, so a same-protocol client gets that body and a translated one its own protocol's.

What accumulates is what the SDKs' own stream helpers accumulate (text and reasoning joined, tool
calls by their index, a tool's JSON input parsed once complete, the last usage). An error event
is that error; a stream that ends before its end marker is a broken answer, as a cut stream is.
"""

from typing import Any, Callable, Dict, Iterator, List, Optional

from ..errors import UpstreamProtocolError, error_from_stream_payload
from ..json_budget import loads_within_budget
from ..protocols import ANTHROPIC, CHAT, MESSAGES, OPENAI, RESPONSES
from ..sse import SSEDecoder, SSEEvent
from .chat_chunks import StreamedToolCall, absorb_tool_delta
from .held_text import HeldText
from .response_common import object_or_empty, objects_in, optional_field
from .responses_events import error_from_failed_response, error_from_responses_event
from .stream_base import truncated_stream_error
from .whole_answer_events import CHAT_TEXT_MEMBERS, CHUNK_MEMBERS

__all__ = ["whole_from_events"]

Json = Dict[str, Any]


def whole_from_events(upstream_endpoint: str, body: bytes) -> Json:
    """The whole answer ``body`` — a stream in ``upstream_endpoint``'s format — holds."""
    decoder = SSEDecoder()
    events = decoder.feed(body) + decoder.close()
    if decoder.failure is not None:
        raise decoder.failure
    return _ACCUMULATORS[upstream_endpoint](events)


def _index(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _payloads(events: List[SSEEvent]) -> Iterator[Json]:
    """Each event's object, parsed as it is taken (each held to the JSON budget of one event, as the
    decoder holds every stream's): the objects of the whole stream are never all alive at once."""
    for event in events:
        if not event.data or event.data.startswith("[DONE]"):
            continue
        try:
            payload = loads_within_budget(event.data)
        except (ValueError, RecursionError):
            raise UpstreamProtocolError("the backend's stream holds an event that is not JSON") from None
        if isinstance(payload, dict):
            yield payload


# Chat Completions ---------------------------------------------------------------------------
def _chat(events: List[SSEEvent]) -> Json:
    completion: Json = {"object": "chat.completion"}
    choices: Dict[int, Json] = {}
    calls: Dict[int, Dict[int, StreamedToolCall]] = {}  # each choice's tool calls, by their index
    held = HeldText()  # what the calls keep, bounded as a stream translator's is
    finished = any(event.data.startswith("[DONE]") for event in events)
    for chunk in _payloads(events):
        if chunk.get("error"):
            raise error_from_stream_payload(OPENAI, chunk)
        for name in CHUNK_MEMBERS:
            if name in chunk and name not in completion:
                completion[name] = chunk[name]
        if isinstance(chunk.get("usage"), dict):
            completion["usage"] = chunk["usage"]
        for choice in objects_in(chunk.get("choices")):
            finished |= _chat_choice(choices, calls, held, choice)
    if not finished:
        raise truncated_stream_error()
    for index, choice_calls in calls.items():
        choices[index]["message"]["tool_calls"] = [_tool_call(choice_calls[key]) for key in sorted(choice_calls)]
    completion["choices"] = [choices[index] for index in sorted(choices)]
    return completion


def _chat_choice(choices: Dict[int, Json], calls: Dict[int, Dict[int, StreamedToolCall]], held: HeldText,
                 choice: Json) -> bool:
    """Add one chunk's ``choice`` to what its index holds; True when it carries the finish reason.
    Its tool calls are taken as the stream translators take them (``absorb_tool_delta``: by index,
    the first id and name kept, arguments joined)."""
    index = _index(choice.get("index"), 0)
    kept = choices.setdefault(index, {"index": index, "message": {"role": "assistant", "content": None},
                                      "finish_reason": None})
    message, delta = kept["message"], choice.get("delta")
    if isinstance(delta, dict):
        for member in CHAT_TEXT_MEMBERS:
            if isinstance(delta.get(member), str):
                message[member] = (message.get(member) or "") + delta[member]
        for position, call in enumerate(optional_field(delta, "tool_calls", list, "choices[0].delta") or ()):
            if not isinstance(call, dict):
                raise UpstreamProtocolError(f"upstream stream field `choices[0].delta.tool_calls[{position}]` "
                                            "should be an object")
            absorb_tool_delta(calls.setdefault(index, {}), call, position, held)
    if choice.get("finish_reason"):
        kept["finish_reason"] = choice["finish_reason"]
        return True
    return False


def _tool_call(call: StreamedToolCall) -> Json:
    function = {"name": call.name or "", "arguments": "".join(call.arguments)}
    return {"id": call.id, "type": "function", "function": function}


# Anthropic Messages -------------------------------------------------------------------------
_STOP_MEMBERS = ("stop_reason", "stop_sequence", "stop_details")  # what a message_delta says of the message


def _message(events: List[SSEEvent]) -> Json:
    message: Optional[Json] = None
    inputs: Dict[int, str] = {}  # a tool call's input as its JSON fragments arrived
    finished = False
    for payload in _payloads(events):
        kind = payload.get("type")
        if kind == "error":
            raise error_from_stream_payload(ANTHROPIC, payload)
        if kind == "message_start" and isinstance(payload.get("message"), dict):
            message = {**payload["message"], "content": []}
        elif message is None:
            continue  # nothing is part of a message before its start
        elif kind == "content_block_start" and isinstance(payload.get("content_block"), dict):
            message["content"].append(dict(payload["content_block"]))
        elif kind == "content_block_delta":
            _block_delta(message["content"], inputs, payload)
        elif kind == "content_block_stop":
            _block_input(message["content"], inputs, payload.get("index"))
        elif kind == "message_delta":
            delta = object_or_empty(payload.get("delta"))
            message.update({name: delta[name] for name in _STOP_MEMBERS if name in delta})
            message["usage"] = {**object_or_empty(message.get("usage")), **object_or_empty(payload.get("usage"))}
        elif kind == "message_stop":
            finished = True
    if message is None or not (finished or message.get("stop_reason")):
        raise truncated_stream_error()
    return message


def _block_delta(blocks: List[Json], inputs: Dict[int, str], payload: Json) -> None:
    index, delta = _index(payload.get("index"), -1), payload.get("delta")
    if not 0 <= index < len(blocks) or not isinstance(delta, dict):
        raise UpstreamProtocolError("the backend's stream has a content delta for no block it started")
    block, kind = blocks[index], delta.get("type")
    if kind == "input_json_delta":
        inputs[index] = inputs.get(index, "") + str(delta.get("partial_json") or "")
    elif kind == "signature_delta":
        block["signature"] = delta.get("signature")
    elif kind == "citations_delta":
        if not isinstance(block.get("citations"), list):
            block["citations"] = []
        block["citations"].append(delta.get("citation"))
    elif kind in ("text_delta", "thinking_delta"):
        member = "text" if kind == "text_delta" else "thinking"
        block[member] = str(block.get(member) or "") + str(delta.get(member) or "")


def _block_input(blocks: List[Json], inputs: Dict[int, str], index: Any) -> None:
    """A tool call's block ended: its input is the JSON its fragments make (the start's, if none came)."""
    fragments = inputs.pop(index, "") if isinstance(index, int) else ""
    if not fragments:
        return
    try:
        blocks[index]["input"] = loads_within_budget(fragments)
    except (ValueError, RecursionError):
        raise UpstreamProtocolError("the backend streamed a tool call whose input is not JSON") from None


# Responses ----------------------------------------------------------------------------------
def _response(events: List[SSEEvent]) -> Json:
    for payload in _payloads(events):
        kind = payload.get("type")
        if kind == "error":
            raise error_from_responses_event(payload)
        if kind == "response.failed":
            raise error_from_failed_response(payload.get("response"))
        if kind in ("response.completed", "response.incomplete") and isinstance(payload.get("response"), dict):
            return dict(payload["response"])
    raise truncated_stream_error()


_ACCUMULATORS: Dict[str, Callable[[List[SSEEvent]], Json]] = {CHAT: _chat, MESSAGES: _message, RESPONSES: _response}
