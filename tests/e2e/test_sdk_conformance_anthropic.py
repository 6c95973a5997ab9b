"""Anthropic SDK (current major) → engine → OpenAI-protocol backends, over real loopback sockets
(P-numbers: docs/pitfalls.md).

``gpt-*`` routes to the ``openai`` backend by family, ``groq:llama-3.3-70b`` to ``groq`` by prefix
(the upstream sees ``llama-3.3-70b``). Both are the OpenAI fake, so every call is translated.
"""

import json
from typing import Any, Dict

import anthropic
import pytest
from e2e_support import (
    RICH_USAGE,
    USER_MESSAGES,
    WEATHER_CALLS,
    anthropic_create,
    anthropic_tools,
    assert_upstream_credentials,
)
from fakes import EngineServer, FakeProvider

# (client model, upstream model, backend, the backend's output-limit field)
ROUTES = [
    ("gpt-5.1", "gpt-5.1", "openai", "max_completion_tokens"),
    ("groq:llama-3.3-70b", "llama-3.3-70b", "groq", "max_tokens"),
]
ROUTE_IDS = ["openai_family", "groq_prefix"]
MODEL = "gpt-5.1"
MODES = ("sync", "async")


def _assert_rich_usage(usage: Any) -> None:
    """docs/protocol-rules.md#usage, O→A: input_tokens excludes cache reads and writes (P8)."""
    assert usage.input_tokens == RICH_USAGE.input
    assert usage.cache_read_input_tokens == RICH_USAGE.cache_read
    assert usage.cache_creation_input_tokens == RICH_USAGE.cache_write
    assert usage.output_tokens == RICH_USAGE.output


def _assert_translated_upstream(provider: FakeProvider, route: Any = ROUTES[0], *, stream: bool) -> Dict[str, Any]:
    _, upstream_model, backend, limit_field = route
    request = provider.last.request
    assert request.path == "/v1/chat/completions"
    assert_upstream_credentials(request, backend)
    assert request.header("anthropic-version") is None and request.header("anthropic-beta") is None
    body = request.json
    assert body["model"] == upstream_model
    assert body[limit_field] == 300, f"max_tokens goes upstream as {limit_field}"
    assert body.get("stream", False) is stream
    if stream:
        assert body["stream_options"]["include_usage"] is True, "include_usage must be forced upstream (P8)"
    return body  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_text_non_stream(engine: EngineServer, provider: FakeProvider, route: Any, mode: str) -> None:
    provider.reply(text="It is sunny in Paris.", usage=RICH_USAGE)
    message = anthropic_create(engine, mode, model=route[0], max_tokens=300, messages=USER_MESSAGES)
    assert message.type == "message" and message.role == "assistant"
    assert message.model == route[0]
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "It is sunny in Paris."
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    _assert_rich_usage(message.usage)
    _assert_translated_upstream(provider, route, stream=False)


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_stream_get_final_message(ant: anthropic.Anthropic, provider: FakeProvider, chunking: str, route: Any) -> None:
    provider.reply(text="It is sunny in Paris today.", usage=RICH_USAGE)
    with ant.messages.stream(model=route[0], max_tokens=300, messages=USER_MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "It is sunny in Paris today."
    assert [block.type for block in final.content] == ["text"]
    assert final.content[0].text == "It is sunny in Paris today."
    assert final.stop_reason == "end_turn"
    _assert_rich_usage(final.usage)
    _assert_translated_upstream(provider, route, stream=True)


@pytest.mark.parametrize("mode", MODES)
def test_stream_raw_events(engine: EngineServer, provider: FakeProvider, chunking: str, mode: str) -> None:
    provider.reply(text="Hello there.", usage=RICH_USAGE)
    events = anthropic_create(engine, mode, model=MODEL, max_tokens=300, messages=USER_MESSAGES, stream=True)
    kinds = [event.type for event in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert kinds.count("message_start") == 1, "exactly one message_start"
    delta = [event for event in events if event.type == "message_delta"][-1]
    assert delta.usage.input_tokens == RICH_USAGE.input, "the real input count reaches the client"
    assert delta.usage.output_tokens == RICH_USAGE.output


def test_tools_non_stream(engine: EngineServer, provider: FakeProvider) -> None:
    provider.reply(text="Let me check both.", tool_calls=WEATHER_CALLS)
    message = anthropic_create(
        engine, "sync", model=MODEL, max_tokens=300, messages=USER_MESSAGES,
        tools=anthropic_tools("get_weather", "get_time"),
    )
    assert message.stop_reason == "tool_use"
    assert [block.type for block in message.content] == ["text", "tool_use", "tool_use"]
    assert [(block.name, block.input) for block in message.content[1:]] == WEATHER_CALLS
    assert all(block.id for block in message.content[1:])
    upstream = _assert_translated_upstream(provider, stream=False)
    assert [tool["function"]["name"] for tool in upstream["tools"]] == ["get_weather", "get_time"]
    assert all(tool["type"] == "function" for tool in upstream["tools"])


def test_p5_parallel_tool_calls_stream(ant: anthropic.Anthropic, provider: FakeProvider, chunking: str) -> None:
    """Each OpenAI tool index opens its own tool_use block (P5), arguments parse to the inputs."""
    provider.reply(text="Let me check both.", tool_calls=WEATHER_CALLS)
    with ant.messages.stream(
        model=MODEL, max_tokens=300, messages=USER_MESSAGES, tools=anthropic_tools("get_weather", "get_time")
    ) as stream:
        final = stream.get_final_message()
    assert [block.type for block in final.content] == ["text", "tool_use", "tool_use"]
    assert final.content[0].text == "Let me check both."
    assert [(block.name, block.input) for block in final.content[1:]] == WEATHER_CALLS
    assert final.stop_reason == "tool_use"


def test_p7_tool_call_with_finish_stop_is_tool_use(
    ant: anthropic.Anthropic, provider: FakeProvider, chunking: str
) -> None:
    """Backends that report finish_reason "stop" with tool calls: the client must still see tool_use."""
    provider.reply(tool_calls=WEATHER_CALLS[:1], wire_stop="stop")
    with ant.messages.stream(model=MODEL, max_tokens=300, messages=USER_MESSAGES) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"


def test_thinking_from_reasoning_content_non_stream(ant: anthropic.Anthropic, provider: FakeProvider) -> None:
    provider.reply(thinking="The user wants the Paris weather.", text="Sunny.")
    message = ant.messages.create(model=MODEL, max_tokens=300, messages=USER_MESSAGES)
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "The user wants the Paris weather."
    assert message.content[1].text == "Sunny."


def test_thinking_from_reasoning_content_stream(
    ant: anthropic.Anthropic, provider: FakeProvider, chunking: str
) -> None:
    provider.reply(thinking="Plan: look it up.", text="Sunny.", tool_calls=WEATHER_CALLS[:1])
    with ant.messages.stream(model=MODEL, max_tokens=300, messages=USER_MESSAGES) as stream:
        final = stream.get_final_message()
    assert [block.type for block in final.content] == ["thinking", "text", "tool_use"]
    assert final.content[0].thinking == "Plan: look it up."
    assert final.content[2].input == WEATHER_CALLS[0][1]


@pytest.mark.parametrize(("stop", "stop_reason"), [("end", "end_turn"), ("max_tokens", "max_tokens")])
def test_stop_reason_non_stream(ant: anthropic.Anthropic, provider: FakeProvider, stop: str, stop_reason: str) -> None:
    provider.reply(text="Partial", stop=stop)
    assert ant.messages.create(model=MODEL, max_tokens=300, messages=USER_MESSAGES).stop_reason == stop_reason


ERRORS = [
    (503, anthropic.OverloadedError, 529, "overloaded_error"),
    (429, anthropic.RateLimitError, 429, "rate_limit_error"),
    (400, anthropic.BadRequestError, 400, "invalid_request_error"),
]


@pytest.mark.parametrize("stream", [False, True], ids=["non_stream", "stream"])
@pytest.mark.parametrize(("upstream_status", "error_class", "status", "error_type"), ERRORS)
def test_upstream_error_before_first_byte(
    ant: anthropic.Anthropic, provider: FakeProvider, stream: bool,
    upstream_status: int, error_class: type, status: int, error_type: str,
) -> None:
    """docs/protocol-rules.md#error-kinds: OpenAI 503 → Anthropic 529 overloaded_error (503 would be
    the SDK's ServiceUnavailableError, not OverloadedError)."""
    provider.reply(error=(upstream_status, None), headers={"retry-after": "3"})
    with pytest.raises(error_class) as caught:
        if stream:
            with ant.messages.stream(model=MODEL, max_tokens=300, messages=USER_MESSAGES) as events:
                events.get_final_message()
        else:
            ant.messages.create(model=MODEL, max_tokens=300, messages=USER_MESSAGES)
    assert caught.value.status_code == status
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == error_type
    assert caught.value.response.headers.get("retry-after") == "3"


def test_midstream_error_raises_api_status_error(
    ant: anthropic.Anthropic, provider: FakeProvider, chunking: str
) -> None:
    provider.reply(text="This will be cut off", fail_midstream=True)
    with pytest.raises(anthropic.APIStatusError) as caught:
        with ant.messages.stream(model=MODEL, max_tokens=300, messages=USER_MESSAGES) as stream:
            stream.get_final_message()
    assert caught.value.status_code == 200, "after the headers, errors are in-band: event: error"
    assert caught.value.body["type"] == "error"


@pytest.mark.parametrize("drop_connection", [False, True], ids=["clean_eof", "connection_dropped"])
def test_truncated_upstream_stream_is_an_error(
    ant: anthropic.Anthropic, provider: FakeProvider, chunking: str, drop_connection: bool
) -> None:
    provider.reply(text="This answer never ends", truncate_after_events=3, drop_connection=drop_connection)
    with pytest.raises(anthropic.APIStatusError):
        with ant.messages.stream(model=MODEL, max_tokens=300, messages=USER_MESSAGES) as stream:
            stream.get_final_message()


@pytest.mark.parametrize("model", ["gpt-5.1", "groq:llama-3.3-70b"])
def test_count_tokens_answered_locally(ant: anthropic.Anthropic, provider: FakeProvider, model: str) -> None:
    counted = ant.messages.count_tokens(model=model, messages=USER_MESSAGES, tools=anthropic_tools("get_weather"))
    assert counted.input_tokens > 0
    assert provider.exchanges == [], "OpenAI backends have no count_tokens: nothing may go upstream"


def test_p19_non_stream_body_always_has_stop_sequence(ant: anthropic.Anthropic, provider: FakeProvider) -> None:
    """Claude Code rejects a Messages response without stop_sequence; the SDK model would hide it."""
    provider.reply(text="Done.")
    raw = ant.messages.with_raw_response.create(model=MODEL, max_tokens=300, messages=USER_MESSAGES)
    body = json.loads(raw.http_response.content)
    assert "stop_sequence" in body and body["stop_sequence"] is None


def test_p9_tool_calls_only_give_no_empty_text_block(ant: anthropic.Anthropic, provider: FakeProvider) -> None:
    """The OpenAI message has content "" or null next to tool calls: no empty text block may appear."""
    provider.reply(text="", tool_calls=WEATHER_CALLS)
    message = ant.messages.create(model=MODEL, max_tokens=300, messages=USER_MESSAGES)
    assert [block.type for block in message.content] == ["tool_use", "tool_use"]
