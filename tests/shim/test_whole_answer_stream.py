"""A streaming call's answer that came whole (docs/protocol-rules.md#whole-answers-to-streams): the
events written of it follow each format's stream grammar and say everything the body says; the
stream it becomes is the same however the body's bytes arrive; a body over the limit, not JSON, an
error in disguise or a number JSON cannot carry ends the stream with an in-band error.

The SDK-level proof (every client protocol from every upstream format, both drivers) is in
tests/proxy/test_whole_answers_to_streams.py and tests/shim_child/test_shim_whole_answers.py."""

import json
from typing import Any, Dict, List

import pytest
from anthropic_stream_grammar import check_anthropic_stream, parse_anthropic_sse
from fakes import Reply, ToolCall, UsageSpec
from hypothesis import given, settings
from hypothesis import strategies as st
from openai_stream_grammar import check_openai_stream, split_sse_data
from responses_stream_grammar import check_responses_stream

from host.demo.wire_anthropic import AnthropicWire
from host.demo.wire_openai import OpenAIWire
from host.demo.wire_responses import ResponsesWire
from shim.answer_kinds import is_whole_answer
from shim.config import RouterConfig
from shim.errors import NOT_A_JSON_NUMBER, RouterError
from shim.json_budget import MAX_JSON_VALUES
from shim.plan import ClientCall, plan_call
from shim.protocols import ANTHROPIC, CHAT, MESSAGES, OPENAI, RESPONSES
from shim.translate.stream_passthrough import PassthroughStream
from shim.translate.stream_whole_answer import WholeAnswerStream
from shim.translate.whole_answer_events import anthropic_events, chat_events, responses_events
from shim.translate.whole_from_events import whole_from_events

LONG_TEXT = "".join(f"word {n} " for n in range(40_000))  # ~300,000 characters: several deltas
REPLY = Reply.build(
    text=LONG_TEXT, thinking="Which city? Oslo.",
    tool_calls=[ToolCall("get_weather", {"city": "Oslo"}), ToolCall("get_time", {"zone": "Europe/Oslo"})],
    usage=UsageSpec(input=120, output=30, cache_read=40, reasoning=5),
)
PASS_THROUGH = {CHAT: OPENAI, MESSAGES: ANTHROPIC, RESPONSES: RESPONSES}  # the pass-through stream of each format


def _bodies() -> Dict[str, Dict[str, Any]]:
    return {
        CHAT: OpenAIWire(REPLY, "gpt-5.1", 1, include_usage=True).body(),
        MESSAGES: AnthropicWire(REPLY, "claude-sonnet-4-6", 1).body(),
        RESPONSES: ResponsesWire(REPLY, "gpt-5.1", 1, {"model": "gpt-5.1", "reasoning": {"summary": "auto"}}).body(),
    }


def _stream(endpoint: str, body: bytes, *, pieces: int = 1, limit: int = 1 << 30, usage_chunk: bool = True) -> bytes:
    translator = WholeAnswerStream(PassthroughStream(PASS_THROUGH[endpoint]), endpoint, limit=limit,
                                   usage_chunk=usage_chunk)
    size = max(1, len(body) // pieces)
    out = b"".join(translator.feed(body[start:start + size]) for start in range(0, len(body), size))
    return out + translator.close()


# The events say what the body says ----------------------------------------------------------------
def test_a_chat_completion_becomes_its_chunk_stream() -> None:
    body = _bodies()[CHAT]
    stream = check_openai_stream(chat_events(body, usage_chunk=True), include_usage=True)
    message = body["choices"][0]["message"]
    deltas = [chunk["choices"][0]["delta"] for chunk in stream.chunks if chunk["choices"]]
    assert "".join(d.get("content", "") for d in deltas) == message["content"] == LONG_TEXT
    assert "".join(d.get("reasoning_content", "") for d in deltas) == message["reasoning_content"]
    calls: Dict[int, Dict[str, str]] = {}
    for delta in deltas:
        for call in delta.get("tool_calls", []):
            held = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
            held["id"] += call.get("id") or ""
            held["name"] += call.get("function", {}).get("name") or ""
            held["arguments"] += call["function"].get("arguments", "")
    assert [calls[i] for i in sorted(calls)] == [
        {"id": call["id"], "name": call["function"]["name"], "arguments": call["function"]["arguments"]}
        for call in message["tool_calls"]
    ]
    assert stream.finish_reason == body["choices"][0]["finish_reason"] == "tool_calls"
    assert stream.usage == body["usage"] and stream.done
    assert max(len(d.get("content", "")) for d in deltas) <= 64 * 1024 < len(LONG_TEXT)


def test_a_chat_stream_carries_usage_only_where_the_request_asked_for_it() -> None:
    body = _bodies()[CHAT]
    check_openai_stream(chat_events(body, usage_chunk=False), include_usage=False)
    translator = WholeAnswerStream(PassthroughStream(OPENAI), CHAT, limit=1 << 30, usage_chunk=False)
    out = translator.feed(json.dumps(body).encode()) + translator.close()
    assert '"usage"' not in out.decode()
    assert translator.usage is not None and translator.usage.output_tokens == 30  # the call's event still has it


def test_a_message_becomes_its_event_stream() -> None:
    body = _bodies()[MESSAGES]
    events = anthropic_events(body)
    summary = check_anthropic_stream(events)
    assert summary.error is None and summary.stop_reason == body["stop_reason"] == "tool_use"
    assert _assembled_message(parse_anthropic_sse(events)) == body


def _assembled_message(events: List[Any]) -> Dict[str, Any]:
    """The message a stream's events build, as an SDK's accumulator builds it."""
    message: Dict[str, Any] = {}
    partial: Dict[int, str] = {}
    for kind, data in events:
        if kind == "message_start":
            message = dict(data["message"])
        elif kind == "content_block_start":
            message["content"].append(dict(data["content_block"]))
        elif kind == "content_block_delta":
            block, delta = message["content"][data["index"]], data["delta"]
            if delta["type"] == "input_json_delta":
                partial[data["index"]] = partial.get(data["index"], "") + delta["partial_json"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            else:
                member = {"text_delta": "text", "thinking_delta": "thinking"}[delta["type"]]
                block[member] += delta[member]
        elif kind == "content_block_stop" and data["index"] in partial:
            message["content"][data["index"]]["input"] = json.loads(partial[data["index"]])
        elif kind == "message_delta":
            message.update(data["delta"])
            message["usage"] = data["usage"]
    return message


def test_a_response_becomes_its_event_stream() -> None:
    body = _bodies()[RESPONSES]
    stream = check_responses_stream(responses_events(body))
    assert stream.terminal == "response.completed" and stream.final == body
    items = {item["type"]: item for item in body["output"]}
    assert stream.text == items["message"]["content"][0]["text"] == LONG_TEXT
    arguments = [e["delta"] for e in stream.events if e["type"] == "response.function_call_arguments.delta"]
    calls = [item for item in body["output"] if item["type"] == "function_call"]
    assert len(calls) == 2 and "".join(arguments) == "".join(item["arguments"] for item in calls)
    summary = [e["delta"] for e in stream.events if e["type"] == "response.reasoning_summary_text.delta"]
    assert "".join(summary) == items["reasoning"]["summary"][0]["text"]


@pytest.mark.parametrize("status", ["incomplete", "failed"])
def test_a_response_ends_with_the_event_its_status_names(status: str) -> None:
    body = {**_bodies()[RESPONSES], "status": status}
    assert check_responses_stream(responses_events(body)).terminal == f"response.{status}"


# However the bytes arrive -------------------------------------------------------------------------
@pytest.mark.parametrize("endpoint", [CHAT, MESSAGES, RESPONSES])
def test_the_stream_is_the_same_however_the_body_arrives(endpoint: str) -> None:
    body = json.dumps(_bodies()[endpoint]).encode()
    whole = _stream(endpoint, body)
    assert _stream(endpoint, body[:5000], pieces=5000) == _stream(endpoint, body[:5000])  # one byte at a time
    assert _stream(endpoint, body, pieces=997) == whole
    assert whole.startswith(b"data: {" if endpoint == CHAT else b"event: ")


# What is not a whole answer the router can stream ------------------------------------------------
def _ended_with(endpoint: str, body: bytes, **options: Any) -> Any:
    translator = WholeAnswerStream(PassthroughStream(PASS_THROUGH[endpoint]), endpoint,
                                   limit=options.get("limit", 1 << 20), usage_chunk=True)
    out = translator.feed(body) + translator.close()
    assert translator.finished and translator.error is not None and translator.feed(b"{}") == b""
    return out, translator.error


def test_a_body_over_the_limit_is_refused_as_it_grows() -> None:
    out, error = _ended_with(CHAT, b" " * 101, limit=100)
    assert error.kind_name == "bad_gateway" and "over the limit of 100 bytes" in error.message
    assert check_openai_stream(out).error is not None


@pytest.mark.parametrize(("endpoint", "body", "kind", "words"), [
    (CHAT, b"<html>bad gateway</html>", "bad_gateway", "not JSON"),
    (CHAT, b'{"object": "chat.completion", "choices": []}', "bad_gateway", "no choices"),
    (CHAT, b'{"error": {"message": "quota exceeded", "type": "insufficient_quota"}}', "", "quota exceeded"),
    (MESSAGES, b'{"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}', "overloaded", "busy"),
    (MESSAGES, b'{"type": "message", "content": [{"type": "tool_use", "id": "t", "name": "n", "input": {"n": 1e999}}]}',
     "bad_gateway", NOT_A_JSON_NUMBER),
], ids=["not-json", "no-choices", "chat-error", "anthropic-error", "1e999"])
def test_a_body_the_router_cannot_stream_is_an_in_band_error(endpoint: str, body: bytes, kind: str, words: str) -> None:
    out, error = _ended_with(endpoint, body)
    assert words in error.message and (not kind or error.kind_name == kind)
    if endpoint == CHAT:
        assert check_openai_stream(out).error is not None
    else:
        assert check_anthropic_stream(out).error is not None


@pytest.mark.parametrize(("content_type", "whole"), [
    ("application/json", True), ("application/json; charset=utf-8", True), ("Application/JSON", True),
    ("application/problem+json", True), ("text/event-stream", False), ("text/event-stream; charset=utf-8", False),
    ("text/plain", False), ("", False),
])
def test_only_a_json_content_type_is_a_whole_answer(content_type: str, whole: bool) -> None:
    assert is_whole_answer({"Content-Type": content_type}) is whole
    assert is_whole_answer({}) is False


def test_chat_events_of_every_choice() -> None:
    """``n`` > 1: each choice's deltas and finish under its own index."""
    body = _bodies()[CHAT]
    second = {**body["choices"][0], "index": 1, "message": {"role": "assistant", "content": "other"}}
    events = chat_events({**body, "choices": [body["choices"][0], second]}, usage_chunk=False)
    choices = [json.loads(payload)["choices"][0] for payload in split_sse_data(events) if payload != "[DONE]"]
    finishes = [(choice["index"], choice["finish_reason"]) for choice in choices if choice["finish_reason"]]
    assert finishes == [(0, "tool_calls"), (1, "tool_calls")]


# The other way round: a stream that answers a whole call (docs/protocol-rules.md#streams-to-whole-answers)
def test_a_chat_stream_makes_its_completion() -> None:
    wire = OpenAIWire(REPLY, "gpt-5.1", 1, include_usage=True)
    body, completion = wire.body(), whole_from_events(CHAT, b"".join(wire.stream_events()))
    [choice], [expected] = completion["choices"], body["choices"]
    message = choice["message"]
    assert (message["content"], message["reasoning_content"]) == (LONG_TEXT, expected["message"]["reasoning_content"])
    assert message["tool_calls"] == expected["message"]["tool_calls"]
    assert (choice["finish_reason"], completion["usage"], completion["id"]) == ("tool_calls", body["usage"], body["id"])


def test_a_message_stream_makes_its_message() -> None:
    wire = AnthropicWire(REPLY, "claude-sonnet-4-6", 1)
    body, message = wire.body(), whole_from_events(MESSAGES, b"".join(wire.stream_events()))
    assert message["content"] == body["content"]
    assert (message["stop_reason"], message["usage"]["output_tokens"]) == ("tool_use", body["usage"]["output_tokens"])


def test_a_response_stream_makes_its_response() -> None:
    wire = ResponsesWire(REPLY, "gpt-5.1", 1, {"model": "gpt-5.1", "reasoning": {"summary": "auto"}})
    response = whole_from_events(RESPONSES, b"".join(wire.stream_events()))
    assert (response["status"], response["output"], response["usage"]) == ("completed", wire.body()["output"],
                                                                           wire.body()["usage"])


@pytest.mark.parametrize("endpoint", [CHAT, MESSAGES, RESPONSES])
def test_the_events_written_of_a_whole_answer_make_it_again(endpoint: str) -> None:
    body = _bodies()[endpoint]
    written = {CHAT: lambda: chat_events(body, usage_chunk=True), MESSAGES: lambda: anthropic_events(body),
               RESPONSES: lambda: responses_events(body)}[endpoint]()
    again = whole_from_events(endpoint, written)
    if endpoint == CHAT:
        assert again["choices"][0]["message"]["tool_calls"] == body["choices"][0]["message"]["tool_calls"]
        assert (again["choices"][0]["message"]["content"], again["usage"]) == (LONG_TEXT, body["usage"])
    else:
        assert again == body


@pytest.mark.parametrize(("endpoint", "stream", "kind", "words"), [
    (CHAT, b'data: {"choices": [{"index": 0, "delta": {"content": "cut"}}]}\n\n', "bad_gateway", "ended before"),
    (CHAT, b'data: {"error": {"message": "quota exceeded", "type": "insufficient_quota"}}\n\n', "", "quota exceeded"),
    (MESSAGES, b'event: message_start\ndata: {"type": "message_start", "message": {"id": "m", "content": []}}\n\n',
     "bad_gateway", "ended before"),
    (MESSAGES, b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}\n\n',
     "overloaded", "busy"),
    (RESPONSES, b'event: response.created\ndata: {"type": "response.created", "response": {}}\n\n', "bad_gateway",
     "ended before"),
    (CHAT, b"data: {not json\n\n", "bad_gateway", "not JSON"),
], ids=["chat-cut", "chat-error", "message-cut", "message-error", "response-cut", "not-json"])
def test_a_stream_that_makes_no_whole_answer_is_that_error(endpoint: str, stream: bytes, kind: str, words: str) -> None:
    with pytest.raises(RouterError) as raised:
        whole_from_events(endpoint, stream)
    assert words in raised.value.message and (not kind or raised.value.kind_name == kind)


def test_a_tool_call_index_costs_what_its_fragments_cost() -> None:
    """An index is a key, not a list position: ``index: 10**9`` is one call, not a billion slots."""
    chunks = [{"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 10**9, "id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}]
    completion = whole_from_events(CHAT, b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks))
    assert [call["id"] for call in completion["choices"][0]["message"]["tool_calls"]] == ["c"]


def _chat_plan() -> Any:
    config = RouterConfig.from_dict({"backends": {"openai": {"protocol": "openai", "base_url": "http://127.0.0.1:9/v1"}}})
    body = {"model": "gpt-5.1", "messages": [{"role": "user", "content": "hi"}]}
    return plan_call(config, ClientCall(CHAT, {}, json.dumps(body).encode()), now=1.0, call_id="c")


def test_a_long_answer_streamed_in_small_chunks_is_assembled() -> None:
    """Each event is held to the JSON budget of one; the chunks' envelopes together pass the budget
    of one whole body (45,000 chunks × ~12 values), which a long streamed answer does."""
    head = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-5.1"}
    chunks = [{**head, "choices": [{"index": 0, "delta": {"content": "w"}, "finish_reason": None}]}] * 45_000
    chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    stream = b"".join(b"data: " + json.dumps(chunk).encode() + b"\n\n" for chunk in chunks)
    # the proxy counts the values as the answer arrives: over the budget of one whole body
    answer, _ = _chat_plan().translate_response_with_usage(200, {"content-type": "text/event-stream"}, stream,
                                                           json_values=MAX_JSON_VALUES + 1)
    assert json.loads(answer.body)["choices"][0]["message"]["content"] == "w" * 45_000
    assert answer.headers["content-type"] == "application/json"


def test_a_whole_body_labelled_as_a_stream_is_passed_on_as_it_is() -> None:
    """The label says stream, the body is one JSON object: as before, and as the SDKs read it."""
    body = json.dumps(_bodies()[CHAT]).encode()
    answer = _chat_plan().translate_response(200, {"content-type": "text/event-stream"}, body)
    assert answer.body == body


def test_a_stream_labelled_json_is_read_as_the_stream_it_is() -> None:
    events = chat_events(_bodies()[CHAT], usage_chunk=True)
    translator = WholeAnswerStream(PassthroughStream(OPENAI), CHAT, limit=1 << 30, usage_chunk=True)
    out = b"".join(translator.feed(events[i:i + 1]) for i in range(len(events))) + translator.close()
    assert out == events and translator.error is None and translator.usage is not None


def test_a_message_delta_says_only_how_the_message_ended() -> None:
    """A ``message_delta`` whose delta carries ``content`` does not replace the message's blocks."""
    events = [{"type": "message_start", "message": {"id": "m", "type": "message", "content": []}},
              {"type": "message_delta", "delta": {"content": "x", "stop_reason": "end_turn"}},
              {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": "kept"}},
              {"type": "message_stop"}]
    message = whole_from_events(MESSAGES, b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events))
    assert (message["content"], message["stop_reason"]) == ([{"type": "text", "text": "kept"}], "end_turn")


@pytest.mark.parametrize("endpoint", [CHAT, RESPONSES])
def test_tool_arguments_a_server_wrote_as_an_object_stream_as_json_text(endpoint: str) -> None:
    body = _bodies()[endpoint]
    if endpoint == CHAT:
        body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = {"city": "Oslo"}
        events = chat_events(body, usage_chunk=False)
    else:
        next(item for item in body["output"] if item["type"] == "function_call")["arguments"] = {"city": "Oslo"}
        events = responses_events(body)
    assert '"arguments":"{\\"city\\":\\"Oslo\\"}"' in events.decode().replace(" ", "")


# Whatever a backend sends, the router's error or an answer: never another exception ---------------
_KEYS = ["type", "index", "delta", "choices", "message", "content", "content_block", "usage", "tool_calls",
         "function", "arguments", "name", "id", "text", "partial_json", "citations", "citation", "signature",
         "stop_reason", "finish_reason", "response", "output", "status", "error", "input", "summary", "role"]
_WORDS = ["message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta",
          "message_stop", "text_delta", "input_json_delta", "citations_delta", "signature_delta", "thinking_delta",
          "tool_use", "text", "thinking", "error", "response.completed", "response.failed", "message",
          "function_call", "reasoning", "completed", "incomplete", "stop"]
_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(_WORDS) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=5),
    max_leaves=25,
)
_objects = st.dictionaries(st.sampled_from(_KEYS), _values, max_size=6)


def _shaped(required: Dict[str, Any], **optional: Any) -> Any:
    """Objects with the members a format's events have, each any JSON value now and then."""
    return st.fixed_dictionaries(required, optional={name: strategy | _values for name, strategy in optional.items()})


_index_values = st.integers(-1, 3)
_chat_call = _shaped({}, index=_index_values, id=st.text(max_size=3),
                     function=_shaped({}, name=st.text(max_size=3), arguments=st.text(max_size=5)))
_chat_chunk = _shaped({}, choices=st.lists(_shaped({}, index=_index_values, finish_reason=st.sampled_from(_WORDS),
                                                   delta=_shaped({}, content=st.text(max_size=5),
                                                                 tool_calls=st.lists(_chat_call, max_size=2))),
                                           max_size=2),
                      usage=_objects, error=_values)
_anthropic_event = _shaped({"type": st.sampled_from([*_WORDS[:6], "error"])}, index=_index_values, message=_objects,
                           content_block=_shaped({"type": st.sampled_from(["text", "tool_use", "thinking"])},
                                                 input=_objects),
                           delta=_shaped({"type": st.sampled_from(_WORDS[6:11])}, text=st.text(max_size=5),
                                         partial_json=st.sampled_from(['{"a"', ": 1}", "{}", "["]),
                                         citations=_values),
                           usage=_objects)
_responses_event = _shaped({"type": st.sampled_from(["response.completed", "response.incomplete", "response.failed",
                                                      "error", "response.created"])}, response=_objects)
_EVENTS = {CHAT: _chat_chunk, MESSAGES: _anthropic_event, RESPONSES: _responses_event}
_BODIES = {
    CHAT: _shaped({}, choices=st.lists(_shaped({}, index=_index_values, message=_shaped(
        {}, content=_values, tool_calls=st.lists(_chat_call, max_size=2))), max_size=2), usage=_objects),
    MESSAGES: _shaped({"type": st.just("message")}, content=st.lists(_anthropic_event, max_size=3), usage=_objects),
    RESPONSES: _shaped({}, status=st.sampled_from(_WORDS), output=st.lists(_shaped(
        {"type": st.sampled_from(_WORDS)}, content=st.lists(_objects, max_size=2), summary=_values,
        arguments=_values), max_size=3)),
}


@settings(max_examples=300, deadline=None)
@given(data=st.data(), endpoint=st.sampled_from([CHAT, MESSAGES, RESPONSES]), done=st.booleans())
def test_any_stream_makes_a_whole_answer_or_the_routers_error(data: st.DataObject, endpoint: str, done: bool) -> None:
    payloads = data.draw(st.lists(_EVENTS[endpoint], max_size=6))
    if endpoint == MESSAGES and data.draw(st.booleans()):  # most streams start as they should
        payloads.insert(0, {"type": "message_start", "message": {"id": "m", "content": []}})
    stream = b"".join(b"data: " + json.dumps(payload).encode() + b"\n\n" for payload in payloads)
    try:
        assert isinstance(whole_from_events(endpoint, stream + (b"data: [DONE]\n\n" if done else b"")), dict)
    except RouterError:
        pass


@settings(max_examples=300, deadline=None)
@given(data=st.data(), endpoint=st.sampled_from([CHAT, MESSAGES, RESPONSES]))
def test_any_whole_answer_makes_a_stream_or_the_routers_error(data: st.DataObject, endpoint: str) -> None:
    body = data.draw(_BODIES[endpoint] | _objects)
    translator = WholeAnswerStream(PassthroughStream(PASS_THROUGH[endpoint]), endpoint, limit=1 << 20,
                                   usage_chunk=True)
    out = translator.feed(json.dumps(body).encode()) + translator.close()
    assert translator.finished and (out or translator.error is not None)


def test_a_tool_call_whose_id_and_name_come_in_every_delta_keeps_them_once() -> None:
    """Some servers repeat a call's id and name in every delta (docs/pitfalls.md#p4): the whole
    answer has them once, as the stream translators keep them, not ``get_weatherget_weather``."""
    head = {"index": 0, "id": "call_1", "type": "function"}
    chunks = [{"choices": [{"index": 0, "delta": {"tool_calls": [{**head, "function": {"name": "get_weather",
                                                                                     "arguments": part}}]}}]}
              for part in ('{"city": ', '"Oslo"}')]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    completion = whole_from_events(CHAT, b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks))
    [call] = completion["choices"][0]["message"]["tool_calls"]
    assert (call["id"], call["function"]) == ("call_1", {"name": "get_weather", "arguments": '{"city": "Oslo"}'})
