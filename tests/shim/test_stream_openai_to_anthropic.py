"""OpenAI-compatible chunk streams → Anthropic Messages streams (docs/protocol-rules.md#openai-to-anthropic-stream;
P-numbers: docs/pitfalls.md).

Upstream streams are written here, modeled on the recordings named in docs/protocol-rules.md#sources
(openai-python inline snapshots, DeepSeek/vLLM captures, pydantic-ai cassettes). Every scenario
runs under three chunkings (whole, one upstream event per feed, one byte per feed) and must give
byte-identical output; each output is checked by the Anthropic grammar checker, validated event by
event with the SDK's strict pydantic types, and accumulated by the official ``anthropic`` SDK
(strict response validation) through a mock transport.
"""

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import anthropic
import httpx2
import pydantic
import pytest
from anthropic.types import RawMessageStreamEvent
from anthropic.types.shared import ErrorResponse
from anthropic_stream_grammar import check_anthropic_stream, parse_anthropic_sse
from hypothesis import given, settings
from hypothesis import strategies as st

from shim.errors import UpstreamProtocolError
from shim.translate.context import ResponseContext
from shim.translate.stream_openai_to_anthropic import OpenAIToAnthropicStream
from shim.usage import Usage

CONTEXT = ResponseContext(client_model="claude-sonnet-4-6", created=1_730_000_000, call_id="call7")
EVENT_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RawMessageStreamEvent)

# --------------------------------------------------------------------------------------------
# Upstream stream builders


def chunk(
    delta: Optional[Dict[str, Any]] = None,
    finish: Optional[str] = None,
    *,
    choice_extra: Optional[Dict[str, Any]] = None,
    index: int = 0,
    **top: Any,
) -> Dict[str, Any]:
    """One ``chat.completion.chunk`` as OpenAI sends it with include_usage (usage: null)."""
    choice: Dict[str, Any] = {"index": index, "delta": delta or {}, "logprobs": None, "finish_reason": finish}
    choice.update(choice_extra or {})
    body: Dict[str, Any] = {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion.chunk",
        "created": 1_730_000_000,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_2e6a",
        "choices": [choice],
        "usage": None,
    }
    body.update(top)
    return body


def role_chunk(**delta: Any) -> Dict[str, Any]:
    return chunk({"role": "assistant", "content": "", "refusal": None, **delta})


def text(value: str) -> Dict[str, Any]:
    return chunk({"content": value})


def finish(reason: str, **choice_extra: Any) -> Dict[str, Any]:
    return chunk({}, reason, choice_extra=choice_extra)


def usage_chunk(prompt: int = 17, completion: int = 9, **details: Any) -> Dict[str, Any]:
    usage: Dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": prompt + completion}
    usage.update(details)
    return chunk(choices=[], usage=usage)


def tool_start(index: int, name: Optional[str], arguments: str = "", call_id: Optional[str] = "auto") -> Dict[str, Any]:
    call: Dict[str, Any] = {"index": index, "type": "function", "function": {"arguments": arguments}}
    if name is not None:
        call["function"]["name"] = name
    if call_id == "auto":
        call_id = f"call_{index}abc"
    if call_id is not None:
        call["id"] = call_id
    return chunk({"tool_calls": [call]})


def tool_args(index: int, fragment: str) -> Dict[str, Any]:
    return chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})


def sse(*items: Any, done: bool = True) -> bytes:
    """SSE bytes: dicts become ``data: <json>`` events, bytes are inserted verbatim."""
    out = b""
    for item in items:
        out += item if isinstance(item, bytes) else b"data: " + json.dumps(item).encode() + b"\n\n"
    return out + (b"data: [DONE]\n\n" if done else b"")


# --------------------------------------------------------------------------------------------
# Running the translator


CHUNKINGS = ("whole", "per_event", "bytes")


def split_upstream(raw: bytes, chunking: str) -> List[bytes]:
    if chunking == "whole":
        return [raw]
    if chunking == "bytes":
        return [raw[i:i + 1] for i in range(len(raw))]
    parts = raw.split(b"\n\n")
    return [part + b"\n\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def translate(raw: bytes, chunking: str = "whole") -> Tuple[bytes, OpenAIToAnthropicStream]:
    translator = OpenAIToAnthropicStream(CONTEXT)
    out = b"".join(translator.feed(piece) for piece in split_upstream(raw, chunking))
    return out + translator.close(), translator


def events_of(raw: bytes) -> List[Dict[str, Any]]:
    return [data for _, data in parse_anthropic_sse(raw)]


def sdk_client(produced: bytes) -> anthropic.Anthropic:
    """The official client, strict validation, answered by a mock transport (anthropic 2.x uses httpx2)."""
    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=produced)

    transport = httpx2.MockTransport(answer)
    return anthropic.Anthropic(api_key="x", base_url="http://fake", max_retries=0,
                               http_client=httpx2.Client(transport=transport), _strict_response_validation=True)


def sdk_final_message(produced: bytes) -> anthropic.types.Message:
    client = sdk_client(produced)
    with client.messages.stream(model="claude-sonnet-4-6", max_tokens=100,
                                messages=[{"role": "user", "content": "hi"}]) as stream:
        return stream.get_final_message()


def validate_strictly(produced: bytes) -> None:
    """Every event against the SDK's own types (the error event is not a RawMessageStreamEvent)."""
    for data in events_of(produced):
        if data["type"] == "error":
            ErrorResponse.model_validate(data, strict=True)
        else:
            EVENT_ADAPTER.validate_python(data, strict=True)


# --------------------------------------------------------------------------------------------
# Scenarios


@dataclass
class Expected:
    blocks: List[str]
    stop_reason: str = "end_turn"
    text: str = ""
    thinking: str = ""
    tools: List[Tuple[str, str, Dict[str, Any]]] = field(default_factory=list)  # (id, name, input)
    stop_sequence: Optional[str] = None
    usage: Dict[str, int] = field(default_factory=lambda: {"input_tokens": 17, "output_tokens": 9})


WEATHER_ARGS = ['{"loc', 'ation": "Par', 'is", "unit": "c"}']
WEATHER = {"location": "Paris", "unit": "c"}

SCENARIOS: Dict[str, Tuple[bytes, Expected]] = {
    # openai-python e2aad469…: role chunk, content deltas, finish, usage chunk, [DONE]; extra fields.
    "plain_text": (
        sse(role_chunk(), text("Hello"), chunk({"content": ", world"}, obfuscation="x9Kq"), text("!"),
            finish("stop"), usage_chunk()),
        Expected(blocks=["text"], text="Hello, world!"),
    ),
    # 2018feb66ae1…: the role chunk says content null (no text block may open for it, P9).
    "role_chunk_content_null": (
        sse(chunk({"role": "assistant", "content": None, "refusal": None}), text("Hi"), finish("stop"), usage_chunk()),
        Expected(blocks=["text"], text="Hi"),
    ),
    "single_tool_call_args_split": (
        sse(chunk({"role": "assistant", "content": None, "tool_calls": [
            {"index": 0, "id": "call_4Xz", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
            *[tool_args(0, f) for f in WEATHER_ARGS], finish("tool_calls"), usage_chunk()),
        Expected(blocks=["tool_use"], stop_reason="tool_use", tools=[("call_4Xz", "get_weather", WEATHER)]),
    ),
    # f82268f2fefd…: parallel calls with indexes 0 and 1 (P5).
    "parallel_tool_calls": (
        sse(role_chunk(content=None), tool_start(0, "get_weather"), *[tool_args(0, f) for f in WEATHER_ARGS],
            tool_start(1, "get_time"), tool_args(1, '{"tz": '), tool_args(1, '"CET"}'), finish("tool_calls"),
            usage_chunk()),
        Expected(blocks=["tool_use", "tool_use"], stop_reason="tool_use",
                 tools=[("call_0abc", "get_weather", WEATHER), ("call_1abc", "get_time", {"tz": "CET"})]),
    ),
    # pydantic-ai test_compatible_api_with_tool_calls_without_id: no id → a deterministic one.
    "tool_call_without_id": (
        sse(role_chunk(), tool_start(0, "get_weather", '{"location": "Paris", "unit": "c"}', call_id=None),
            finish("tool_calls"), usage_chunk()),
        Expected(blocks=["tool_use"], stop_reason="tool_use", tools=[("toolu_call7_0", "get_weather", WEATHER)]),
    ),
    # vercel/ai deepseek-reasoning.chunks.txt: reasoning_content "" in the role chunk, then fragments.
    "deepseek_reasoning_content": (
        sse(role_chunk(reasoning_content=""), chunk({"reasoning_content": "Think", "content": None}),
            chunk({"reasoning_content": "ing.", "content": None}),
            chunk({"content": "Answer", "reasoning_content": None}),
            finish("stop"), usage_chunk(completion_tokens_details={"reasoning_tokens": 5})),
        Expected(blocks=["thinking", "text"], thinking="Thinking.", text="Answer"),
    ),
    # vLLM names the field `reasoning` since https://github.com/vllm-project/vllm/pull/27752 (P14).
    "vllm_reasoning": (
        sse(role_chunk(), chunk({"reasoning": "Hmm"}), chunk({"content": "Yes"}), finish("stop"), usage_chunk()),
        Expected(blocks=["thinking", "text"], thinking="Hmm", text="Yes"),
    ),
    # Ollama/Gemini say "stop" although they called a tool (P7).
    "stop_with_tool_calls": (
        sse(role_chunk(), text("Let me check."), tool_start(0, "get_weather", '{"location": "Paris", "unit": "c"}'),
            finish("stop"), usage_chunk()),
        Expected(blocks=["text", "tool_use"], stop_reason="tool_use", text="Let me check.",
                 tools=[("call_0abc", "get_weather", WEATHER)]),
    ),
    "vllm_stop_reason_string": (
        sse(role_chunk(), text("1, 2, 3"), finish("stop", stop_reason="STOP!"), usage_chunk()),
        Expected(blocks=["text"], text="1, 2, 3", stop_reason="stop_sequence", stop_sequence="STOP!"),
    ),
    "sglang_matched_stop_eos_int_is_ignored": (
        sse(role_chunk(), text("done"), finish("stop", matched_stop=151645), usage_chunk()),
        Expected(blocks=["text"], text="done"),
    ),
    # 4cc50a6135d2…: finish_reason length.
    "length": (
        sse(role_chunk(), text("Once upon"), finish("length"), usage_chunk(completion=2)),
        Expected(blocks=["text"], text="Once upon", stop_reason="max_tokens",
                 usage={"input_tokens": 17, "output_tokens": 2}),
    ),
    "content_filter": (
        sse(role_chunk(), text("I was"), finish("content_filter"), usage_chunk()),
        Expected(blocks=["text"], text="I was", stop_reason="refusal"),
    ),
    # 173417d55340…: refusal streamed in delta.refusal, finish "stop".
    "refusal_field": (
        sse(chunk({"role": "assistant", "content": None, "refusal": ""}), chunk({"refusal": "I'm sorry, "}),
            chunk({"refusal": "I can't help."}), finish("stop"), usage_chunk()),
        Expected(blocks=["text"], text="I'm sorry, I can't help.", stop_reason="refusal"),
    ),
    # Fake-streamed providers: one chunk carries text + tool call + finish (LiteLLM _CombinedChunkSplitter).
    "combined_text_tool_finish_chunk": (
        sse(chunk({"role": "assistant", "content": "Checking.", "tool_calls": [
            {"index": 0, "id": "call_9", "type": "function",
             "function": {"name": "get_weather", "arguments": json.dumps(WEATHER)}}]}, "tool_calls"), usage_chunk()),
        Expected(blocks=["text", "tool_use"], stop_reason="tool_use", text="Checking.",
                 tools=[("call_9", "get_weather", WEATHER)]),
    ),
    "interleaved_tool_arguments": (
        sse(role_chunk(), tool_start(0, "get_weather"), tool_start(1, "get_time"), tool_args(0, '{"location": '),
            tool_args(1, '{"tz": '), tool_args(0, '"Paris", "unit": "c"}'), tool_args(1, '"CET"}'),
            finish("tool_calls"), usage_chunk()),
        Expected(blocks=["tool_use", "tool_use"], stop_reason="tool_use",
                 tools=[("call_0abc", "get_weather", WEATHER), ("call_1abc", "get_time", {"tz": "CET"})]),
    ),
    "tool_name_after_first_fragment": (
        sse(role_chunk(), chunk({"tool_calls": [{"index": 0, "id": "call_late", "function": {"arguments": '{"loc'}}]}),
            chunk({"tool_calls": [{"index": 0,
                                   "function": {"name": "get_weather", "arguments": 'ation": "Paris", '}}]}),
            tool_args(0, '"unit": "c"}'), finish("tool_calls"), usage_chunk()),
        Expected(blocks=["tool_use"], stop_reason="tool_use", tools=[("call_late", "get_weather", WEATHER)]),
    ),
    "no_argument_tool": (
        sse(role_chunk(), tool_start(0, "list_files"), finish("tool_calls"), usage_chunk()),
        Expected(blocks=["tool_use"], stop_reason="tool_use", tools=[("call_0abc", "list_files", {})]),
    ),
    # Cerebras closes without a finish chunk: [DONE] means complete.
    "done_without_finish": (
        sse(role_chunk(), text("Hi there"), usage_chunk()),
        Expected(blocks=["text"], text="Hi there"),
    ),
    "done_without_finish_with_tool": (
        sse(role_chunk(), tool_start(0, "get_weather", json.dumps(WEATHER)), usage_chunk()),
        Expected(blocks=["tool_use"], stop_reason="tool_use", tools=[("call_0abc", "get_weather", WEATHER)]),
    ),
    "eof_after_finish_without_done": (
        sse(role_chunk(), text("Bye"), finish("stop"), usage_chunk(), done=False),
        Expected(blocks=["text"], text="Bye"),
    ),
    # No include_usage honoured; usage arrives on the finish chunk itself.
    "usage_on_finish_chunk": (
        sse(role_chunk(), text("ok"), chunk({}, "stop", usage={"prompt_tokens": 17, "completion_tokens": 9})),
        Expected(blocks=["text"], text="ok"),
    ),
    # P8: prompt_tokens includes cached and cache-write tokens; completion includes reasoning.
    "cached_and_reasoning_tokens": (
        sse(role_chunk(), chunk({"reasoning_content": "plan"}), text("result"), finish("stop"),
            usage_chunk(prompt=1000, completion=300,
                        prompt_tokens_details={"cached_tokens": 800, "cache_write_tokens": 50},
                        completion_tokens_details={"reasoning_tokens": 120})),
        Expected(blocks=["thinking", "text"], thinking="plan", text="result",
                 usage={"input_tokens": 150, "output_tokens": 300, "cache_read_input_tokens": 800,
                        "cache_creation_input_tokens": 50}),
    ),
    # n>1 choices (a491adda08c3…): only index 0 is translated; choices: [] keep-alive chunks,
    # chunks without `object`, comments and CRLF line endings are harmless.
    "quirks_n2_empty_choices_no_object_comments_crlf": (
        sse(b": keep-alive\r\n\r\n", role_chunk(), chunk({"content": "other"}, index=1), chunk(choices=[]),
            {k: v for k, v in text("Mine").items() if k != "object"},
            b'data: {"id":"chatcmpl-B9M","choices":[{"index":0,"delta":{"content":"!"}}]}\r\n\r\n',
            finish("stop"), chunk({}, "stop", index=1), usage_chunk()),
        Expected(blocks=["text"], text="Mine!"),
    ),
}


@pytest.mark.parametrize("chunking", CHUNKINGS)
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_through_official_sdk(name: str, chunking: str) -> None:
    upstream, expected = SCENARIOS[name]
    produced, translator = translate(upstream, chunking)
    summary = check_anthropic_stream(produced)
    validate_strictly(produced)
    assert summary.error is None and translator.error is None and translator.finished
    assert summary.block_types == expected.blocks
    message = sdk_final_message(produced)
    assert_message(message, expected)


def assert_message(message: anthropic.types.Message, expected: Expected) -> None:
    assert message.model == CONTEXT.client_model
    assert message.stop_reason == expected.stop_reason
    assert message.stop_sequence == expected.stop_sequence
    assert "".join(b.text for b in message.content if b.type == "text") == expected.text
    assert "".join(b.thinking for b in message.content if b.type == "thinking") == expected.thinking
    tools = [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]
    assert tools == expected.tools
    usage = message.usage.model_dump()
    for key, value in expected.usage.items():
        assert usage[key] == value, key


@pytest.mark.parametrize("name", [*sorted(SCENARIOS), "mid_stream_error", "malformed_json", "eof_truncated"])
def test_every_chunking_gives_identical_bytes(name: str) -> None:
    upstream = SCENARIOS[name][0] if name in SCENARIOS else ERROR_SCENARIOS[name][0]
    outputs = {chunking: translate(upstream, chunking)[0] for chunking in CHUNKINGS}
    assert outputs["per_event"] == outputs["whole"]
    assert outputs["bytes"] == outputs["whole"]


# --------------------------------------------------------------------------------------------
# Streams that end in an in-band error

ERROR_SCENARIOS: Dict[str, Tuple[bytes, str]] = {
    "mid_stream_error": (
        sse(role_chunk(), text("Hel"), {"error": {"message": "Rate limit reached", "type": "requests",
                                                   "code": "rate_limit_exceeded", "param": None}}, text("lo")),
        "rate_limit_error",
    ),
    "mid_stream_error_generic": (
        sse(role_chunk(), text("Hel"), {"error": {"message": "Internal error", "type": "server_error"}}),
        "api_error",
    ),
    "error_before_any_chunk": (sse({"error": {"message": "boom", "code": "server_error"}}), "api_error"),
    "malformed_json": (sse(role_chunk(), text("Hi"), b"data: {\"choices\": [\n\n", finish("stop")), "api_error"),
    "eof_truncated": (sse(role_chunk(), text("Hi"), tool_start(0, "f", '{"a"'), done=False), "api_error"),
    "eof_truncated_without_usage_or_done": (sse(role_chunk(), text("partial"), done=False), "api_error"),
    "empty_body": (b"", "api_error"),
    "done_only": (b"data: [DONE]\n\n", "api_error"),
    "not_sse_at_all": (b'{"id":"chatcmpl-1","object":"chat.completion","choices":[]}', "api_error"),
}


@pytest.mark.parametrize("chunking", CHUNKINGS)
@pytest.mark.parametrize("name", sorted(ERROR_SCENARIOS))
def test_error_scenario_ends_in_error_event(name: str, chunking: str) -> None:
    upstream, error_type = ERROR_SCENARIOS[name]
    produced, translator = translate(upstream, chunking)
    summary = check_anthropic_stream(produced)
    validate_strictly(produced)
    assert summary.error is not None and summary.error["error"]["type"] == error_type
    assert summary.events[-1]["type"] == "error"
    assert all(event["type"] != "message_stop" for event in summary.events)
    assert translator.finished and translator.error is not None
    with pytest.raises(anthropic.APIStatusError) as caught:
        sdk_final_message(produced)
    assert caught.value.body["error"]["type"] == error_type  # type: ignore[index]


def test_mid_stream_error_keeps_text_already_sent_and_stops_there() -> None:
    produced, _ = translate(ERROR_SCENARIOS["mid_stream_error"][0], "whole")
    types = [event["type"] for event in events_of(produced)]
    assert types == ["message_start", "content_block_start", "content_block_delta", "error"]
    assert events_of(produced)[2]["delta"]["text"] == "Hel"


def test_mid_stream_overloaded_error_maps_to_overloaded_error() -> None:
    upstream = sse(role_chunk(), {"error": {"message": "Overloaded", "type": "service_unavailable_error",
                                            "code": "server_is_overloaded"}})
    produced, _ = translate(upstream)
    assert events_of(produced)[-1]["error"]["type"] == "overloaded_error"


@pytest.mark.parametrize("bad_chunk", [
    pytest.param(b'data: "just a string"\n\n', id="not_an_object"),
    pytest.param(b'data: {"choices": {"index": 0}}\n\n', id="choices_not_list"),
    pytest.param(b'data: {"choices": ["x"]}\n\n', id="choice_not_object"),
    pytest.param(b'data: {"choices": [{"index": 0, "delta": "hi"}]}\n\n', id="delta_not_object"),
    pytest.param(b'data: {"choices": [{"index": 0, "delta": {"content": 5}}]}\n\n', id="content_not_string"),
    pytest.param(b'data: {"choices": [{"index": 0, "delta": {"tool_calls": [7]}}]}\n\n', id="tool_call_not_object"),
    pytest.param(b'data: {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": "0"}]}}]}\n\n',
                 id="tool_index_not_int"),
    pytest.param(b'data: {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"name": "f", '
                 b'"arguments": 3}}]}}]}\n\n', id="arguments_not_string"),
    pytest.param(b'data: {"choices": [{"index": 0, "finish_reason": 1}]}\n\n', id="finish_reason_not_string"),
    pytest.param(b'data: {"choices": [], "usage": 12}\n\n', id="usage_not_object"),
    pytest.param(b'data: {"a": 1} trailing\n\n', id="data_after_json"),
])
def test_wrong_shapes_become_in_band_api_error(bad_chunk: bytes) -> None:
    produced, translator = translate(sse(role_chunk(), text("ok"), bad_chunk, finish("stop"), usage_chunk()))
    summary = check_anthropic_stream(produced)
    assert summary.error is not None and summary.error["error"]["type"] == "api_error"
    assert isinstance(translator.error, UpstreamProtocolError)


def test_tool_named_never_is_an_error_not_a_nameless_tool_use() -> None:
    upstream = sse(role_chunk(), chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}),
                   finish("tool_calls"), usage_chunk())
    summary = check_anthropic_stream(translate(upstream)[0])
    assert summary.error is not None and "tool_use" not in summary.block_types


def test_arguments_for_a_closed_tool_call_are_an_error_not_silently_lost() -> None:
    upstream = sse(role_chunk(), tool_start(0, "f", '{"a": '), text("interlude"), tool_args(0, "1}"),
                   finish("tool_calls"), usage_chunk())
    summary = check_anthropic_stream(translate(upstream)[0])
    assert summary.error is not None


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(
    st.binary(max_size=40),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                     st.sampled_from(["choices", "delta", "index", "content", "tool_calls", "function", "name",
                                      "arguments", "finish_reason", "usage", "error", "reasoning", "id", "refusal"]),
                     inner, max_size=4), max_leaves=12).map(lambda v: b"data: " + json.dumps(v).encode() + b"\n\n"),
), max_size=8))
def test_any_input_gives_a_well_formed_stream_or_error_never_a_crash(pieces: List[bytes]) -> None:
    produced, translator = translate(b"".join(pieces))
    summary = check_anthropic_stream(produced)
    assert translator.finished
    assert (summary.error is None) == (translator.error is None)


# --------------------------------------------------------------------------------------------
# Pitfall regressions (docs/pitfalls.md)


def test_p1_every_event_is_named_after_its_type_and_ends_with_a_blank_line() -> None:
    produced, _ = translate(SCENARIOS["deepseek_reasoning_content"][0])
    blocks = produced.split(b"\n\n")
    assert blocks[-1] == b"" and len(blocks) == len(events_of(produced)) + 1
    for block in blocks[:-1]:
        name_line, data_line = block.split(b"\n")
        assert name_line[len(b"event: "):].decode() == json.loads(data_line[len(b"data: "):])["type"]


def test_p2_exactly_one_message_start_and_indexes_contiguous_across_kinds() -> None:
    upstream = sse(role_chunk(), role_chunk(), chunk({"reasoning_content": "r"}), text("t"),
                   tool_start(0, "a", "{}"), tool_start(1, "b", "{}"), finish("tool_calls"), usage_chunk())
    events = events_of(translate(upstream)[0])
    assert [e["type"] for e in events].count("message_start") == 1
    starts = [(e["index"], e["content_block"]["type"]) for e in events if e["type"] == "content_block_start"]
    assert starts == [(0, "thinking"), (1, "text"), (2, "tool_use"), (3, "tool_use")]


def test_p2_message_start_is_sent_with_the_first_chunk_before_any_content() -> None:
    translator = OpenAIToAnthropicStream(CONTEXT)
    first = events_of(translator.feed(sse(role_chunk(), done=False)))
    assert [e["type"] for e in first] == ["message_start"]
    assert first[0]["message"]["id"] == "msg_B9MBs8CjcvOU2jLn4n570S5qMJKcT"
    assert first[0]["message"]["model"] == "claude-sonnet-4-6"


def test_p2_first_text_delta_is_emitted_with_the_block_that_it_opens() -> None:
    translator = OpenAIToAnthropicStream(CONTEXT)
    translator.feed(sse(role_chunk(), done=False))
    events = events_of(translator.feed(sse(text("First"), done=False)))
    assert [e["type"] for e in events] == ["content_block_start", "content_block_delta"]
    assert events[1]["delta"] == {"type": "text_delta", "text": "First"}


def test_p5_parallel_calls_are_told_apart_by_index_even_without_ids() -> None:
    upstream = sse(role_chunk(), tool_start(0, "a", '{"x": 1}', call_id=None),
                   tool_start(1, "b", '{"y": 2}', call_id=None), finish("tool_calls"), usage_chunk())
    message = sdk_final_message(translate(upstream)[0])
    assert [(b.id, b.name, b.input) for b in message.content] == [
        ("toolu_call7_0", "a", {"x": 1}), ("toolu_call7_1", "b", {"y": 2})]


def test_p5_repeated_id_and_name_in_every_delta_do_not_open_new_blocks() -> None:
    repeated = [chunk({"tool_calls": [{"index": 0, "id": "call_r", "type": "function",
                                       "function": {"name": "get_weather", "arguments": fragment}}]})
                for fragment in WEATHER_ARGS]
    message = sdk_final_message(translate(sse(role_chunk(), *repeated, finish("tool_calls"), usage_chunk()))[0])
    assert [(b.id, b.name, b.input) for b in message.content] == [("call_r", "get_weather", WEATHER)]


def test_p5_first_call_streams_live_and_later_calls_follow_whole() -> None:
    translator = OpenAIToAnthropicStream(CONTEXT)
    translator.feed(sse(role_chunk(), tool_start(0, "a", '{"x": '), done=False))
    live = events_of(translator.feed(sse(tool_args(0, "1}"), done=False)))
    assert live == [{"type": "content_block_delta", "index": 0,
                     "delta": {"type": "input_json_delta", "partial_json": "1}"}}]
    assert translator.feed(sse(tool_start(1, "b", '{"y": 2}'), done=False)) == b""  # buffered, block 0 still open
    tail = events_of(translator.feed(sse(finish("tool_calls"), usage_chunk())))
    assert [(e["type"], e.get("index")) for e in tail[:4]] == [
        ("content_block_stop", 0), ("content_block_start", 1), ("content_block_delta", 1), ("content_block_stop", 1)]
    assert tail[2]["delta"]["partial_json"] == '{"y": 2}'


def test_p6_no_argument_tool_streams_one_empty_delta_like_native_anthropic() -> None:
    events = events_of(translate(SCENARIOS["no_argument_tool"][0])[0])
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    assert deltas == [{"type": "input_json_delta", "partial_json": ""}]  # as the vercel/ai tool-no-args capture


def test_p7_any_tool_call_makes_the_stop_reason_tool_use() -> None:
    for reason in ("stop", "length", "content_filter", "end_turn"):
        upstream = sse(role_chunk(), tool_start(0, "f", "{}"), finish(reason), usage_chunk())
        assert check_anthropic_stream(translate(upstream)[0]).stop_reason == "tool_use"


@pytest.mark.parametrize(("name", "explanation"), [("refusal_field", "I'm sorry, I can't help."),
                                                     ("content_filter", None)])
def test_refusal_reports_stop_details_like_the_non_streaming_translation(name: str, explanation: Optional[str]) -> None:
    message = sdk_final_message(translate(SCENARIOS[name][0])[0])
    assert message.stop_details is not None and message.stop_details.type == "refusal"
    assert message.stop_details.explanation == explanation


def test_p8_message_start_has_zero_usage_and_message_delta_the_real_numbers() -> None:
    events = events_of(translate(SCENARIOS["cached_and_reasoning_tokens"][0])[0])
    assert events[0]["message"]["usage"] == {
        "input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    message_delta = next(e for e in events if e["type"] == "message_delta")
    assert message_delta["usage"] == {"input_tokens": 150, "cache_creation_input_tokens": 50,
                                      "cache_read_input_tokens": 800, "output_tokens": 300,
                                      "output_tokens_details": {"thinking_tokens": 120}}


def test_p8_message_delta_waits_for_the_usage_chunk_that_follows_the_finish_chunk() -> None:
    translator = OpenAIToAnthropicStream(CONTEXT)
    translator.feed(sse(role_chunk(), text("x"), finish("stop"), done=False))
    assert not translator.finished  # finish chunk seen, usage not yet
    tail = events_of(translator.feed(sse(usage_chunk(prompt=40, completion=3), done=False)))
    assert [e["type"] for e in tail] == ["content_block_stop", "message_delta", "message_stop"]
    assert tail[1]["usage"]["input_tokens"] == 40 and tail[1]["usage"]["output_tokens"] == 3
    assert translator.finished and translator.usage == Usage(input_tokens=40, output_tokens=3)
    assert translator.feed(b"data: [DONE]\n\n") == b"" and translator.close() == b""


def test_p8_without_any_usage_the_counts_are_zero_and_usage_stays_unknown() -> None:
    produced, translator = translate(sse(role_chunk(), text("x"), finish("stop")))
    message_delta = next(e for e in events_of(produced) if e["type"] == "message_delta")
    assert message_delta["usage"]["output_tokens"] == 0 and translator.usage is None


@pytest.mark.parametrize("empty", ["", None])
def test_p9_no_text_block_for_empty_or_null_content(empty: Optional[str]) -> None:
    upstream = sse(chunk({"role": "assistant", "content": empty}), chunk({"content": empty}),
                   tool_start(0, "f", "{}"), chunk({"content": empty}), finish("tool_calls"), usage_chunk())
    summary = check_anthropic_stream(translate(upstream)[0])
    assert summary.block_types == ["tool_use"]


def test_p9_empty_answer_has_no_blocks_at_all() -> None:
    summary = check_anthropic_stream(translate(sse(role_chunk(), finish("stop"), usage_chunk()))[0])
    assert summary.block_types == [] and summary.stop_reason == "end_turn"


def test_p13_thinking_block_is_unsigned_and_no_signature_is_forged() -> None:
    events = events_of(translate(SCENARIOS["deepseek_reasoning_content"][0])[0])
    assert events[1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert not [e for e in events if e["type"] == "content_block_delta" and e["delta"]["type"] == "signature_delta"]
    assert sdk_final_message(translate(SCENARIOS["deepseek_reasoning_content"][0])[0]).content[0].signature == ""


@pytest.mark.parametrize("field_name", ["reasoning_content", "reasoning"])
def test_p14_both_reasoning_field_names_become_thinking(field_name: str) -> None:
    upstream = sse(role_chunk(), chunk({field_name: "deep "}), chunk({field_name: "thought"}), text("ok"),
                   finish("stop"), usage_chunk())
    message = sdk_final_message(translate(upstream)[0])
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "deep thought"  # type: ignore[union-attr]


def test_p14_reasoning_content_wins_when_both_are_sent() -> None:
    upstream = sse(role_chunk(), chunk({"reasoning_content": "A", "reasoning": "A"}), finish("stop"), usage_chunk())
    message = sdk_final_message(translate(upstream)[0])
    assert message.content[0].thinking == "A"  # type: ignore[union-attr]


def test_p18_tool_names_are_mapped_back_to_the_client_names() -> None:
    context = ResponseContext(client_model="c", created=0, call_id="k", tool_names={"mcp_x_1a2b": "mcp__server__x"})
    translator = OpenAIToAnthropicStream(context)
    produced = translator.feed(sse(role_chunk(), tool_start(0, "mcp_x_1a2b", "{}"), finish("tool_calls"),
                                   usage_chunk()))
    start = next(e for e in events_of(produced) if e["type"] == "content_block_start")
    assert start["content_block"]["name"] == "mcp__server__x"


def test_p11_tool_ids_with_illegal_characters_are_sanitized() -> None:
    upstream = sse(role_chunk(), tool_start(0, "Bash", "{}", call_id="functions.Bash:0"), finish("tool_calls"),
                   usage_chunk())
    message = sdk_final_message(translate(upstream)[0])
    assert message.content[0].id == "functions_Bash_0"  # type: ignore[union-attr]


def test_p20_eof_without_finish_or_done_is_an_error_not_a_clean_end() -> None:
    produced, translator = translate(sse(role_chunk(), text("Hel"), done=False))
    events = events_of(produced)
    assert events[-1] == {"type": "error", "error": {"type": "api_error",
                                                     "message": "the upstream stream ended before it was complete"}}
    assert "message_delta" not in [e["type"] for e in events]
    assert isinstance(translator.error, UpstreamProtocolError)


def test_p20_done_without_finish_is_a_complete_answer() -> None:
    produced, translator = translate(SCENARIOS["done_without_finish"][0])
    assert check_anthropic_stream(produced).stop_reason == "end_turn" and translator.error is None


# --------------------------------------------------------------------------------------------
# Grammar checker self-tests: it must reject each violation it claims to detect.

GOOD = translate(SCENARIOS["plain_text"][0])[0]


def _reframe(events: List[Dict[str, Any]]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def _mutations() -> Dict[str, bytes]:
    ev = events_of(GOOD)  # start, block start, 3 deltas, block stop, message_delta, message_stop
    shifted = [dict(e, index=e["index"] + 1) if "index" in e else e for e in ev]
    tool_delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{"}}
    return {
        "no_event_lines": GOOD.replace(b"event: ", b"x-event: "),
        "name_differs_from_type": GOOD.replace(b"event: message_stop", b"event: message_end"),
        "no_trailing_blank_line": GOOD[:-1],
        "duplicate_message_start": _reframe([ev[0], *ev]),
        "index_starts_at_1": _reframe(shifted),
        "delta_type_mismatch": _reframe([*ev[:2], tool_delta, *ev[5:]]),
        "delta_after_stop": _reframe([*ev[:6], ev[2], *ev[6:]]),
        "interleaved_blocks": _reframe([*ev[:3], dict(ev[1], index=1), *ev[3:]]),
        "missing_message_delta": _reframe([*ev[:6], ev[7]]),
        "null_stop_reason": _reframe([*ev[:6], dict(ev[6], delta={"stop_reason": None}), ev[7]]),
        "missing_message_stop": _reframe(ev[:7]),
        "block_before_message_start": _reframe([ev[1], ev[0], *ev[2:]]),
    }


@pytest.mark.parametrize("mutation", sorted(_mutations()))
def test_grammar_checker_rejects(mutation: str) -> None:
    check_anthropic_stream(GOOD)
    with pytest.raises(AssertionError):
        check_anthropic_stream(_mutations()[mutation])
