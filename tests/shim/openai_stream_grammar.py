"""A checker for OpenAI ``chat.completion.chunk`` SSE streams, as a client would receive them.

docs/protocol-rules.md#openai-stream gives the grammar and docs/protocol-rules.md#sdk-conformance
lists what the official SDK does *not* catch (it silently concatenates repeated roles and tool ids,
loses usage overwritten by a later ``usage: null``…). :func:`check_openai_stream` asserts all of
it and returns the parsed stream, so any test that produces OpenAI stream bytes can reuse it::

    stream = check_openai_stream(raw, include_usage=True)
    assert stream.finish_reason == "tool_calls"
"""

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

__all__ = ["OpenAIStream", "check_openai_stream", "split_sse_data"]

ERROR_KEYS = {"message", "type", "code", "param"}


@dataclass
class OpenAIStream:
    """The parsed stream: every JSON chunk in order, and how the stream ended."""

    chunks: List[Dict[str, Any]] = field(default_factory=list)
    done: bool = False  # ended with data: [DONE]
    error: Optional[Dict[str, Any]] = None  # the in-band {"error": …} object, if the stream ended so
    finish_reason: Optional[str] = None
    usage: Optional[Dict[str, Any]] = None  # the usage chunk's usage

    @property
    def deltas(self) -> List[Dict[str, Any]]:
        """The ``delta`` of every chunk that has a choice."""
        return [chunk["choices"][0]["delta"] for chunk in self.chunks if chunk.get("choices")]


def split_sse_data(raw: bytes) -> List[str]:
    """The ``data:`` payload of each event. Our emitters write only ``data: …\\n\\n`` events."""
    text = raw.decode("utf-8")
    assert text == "" or text.endswith("\n\n"), "every event must end with a blank line"
    events = [event for event in text.split("\n\n") if event]
    payloads = []
    for event in events:
        assert event.startswith("data: ") and "\n" not in event, f"not a single-line data event: {event!r}"
        payloads.append(event[len("data: ") :])
    return payloads


def check_openai_stream(raw: bytes, *, include_usage: Optional[bool] = None) -> OpenAIStream:
    """Parse ``raw`` and assert the grammar of docs/protocol-rules.md#openai-stream and what
    docs/protocol-rules.md#sdk-conformance adds.

    ``include_usage``: True → a usage chunk must come last; False → none may appear; None → either.
    A stream ending in an in-band error needs no finish chunk and no ``[DONE]``.
    """
    stream = OpenAIStream()
    payloads = split_sse_data(raw)
    assert payloads, "an empty client stream (P20): the client would hang or see nothing"
    for position, payload in enumerate(payloads):
        if payload == "[DONE]":
            assert position == len(payloads) - 1, "[DONE] must be the last event"
            stream.done = True
            continue
        chunk = json.loads(payload)
        if "error" in chunk:
            _check_error(chunk, position == len(payloads) - 1)
            stream.error = chunk["error"]
            continue
        stream.chunks.append(chunk)
    _check_chunks(stream, include_usage)
    return stream


def _check_error(chunk: Dict[str, Any], is_last: bool) -> None:
    assert is_last, "an in-band error ends the stream: nothing may follow it"
    assert set(chunk) == {"error"}, chunk
    assert set(chunk["error"]) == ERROR_KEYS, chunk
    assert isinstance(chunk["error"]["message"], str) and chunk["error"]["message"]


def _check_chunks(stream: OpenAIStream, include_usage: Optional[bool]) -> None:
    if stream.error is None:
        assert stream.done, "a complete stream ends with data: [DONE]"
    if not stream.chunks:
        assert stream.error is not None, "a stream without chunks must be an error"
        return
    _check_constant_fields(stream.chunks)
    _check_roles(stream.chunks)
    _check_tool_calls(stream.chunks)
    _check_finish_and_usage(stream, include_usage)


def _check_constant_fields(chunks: List[Dict[str, Any]]) -> None:
    first = chunks[0]
    assert isinstance(first["id"], str) and first["id"]
    assert isinstance(first["created"], int) and isinstance(first["model"], str)
    for chunk in chunks:
        assert chunk["object"] == "chat.completion.chunk", chunk
        for key in ("id", "created", "model"):
            assert chunk[key] == first[key], f"{key} changed mid-stream: {chunk[key]!r} != {first[key]!r}"


def _check_roles(chunks: List[Dict[str, Any]]) -> None:
    """``role`` only in the first chunk (P4: the SDK concatenates repeated roles)."""
    first_choices = chunks[0]["choices"]
    assert first_choices and first_choices[0]["delta"].get("role") == "assistant", "first chunk must carry the role"
    for chunk in chunks[1:]:
        for choice in chunk["choices"]:
            assert "role" not in choice["delta"], f"role repeated: {chunk}"


def _check_tool_calls(chunks: List[Dict[str, Any]]) -> None:
    """id/type/name only in the first delta per index (P4); indexes 0..k-1 in order (P3)."""
    seen: List[int] = []
    for chunk in chunks:
        for choice in chunk["choices"]:
            for call in choice["delta"].get("tool_calls") or []:
                index = call["index"]
                if index in seen:
                    assert "id" not in call and "type" not in call, f"tool id/type repeated: {call}"
                    assert "name" not in call.get("function", {}), f"tool name repeated: {call}"
                    continue
                assert index == len(seen), f"tool index {index} is not the next one ({len(seen)}) (P3)"
                seen.append(index)
                assert isinstance(call.get("id"), str) and call["id"], call
                assert call.get("type") == "function", call
                assert isinstance(call["function"].get("name"), str) and call["function"]["name"], call


def _check_finish_and_usage(stream: OpenAIStream, include_usage: Optional[bool]) -> None:
    finish_positions = [
        position
        for position, chunk in enumerate(stream.chunks)
        if chunk["choices"] and chunk["choices"][0].get("finish_reason") is not None
    ]
    for chunk in stream.chunks:
        assert len(chunk["choices"]) <= 1 and all(choice["index"] == 0 for choice in chunk["choices"]), chunk
    if stream.error is None:
        assert len(finish_positions) == 1, f"exactly one finish chunk expected, got {len(finish_positions)}"
    if finish_positions:
        position = finish_positions[0]
        stream.finish_reason = stream.chunks[position]["choices"][0]["finish_reason"]
        assert stream.chunks[position]["choices"][0]["delta"] == {}, "the finish chunk carries an empty delta"
        after = stream.chunks[position + 1 :]
        assert all(not chunk["choices"] for chunk in after), "only the usage chunk may follow the finish chunk"
    _check_usage(stream, include_usage)


def _check_usage(stream: OpenAIStream, include_usage: Optional[bool]) -> None:
    """The usage chunk (choices []) is last; no ``usage: null`` after it (P8, docs/pitfalls.md#p8)."""
    usage_positions = [position for position, chunk in enumerate(stream.chunks) if chunk.get("usage")]
    if usage_positions:
        assert usage_positions == [len(stream.chunks) - 1], "the usage chunk must be the one last chunk"
        last = stream.chunks[-1]
        assert last["choices"] == [], "the usage chunk has choices: []"
        stream.usage = last["usage"]
    if include_usage is False:
        assert stream.usage is None, "usage chunk sent although the client did not ask for it"
    elif include_usage and stream.error is None:
        assert stream.usage is not None, "the client asked for include_usage but got no usage chunk"
