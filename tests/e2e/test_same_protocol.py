"""Same-protocol routes (OpenAI client → OpenAI backend, Anthropic client → Anthropic backend).

The same-protocol fast path (docs/architecture.md#plan_call-and-plan): only the model field and the
credentials change; request and response bytes — stream bytes included — go through unchanged.
Compared here byte for byte with what the client sent and what the fake provider wrote.
"""

import json
from typing import Any, Dict

import anthropic
import httpx
import openai
import pytest
from e2e_support import USER_MESSAGES, WEATHER_CALLS, anthropic_tools, assert_upstream_credentials, openai_tools
from fakes import EngineServer, FakeProvider
from sdk_clients import anthropic_client, openai_client

# Odd spacing, key order and unknown fields: all must survive untouched.
OPENAI_BODY = (
    b'{ "model" :"gpt-5.1",  "messages":[{"role":"user","content":"Caf\\u00e9 au lait?"}],'
    b'"temperature":0.25, "x_vendor_extension":{"keep":[1,2.50,"three"]}}'
)
ANTHROPIC_BODY = (
    b'{"max_tokens":   512, "model":"claude-sonnet-4-6","messages":[{"role":"user","content":'
    b'[{"type":"text","text":"Bonjour","cache_control":{"type":"ephemeral"}}]}],"metadata":{"user_id":"u-1"}}'
)
ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01", "anthropic-beta": "prompt-caching-2024-07-31"}


def _with_stream(body: bytes) -> bytes:
    return body[:-1] + b', "stream": true}'


def test_openai_request_bytes_unchanged(raw_http: httpx.Client, provider: FakeProvider) -> None:
    provider.reply(text="Oui.")
    response = raw_http.post("/v1/chat/completions", content=OPENAI_BODY, headers={"authorization": "Bearer router"})
    assert response.status_code == 200
    request = provider.last.request
    assert request.path == "/v1/chat/completions"
    assert request.raw_body == OPENAI_BODY, "model unchanged → the body goes upstream byte for byte"
    assert_upstream_credentials(request, "openai")
    assert response.content == provider.last.sent_body


def test_openai_prefix_route_changes_only_the_model(raw_http: httpx.Client, provider: FakeProvider) -> None:
    provider.reply(text="Oui.")
    body = OPENAI_BODY.replace(b'"gpt-5.1"', b'"groq:llama-3.3-70b"')
    raw_http.post("/v1/chat/completions", content=body, headers={"authorization": "Bearer router"})
    request = provider.last.request
    assert request.json == {**json.loads(body), "model": "llama-3.3-70b"}
    assert request.raw_body == body.replace(b'"groq:llama-3.3-70b"', b'"llama-3.3-70b"'), "other bytes kept"
    assert_upstream_credentials(request, "groq")


@pytest.mark.parametrize(
    "auth", [{"x-api-key": "router"}, {"authorization": "Bearer router"}], ids=["x_api_key", "bearer"]
)
def test_p21_anthropic_accepts_both_credential_styles(
    raw_http: httpx.Client, provider: FakeProvider, auth: Any
) -> None:
    """anthropic 0.x sends x-api-key, 2.x sends Authorization: Bearer — both replaced (docs/pitfalls.md#p21)."""
    provider.reply(text="Bonjour.")
    response = raw_http.post("/v1/messages", content=ANTHROPIC_BODY, headers={**ANTHROPIC_HEADERS, **auth})
    assert response.status_code == 200
    request = provider.last.request
    assert request.path == "/v1/messages"
    assert request.raw_body == ANTHROPIC_BODY
    assert_upstream_credentials(request, "anthropic")
    assert request.header("anthropic-version") == "2023-06-01", "the client's version is forwarded"
    assert request.header("anthropic-beta") == "prompt-caching-2024-07-31"
    assert response.content == provider.last.sent_body


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        ("/v1/chat/completions", OPENAI_BODY, {"authorization": "Bearer router"}),
        ("/v1/messages?beta=true", ANTHROPIC_BODY, {**ANTHROPIC_HEADERS, "x-api-key": "router"}),
    ],
    ids=["openai", "anthropic"],
)
def test_stream_bytes_forwarded_unchanged(
    raw_http: httpx.Client, provider: FakeProvider, chunking: str, path: str, body: bytes, headers: Dict[str, str]
) -> None:
    provider.reply(text="Streaming, byte for byte.", tool_calls=WEATHER_CALLS[:1], thinking="hmm, ok")
    with raw_http.stream("POST", path, content=_with_stream(body), headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        received = b"".join(response.iter_raw())
    assert received == provider.last.sent_body
    assert provider.last.request.raw_body == _with_stream(body)


def test_openai_sdk_stream_bytes_and_parse(oai: openai.OpenAI, provider: FakeProvider, chunking: str) -> None:
    provider.reply(text="Hello from the same protocol.", tool_calls=WEATHER_CALLS)
    with oai.chat.completions.with_streaming_response.create(
        model="gpt-5.1", messages=USER_MESSAGES, tools=openai_tools("get_weather", "get_time"), stream=True,
        stream_options={"include_usage": True},
    ) as response:
        received = b"".join(response.iter_bytes())
    assert received == provider.last.sent_body
    sent = provider.last.request.json
    assert sent["model"] == "gpt-5.1" and sent["stream_options"] == {"include_usage": True}
    assert_upstream_credentials(provider.last.request, "openai")


def test_openai_sdk_stream_helper(oai: openai.OpenAI, provider: FakeProvider, chunking: str) -> None:
    provider.reply(text="Checking.", tool_calls=WEATHER_CALLS)
    with oai.chat.completions.stream(
        model="groq:llama-3.3-70b", messages=USER_MESSAGES, tools=openai_tools("get_weather", "get_time")
    ) as stream:
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert [(call.function.name, json.loads(call.function.arguments)) for call in calls] == WEATHER_CALLS
    assert provider.last.request.json["model"] == "llama-3.3-70b"


def test_openai_sdk_non_stream_raw_response(oai: openai.OpenAI, provider: FakeProvider) -> None:
    provider.reply(text="Plain.")
    raw = oai.chat.completions.with_raw_response.create(model="gpt-5.1", messages=USER_MESSAGES)
    assert raw.http_response.content == provider.last.sent_body
    assert raw.parse().choices[0].message.content == "Plain."
    assert provider.last.request.json == {"model": "gpt-5.1", "messages": USER_MESSAGES}


def test_anthropic_sdk_stream_bytes(ant: anthropic.Anthropic, provider: FakeProvider, chunking: str) -> None:
    provider.reply(text="Bonjour.", tool_calls=WEATHER_CALLS, thinking="Let me think.")
    with ant.messages.with_streaming_response.create(
        model="claude-sonnet-4-6", max_tokens=512, messages=USER_MESSAGES, stream=True,
        tools=anthropic_tools("get_weather", "get_time"),
    ) as response:
        received = b"".join(response.iter_bytes())
    assert received == provider.last.sent_body
    request = provider.last.request
    assert_upstream_credentials(request, "anthropic")
    assert request.header("anthropic-version") == "2026-10-21", "anthropic 2.x's own version, forwarded"


def test_anthropic_sdk_stream_helper(ant: anthropic.Anthropic, provider: FakeProvider, chunking: str) -> None:
    provider.reply(text="Let me check.", tool_calls=WEATHER_CALLS, thinking="Two tools.")
    with ant.messages.stream(
        model="sonnet", max_tokens=512, messages=USER_MESSAGES, tools=anthropic_tools("get_weather", "get_time")
    ) as stream:
        final = stream.get_final_message()
    assert [block.type for block in final.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert [(block.name, block.input) for block in final.content[2:]] == WEATHER_CALLS
    assert final.content[0].signature, "same protocol: the real signature survives"
    assert provider.last.request.json["model"] == "claude-sonnet-4-6", "shortcut expanded upstream"


def test_anthropic_sdk_non_stream(ant: anthropic.Anthropic, provider: FakeProvider) -> None:
    provider.reply(text="Bonjour.")
    raw = ant.messages.with_raw_response.create(model="claude-sonnet-4-6", max_tokens=512, messages=USER_MESSAGES)
    assert raw.http_response.content == provider.last.sent_body
    assert raw.parse().content[0].text == "Bonjour."
    assert provider.last.request.json == {"model": "claude-sonnet-4-6", "max_tokens": 512, "messages": USER_MESSAGES}


def test_anthropic_count_tokens_forwarded(ant: anthropic.Anthropic, provider: FakeProvider) -> None:
    provider.count_tokens_result = 1234
    counted = ant.messages.count_tokens(model="claude-sonnet-4-6", messages=USER_MESSAGES)
    assert counted.input_tokens == 1234
    assert provider.last.request.path == "/v1/messages/count_tokens"
    assert_upstream_credentials(provider.last.request, "anthropic")


@pytest.mark.parametrize("stream", [False, True], ids=["non_stream", "stream"])
def test_anthropic_error_forwarded_unchanged(ant: anthropic.Anthropic, provider: FakeProvider, stream: bool) -> None:
    provider.reply(error=(529, None))
    with pytest.raises(anthropic.OverloadedError) as caught:
        ant.messages.create(model="claude-sonnet-4-6", max_tokens=512, messages=USER_MESSAGES, stream=stream)
    assert caught.value.status_code == 529
    assert caught.value.response.content == provider.last.sent_body


def test_openai_error_forwarded_unchanged(oai: openai.OpenAI, provider: FakeProvider) -> None:
    provider.reply(error=(429, None), headers={"retry-after": "2"})
    with pytest.raises(openai.RateLimitError) as caught:
        oai.chat.completions.create(model="gpt-5.1", messages=USER_MESSAGES)
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["retry-after"] == "2"
    assert caught.value.response.content == provider.last.sent_body


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_midstream_error_passes_through(
    engine: EngineServer, provider: FakeProvider, chunking: str, protocol: str
) -> None:
    provider.reply(text="Cut off soon", fail_midstream=True)
    if protocol == "openai":
        with openai_client(engine) as client:
            with pytest.raises(openai.APIError):
                list(client.chat.completions.create(model="gpt-5.1", messages=USER_MESSAGES, stream=True))
    else:
        with anthropic_client(engine) as client:
            with pytest.raises(anthropic.APIStatusError):
                list(client.messages.create(
                    model="claude-sonnet-4-6", max_tokens=9, messages=USER_MESSAGES, stream=True
                ))
