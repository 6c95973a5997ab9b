"""Anthropic backend stream → OpenAI client stream (docs/protocol-rules.md#anthropic-to-openai-stream;
P-numbers: docs/pitfalls.md).

Each upstream recording below is written by hand after the shapes of real captures
(docs/protocol-rules.md#sources:
the anthropic SDK's ``tests/lib/streaming/fixtures/*.txt``, pydantic-ai cassettes, vercel/ai
``anthropic-*.chunks.txt``). Every scenario is fed whole, one event per feed and one byte per
feed; the client bytes must be identical, obey the OpenAI chunk grammar (our checker), validate
strictly as ``ChatCompletionChunk`` and accumulate, in the official SDK, to the expected message.
"""

import json
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import httpx2
import openai
import pydantic
import pytest
from anthropic.types import RawMessageStreamEvent
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletionChunk
from openai_stream_grammar import OpenAIStream, check_openai_stream, split_sse_data

from shim.errors import RouterError, UpstreamError, UpstreamProtocolError
from shim.translate.context import ResponseContext
from shim.translate.stream_anthropic_to_openai import AnthropicToOpenAIStream
from shim.usage import Usage

CONTEXT = ResponseContext(
    client_model="gpt-4o-via-router",
    created=1767225600,
    call_id="call_7f3a9c",
    include_usage=True,
)


# Upstream recordings ---------------------------------------------------------------------------
def event(name: str, data: str) -> str:
    """One Anthropic SSE event as the API frames it (docs/protocol-rules.md#sse-framing)."""
    return f"event: {name}\ndata: {data}\n\n"


def message_start(msg_id: str = "msg_01Q8cW3tFv2kDpXnLrZa6hYb", input_tokens: int = 25, usage_extra: str = "") -> str:
    usage = f'"input_tokens":{input_tokens},"cache_creation_input_tokens":0,"cache_read_input_tokens":0,'
    usage += '"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},'
    usage += f'"output_tokens":1,"service_tier":"standard"{usage_extra}'
    return event(
        "message_start",
        '{"type":"message_start","message":{"id":"' + msg_id + '","type":"message","role":"assistant",'
        '"model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,'
        '"usage":{' + usage + "}}}",
    )


def block_start(index: int, block: Dict[str, Any]) -> str:
    payload = {"type": "content_block_start", "index": index, "content_block": block}
    return event("content_block_start", json.dumps(payload, separators=(",", ":")))


def block_delta(index: int, delta: Dict[str, Any]) -> str:
    payload = {"type": "content_block_delta", "index": index, "delta": delta}
    return event("content_block_delta", json.dumps(payload, separators=(",", ":")))


def block_stop(index: int) -> str:
    return event("content_block_stop", '{"type":"content_block_stop","index":' + str(index) + "}")


def text_block(index: int, *fragments: str) -> str:
    deltas = "".join(block_delta(index, {"type": "text_delta", "text": text}) for text in fragments)
    return block_start(index, {"type": "text", "text": ""}) + deltas + block_stop(index)


def tool_block(index: int, tool_id: str, name: str, *fragments: str) -> str:
    start = block_start(
        index, {"type": "tool_use", "id": tool_id, "name": name, "caller": {"type": "direct"}, "input": {}}
    )
    deltas = "".join(block_delta(index, {"type": "input_json_delta", "partial_json": part}) for part in fragments)
    return start + deltas + block_stop(index)


def message_end(stop_reason: str, output_tokens: int, usage_extra: str = "", stop_sequence: str = "null") -> str:
    delta = '{"stop_reason":"' + stop_reason + '","stop_sequence":' + stop_sequence + "}"
    usage = '{"output_tokens":' + str(output_tokens) + usage_extra + "}"
    return message_delta_event(delta, usage) + MESSAGE_STOP


def message_delta_event(delta: str, usage: str) -> str:
    return event("message_delta", '{"type":"message_delta","delta":' + delta + ',"usage":' + usage + "}")


PING = event("ping", '{"type": "ping"}')
MESSAGE_STOP = event("message_stop", '{"type":"message_stop"}')

# Modeled on the SDK's basic_response.txt: pings before and inside the stream, and the last event
# NOT terminated by a blank line (the capture ends so; the decoder must still deliver it).
TEXT_WITH_PING = (
    PING
    + message_start()
    + text_block(0, "Hello", "! How can I", " help you today?")
    + PING
    + message_end("end_turn", 12)
).rstrip("\n")

# Modeled on tool_use_response.txt: text, then tool_use at block index 1 whose first fragment is "".
TOOL_FRAGMENTS = ("", '{"locati', 'on": "Pa', "ri", 's, France", "unit": "c', 'elsius"}')
TEXT_THEN_TOOL = (
    message_start(input_tokens=377)
    + text_block(0, "I", "'ll check the current weather in Paris for you.")
    + PING
    + tool_block(1, "toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather", *TOOL_FRAGMENTS)
    + message_end("tool_use", 65)
)

# vercel/ai anthropic-tool-no-args.chunks.txt: the ONLY delta of a no-argument tool is "" (P6).
NO_ARGUMENT_TOOL = (
    message_start(input_tokens=441)
    + PING
    + tool_block(0, "toolu_01Kx7mR2bWcYq4NvPz8TdEfA", "list_files", "")
    + PING
    + message_end("tool_use", 38)
)

# Two parallel calls after a text block: Anthropic indexes 1 and 2, OpenAI indexes 0 and 1 (P3).
PARALLEL_TOOLS = (
    message_start(input_tokens=512)
    + text_block(0, "Checking both cities.")
    + tool_block(1, "toolu_01AaaaBbbbCcccDddd0001", "get_weather", '{"location":', ' "Paris"}')
    + tool_block(2, "toolu_01AaaaBbbbCcccDddd0002", "get_weather", "", '{"location": "Tokyo"}')
    + message_end("tool_use", 91)
)

# pydantic-ai thinking cassette: thinking deltas, an empty one, the signature, then text.
THINKING_THEN_TEXT = (
    message_start(input_tokens=42)
    + block_start(0, {"type": "thinking", "thinking": "", "signature": ""})
    + block_delta(0, {"type": "thinking_delta", "thinking": "The user asks 2+2."})
    + block_delta(0, {"type": "thinking_delta", "thinking": " That is 4."})
    + block_delta(0, {"type": "thinking_delta", "thinking": ""})
    + block_delta(0, {"type": "signature_delta", "signature": "EqQBCgIYAhIMzK3v8bQ9X2pLrT0aGgwQ"})
    + block_stop(0)
    + text_block(1, "2 + 2 = 4.")
    + message_end("end_turn", 57, ',"output_tokens_details":{"thinking_tokens":31}')
)

REDACTED_THINKING = (
    message_start(input_tokens=60)
    + block_start(0, {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIw"})
    + block_stop(0)
    + text_block(1, "Here is my answer.")
    + message_end("end_turn", 20)
)

# Server-side blocks (with their own input_json_delta), an unknown block type with an unknown delta
# type, citations, and an unknown event type, all between two client-visible blocks (P2).
UNKNOWN_BLOCKS = (
    message_start(input_tokens=2100)
    + text_block(0, "Let me search.")
    + block_start(1, {"type": "server_tool_use", "id": "srvtoolu_01WxYz", "name": "web_search", "input": {}})
    + block_delta(1, {"type": "input_json_delta", "partial_json": '{"query": "rust 1.90 release"}'})
    + block_stop(1)
    + block_start(2, {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_01WxYz", "content": []})
    + block_stop(2)
    + event("content_block_annotation", '{"type":"content_block_annotation","index":2,"note":"new event type"}')
    + block_start(3, {"type": "compaction", "content": ""})
    + block_delta(3, {"type": "compaction_delta", "content": "summary of earlier turns"})
    + block_stop(3)
    + block_start(4, {"type": "text", "text": "", "citations": []})
    + block_delta(4, {"type": "text_delta", "text": "Rust 1.90 shipped."})
    + block_delta(
        4,
        {
            "type": "citations_delta",
            "citation": {
                "type": "web_search_result_location",
                "url": "https://blog.rust-lang.org/",
                "title": "Rust",
                "encrypted_index": "Eo8B",
                "cited_text": "1.90",
            },
        },
    )
    + block_stop(4)
    + tool_block(5, "toolu_01RemindMeLater00001", "set_reminder", '{"topic": "rust"}')
    + message_end("tool_use", 301, ',"server_tool_use":{"web_search_requests":1,"web_fetch_requests":0}')
)

# refusal_response.txt: an empty text block only, stop_details in message_delta.
REFUSAL = (
    message_start(input_tokens=20)
    + text_block(0)
    + message_delta_event(
        '{"stop_reason":"refusal","stop_sequence":null,"stop_details":{"type":"refusal","category":"cyber",'
        '"explanation":"This request was refused due to policy."}}',
        '{"output_tokens":120,"output_tokens_details":{"thinking_tokens":67}}',
    )
    + MESSAGE_STOP
)

MAX_TOKENS = (
    message_start(input_tokens=30) + text_block(0, "Once upon a time, there", " was a") + message_end("max_tokens", 8)
)

STOP_SEQUENCE = (
    message_start(input_tokens=31) + text_block(0, "1, 2, 3, 4") + message_end("stop_sequence", 9, stop_sequence='"5"')
)

# Real streams may pad JSON with whitespace; the error arrives mid-block.
OVERLOADED_MID_STREAM = (
    message_start(input_tokens=18)
    + block_start(0, {"type": "text", "text": ""})
    + block_delta(0, {"type": "text_delta", "text": "Partial ans"})
    + event("error", '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}       }')
)

TRUNCATED_MID_BLOCK = message_start(input_tokens=18) + text_block(0, "cut off")[:-60]
TRUNCATED_AFTER_MESSAGE_DELTA = (
    message_start(input_tokens=18) + text_block(0, "Complete text.") + message_end("end_turn", 4)[: -len(MESSAGE_STOP)]
)

CRLF_TEXT = message_start(input_tokens=11) + text_block(0, "Line one.", " Still one.") + message_end("end_turn", 5)
CRLF_TEXT = CRLF_TEXT.replace("\n", "\r\n")

# Cache usage at start, then a message_delta whose usage carries input_tokens and cache fields
# (vercel/ai anthropic-message-delta-input-tokens: 43 at start, 61 at delta) — they overwrite.
CACHE_USAGE = (
    message_start(input_tokens=43).replace(
        '"cache_creation_input_tokens":0,"cache_read_input_tokens":0',
        '"cache_creation_input_tokens":1200,"cache_read_input_tokens":3000',
    )
    + text_block(0, "Cached answer.")
    + message_end("end_turn", 77, ',"input_tokens":61,"cache_read_input_tokens":3500')
)


@dataclass(frozen=True)
class Expected:
    """What the OpenAI client must end up with."""

    content: Optional[str] = None
    reasoning: Optional[str] = None
    tool_calls: Tuple[Tuple[str, str, Dict[str, Any]], ...] = ()  # (id, name, parsed arguments)
    finish_reason: Optional[str] = "stop"
    usage: Optional[Tuple[int, int, int, int]] = None  # prompt, completion, cached, cache_write
    refusal: Optional[str] = None
    error_type: Optional[str] = None  # OpenAI error.type of an in-band error


@dataclass(frozen=True)
class Scenario:
    name: str
    upstream: str
    expected: Expected

    def __str__(self) -> str:
        return self.name


SCENARIOS = [
    Scenario("text_with_ping", TEXT_WITH_PING, Expected("Hello! How can I help you today?", usage=(25, 12, 0, 0))),
    Scenario(
        "text_then_tool",
        TEXT_THEN_TOOL,
        Expected(
            "I'll check the current weather in Paris for you.",
            tool_calls=(
                ("toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather", {"location": "Paris, France", "unit": "celsius"}),
            ),
            finish_reason="tool_calls",
            usage=(377, 65, 0, 0),
        ),
    ),
    Scenario(
        "no_argument_tool",
        NO_ARGUMENT_TOOL,
        Expected(
            tool_calls=(("toolu_01Kx7mR2bWcYq4NvPz8TdEfA", "list_files", {}),),
            finish_reason="tool_calls",
            usage=(441, 38, 0, 0),
        ),
    ),
    Scenario(
        "parallel_tools",
        PARALLEL_TOOLS,
        Expected(
            "Checking both cities.",
            tool_calls=(
                ("toolu_01AaaaBbbbCcccDddd0001", "get_weather", {"location": "Paris"}),
                ("toolu_01AaaaBbbbCcccDddd0002", "get_weather", {"location": "Tokyo"}),
            ),
            finish_reason="tool_calls",
            usage=(512, 91, 0, 0),
        ),
    ),
    Scenario(
        "thinking_then_text",
        THINKING_THEN_TEXT,
        Expected("2 + 2 = 4.", reasoning="The user asks 2+2. That is 4.", usage=(42, 57, 0, 0)),
    ),
    Scenario("redacted_thinking", REDACTED_THINKING, Expected("Here is my answer.", usage=(60, 20, 0, 0))),
    Scenario(
        "unknown_blocks",
        UNKNOWN_BLOCKS,
        Expected(
            "Let me search.Rust 1.90 shipped.",
            tool_calls=(("toolu_01RemindMeLater00001", "set_reminder", {"topic": "rust"}),),
            finish_reason="tool_calls",
            usage=(2100, 301, 0, 0),
        ),
    ),
    Scenario(
        "refusal",
        REFUSAL,
        Expected(
            finish_reason="content_filter", usage=(20, 120, 0, 0), refusal="This request was refused due to policy."
        ),
    ),
    Scenario(
        "max_tokens", MAX_TOKENS, Expected("Once upon a time, there was a", finish_reason="length", usage=(30, 8, 0, 0))
    ),
    Scenario("stop_sequence", STOP_SEQUENCE, Expected("1, 2, 3, 4", usage=(31, 9, 0, 0))),
    Scenario(
        "overloaded_mid_stream",
        OVERLOADED_MID_STREAM,
        Expected("Partial ans", finish_reason=None, error_type="service_unavailable_error"),
    ),
    Scenario("truncated_mid_block", TRUNCATED_MID_BLOCK, Expected(finish_reason=None, error_type="server_error")),
    Scenario(
        "truncated_after_message_delta", TRUNCATED_AFTER_MESSAGE_DELTA, Expected("Complete text.", usage=(18, 4, 0, 0))
    ),
    Scenario("crlf_line_endings", CRLF_TEXT, Expected("Line one. Still one.", usage=(11, 5, 0, 0))),
    Scenario("cache_usage", CACHE_USAGE, Expected("Cached answer.", usage=(61 + 3500 + 1200, 77, 3500, 1200))),
]
SCENARIO_BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}
CHUNKINGS = ["whole", "per_event", "one_byte"]


# Driving the translator ------------------------------------------------------------------------
def split_upstream(raw: bytes, chunking: str) -> List[bytes]:
    if chunking == "whole":
        return [raw]
    if chunking == "per_event":
        return [piece for piece in re.split(rb"(?<=\r\n\r\n)|(?<=\n\n)", raw) if piece]
    return [raw[i : i + 1] for i in range(len(raw))]


def translate(
    upstream: str, chunking: str, context: ResponseContext = CONTEXT
) -> Tuple[bytes, AnthropicToOpenAIStream]:
    translator = AnthropicToOpenAIStream(context)
    raw = upstream.encode()
    out = b"".join(translator.feed(piece) for piece in split_upstream(raw, chunking)) + translator.close()
    assert translator.finished
    assert translator.feed(b"event: ping\ndata: {}\n\n") == b"" and translator.close() == b""
    return out, translator


def validate_chunks(stream: OpenAIStream) -> List[ChatCompletionChunk]:
    return [ChatCompletionChunk.model_validate(chunk, strict=True) for chunk in stream.chunks]


def sdk_stream(client_bytes: bytes) -> Any:
    """The official SDK's ``chat.completions.stream()`` reading ``client_bytes`` (strict validation)."""

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=client_bytes)

    client = openai.OpenAI(
        api_key="sk-test",
        base_url="http://router.invalid/v1",
        http_client=httpx2.Client(transport=httpx2.MockTransport(answer)),
        _strict_response_validation=True,
    )
    return client.chat.completions.stream(
        model=CONTEXT.client_model,
        messages=[{"role": "user", "content": "hi"}],
        stream_options={"include_usage": True},
    )


def sdk_final_message(client_bytes: bytes, finish_reason: Optional[str]) -> Any:
    """The accumulated completion. ``length``/``content_filter`` make ``get_final_completion``
    raise (docs/protocol-rules.md#stop-reasons), so for those the snapshot is returned after checking that it does."""
    raises = {"length": openai.LengthFinishReasonError, "content_filter": openai.ContentFilterFinishReasonError}
    with sdk_stream(client_bytes) as stream:
        stream.until_done()
        if finish_reason in raises:
            with pytest.raises(raises[finish_reason]):
                stream.get_final_completion()
            return stream.current_completion_snapshot
        return stream.get_final_completion()


def assert_sdk_result(client_bytes: bytes, expected: Expected) -> None:
    if expected.error_type is not None:
        with sdk_stream(client_bytes) as stream, pytest.raises(openai.APIError) as raised:
            stream.until_done()
        assert raised.value.body["type"] == expected.error_type
        return
    completion = sdk_final_message(client_bytes, expected.finish_reason)
    choice = completion.choices[0]
    message = choice.message
    assert choice.finish_reason == expected.finish_reason
    assert message.role == "assistant"
    assert (message.content or None) == expected.content
    assert message.refusal == expected.refusal
    assert (message.model_extra or {}).get("reasoning_content") == expected.reasoning
    calls = [(call.id, call.function.name, json.loads(call.function.arguments)) for call in message.tool_calls or []]
    assert calls == list(expected.tool_calls)
    assert all(call.type == "function" for call in message.tool_calls or [])
    usage = completion.usage
    details = usage.prompt_tokens_details
    assert (
        usage.prompt_tokens,
        usage.completion_tokens,
        details.cached_tokens,
        details.cache_write_tokens,
    ) == expected.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert completion.id.startswith("chatcmpl-") and completion.model == CONTEXT.client_model


# The scenarios ----------------------------------------------------------------------------------
@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_upstream_recordings_are_valid_anthropic_events(scenario: Scenario) -> None:
    """Our hand-written recordings must have the real API's shapes (unknown types excepted)."""
    adapter = pydantic.TypeAdapter(RawMessageStreamEvent)
    known = {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    }
    for data in re.findall(r"^data: (.*?)\r?$", scenario.upstream, flags=re.M):
        payload = json.loads(data)
        block_type = (payload.get("content_block") or payload.get("delta") or {}).get("type", "")
        if payload["type"] in known and not block_type.startswith("compaction"):
            adapter.validate_python(payload)


@pytest.mark.parametrize("chunking", CHUNKINGS)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_scenario_gives_grammatical_stream_the_sdk_accumulates(scenario: Scenario, chunking: str) -> None:
    out, translator = translate(scenario.upstream, chunking)
    stream = check_openai_stream(out, include_usage=True)
    validate_chunks(stream)
    assert stream.finish_reason == scenario.expected.finish_reason
    assert_sdk_result(out, scenario.expected)
    if scenario.expected.error_type is None:
        assert translator.error is None
    else:
        assert stream.error is not None and stream.error["type"] == scenario.expected.error_type
        assert isinstance(translator.error, RouterError)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_client_bytes_do_not_depend_on_upstream_chunking(scenario: Scenario) -> None:
    results = [translate(scenario.upstream, chunking) for chunking in CHUNKINGS]
    assert len({out for out, _ in results}) == 1
    assert len({translator.usage for _, translator in results}) == 1


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.expected.usage], ids=str)
def test_translator_reports_usage_for_telemetry(scenario: Scenario) -> None:
    _, translator = translate(scenario.upstream, "whole")
    assert translator.usage is not None
    prompt, completion, cached, cache_write = scenario.expected.usage or (0, 0, 0, 0)
    assert translator.usage.total_input_tokens == prompt
    assert (translator.usage.output_tokens, translator.usage.cache_read_tokens) == (completion, cached)
    assert translator.usage.cache_write_tokens == cache_write


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_every_chunk_has_the_same_id_created_and_model(chunking: str) -> None:
    out, _ = translate(TEXT_THEN_TOOL, chunking)
    stream = check_openai_stream(out, include_usage=True)
    assert {(c["id"], c["created"], c["model"]) for c in stream.chunks} == {
        ("chatcmpl-msg_01Q8cW3tFv2kDpXnLrZa6hYb", CONTEXT.created, CONTEXT.client_model)
    }


def test_chunk_id_falls_back_to_call_id_without_message_id() -> None:
    upstream = message_start().replace('"id":"msg_01Q8cW3tFv2kDpXnLrZa6hYb",', "") + text_block(0, "x")
    out, _ = translate(upstream + message_end("end_turn", 1), "whole")
    assert check_openai_stream(out).chunks[0]["id"] == "chatcmpl-" + CONTEXT.call_id


def test_thinking_becomes_reasoning_content_and_signature_is_dropped() -> None:
    out, _ = translate(THINKING_THEN_TEXT, "whole")
    deltas = check_openai_stream(out).deltas
    assert [d["reasoning_content"] for d in deltas if "reasoning_content" in d] == ["The user asks 2+2.", " That is 4."]
    assert b"EqQBCgIYAhIM" not in out and b"EmwKAhgB" not in translate(REDACTED_THINKING, "whole")[0]


def test_tool_name_is_mapped_back_to_the_client_name() -> None:
    context = ResponseContext("gpt-4o", 1, "call_1", tool_names={"get_weather": "weather.get_current"})
    out, _ = translate(TEXT_THEN_TOOL, "whole", context)
    calls = [c for d in check_openai_stream(out).deltas for c in d.get("tool_calls", [])]
    assert calls[0]["function"]["name"] == "weather.get_current"


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_no_usage_chunk_unless_client_asked(chunking: str) -> None:
    context = ResponseContext(CONTEXT.client_model, CONTEXT.created, CONTEXT.call_id, include_usage=False)
    out, translator = translate(CACHE_USAGE, chunking, context)
    stream = check_openai_stream(out, include_usage=False)
    assert all("usage" not in chunk for chunk in stream.chunks)
    assert translator.usage == Usage(61, 77, 3500, 1200, None)


def test_inband_overloaded_error_is_translated_and_recorded() -> None:
    out, translator = translate(OVERLOADED_MID_STREAM, "whole")
    stream = check_openai_stream(out)
    assert stream.error == {
        "message": "Overloaded",
        "type": "service_unavailable_error",
        "param": None,
        "code": "server_is_overloaded",
    }
    assert not stream.done and stream.finish_reason is None
    assert isinstance(translator.error, UpstreamError) and translator.error.kind_name == "overloaded"


def test_error_event_before_message_start_is_still_reported() -> None:
    upstream = event("error", '{"type":"error","error":{"type":"rate_limit_error","message":"Slow down"}}')
    out, translator = translate(upstream, "whole")
    assert check_openai_stream(out).error["code"] == "rate_limit_exceeded"
    assert translator.error is not None and translator.error.kind_name == "rate_limit"


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_eof_before_message_delta_is_an_error_not_a_fake_finish(chunking: str) -> None:
    out, translator = translate(TRUNCATED_MID_BLOCK, chunking)
    stream = check_openai_stream(out)
    assert stream.finish_reason is None and not stream.done
    assert stream.error is not None and "ended before it was complete" in stream.error["message"]
    assert isinstance(translator.error, UpstreamProtocolError)


PREFIX = (
    message_start()
    + block_start(0, {"type": "text", "text": ""})
    + block_delta(0, {"type": "text_delta", "text": "ok"})
)
MALFORMED_EVENTS = {
    "not_json": event("content_block_delta", '{"type":"content_block_delta","index":0,"delta":{"type":"text_del'),
    "json_array": event("content_block_delta", "[1, 2]"),
    "missing_index": event(
        "content_block_delta", '{"type":"content_block_delta","delta":{"type":"text_delta","text":"x"}}'
    ),
    "string_index": block_delta(0, {"type": "text_delta", "text": "x"}).replace('"index":0', '"index":"0"'),
    "list_index": block_delta(0, {"type": "text_delta", "text": "x"}).replace('"index":0', '"index":[0]'),
    "text_not_string": block_delta(0, {"type": "text_delta", "text": 5}),
    "delta_not_object": event("content_block_delta", '{"type":"content_block_delta","index":0,"delta":"text"}'),
    "unstarted_block": block_delta(7, {"type": "text_delta", "text": "x"}),
    "stop_unstarted_block": block_stop(3),
    "started_twice": block_start(0, {"type": "text", "text": ""}),
    "tool_without_name": block_start(1, {"type": "tool_use", "id": "toolu_1", "input": {}}),
    "tool_with_empty_id": block_start(1, {"type": "tool_use", "id": "", "name": "f", "input": {}}),
    "partial_json_not_string": tool_block(1, "toolu_1", "f").replace(block_stop(1), "")
    + block_delta(1, {"type": "input_json_delta", "partial_json": None}),
    "usage_not_object": message_delta_event('{"stop_reason":"end_turn"}', "[]"),
    "message_delta_without_delta": event("message_delta", '{"type":"message_delta","usage":{"output_tokens":1}}'),
    "deeply_nested": event("content_block_delta", "[" * 100000 + "]" * 100000),
}


@pytest.mark.parametrize("chunking", CHUNKINGS)
@pytest.mark.parametrize("bad_event", sorted(MALFORMED_EVENTS))
def test_malformed_upstream_event_ends_in_protocol_error(bad_event: str, chunking: str) -> None:
    out, translator = translate(PREFIX + MALFORMED_EVENTS[bad_event] + message_end("end_turn", 3), chunking)
    stream = check_openai_stream(out)
    assert stream.error is not None and stream.error["type"] == "server_error"
    assert [d["content"] for d in stream.deltas if "content" in d] == ["", "ok"], "earlier chunks are kept"
    assert isinstance(translator.error, UpstreamProtocolError)


@pytest.mark.parametrize(
    "early_event",
    [block_start(0, {"type": "text", "text": ""}), message_end("end_turn", 1), MESSAGE_STOP],
    ids=["block_start", "message_delta", "message_stop"],
)
def test_message_event_before_message_start_is_a_protocol_error(early_event: str) -> None:
    out, translator = translate(PING + early_event + message_start() + text_block(0, "x"), "whole")
    assert check_openai_stream(out).chunks == []
    assert isinstance(translator.error, UpstreamProtocolError)


def test_openai_style_done_sentinel_from_upstream_is_ignored() -> None:
    out, _ = translate(TEXT_WITH_PING + "\n\ndata: [DONE]\n\n", "whole")
    assert check_openai_stream(out).done


def test_stream_close_mid_way_aborts_once() -> None:
    translator = AnthropicToOpenAIStream(CONTEXT)
    first = translator.feed((message_start() + PING).encode())
    aborted = translator.abort(UpstreamProtocolError("connection reset"))
    assert translator.close() == b"" and translator.feed(b"x") == b""
    stream = check_openai_stream(first + aborted)
    assert stream.error is not None and stream.error["message"] == "connection reset"


# Pitfall regressions (docs/pitfalls.md) -------------------------------------------------------
@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_p2_unknown_blocks_and_deltas_keep_index_bookkeeping(chunking: str) -> None:
    out, translator = translate(UNKNOWN_BLOCKS, chunking)
    stream = check_openai_stream(out, include_usage=True)
    calls = [call for delta in stream.deltas for call in delta.get("tool_calls", [])]
    assert [call["index"] for call in calls] == [0, 0]  # the server tool is not one of the client's calls
    assert b"rust 1.90 release" not in out and b"summary of earlier turns" not in out
    assert translator.error is None and stream.finish_reason == "tool_calls"


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_p3_tool_index_is_contiguous_after_text_block(chunking: str) -> None:
    out, _ = translate(PARALLEL_TOOLS, chunking)
    calls = [call for delta in check_openai_stream(out).deltas for call in delta.get("tool_calls", [])]
    firsts = [(call["index"], call["id"]) for call in calls if "id" in call]
    assert firsts == [(0, "toolu_01AaaaBbbbCcccDddd0001"), (1, "toolu_01AaaaBbbbCcccDddd0002")]
    assert {call["index"] for call in calls} == {0, 1}  # never the Anthropic block indexes 1, 2


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_p4_role_and_tool_identity_are_sent_once(chunking: str) -> None:
    duplicated_start = TEXT_THEN_TOOL.replace(PING, message_start())  # a 2nd message_start (P2)
    out, _ = translate(duplicated_start, chunking)
    stream = check_openai_stream(out)
    assert out.count(b'"role"') == 1 and out.count(b"toolu_01NRLabsLyVHZPKxbKvkfSMn") == 1
    assert out.count(b'"type":"function"') == 1 and out.count(b'"name"') == 1
    message = sdk_final_message(out, "tool_calls").choices[0].message
    assert message.role == "assistant" and message.tool_calls[0].function.name == "get_weather"
    assert stream.deltas[0] == {"role": "assistant", "content": ""}


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_p6_no_argument_tool_gets_empty_object_arguments(chunking: str) -> None:
    out, _ = translate(NO_ARGUMENT_TOOL, chunking)
    calls = [call for delta in check_openai_stream(out).deltas for call in delta.get("tool_calls", [])]
    assert "".join(call["function"]["arguments"] for call in calls) == "{}"
    final = sdk_final_message(out, "tool_calls")
    assert final.choices[0].message.tool_calls[0].function.arguments == "{}"


def test_p6_tool_input_given_only_in_block_start_is_not_lost() -> None:
    """Some Anthropic-compatible backends put the whole input in content_block_start and stream no
    delta; forwarding "{}" there would silently drop the arguments."""
    upstream = (
        message_start()
        + block_start(0, {"type": "tool_use", "id": "toolu_9", "name": "f", "input": {"a": [1, 2]}})
        + block_stop(0)
        + message_end("tool_use", 5)
    )
    out, _ = translate(upstream, "one_byte")
    assert json.loads(sdk_final_message(out, "tool_calls").choices[0].message.tool_calls[0].function.arguments) == {
        "a": [1, 2]
    }


def test_p6_unclosed_tool_block_without_arguments_still_gets_empty_object() -> None:
    upstream = (
        message_start()
        + block_start(0, {"type": "tool_use", "id": "toolu_9", "name": "f", "input": {}})
        + message_delta_event('{"stop_reason":"tool_use"}', '{"output_tokens":3}')
    )
    out, _ = translate(upstream, "whole")
    assert sdk_final_message(out, "tool_calls").choices[0].message.tool_calls[0].function.arguments == "{}"


@pytest.mark.parametrize("chunking", CHUNKINGS)
@pytest.mark.parametrize("stop_reason", ["end_turn", "max_tokens", "pause_turn"])
def test_p7_tool_call_finishes_as_tool_calls_whatever_the_stop_reason(stop_reason: str, chunking: str) -> None:
    out, _ = translate(TEXT_THEN_TOOL.replace('"stop_reason":"tool_use"', f'"stop_reason":"{stop_reason}"'), chunking)
    assert check_openai_stream(out).finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
        ("some_future_reason", "stop"),
    ],
)
def test_p7_stop_reason_maps_to_finish_reason(stop_reason: str, finish_reason: str) -> None:
    out, _ = translate(message_start() + text_block(0, "x") + message_end(stop_reason, 2), "whole")
    stream = check_openai_stream(out)
    assert stream.finish_reason == finish_reason
    validate_chunks(stream)  # strict mode rejects finish reasons outside the OpenAI enum


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_p8_usage_chunk_is_last_and_counts_cache_tokens(chunking: str) -> None:
    out, translator = translate(CACHE_USAGE, chunking)
    stream = check_openai_stream(out, include_usage=True)
    assert stream.chunks[-1]["choices"] == [] and split_sse_data(out)[-1] == "[DONE]"
    assert all("usage" not in chunk for chunk in stream.chunks[:-1])
    assert stream.usage == {
        "prompt_tokens": 4761,  # input_tokens overwritten by message_delta (61) + reads 3500 + writes 1200
        "completion_tokens": 77,
        "total_tokens": 4838,
        "prompt_tokens_details": {"cached_tokens": 3500, "cache_write_tokens": 1200},
    }
    assert translator.usage == Usage(input_tokens=61, output_tokens=77, cache_read_tokens=3500, cache_write_tokens=1200)


def test_p8_reasoning_tokens_reach_completion_tokens_details() -> None:
    out, _ = translate(THINKING_THEN_TEXT, "whole")
    assert check_openai_stream(out).usage["completion_tokens_details"] == {"reasoning_tokens": 31}


@pytest.mark.parametrize("chunking", CHUNKINGS)
@pytest.mark.parametrize(
    "upstream",
    [
        "",
        '{"type":"message","id":"msg_1","content":[{"type":"text","text":"hi"}],"usage":{}}',
        '{"type":"error","error":{"type":"api_error","message":"boom"}}\n',
        "<html><body>502 Bad Gateway</body></html>\r\n",
        PING + PING,
    ],
    ids=["empty", "json_body", "json_error_body", "html", "only_pings"],
)
def test_p20_non_sse_or_empty_upstream_still_answers_the_client(upstream: str, chunking: str) -> None:
    out, translator = translate(upstream, chunking)
    stream = check_openai_stream(out)  # asserts the output is not empty
    assert stream.error is not None and stream.chunks == []
    assert isinstance(translator.error, RouterError)


# Robustness and speed ---------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_mutation_of_a_recording_gives_a_grammatical_client_stream(data: st.DataObject) -> None:
    """Truncations and byte edits anywhere: only the engine's errors, and always a valid OpenAI
    stream (complete, or ending in an in-band error)."""
    raw = bytearray(data.draw(st.sampled_from(SCENARIOS), label="scenario").upstream.encode())
    for _ in range(data.draw(st.integers(0, 4), label="edits")):
        position = data.draw(st.integers(0, len(raw) - 1), label="position")
        raw[position] = data.draw(st.sampled_from(b'{}[]":,\n\r 0a\xff'), label="byte")
    raw = raw[: data.draw(st.integers(0, len(raw)), label="cut")]
    translator = AnthropicToOpenAIStream(CONTEXT)
    out = translator.feed(bytes(raw)) + translator.close()
    validate_chunks(check_openai_stream(out))
