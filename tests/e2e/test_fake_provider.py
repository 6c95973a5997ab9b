"""The fake provider itself answers in each provider's real wire format — checked with the SDKs'
own pydantic models and the stream grammars — so the end-to-end tests measure the engine, not
a lenient fake."""

from typing import Any, Dict

import anthropic
import httpx
import openai
import pytest
from e2e_support import RICH_USAGE, USER_MESSAGES, WEATHER_CALLS
from fakes import FakeProvider
from pydantic import TypeAdapter
from stream_grammars import anthropic_final_usage, check_anthropic_stream, check_openai_stream

SCENARIOS: Dict[str, Dict[str, Any]] = {
    "text": {"text": "Hello."},
    "everything": {"thinking": "Hmm.", "text": "Checking.", "tool_calls": WEATHER_CALLS},
    "no_arg_tool": {"tool_calls": [("list_files", {})]},
}
ANTHROPIC_HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}


@pytest.fixture
def direct(provider: FakeProvider) -> Any:
    with httpx.Client(base_url=provider.root_url, timeout=10) as client:
        yield client


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_anthropic_wire_is_valid(direct: httpx.Client, provider: FakeProvider, scenario: str) -> None:
    body = {"model": "claude-sonnet-4-6", "max_tokens": 50, "messages": USER_MESSAGES}
    provider.reply(usage=RICH_USAGE, **SCENARIOS[scenario])
    provider.reply(usage=RICH_USAGE, **SCENARIOS[scenario])
    message = anthropic.types.Message.model_validate(direct.post("/v1/messages", json=body).json(), strict=True)
    raw = direct.post("/v1/messages", json={**body, "stream": True}, headers=ANTHROPIC_HEADERS).content
    summary = check_anthropic_stream(raw)
    adapter: TypeAdapter[Any] = TypeAdapter(anthropic.types.RawMessageStreamEvent)
    for event in summary.events:
        if event["type"] != "ping":  # pings are not part of RawMessageStreamEvent
            adapter.validate_python(event)
    assert summary.block_types == [block.type for block in message.content]
    assert anthropic_final_usage(summary.events)["output_tokens"] == message.usage.output_tokens == RICH_USAGE.output
    assert message.usage.cache_read_input_tokens == RICH_USAGE.cache_read


@pytest.mark.parametrize("include_usage", [True, False])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_openai_wire_is_valid(direct: httpx.Client, provider: FakeProvider, scenario: str, include_usage: bool) -> None:
    body: Dict[str, Any] = {"model": "gpt-5.1", "messages": USER_MESSAGES}
    provider.reply(usage=RICH_USAGE, **SCENARIOS[scenario])
    provider.reply(usage=RICH_USAGE, **SCENARIOS[scenario])
    completion = openai.types.chat.ChatCompletion.model_validate(direct.post("/v1/chat/completions", json=body).json())
    assert completion.usage is not None and completion.usage.prompt_tokens == RICH_USAGE.prompt_tokens
    stream_body = {**body, "stream": True, "stream_options": {"include_usage": include_usage}}
    raw = direct.post("/v1/chat/completions", json=stream_body).content
    stream = check_openai_stream(raw, include_usage=include_usage)
    for chunk in stream.chunks:
        openai.types.chat.ChatCompletionChunk.model_validate(chunk)
    assert stream.finish_reason == completion.choices[0].finish_reason


def test_records_requests_and_models(direct: httpx.Client, provider: FakeProvider) -> None:
    openai_models = direct.get("/v1/models").json()
    anthropic_models = direct.get("/v1/models", headers=ANTHROPIC_HEADERS).json()
    assert [openai.types.Model.model_validate(m).id for m in openai_models["data"]]
    assert [anthropic.types.ModelInfo.model_validate(m).id for m in anthropic_models["data"]]
    assert [request.path for request in provider.requests] == ["/v1/models", "/v1/models"]
    assert provider.requests[1].header("X-Api-Key") == "k"


def test_unscripted_call_is_a_loud_error(direct: httpx.Client, provider: FakeProvider) -> None:
    response = direct.post("/v1/messages", json={"model": "claude-x", "max_tokens": 5, "messages": USER_MESSAGES})
    assert response.status_code == 500 and "no reply scripted" in response.text
