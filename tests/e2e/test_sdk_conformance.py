"""OpenAI SDK (current major) → engine → Anthropic backend, over real loopback sockets (P-numbers:
docs/pitfalls.md).

The ``claude-*`` model routes an OpenAI-protocol client to the Anthropic fake, so every call here
is translated both ways. Clients validate strictly; stream tests run with the upstream written one
SSE event per HTTP chunk and one byte per chunk (``chunking``). The Anthropic-client direction is
in ``test_sdk_conformance_anthropic.py``, same-protocol routes in ``test_same_protocol.py``.
"""

import json
from typing import Any, Dict

import openai
import pytest
from e2e_support import (
    RICH_USAGE,
    USER_MESSAGES,
    WEATHER_CALLS,
    accumulate_openai_chunks,
    assert_upstream_credentials,
    openai_create,
    openai_tools,
)
from fakes import EngineServer, FakeProvider, ToolCall, UsageSpec

MODEL = "claude-sonnet-4-6"
MODES = ("sync", "async")


def _assert_rich_usage(usage: Any) -> None:
    """docs/protocol-rules.md#usage, A→O: prompt_tokens includes cache reads and writes."""
    prompt = RICH_USAGE.input + RICH_USAGE.cache_read + RICH_USAGE.cache_write
    assert usage.prompt_tokens == prompt
    assert usage.completion_tokens == RICH_USAGE.output
    assert usage.total_tokens == prompt + RICH_USAGE.output
    assert usage.prompt_tokens_details.cached_tokens == RICH_USAGE.cache_read
    assert usage.prompt_tokens_details.cache_write_tokens == RICH_USAGE.cache_write
    assert usage.completion_tokens_details.reasoning_tokens == RICH_USAGE.reasoning


def _assert_translated_upstream(provider: FakeProvider, *, stream: bool) -> Dict[str, Any]:
    request = provider.last.request
    assert request.path == "/v1/messages"
    assert_upstream_credentials(request, "anthropic")
    body = request.json
    assert body["model"] == MODEL
    assert isinstance(body["max_tokens"], int) and body["max_tokens"] > 0, "Anthropic requires max_tokens (P15)"
    assert body.get("stream", False) is stream
    assert "stream_options" not in body
    return body  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", MODES)
def test_text_non_stream(engine: EngineServer, provider: FakeProvider, mode: str) -> None:
    provider.reply(text="It is sunny in Paris.", usage=RICH_USAGE)
    completion = openai_create(engine, mode, model=MODEL, messages=USER_MESSAGES)
    assert completion.object == "chat.completion"
    assert completion.model == MODEL
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "It is sunny in Paris."
    assert completion.choices[0].finish_reason == "stop"
    _assert_rich_usage(completion.usage)
    _assert_translated_upstream(provider, stream=False)


@pytest.mark.parametrize("mode", MODES)
def test_text_stream(engine: EngineServer, provider: FakeProvider, chunking: str, mode: str) -> None:
    provider.reply(text="It is sunny in Paris today.", usage=RICH_USAGE)
    chunks = openai_create(
        engine, mode, model=MODEL, messages=USER_MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    folded = accumulate_openai_chunks(chunks)
    assert folded["content"] == "It is sunny in Paris today."
    assert folded["finish_reason"] == "stop"
    assert chunks[-1].choices == [], "the usage chunk comes last, with choices: []"
    _assert_rich_usage(folded["usage"])
    assert {chunk.id for chunk in chunks} == {chunks[0].id}, "one id for the whole stream"
    _assert_translated_upstream(provider, stream=True)


def test_stream_without_include_usage_has_no_usage(engine: EngineServer, provider: FakeProvider, chunking: str) -> None:
    provider.reply(text="Hello!")
    chunks = openai_create(engine, "sync", model=MODEL, messages=USER_MESSAGES, stream=True)
    assert accumulate_openai_chunks(chunks)["content"] == "Hello!"
    assert all(chunk.usage is None for chunk in chunks), "no usage unless the client asked"


def test_stream_helper_get_final_completion(oai: openai.OpenAI, provider: FakeProvider, chunking: str) -> None:
    provider.reply(text="Bonjour de Paris.", usage=RICH_USAGE)
    with oai.chat.completions.stream(
        model=MODEL, messages=USER_MESSAGES, stream_options={"include_usage": True}
    ) as stream:
        deltas = [event.delta for event in stream if event.type == "content.delta"]
        final = stream.get_final_completion()
    assert "".join(deltas) == "Bonjour de Paris."
    assert final.choices[0].message.content == "Bonjour de Paris."
    assert final.choices[0].message.role == "assistant", "P4: a repeated role would read 'assistantassistant'"
    assert final.choices[0].finish_reason == "stop"
    _assert_rich_usage(final.usage)


def test_parallel_tool_calls_non_stream(engine: EngineServer, provider: FakeProvider) -> None:
    provider.reply(text="Let me check both.", tool_calls=WEATHER_CALLS)
    completion = openai_create(
        engine, "sync", model=MODEL, messages=USER_MESSAGES, tools=openai_tools("get_weather", "get_time")
    )
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls"
    assert message.content == "Let me check both."
    calls = [(call.function.name, json.loads(call.function.arguments)) for call in message.tool_calls]
    assert calls == WEATHER_CALLS
    assert all(call.type == "function" and call.id for call in message.tool_calls)
    upstream = _assert_translated_upstream(provider, stream=False)
    assert [tool["name"] for tool in upstream["tools"]] == ["get_weather", "get_time"]
    assert upstream["tools"][0]["input_schema"]["required"] == ["city"]


@pytest.mark.parametrize("mode", MODES)
def test_p3_parallel_tool_calls_stream_indexes_start_at_zero(
    engine: EngineServer, provider: FakeProvider, chunking: str, mode: str
) -> None:
    """A text block takes Anthropic index 0; the tool calls must still be OpenAI indexes 0 and 1."""
    provider.reply(text="Let me check both.", tool_calls=WEATHER_CALLS)
    chunks = openai_create(
        engine, mode, model=MODEL, messages=USER_MESSAGES, tools=openai_tools("get_weather", "get_time"), stream=True
    )
    folded = accumulate_openai_chunks(chunks)
    assert [(name, args) for name, args, _ in folded["tool_calls"]] == WEATHER_CALLS
    assert folded["content"] == "Let me check both."
    assert folded["finish_reason"] == "tool_calls"


def test_p4_stream_helper_tool_calls_accumulate(oai: openai.OpenAI, provider: FakeProvider, chunking: str) -> None:
    ids = ["toolu_01WeatherA1", "toolu_01TimeB2"]
    provider.reply(tool_calls=[ToolCall(name, args, id=i) for (name, args), i in zip(WEATHER_CALLS, ids, strict=False)])
    with oai.chat.completions.stream(
        model=MODEL, messages=USER_MESSAGES, tools=openai_tools("get_weather", "get_time")
    ) as stream:
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert [(call.function.name, json.loads(call.function.arguments)) for call in calls] == WEATHER_CALLS
    assert [call.id for call in calls] == ids, "P4: a repeated id would be concatenated"


def test_p6_no_argument_tool_streams_empty_object(engine: EngineServer, provider: FakeProvider, chunking: str) -> None:
    """A native no-argument tool_use streams only partial_json "" — the client must get "{}"."""
    provider.reply(tool_calls=[("list_files", {})])
    chunks = openai_create(
        engine, "sync", model=MODEL, messages=USER_MESSAGES, tools=openai_tools("list_files"), stream=True
    )
    folded = accumulate_openai_chunks(chunks)
    assert [(name, args) for name, args, _ in folded["tool_calls"]] == [("list_files", {})]


def test_thinking_non_stream_reasoning_content(engine: EngineServer, provider: FakeProvider) -> None:
    provider.reply(thinking="The user wants Paris weather; call the tool.", text="Sunny.", usage=RICH_USAGE)
    completion = openai_create(engine, "sync", model=MODEL, messages=USER_MESSAGES)
    message = completion.choices[0].message
    assert message.content == "Sunny."
    assert (message.model_extra or {}).get("reasoning_content") == "The user wants Paris weather; call the tool."
    assert completion.usage.completion_tokens_details.reasoning_tokens == RICH_USAGE.reasoning


def test_thinking_stream_reasoning_content(engine: EngineServer, provider: FakeProvider, chunking: str) -> None:
    provider.reply(thinking="The user wants Paris weather.", text="Sunny.")
    chunks = openai_create(engine, "sync", model=MODEL, messages=USER_MESSAGES, stream=True)
    folded = accumulate_openai_chunks(chunks)
    assert folded["reasoning"] == "The user wants Paris weather."
    assert folded["content"] == "Sunny.", "thinking must not leak into content (P13)"


@pytest.mark.parametrize(
    ("stop", "finish_reason"), [("end", "stop"), ("max_tokens", "length"), ("stop_sequence", "stop")]
)
def test_finish_reason_non_stream(engine: EngineServer, provider: FakeProvider, stop: str, finish_reason: str) -> None:
    provider.reply(text="Partial answer", stop=stop)
    completion = openai_create(engine, "sync", model=MODEL, messages=USER_MESSAGES)
    assert completion.choices[0].finish_reason == finish_reason


def test_max_tokens_stream_finish_reason_length(engine: EngineServer, provider: FakeProvider, chunking: str) -> None:
    provider.reply(text="Partial answer", stop="max_tokens")
    chunks = openai_create(engine, "sync", model=MODEL, messages=USER_MESSAGES, stream=True)
    assert accumulate_openai_chunks(chunks)["finish_reason"] == "length"


ERRORS = [
    (529, openai.InternalServerError, 503, "service_unavailable_error"),
    (429, openai.RateLimitError, 429, None),
    (400, openai.BadRequestError, 400, "invalid_request_error"),
]


@pytest.mark.parametrize("stream", [False, True], ids=["non_stream", "stream"])
@pytest.mark.parametrize(("upstream_status", "error_class", "status", "error_type"), ERRORS)
def test_upstream_error_before_first_byte(
    oai: openai.OpenAI, provider: FakeProvider, stream: bool,
    upstream_status: int, error_class: type, status: int, error_type: Any,
) -> None:
    """docs/protocol-rules.md#in-band-errors: an upstream error before the first byte is a real HTTP
    status, mapped (529 → 503)."""
    provider.reply(error=(upstream_status, None), headers={"retry-after": "7"})
    with pytest.raises(error_class) as caught:
        result = oai.chat.completions.create(model=MODEL, messages=USER_MESSAGES, stream=stream)
        list(result) if stream else None
    assert caught.value.status_code == status
    assert caught.value.response.headers.get("content-type", "").startswith("application/json")
    assert caught.value.response.headers.get("retry-after") == "7", "retry-after is preserved"
    if error_type is not None:
        assert caught.value.type == error_type
    assert isinstance(caught.value.body, dict) and caught.value.message


def test_midstream_error_raises_api_error(engine: EngineServer, provider: FakeProvider, chunking: str) -> None:
    provider.reply(text="This answer will be cut off", fail_midstream=True)
    with pytest.raises(openai.APIError) as caught:
        openai_create(engine, "sync", model=MODEL, messages=USER_MESSAGES, stream=True)
    assert not isinstance(caught.value, openai.APIStatusError), "after the headers, errors are in-band"


@pytest.mark.parametrize("drop_connection", [False, True], ids=["clean_eof", "connection_dropped"])
def test_truncated_upstream_stream_is_an_error(
    engine: EngineServer, provider: FakeProvider, chunking: str, drop_connection: bool
) -> None:
    """An upstream that stops mid-message must not become a silently complete answer
    (docs/protocol-rules.md#anthropic-to-openai-stream)."""
    provider.reply(text="This answer never ends", truncate_after_events=5, drop_connection=drop_connection)
    with pytest.raises(openai.APIError):
        openai_create(engine, "sync", model=MODEL, messages=USER_MESSAGES, stream=True)


def test_truncated_stream_helper_does_not_complete(oai: openai.OpenAI, provider: FakeProvider, chunking: str) -> None:
    provider.reply(text="This answer never ends", tool_calls=WEATHER_CALLS[:1], truncate_after_events=9)
    with pytest.raises(openai.APIError):
        with oai.chat.completions.stream(model=MODEL, messages=USER_MESSAGES) as stream:
            stream.get_final_completion()


def test_usage_without_cache_fields(engine: EngineServer, provider: FakeProvider) -> None:
    provider.reply(text="Hi", usage=UsageSpec(input=12, output=3))
    usage = openai_create(engine, "sync", model=MODEL, messages=USER_MESSAGES).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (12, 3, 15)
    assert usage.prompt_tokens_details is None or usage.prompt_tokens_details.cached_tokens in (0, None)
