"""Chat Completions stream chunks: reading them (translators of a Chat upstream) and writing them
(translators to a Chat client).

Upstream chunks are untrusted JSON: each reader either returns the piece with its type confirmed or
raises :class:`~shim.errors.UpstreamProtocolError` naming the field. Reasoning text arrives under
two extension names (``reasoning_content``, DeepSeek; ``reasoning``, vLLM and OpenRouter — P14;
pitfall numbers: docs/pitfalls.md).

:class:`ChatChunkWriter` writes the chunk grammar the OpenAI SDK's accumulator needs: the role in
the first chunk only (P4), tool calls numbered 0, 1, … with id/name/type in their first delta only
(P3, P4), a finish chunk, the usage chunk last with ``choices: []`` (P8), ``[DONE]``. Every chunk
shares one JSON prefix built once, so a text delta costs one string encoding.
"""

import json
from typing import Any, Dict, List, Mapping, Optional

from ..errors import UpstreamProtocolError
from ..sse import encode_event
from ..usage import Usage, usage_to_openai
from .context import ResponseContext
from .held_text import HeldText
from .response_common import optional_field

__all__ = [
    "REASONING_KEYS",
    "ChatChunkWriter",
    "ChunkSink",
    "StreamedToolCall",
    "absorb_tool_delta",
    "arguments_fragment",
    "first_choice",
    "parse_chunk",
    "reasoning_delta",
    "text_only_delta",
]

# Upstream names of the reasoning text, in order of preference (P14).
REASONING_KEYS = ("reasoning_content", "reasoning")

_compact_json = json.JSONEncoder(separators=(",", ":")).encode
_raw_decode = json.JSONDecoder().raw_decode
# The C string encoder behind json.dumps: a text delta serializes one string, not a dict.
_json_string = json.encoder.encode_basestring_ascii
_ROLE_DELTA = '{"role":"assistant","content":""}'
_CHOICE_TAIL = ',"finish_reason":null}]}'


def parse_chunk(text: str) -> Dict[str, Any]:
    """The JSON object of one ``data:`` payload (already stripped of surrounding whitespace)."""
    try:
        # raw_decode skips json.loads' whitespace passes (measurably faster per event); the
        # payload is stripped, so anything after the value is trailing garbage.
        chunk, end = _raw_decode(text)
    except (ValueError, RecursionError) as error:
        raise UpstreamProtocolError(f"upstream stream sent a chunk that is not JSON: {text[:200]!r}") from error
    if end != len(text):
        raise UpstreamProtocolError(f"upstream stream sent a chunk with data after its JSON: {text[:200]!r}")
    if not isinstance(chunk, dict):
        raise UpstreamProtocolError("upstream stream sent a chunk that is not a JSON object")
    return chunk


def first_choice(chunk: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The choice with index 0, if this chunk has one. Chunks of other choices (n>1, which the
    request side rejects anyway) are ignored; ``choices: []`` is the usage chunk."""
    choices = chunk.get("choices")
    if type(choices) is list and len(choices) == 1:  # the common case, checked in one go
        only = choices[0]
        if type(only) is dict and only.get("index", 0) == 0:
            return only
    choices = optional_field(chunk, "choices", list, "") or ()
    for position, choice in enumerate(choices):
        if not isinstance(choice, dict):
            raise UpstreamProtocolError(f"upstream stream field `choices[{position}]` should be an object")
        if choice.get("index", 0) == 0:
            return choice
    return None


def text_only_delta(choice: Mapping[str, Any]) -> Optional[str]:
    """The text of a choice whose delta carries text and nothing else (most chunks of a stream),
    so translators can skip the general path's field-by-field checks; None for any other choice."""
    delta = choice.get("delta")
    if type(delta) is not dict or choice.get("finish_reason") is not None:
        return None
    content = delta.get("content")
    if type(content) is str and (len(delta) == 1 or (len(delta) == 2 and "role" in delta)):
        return content
    return None


def reasoning_delta(delta: Mapping[str, Any]) -> Optional[str]:
    """``reasoning_content`` (DeepSeek) or else ``reasoning`` (vLLM, OpenRouter) — P14. These are
    extensions: a non-string value under such a name is ignored, not a protocol error."""
    for key in REASONING_KEYS:
        value = delta.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def arguments_fragment(arguments: Any, where: str) -> str:
    """A ``function.arguments`` fragment. Some servers send the whole arguments as an object
    instead of a JSON string; that is serialized rather than rejected."""
    if arguments is None or isinstance(arguments, str):
        return arguments or ""
    if isinstance(arguments, dict):
        return _compact_json(arguments)
    raise UpstreamProtocolError(f"upstream stream field `{where}.function.arguments` should be a string")


class StreamedToolCall:
    """One upstream tool call, keyed by its OpenAI ``index``, as its deltas arrive (P5: a new index
    is a new call; the id's presence is no signal)."""

    __slots__ = ("arguments", "done", "id", "index", "name", "output_index", "sent_arguments", "started")

    def __init__(self, index: int) -> None:
        self.index = index
        self.id: Optional[str] = None
        self.name: Optional[str] = None
        self.arguments: List[str] = []  # fragments received but not yet emitted
        self.started = False  # the client has seen its start
        self.sent_arguments = False  # at least one arguments fragment was emitted
        self.done = False  # the client has seen its end; it can never be re-opened
        self.output_index = -1  # where the translator put it in the client's output, once started


def absorb_tool_delta(
    calls: Dict[int, StreamedToolCall], call: Mapping[str, Any], position: int, held: HeldText
) -> StreamedToolCall:
    """Record one ``tool_calls[]`` delta on its call in ``calls`` (created on its first delta); the
    call, its id, name and arguments count toward what the translator keeps (``held``: a call may
    wait to be sent whole)."""
    where = f"choices[0].delta.tool_calls[{position}]"
    index = call.get("index", position)  # a few servers omit it: position in the list then
    if not isinstance(index, int) or isinstance(index, bool):
        raise UpstreamProtocolError(f"upstream stream field `{where}.index` should be an integer")
    tool = calls.get(index)
    if tool is None:
        held.keep_item()
        tool = calls[index] = StreamedToolCall(index)
    function = optional_field(call, "function", dict, where) or {}
    # First id and name win: some servers repeat them in every delta (P4 seen from upstream).
    if tool.id is None:
        tool.id = _kept(optional_field(call, "id", str, where), held)
    if tool.name is None:
        tool.name = _kept(optional_field(function, "name", str, f"{where}.function"), held)
    arguments = arguments_fragment(function.get("arguments"), where)
    if arguments:
        if tool.done:
            raise UpstreamProtocolError(f"upstream sent arguments for tool call {index} after it ended")
        tool.arguments.append(held.keep(arguments))
    return tool


def _kept(value: Optional[str], held: HeldText) -> Optional[str]:
    """``value`` counted as kept, when there is one (a delta without it keeps nothing)."""
    return held.keep(value) if value else None


class ChatChunkWriter:
    """The chunks of one ``chat.completion.chunk`` stream (see the module docstring).

    Written as SSE bytes for a client, or — inside a composition, where the next translator reads
    them (docs/responses-api.md#composition) — appended as chunk objects to ``sink`` (``None``
    standing for ``[DONE]``), each method then returning no bytes: the same chunks, without
    being encoded and parsed again between the two translators."""

    __slots__ = ("_delta_head", "_head", "_head_fields", "_sink")

    def __init__(self, completion_id: str, context: ResponseContext, sink: Optional["ChunkSink"] = None) -> None:
        self._head_fields = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": context.created,
            "model": context.client_model,  # the client never learns which vendor answered
        }
        self._head = _compact_json(self._head_fields)[:-1]  # without "}": choices/usage follow
        self._delta_head = self._head + ',"choices":[{"index":0,"delta":'
        self._sink = sink

    def role(self) -> bytes:
        """The first chunk, the only one carrying the role (P4)."""
        if self._sink is not None:
            return self._put({"role": "assistant", "content": ""})
        return self.delta(_ROLE_DELTA)

    def text(self, field: str, text: str) -> bytes:
        """A ``content`` / ``reasoning_content`` / ``refusal`` fragment (nothing for "")."""
        if not text:
            return b""  # an empty fragment changes nothing for the client
        if self._sink is not None:
            return self._put({field: text})
        return self.delta('{"' + field + '":' + _json_string(text) + "}")

    def tool_start(self, index: int, call_id: str, name: str) -> bytes:
        """A tool call's first delta: the only one with its id, type and name (P4)."""
        first = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        if self._sink is not None:
            return self._put({"tool_calls": [first]})
        return self.delta('{"tool_calls":[' + _compact_json(first) + "]}")

    def arguments(self, index: int, fragment: str) -> bytes:
        """A fragment of tool call ``index``'s arguments."""
        if self._sink is not None:
            return self._put({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
        return self.delta(
            '{"tool_calls":[{"index":' + str(index) + ',"function":{"arguments":' + _json_string(fragment) + "}}]}"
        )

    def delta(self, delta_json: str) -> bytes:
        """The hot path: one chunk carrying ``delta_json`` and no finish reason (SSE bytes)."""
        return encode_event(self._delta_head + delta_json + _CHOICE_TAIL)

    def finish(self, finish_reason: str) -> bytes:
        if self._sink is not None:
            return self._put({}, finish_reason)
        return encode_event(self._delta_head + '{},"finish_reason":' + _json_string(finish_reason) + "}]}")

    def usage(self, usage: Usage) -> bytes:
        # "the choices field will always be an empty array"; nothing may follow but [DONE] (P8).
        if self._sink is not None:
            self._sink.append({**self._head_fields, "choices": [], "usage": usage_to_openai(usage)})
            return b""
        return encode_event(self._head + ',"choices":[],"usage":' + _compact_json(usage_to_openai(usage)) + "}")

    def done(self) -> bytes:
        if self._sink is not None:
            self._sink.append(None)
            return b""
        return encode_event("[DONE]")

    def _put(self, delta: Dict[str, Any], finish_reason: Optional[str] = None) -> bytes:
        assert self._sink is not None
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        self._sink.append({**self._head_fields, "choices": [choice]})
        return b""


# Chunk objects handed from one translator to the next in a composition (None: [DONE]).
ChunkSink = List[Optional[Dict[str, Any]]]
