"""The official SDKs, unmodified and pointed nowhere special, routed by the shim in-process."""

import asyncio
import json
from typing import Any, List

import anthropic
import httpx
import openai
import pytest
from shim_child_support import PLACEHOLDER_KEY, ShimSession, only

PROMPT = [{"role": "user", "content": "What is the weather?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}


def test_openai_sync_tool_call_to_claude(shim: ShimSession) -> None:
    shim.provider.reply(tool_calls=[("get_weather", {"city": "Paris"})])
    client = openai.OpenAI(api_key=PLACEHOLDER_KEY, max_retries=0)
    completion = client.chat.completions.create(model="claude-sonnet-4-6", messages=PROMPT, tools=[WEATHER_TOOL])
    call = completion.choices[0].message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Paris"})
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.usage is not None and completion.usage.prompt_tokens == 37


def test_openai_async_stream_with_tools(shim: ShimSession, chunking: str) -> None:
    shim.provider.reply(text="Checking.", tool_calls=[("get_weather", {"city": "Oslo"})])

    async def run() -> List[Any]:
        client = openai.AsyncOpenAI(api_key=PLACEHOLDER_KEY, max_retries=0)
        stream = await client.chat.completions.create(
            model="claude-sonnet-4-6", messages=PROMPT, tools=[WEATHER_TOOL], stream=True,
            stream_options={"include_usage": True},
        )
        return [chunk async for chunk in stream]

    chunks = asyncio.run(run())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    arguments = "".join(
        tc.function.arguments or "" for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])
    )
    assert text == "Checking." and json.loads(arguments) == {"city": "Oslo"}
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 18
    event = only(shim.telemetry.calls(), "call event")
    assert (event["stream"], event["output_tokens"]) == (True, 18)


def test_openai_with_a_legacy_httpx_client(shim: ShimSession) -> None:
    """openai 3.x still accepts an ``httpx.Client`` (LiteLLM passes one): routed through httpx."""
    shim.provider.reply(text="legacy client")
    client = openai.OpenAI(api_key=PLACEHOLDER_KEY, http_client=httpx.Client(), max_retries=0)
    completion = client.chat.completions.create(model="claude-sonnet-4-6", messages=PROMPT)
    assert completion.choices[0].message.content == "legacy client"


@pytest.mark.parametrize("model", ["gpt-5.1", "groq:llama-3.3-70b"])
def test_anthropic_stream_to_openai_protocol_backends(shim: ShimSession, chunking: str, model: str) -> None:
    shim.provider.reply(text="Hello from elsewhere")
    client = anthropic.Anthropic(api_key=PLACEHOLDER_KEY, max_retries=0)
    with client.messages.stream(model=model, max_tokens=64, messages=PROMPT) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(pieces) == "Hello from elsewhere" and len(pieces) > 1
    assert final.stop_reason == "end_turn" and final.model == model
    assert (final.usage.input_tokens, final.usage.output_tokens) == (37, 18)


def test_anthropic_async_non_stream(shim: ShimSession) -> None:
    shim.provider.reply(text="async hello")

    async def run() -> Any:
        client = anthropic.AsyncAnthropic(api_key=PLACEHOLDER_KEY, max_retries=0)
        return await client.messages.create(model="gpt-5.1", max_tokens=64, messages=PROMPT)

    message = asyncio.run(run())
    assert message.content[0].text == "async hello"


def test_anthropic_count_tokens_on_openai_backend_is_answered_locally(shim: ShimSession) -> None:
    client = anthropic.Anthropic(api_key=PLACEHOLDER_KEY, max_retries=0)
    count = client.messages.count_tokens(model="gpt-5.1", messages=PROMPT)
    assert count.input_tokens > 0
    assert shim.provider.requests == []
    assert only(shim.telemetry.calls())["upstream_host"] == ""


def test_sdk_does_not_retry_a_translation_failure(shim: ShimSession) -> None:
    client = openai.OpenAI(api_key=PLACEHOLDER_KEY, max_retries=2)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="claude-sonnet-4-6", messages=PROMPT, n=3)
    assert len(shim.telemetry.calls()) == 1  # one attempt: x-should-retry: false


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_default_aiohttp_client(shim: ShimSession, sdk: str) -> None:
    pytest.importorskip("aiohttp")
    shim.provider.reply(text="via aiohttp transport")

    async def run() -> str:
        if sdk == "openai":
            async with openai.AsyncOpenAI(api_key=PLACEHOLDER_KEY, http_client=openai.DefaultAioHttpClient(),
                                          max_retries=0) as client:
                stream = await client.chat.completions.create(model="claude-sonnet-4-6", messages=PROMPT, stream=True)
                return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        async with anthropic.AsyncAnthropic(api_key=PLACEHOLDER_KEY, http_client=anthropic.DefaultAioHttpClient(),
                                            max_retries=0) as client:
            message = await client.messages.create(model="gpt-5.1", max_tokens=64, messages=PROMPT)
            return str(message.content[0].text)

    assert asyncio.run(run()) == "via aiohttp transport"
    only(shim.provider.requests, "upstream request")
    only(shim.telemetry.calls(), "call event")  # the aiohttp layer below did not report it again


@pytest.mark.parametrize(("model", "kind"), [("claude-sonnet-4-6", "overloaded"), ("gpt-5.1", "api_error")],
                         ids=["same-protocol", "translated"])
def test_an_error_event_mid_stream_is_the_calls_error_in_its_event(shim: ShimSession, chunking: str,
                                                                    model: str, kind: str) -> None:
    """The SDK raises on the in-band error and closes the stream before its end: the call's event
    said ``client_closed``, and the backend's ``overloaded`` was lost (docs/routing.md#telemetry)."""
    shim.provider.reply(text="partial answer", fail_midstream=True)
    client = anthropic.Anthropic(api_key=PLACEHOLDER_KEY, max_retries=0)
    with pytest.raises(anthropic.APIStatusError):
        with client.messages.stream(model=model, max_tokens=64, messages=PROMPT) as stream:
            list(stream)
    event = only(shim.telemetry.calls(), "call event")
    assert event["error"] == kind, event  # what the backend's error event said
