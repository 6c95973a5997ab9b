"""The official SDKs (sync and async, plain, streaming, tools) through the real proxy process:
same-protocol, translated and ``backend:``-prefixed routes."""

from typing import List

import anthropic
import httpx
import openai
import pytest
from fakes import FakeProvider
from proxy_clients import USER, anthropic_call, assert_forwarded_with_backend_key, openai_call, tools_for
from proxy_process import ProxyProcess

# (model the client sends, backend that must answer, upstream path, model the backend must see)
OPENAI_CLIENT_ROUTES = [
    ("gpt-5.1", "openai", "/v1/chat/completions", "gpt-5.1"),
    ("claude-sonnet-4-6", "anthropic", "/v1/messages", "claude-sonnet-4-6"),
    ("groq:llama-3.3-70b", "groq", "/v1/chat/completions", "llama-3.3-70b"),
]
ANTHROPIC_CLIENT_ROUTES = [
    ("claude-sonnet-4-6", "anthropic", "/v1/messages", "claude-sonnet-4-6"),
    ("gpt-5.1", "openai", "/v1/chat/completions", "gpt-5.1"),
    ("groq:llama-3.3-70b", "groq", "/v1/chat/completions", "llama-3.3-70b"),
]
MODES = ["sync", "async"]
TEXT = "Sunny, 21 degrees, light wind from the west."


def _route_ids(routes: List[tuple]) -> List[str]:
    return [f"{backend}" for _, backend, _, _ in routes]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("model", "backend", "path", "upstream_model"), OPENAI_CLIENT_ROUTES,
                         ids=_route_ids(OPENAI_CLIENT_ROUTES))
def test_openai_sdk_tool_call(proxy: ProxyProcess, provider: FakeProvider, mode: str, model: str, backend: str,
                              path: str, upstream_model: str) -> None:
    provider.reply(tool_calls=[("get_weather", {"city": "Paris"})])
    completion = openai_call(proxy.url, mode, model=model, messages=USER, tools=tools_for("openai"))
    openai.types.chat.ChatCompletion.model_validate(completion.model_dump())
    # translated answers carry the client's model name; same-protocol ones the backend's, untouched
    assert completion.model == (model if path == "/v1/messages" else upstream_model)
    [call] = completion.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather" and call.function.arguments.replace(" ", "") == '{"city":"Paris"}'
    assert completion.choices[0].finish_reason == "tool_calls"
    request = provider.last.request
    assert_forwarded_with_backend_key(request, backend, path)
    assert request.json["model"] == upstream_model


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("model", "backend", "path", "upstream_model"), OPENAI_CLIENT_ROUTES,
                         ids=_route_ids(OPENAI_CLIENT_ROUTES))
def test_openai_sdk_stream(proxy: ProxyProcess, provider: FakeProvider, chunking: str, mode: str, model: str,
                           backend: str, path: str, upstream_model: str) -> None:
    provider.reply(text=TEXT)
    chunks = openai_call(proxy.url, mode, model=model, messages=USER, stream=True,
                         stream_options={"include_usage": True})
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 18
    assert_forwarded_with_backend_key(provider.last.request, backend, path)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("model", "backend", "path", "upstream_model"), ANTHROPIC_CLIENT_ROUTES,
                         ids=_route_ids(ANTHROPIC_CLIENT_ROUTES))
def test_anthropic_sdk_tool_use(proxy: ProxyProcess, provider: FakeProvider, mode: str, model: str, backend: str,
                                path: str, upstream_model: str) -> None:
    provider.reply(text="Let me look.", tool_calls=[("get_weather", {"city": "Paris"})])
    message = anthropic_call(proxy.url, mode, model=model, max_tokens=256, messages=USER,
                             tools=tools_for("anthropic"))
    anthropic.types.Message.model_validate(message.model_dump())
    assert message.model == (upstream_model if path == "/v1/messages" else model)
    assert message.stop_reason == "tool_use"
    assert [block.type for block in message.content] == ["text", "tool_use"]
    assert message.content[1].input == {"city": "Paris"}  # type: ignore[union-attr]
    request = provider.last.request
    assert_forwarded_with_backend_key(request, backend, path)
    assert request.json["model"] == upstream_model


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("model", "backend", "path", "upstream_model"), ANTHROPIC_CLIENT_ROUTES,
                         ids=_route_ids(ANTHROPIC_CLIENT_ROUTES))
def test_anthropic_sdk_stream(proxy: ProxyProcess, provider: FakeProvider, chunking: str, mode: str, model: str,
                              backend: str, path: str, upstream_model: str) -> None:
    provider.reply(text=TEXT)
    events = anthropic_call(proxy.url, mode, model=model, max_tokens=256, messages=USER, stream=True)
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta")
    assert text == TEXT
    assert events[0].type == "message_start" and events[-1].type == "message_stop"
    assert_forwarded_with_backend_key(provider.last.request, backend, path)


def test_anthropic_sdk_stream_helper_final_message(ant: anthropic.Anthropic, provider: FakeProvider,
                                                   chunking: str) -> None:
    provider.reply(text=TEXT, tool_calls=[("get_weather", {"city": "Paris"})])
    with ant.messages.stream(model="gpt-5.1", max_tokens=64, messages=USER, tools=tools_for("anthropic")) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use" and final.content[-1].input == {"city": "Paris"}  # type: ignore[union-attr]


@pytest.mark.parametrize(("protocol", "model", "path"), [
    ("anthropic", "claude-sonnet-4-6", "/v1/messages"),
    ("openai", "gpt-5.1", "/v1/chat/completions"),
])
def test_same_protocol_stream_is_forwarded_byte_for_byte(proxy: ProxyProcess, provider: FakeProvider, chunking: str,
                                                         protocol: str, model: str, path: str) -> None:
    provider.reply(text=TEXT)
    body = {"model": model, "max_tokens": 64, "messages": USER, "stream": True}
    with httpx.stream("POST", proxy.url + path, json=body, headers={"anthropic-version": "2023-06-01"}) as response:
        received = b"".join(response.iter_raw())
    assert response.status_code == 200
    assert received == provider.last.sent_body


def test_count_tokens_forwarded_or_estimated(ant: anthropic.Anthropic, provider: FakeProvider) -> None:
    provider.count_tokens_result = 1234
    assert ant.messages.count_tokens(model="claude-sonnet-4-6", messages=USER).input_tokens == 1234
    estimated = ant.messages.count_tokens(model="gpt-5.1", messages=USER)  # OpenAI backend: answered locally
    assert 0 < estimated.input_tokens < 100
    assert [r.path for r in provider.requests] == ["/v1/messages/count_tokens"]


def test_query_string_is_ignored_for_routing(proxy: ProxyProcess, provider: FakeProvider) -> None:
    provider.reply(text="hi")
    response = httpx.post(proxy.url + "/v1/messages?beta=true", headers={"anthropic-version": "2023-06-01"},
                          json={"model": "claude-sonnet-4-6", "max_tokens": 8, "messages": USER})
    assert response.status_code == 200 and response.json()["content"][0]["text"] == "hi"
    # Routed on the path alone; the query's beta parameter goes on (docs/protocol-rules.md#forwarded-headers).
    assert provider.last.request.path == "/v1/messages?beta=true"


def test_alias_routes_to_its_target(oai: openai.OpenAI, provider: FakeProvider) -> None:
    provider.reply(text="quick")
    completion = oai.chat.completions.create(model="fast", messages=USER)
    assert completion.choices[0].message.content == "quick"
    assert provider.last.request.json["model"] == "llama-3.1-8b-instant"
