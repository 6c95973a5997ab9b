"""The fake provider itself answers in each provider's real wire format — checked with the SDKs'
own pydantic models and the stream grammars — so the end-to-end tests measure the engine, not
a lenient fake."""

import json
from typing import Any, Dict, List

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


# The agent-loop mode: the same decisions in each protocol, from the request alone.
AGENT_TOOL, AGENT_INPUT, AGENT_ANSWER = "Bash", {"command": "echo router-ok"}, "It printed router-ok."


def _anthropic_turn(tools: List[str], with_result: bool) -> Dict[str, Any]:
    messages: List[Dict[str, Any]] = [{"role": "user", "content": "run it"}]
    if with_result:
        messages += [
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": AGENT_TOOL,
                                               "input": AGENT_INPUT}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "router-ok"}]},
        ]
    schema = {"type": "object", "properties": {}}
    return {"model": "claude-sonnet-4-6", "max_tokens": 50, "messages": messages,
            "tools": [{"name": name, "input_schema": schema} for name in tools]}


def _openai_turn(tools: List[str], with_result: bool) -> Dict[str, Any]:
    messages: List[Dict[str, Any]] = [{"role": "user", "content": "run it"}]
    if with_result:
        call = {"id": "call_1", "type": "function", "function": {"name": AGENT_TOOL, "arguments": "{}"}}
        messages += [{"role": "assistant", "content": None, "tool_calls": [call]},
                     {"role": "tool", "tool_call_id": "call_1", "content": "router-ok"}]
    return {"model": "gpt-5.1", "messages": messages,
            "tools": [{"type": "function", "function": {"name": name, "parameters": {}}} for name in tools]}


def _anthropic_outcome(response: httpx.Response) -> Any:
    if response.status_code != 200:
        return response.status_code, response.json()["error"]["message"]
    message = anthropic.types.Message.model_validate(response.json())
    calls = [(block.name, block.input) for block in message.content if block.type == "tool_use"]
    return calls or "".join(block.text for block in message.content if block.type == "text")


def _openai_outcome(response: httpx.Response) -> Any:
    if response.status_code != 200:
        return response.status_code, response.json()["error"]["message"]
    message = openai.types.chat.ChatCompletion.model_validate(response.json()).choices[0].message
    calls = [(call.function.name, json.loads(call.function.arguments)) for call in message.tool_calls or ()
             if call.type == "function"]
    return calls or message.content


AGENT_PROTOCOLS = {
    "anthropic": ("/v1/messages", _anthropic_turn, _anthropic_outcome),
    "openai": ("/v1/chat/completions", _openai_turn, _openai_outcome),
}


@pytest.mark.parametrize("protocol", sorted(AGENT_PROTOCOLS))
def test_agent_loop_calls_the_tool_then_answers(direct: httpx.Client, provider: FakeProvider, protocol: str) -> None:
    path, turn, outcome = AGENT_PROTOCOLS[protocol]
    provider.agent_loop(AGENT_TOOL, AGENT_INPUT, AGENT_ANSWER, side_text="a title")
    first = outcome(direct.post(path, json=turn(["Read", AGENT_TOOL], with_result=False)))
    final = outcome(direct.post(path, json=turn(["Read", AGENT_TOOL], with_result=True)))
    side = outcome(direct.post(path, json=turn([], with_result=False)))
    assert (first, final, side) == ([(AGENT_TOOL, AGENT_INPUT)], AGENT_ANSWER, "a title")


@pytest.mark.parametrize("protocol", sorted(AGENT_PROTOCOLS))
def test_agent_loop_refuses_a_request_without_its_tool(
    direct: httpx.Client, provider: FakeProvider, protocol: str
) -> None:
    path, turn, outcome = AGENT_PROTOCOLS[protocol]
    provider.agent_loop(AGENT_TOOL, AGENT_INPUT, AGENT_ANSWER)
    status, message = outcome(direct.post(path, json=turn(["Read", "Write"], with_result=False)))
    assert status == 400 and "'Bash' is not among the request's tools (Read, Write)" in message


def test_queued_replies_go_before_the_agent_loop(direct: httpx.Client, provider: FakeProvider) -> None:
    provider.agent_loop(AGENT_TOOL, AGENT_INPUT, AGENT_ANSWER)
    provider.reply(text="scripted first")
    answers = [_openai_outcome(direct.post("/v1/chat/completions", json=_openai_turn([AGENT_TOOL], True)))
               for _ in range(2)]
    assert answers == ["scripted first", AGENT_ANSWER]
