"""A Chat chunk stream → a Responses event stream (docs/responses-api.md#stream-grammar).

Every scenario runs under three chunkings (whole, one upstream event per feed, one byte per feed),
which must give byte-identical output; the output is checked by the Responses grammar checker,
validated event by event with the SDK's strict types, accumulated by the official SDK's
``responses.stream(...).get_final_response()`` (strict client), and — where the upstream says the
same as a whole completion would — the final Response equals what the whole-body translator makes
of that completion.
"""

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import pytest
from responses_stream_grammar import check_responses_stream
from responses_support import (
    CONTEXT,
    chat_chunk,
    chat_sse,
    feed_all_chunkings,
    sdk_final_response,
    validate_events,
)

from shim.translate.response_chat_to_responses import chat_response_to_responses
from shim.translate.stream_chat_to_responses import ChatToResponsesStream

ROLE = chat_chunk({"role": "assistant", "content": "", "refusal": None})
USAGE = {"prompt_tokens": 17, "completion_tokens": 9, "total_tokens": 26, "prompt_tokens_details": {"cached_tokens": 4}}


def usage_chunk(**usage: Any) -> Dict[str, Any]:
    return chat_chunk(choices=[], usage={**USAGE, **usage})


def text(value: str) -> Dict[str, Any]:
    return chat_chunk({"content": value})


def call(index: int, name: Optional[str] = None, arguments: str = "", call_id: Optional[str] = None) -> Dict[str, Any]:
    entry: Dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if name is not None:
        entry["function"]["name"] = name
        entry["type"] = "function"
        entry["id"] = call_id or f"call_{index}"
    return chat_chunk({"tool_calls": [entry]})


@dataclass
class Expected:
    types: List[str]
    status: str = "completed"
    text: str = ""
    calls: List[Tuple[str, str]] = field(default_factory=list)  # (name, arguments or custom input)
    parity: bool = True  # the final response equals the whole translator's


SCENARIOS: Dict[str, Tuple[bytes, Expected]] = {
    "plain_text": (
        chat_sse(ROLE, text("Hel"), text("lo"), chat_chunk({}, "stop"), usage_chunk()),
        Expected(["message"], text="Hello"),
    ),
    "reasoning_then_text": (
        chat_sse(ROLE, chat_chunk({"reasoning_content": "Think"}), chat_chunk({"reasoning": "ing."}), text("Yes."),
                 chat_chunk({}, "stop"), usage_chunk()),
        Expected(["reasoning", "message"], text="Yes."),
    ),
    "one_tool_call_in_fragments": (
        chat_sse(ROLE, call(0, "get_weather"), call(0, arguments='{"city":'), call(0, arguments='"Paris"}'),
                 chat_chunk({}, "tool_calls"), usage_chunk()),
        Expected(["function_call"], calls=[("get_weather", '{"city":"Paris"}')]),
    ),
    "text_then_parallel_calls": (
        chat_sse(ROLE, text("Checking."), call(0, "get_weather", '{"city":"Paris"}'), call(1, "get_time"),
                 call(1, arguments='{"tz":"CET"}'), chat_chunk({}, "tool_calls"), usage_chunk()),
        Expected(["message", "function_call", "function_call"], text="Checking.",
                 calls=[("get_weather", '{"city":"Paris"}'), ("get_time", '{"tz":"CET"}')]),
    ),
    # Some servers interleave fragments of two calls: the second is buffered and emitted whole.
    "interleaved_calls": (
        chat_sse(ROLE, call(0, "a", '{"x":'), call(1, "b", '{"y":'), call(0, arguments="1}"), call(1, arguments="2}"),
                 chat_chunk({}, "tool_calls"), usage_chunk()),
        Expected(["function_call", "function_call"], calls=[("a", '{"x":1}'), ("b", '{"y":2}')]),
    ),
    # The name arrives after the first fragment (seen from some proxies): buffered until named.
    "name_after_arguments": (
        chat_sse(ROLE, chat_chunk({"tool_calls": [{"index": 0, "id": "call_0", "function": {"arguments": "{}"}}]}),
                 call(0, "late_name"), chat_chunk({}, "tool_calls"), usage_chunk()),
        Expected(["function_call"], calls=[("late_name", "{}")]),
    ),
    "namespaced_and_custom_tools": (
        chat_sse(ROLE, call(0, "mcp__fs__read", '{"p":"a"}'), call(1, "apply_patch", '{"input": "*** Begin'),
                 call(1, arguments=' Patch"}'), chat_chunk({}, "tool_calls"), usage_chunk()),
        Expected(["function_call", "custom_tool_call"],
                 calls=[("read", '{"p":"a"}'), ("apply_patch", "*** Begin Patch")]),
    ),
    "no_argument_call": (
        chat_sse(ROLE, call(0, "list_files"), chat_chunk({}, "tool_calls"), usage_chunk()),
        Expected(["function_call"], calls=[("list_files", "{}")]),
    ),
    "length": (
        chat_sse(ROLE, text("Partial"), chat_chunk({}, "length"), usage_chunk()),
        Expected(["message"], status="incomplete", text="Partial"),
    ),
    "refusal": (
        chat_sse(ROLE, chat_chunk({"refusal": "I can't"}), chat_chunk({"refusal": " help."}),
                 chat_chunk({}, "content_filter"), usage_chunk()),
        Expected(["message"], status="incomplete"),
    ),
    # Cerebras-style: [DONE] with no finish chunk ends the answer (P20).
    "done_without_finish_chunk": (
        chat_sse(ROLE, text("Hi")),
        Expected(["message"], text="Hi", parity=False),
    ),
    # A server that ignores include_usage: EOF after the finish chunk, usage zeros for the client.
    "no_usage_no_done": (
        chat_sse(ROLE, text("Hi"), chat_chunk({}, "stop"), done=False),
        Expected(["message"], text="Hi", parity=False),
    ),
    # Text after a tool call: the call closes, a message opens (order as produced).
    "text_after_a_call": (
        chat_sse(ROLE, call(0, "f", "{}"), text("Done."), chat_chunk({}, "tool_calls"), usage_chunk()),
        Expected(["function_call", "message"], text="Done.", calls=[("f", "{}")], parity=False),
    ),
}


def accumulate(raw: bytes) -> Dict[str, Any]:
    """The ``chat.completion`` a whole-body answer would carry for the same chunks."""
    message: Dict[str, Any] = {"role": "assistant", "content": None}
    calls: Dict[int, Dict[str, Any]] = {}
    finish, usage = None, None
    for block in raw.decode().split("\n\n"):
        data = block[len("data: "):]
        if not data or data == "[DONE]":
            continue
        chunk = json.loads(data)
        usage = chunk.get("usage") or usage
        for choice in chunk["choices"]:
            delta = choice["delta"]
            finish = choice["finish_reason"] or finish
            for key in ("content", "refusal", "reasoning_content"):
                if delta.get(key) or (key == "reasoning_content" and delta.get("reasoning")):
                    message[key] = (message.get(key) or "") + (delta.get(key) or delta.get("reasoning"))
            for entry in delta.get("tool_calls") or []:
                slot = calls.setdefault(entry["index"], {"type": "function", "function": {"arguments": ""}})
                slot.setdefault("id", entry.get("id"))
                slot["function"]["name"] = slot["function"].get("name") or entry["function"].get("name")
                slot["function"]["arguments"] += entry["function"].get("arguments") or ""
    if calls:
        message["tool_calls"] = [calls[index] for index in sorted(calls)]
    return {"id": "chatcmpl-x", "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(name: str) -> None:
    raw, expected = SCENARIOS[name]
    out, translator = feed_all_chunkings(lambda: ChatToResponsesStream(CONTEXT), raw)
    stream = check_responses_stream(out)
    validate_events(out)
    final = stream.final
    assert final is not None and final["status"] == expected.status
    assert [item["type"] for item in final["output"]] == expected.types
    assert stream.text == expected.text
    calls = [(item["name"], item.get("arguments", item.get("input"))) for item in final["output"]
             if item["type"] in ("function_call", "custom_tool_call")]
    assert calls == expected.calls
    assert translator.final_response == final, "what a driver stores is what the client got"
    if expected.status == "completed":  # the SDK helper keeps a final response for completed ones only
        sdk = sdk_final_response(out)
        assert sdk.id == final["id"] and [item.type for item in sdk.output] == expected.types
    if expected.parity:
        assert final == chat_response_to_responses(accumulate(raw), CONTEXT), "stream and whole answers differ"


def test_usage_reaches_the_client_and_the_driver() -> None:
    out, translator = feed_all_chunkings(lambda: ChatToResponsesStream(CONTEXT), SCENARIOS["plain_text"][0])
    assert translator.usage is not None and translator.usage.cache_read_tokens == 4
    final = check_responses_stream(out).final
    assert final is not None and final["usage"]["input_tokens"] == 17
    assert final["usage"]["input_tokens_details"] == {"cached_tokens": 4, "cache_write_tokens": 0}


def test_without_a_usage_chunk_the_driver_knows_usage_is_unknown() -> None:
    _, translator = feed_all_chunkings(lambda: ChatToResponsesStream(CONTEXT), SCENARIOS["no_usage_no_done"][0])
    assert translator.usage is None


@pytest.mark.parametrize(("raw", "code"), [
    # An upstream error chunk mid-stream (OpenAI's in-band error shape).
    (chat_sse(ROLE, text("Hi"), {"error": {"message": "Overloaded", "type": "server_error",
                                           "code": "server_is_overloaded", "param": None}}, done=False),
     "server_is_overloaded"),
    # Cut: end of file with neither a finish reason nor [DONE] (the backend broke its protocol: a bad gateway).
    (chat_sse(ROLE, text("Hi"), done=False), "bad_gateway"),
    # Bytes that are not the Chat protocol.
    (chat_sse(ROLE, b"data: {not json\n\n"), "bad_gateway"),
    # [DONE] and nothing else.
    (chat_sse(), "bad_gateway"),
])
def test_errors_end_the_stream_with_one_error_event_and_no_completion(raw: bytes, code: str) -> None:
    out, translator = feed_all_chunkings(lambda: ChatToResponsesStream(CONTEXT), raw)
    stream = check_responses_stream(out)
    assert stream.terminal is None and stream.error is not None and stream.error["code"] == code
    assert translator.error is not None and translator.final_response is None
    with pytest.raises(RuntimeError, match=r"response\.completed"):
        sdk_final_response(out)


def test_a_chunk_that_fails_halfway_still_delivers_what_it_had_written() -> None:
    """Found by the property test: a first chunk with a bad ``usage`` opened the response and then
    failed; the opening events were numbered but lost, so the client saw an error numbered 2."""
    raw = b'data: {"id": "c1", "object": "chat.completion.chunk", "choices": null, "usage": []}'
    out, _ = feed_all_chunkings(lambda: ChatToResponsesStream(CONTEXT), raw)
    stream = check_responses_stream(out)
    assert stream.types == ["response.created", "response.in_progress", "error"]
    partial = chat_sse(ROLE, text("Hi"), chat_chunk({"content": "there"}, usage=[]), done=False)
    stream = check_responses_stream(feed_all_chunkings(lambda: ChatToResponsesStream(CONTEXT), partial)[0])
    assert stream.text == "Hithere" and stream.error is not None


def test_abort_from_the_driver_continues_the_sequence_numbers() -> None:
    translator = ChatToResponsesStream(CONTEXT)
    from shim.errors import UpstreamProtocolError

    out = translator.feed(chat_sse(ROLE, text("Hi"), done=False)) + translator.abort(UpstreamProtocolError("lost"))
    stream = check_responses_stream(out)
    assert stream.error is not None and stream.error["message"] == "lost"
    assert translator.feed(b"data: [DONE]\n\n") == b"" and translator.close() == b""
