"""A whole answer written as the stream its backend would have sent: Chat chunks, Messages events or
Responses events, in the upstream's own format.

A backend that answers a streaming call with one JSON body (docs/protocol-rules.md#whole-answers-to-streams)
is read whole, and these functions turn the parsed body into the events the same backend sends
when it streams; the call's stream translator then takes them as if they had come over the wire.
Writing the upstream's format, not the client's, is what keeps this to one writer per format: a
same-protocol call gets the events unchanged, a translated one through the translator every
streamed answer goes through, with its usage, stop reasons, tool calls and stored Responses.

Long strings (text, reasoning, a tool call's arguments) are cut into deltas of at most
``_PIECE_CHARS`` characters, so that no delta comes near the size a stream's decoder refuses (a
Responses stream's ``done`` events and terminal Response carry the whole text again, as OpenAI's
do: such an answer over that size fails as it would have streamed).
Every writer takes the body as the backend sent it: anything not of the shape it expects is left
out here and reported by the translator that reads the events (a Chat answer with no ``choices``
is refused here, since it would make an empty stream that looks complete).
"""

import json
from typing import Any, Dict, Iterator, List, Mapping, Optional

from ..errors import UpstreamProtocolError
from ..sse import encode_event
from .response_common import arguments_json, object_or_empty, objects_in
from .responses_events import ResponsesEventWriter

__all__ = ["CHAT_TEXT_MEMBERS", "CHUNK_MEMBERS", "anthropic_events", "chat_events", "responses_events"]

_PIECE_CHARS = 64 * 1024
_compact = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode  # ValueError: see WholeAnswerStream
Json = Dict[str, Any]


def _pieces(text: str) -> Iterator[str]:
    for start in range(0, len(text), _PIECE_CHARS):
        yield text[start:start + _PIECE_CHARS]


def _text(value: Any) -> str:
    """A string member; a list of text parts (as some OpenAI-compatible servers write ``content``) joined."""
    if isinstance(value, str):
        return value
    return "".join(part["text"] for part in objects_in(value) if isinstance(part.get("text"), str))


def _arguments(value: Any) -> str:
    """A tool call's arguments as the JSON text a stream carries: some servers write an object."""
    if value is None or isinstance(value, str):
        return value or ""
    return arguments_json(value, separators=(",", ":"))


# Chat Completions ---------------------------------------------------------------------------
# The members a chat.completion and each chunk of its stream both carry (whole_from_events reads them back)
CHUNK_MEMBERS = ("id", "created", "model", "system_fingerprint", "service_tier")
# A Chat message's text members, in the order a stream carries them (reasoning before the answer)
CHAT_TEXT_MEMBERS = ("reasoning_content", "reasoning", "content", "refusal")


def chat_events(completion: Mapping[str, Any], *, usage_chunk: bool) -> bytes:
    """A ``chat.completion`` as its ``chat.completion.chunk`` stream: for each choice its role, its
    text, its tool calls and its finish reason; with ``usage_chunk`` (what the request asked with
    ``stream_options.include_usage``) the usage in a last chunk with no choices; then ``[DONE]``."""
    choices = objects_in(completion.get("choices"))
    if not choices:
        raise UpstreamProtocolError("the backend answered a streaming call with a whole body that has no choices")
    head: Json = {name: completion[name] for name in CHUNK_MEMBERS if name in completion}
    head["object"] = "chat.completion.chunk"
    out = bytearray()
    for position, choice in enumerate(choices):
        index = choice.get("index", position)
        for delta in _chat_deltas(choice.get("message")):
            out += _chunk(head, [{"index": index, "delta": delta, "finish_reason": None}])
        out += _chunk(head, [{"index": index, "delta": {}, "finish_reason": choice.get("finish_reason") or "stop"}])
    usage = completion.get("usage")
    if usage_chunk and isinstance(usage, dict):
        out += _chunk(head, [], usage=usage)
    return bytes(out + encode_event("[DONE]"))


def _chat_deltas(message: Any) -> Iterator[Json]:
    message = object_or_empty(message)
    yield {"role": message.get("role") or "assistant"}
    for member in CHAT_TEXT_MEMBERS:
        for piece in _pieces(_text(message.get(member))):
            yield {member: piece}
    for position, call in enumerate(objects_in(message.get("tool_calls"))):
        function = object_or_empty(call.get("function"))
        start = {"index": position, "id": call.get("id"), "type": call.get("type") or "function",
                 "function": {"name": function.get("name"), "arguments": ""}}
        yield {"tool_calls": [start]}
        for piece in _pieces(_arguments(function.get("arguments"))):
            yield {"tool_calls": [{"index": position, "function": {"arguments": piece}}]}


def _chunk(head: Json, choices: List[Json], usage: Optional[Json] = None) -> bytes:
    chunk = {**head, "choices": choices}
    if usage is not None:
        chunk["usage"] = usage
    return encode_event(_compact(chunk))


# Anthropic Messages -------------------------------------------------------------------------
def anthropic_events(message: Mapping[str, Any]) -> bytes:
    """A Messages ``message`` as its event stream: ``message_start`` (no content yet, no output
    tokens), each content block as start, deltas and stop, the stop reason with the whole usage in
    ``message_delta``, then ``message_stop``."""
    usage = object_or_empty(message.get("usage"))
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {**usage, "output_tokens": 0}}
    out = bytearray(_event("message_start", {"message": start}))
    for index, block in enumerate(objects_in(message.get("content"))):
        out += _block_events(index, block)
    delta = {"stop_reason": message.get("stop_reason"), "stop_sequence": message.get("stop_sequence")}
    out += _event("message_delta", {"delta": delta, "usage": usage})
    return bytes(out + _event("message_stop", {}))


def _block_events(index: int, block: Json) -> bytes:
    kind = block.get("type")
    deltas: List[Json] = []
    if kind == "text":
        opened: Json = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": piece} for piece in _pieces(_text(block.get("text")))]
        deltas += [{"type": "citations_delta", "citation": c} for c in objects_in(block.get("citations"))]
    elif kind == "thinking":
        opened = {"type": "thinking", "thinking": ""}
        deltas = [{"type": "thinking_delta", "thinking": piece} for piece in _pieces(_text(block.get("thinking")))]
        if isinstance(block.get("signature"), str):
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
        opened = {**block, "input": {}}
        arguments = arguments_json(block.get("input", {}), separators=(",", ":"))
        deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in _pieces(arguments)]
    else:  # redacted thinking, a server tool's result…: blocks the API sends whole in their start
        opened = block
    out = bytearray(_event("content_block_start", {"index": index, "content_block": opened}))
    for delta in deltas:
        out += _event("content_block_delta", {"index": index, "delta": delta})
    return bytes(out + _event("content_block_stop", {"index": index}))


def _event(kind: str, fields: Json) -> bytes:
    return encode_event(_compact({"type": kind, **fields}), kind)


# Responses ----------------------------------------------------------------------------------
_TERMINAL_EVENTS = {"incomplete": "response.incomplete", "failed": "response.failed"}


def responses_events(response: Mapping[str, Any]) -> bytes:
    """A Response object as its event stream: created and in progress with no output, each output
    item added, its text or arguments as deltas, done; then the terminal event its ``status`` names
    (``response.completed`` unless it is ``incomplete`` or ``failed``) with the whole Response."""
    writer = ResponsesEventWriter()
    opening = {**response, "status": "in_progress", "output": [], "usage": None}
    out = bytearray(writer.event("response.created", {"response": opening}))
    out += writer.event("response.in_progress", {"response": opening})
    for index, item in enumerate(objects_in(response.get("output"))):
        out += _item_events(writer, index, item)
    terminal = _TERMINAL_EVENTS.get(str(response.get("status")), "response.completed")
    return bytes(out + writer.event(terminal, {"response": response}))


def _item_events(writer: ResponsesEventWriter, index: int, item: Json) -> bytes:
    kind, where = item.get("type"), {"item_id": item.get("id"), "output_index": index}
    out = bytearray()
    if kind == "message":
        out += writer.event("response.output_item.added", {**where, "item": {**item, "content": [],
                                                                              "status": "in_progress"}})
        for part_index, part in enumerate(objects_in(item.get("content"))):
            out += _content_part_events(writer, {**where, "content_index": part_index}, part)
    elif kind == "function_call":
        arguments = _arguments(item.get("arguments"))
        out += writer.event("response.output_item.added", {**where, "item": {**item, "arguments": "",
                                                                              "status": "in_progress"}})
        for piece in _pieces(arguments):
            out += writer.event("response.function_call_arguments.delta", {**where, "delta": piece})
        out += writer.event("response.function_call_arguments.done", {**where, "arguments": arguments})
    elif kind == "reasoning":
        out += writer.event("response.output_item.added", {**where, "item": {**item, "summary": []}})
        for summary_index, part in enumerate(objects_in(item.get("summary"))):
            out += _summary_events(writer, {**where, "summary_index": summary_index}, part)
    else:  # a built-in tool's call and the like: added and done whole, as their streams mostly are
        out += writer.event("response.output_item.added", {**where, "item": item})
    return bytes(out + writer.event("response.output_item.done", {**where, "item": item}))


def _content_part_events(writer: ResponsesEventWriter, where: Json, part: Json) -> bytes:
    member = "refusal" if part.get("type") == "refusal" else "text"
    kind = "refusal" if member == "refusal" else "output_text"
    text = _text(part.get(member))
    out = bytearray(writer.event("response.content_part.added", {**where, "part": {**part, member: ""}}))
    for piece in _pieces(text):
        out += writer.event(f"response.{kind}.delta", {**where, "delta": piece})
    out += writer.event(f"response.{kind}.done", {**where, member: text})
    return bytes(out + writer.event("response.content_part.done", {**where, "part": part}))


def _summary_events(writer: ResponsesEventWriter, where: Json, part: Json) -> bytes:
    text = _text(part.get("text"))
    out = bytearray(writer.event("response.reasoning_summary_part.added", {**where, "part": {**part, "text": ""}}))
    for piece in _pieces(text):
        out += writer.event("response.reasoning_summary_text.delta", {**where, "delta": piece})
    out += writer.event("response.reasoning_summary_text.done", {**where, "text": text})
    return bytes(out + writer.event("response.reasoning_summary_part.done", {**where, "part": part}))
