"""OpenAI SDK (current major) ``client.responses`` → engine → every backend kind, over real sockets.

Three backend kinds answer a Responses client: an Anthropic backend (Responses → Chat → Messages
and back, composed), a Chat backend (``groq``, translated) and a backend serving Responses itself
(``openai``, forwarded unchanged). Each test runs against all three with strict SDK validation;
stream tests also run with the upstream written one byte per HTTP chunk (``chunking``). The
reverse direction — Chat and Anthropic clients calling a model served only on /responses — is at
the end of the file.
"""

import asyncio
import json
from typing import Any, Dict, List

import anthropic
import httpx
import openai
import pytest
from e2e_support import RICH_USAGE, WEATHER_CALLS, anthropic_tools, assert_upstream_credentials, openai_tools
from fakes import EngineServer, FakeProvider, ToolCall
from sdk_clients import async_openai_client
from stream_grammars import check_responses_stream

# model → (backend, upstream path, upstream format)
BACKENDS = {
    "claude-sonnet-4-6": ("anthropic", "/v1/messages", "messages"),
    "groq:llama-3.3-70b": ("groq", "/v1/chat/completions", "chat"),
    "gpt-5.1": ("openai", "/v1/responses", "responses"),
}
MODELS = list(BACKENDS)
QUESTION = "What is the weather in Paris, and what time is it there?"
RESPONSES_TOOLS = [
    {"type": "function", "name": tool["function"]["name"], "description": tool["function"]["description"],
     "parameters": tool["function"]["parameters"], "strict": False}
    for tool in openai_tools("get_weather", "get_time")
]


def _upstream_body(provider: FakeProvider, model: str, stream: bool) -> Dict[str, Any]:
    backend, path, _ = BACKENDS[model]
    request = provider.last.request
    assert request.path == path
    assert_upstream_credentials(request, backend)
    assert request.json.get("stream", False) is stream
    return request.json  # type: ignore[no-any-return]


def _assert_usage(usage: Any) -> None:
    """Responses usage: input includes cache reads and writes; every detail carried."""
    assert usage.input_tokens == RICH_USAGE.prompt_tokens
    assert usage.input_tokens_details.cached_tokens == RICH_USAGE.cache_read
    assert usage.output_tokens == RICH_USAGE.output
    assert usage.output_tokens_details.reasoning_tokens == RICH_USAGE.reasoning
    assert usage.total_tokens == RICH_USAGE.prompt_tokens + RICH_USAGE.output


def _conversation(provider: FakeProvider, model: str) -> List[str]:
    """The text of every turn the backend received, in its own format, in order."""
    body = provider.last.request.json
    fmt = BACKENDS[model][2]
    if fmt == "responses":
        return [_item_text(item) for item in body["input"]]
    texts = [] if fmt == "chat" or "system" not in body else [body["system"]]
    for message in body["messages"]:
        content = message["content"]
        texts.append(content if isinstance(content, str) else "".join(block.get("text", "") for block in content))
    return texts


def _item_text(item: Dict[str, Any]) -> str:
    content = item.get("content")
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [])


# Whole responses --------------------------------------------------------------------------------
@pytest.mark.parametrize("model", MODELS)
def test_create_text(oai: openai.OpenAI, provider: FakeProvider, engine: EngineServer, model: str) -> None:
    provider.reply(text="It is sunny in Paris.", usage=RICH_USAGE)
    response = oai.responses.create(model=model, input=QUESTION, instructions="Be brief.")
    assert response.object == "response" and response.status == "completed"
    assert response.output_text == "It is sunny in Paris."
    assert response.model == model or BACKENDS[model][2] == "responses"
    _assert_usage(response.usage)
    body = _upstream_body(provider, model, stream=False)
    assert "Be brief." in json.dumps(body)
    native = BACKENDS[model][2] == "responses"
    assert engine.plans[-1].translated is not native
    if native:
        assert json.loads(provider.last.sent_body)["id"] == response.id, "a native backend's own response"
    assert engine.stored[-1].response_id == response.id, "the response was kept for previous_response_id"


@pytest.mark.parametrize("model", MODELS)
def test_create_tool_call_then_function_call_output(oai: openai.OpenAI, provider: FakeProvider, model: str) -> None:
    provider.reply(text="Checking both.", tool_calls=WEATHER_CALLS)
    first = oai.responses.create(model=model, input=QUESTION, tools=RESPONSES_TOOLS)
    calls = [item for item in first.output if item.type == "function_call"]
    assert [(call.name, json.loads(call.arguments)) for call in calls] == WEATHER_CALLS
    assert len({call.call_id for call in calls}) == 2
    provider.reply(text="Sunny, 14:00.")
    outputs = [{"type": "function_call_output", "call_id": call.call_id, "output": f"result of {call.name}"}
               for call in calls]
    history = [{"role": "user", "content": QUESTION}, *[item.model_dump(exclude_none=True) for item in first.output]]
    second = oai.responses.create(model=model, input=[*history, *outputs], tools=RESPONSES_TOOLS)
    assert second.output_text == "Sunny, 14:00."
    upstream = json.dumps(provider.last.request.json)
    for call in calls:
        assert call.call_id in upstream and f"result of {call.name}" in upstream


@pytest.mark.parametrize("model", MODELS)
def test_previous_response_id_chain_of_three_turns(oai: openai.OpenAI, provider: FakeProvider, model: str) -> None:
    provider.reply(text="Nice to meet you, Ada.")
    first = oai.responses.create(model=model, input="My name is Ada.", instructions="Be kind.")
    provider.reply(text="Your name is Ada.")
    second = oai.responses.create(model=model, input="What is my name?", previous_response_id=first.id)
    assert _conversation(provider, model)[-3:] == ["My name is Ada.", "Nice to meet you, Ada.", "What is my name?"]
    provider.reply(text="You asked for your name.")
    third = oai.responses.create(model=model, input="What did I ask?", previous_response_id=second.id)
    assert third.output_text == "You asked for your name."
    assert _conversation(provider, model)[-5:] == [
        "My name is Ada.", "Nice to meet you, Ada.", "What is my name?", "Your name is Ada.", "What did I ask?",
    ]
    upstream = json.dumps(provider.last.request.json)
    assert "previous_response_id" not in upstream, "the router expanded the chain itself"
    assert "Be kind." not in upstream, "instructions are not carried over to the next response"


@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "groq:llama-3.3-70b"])
def test_unknown_previous_response_id_is_a_400_naming_it(
    oai: openai.OpenAI, provider: FakeProvider, model: str
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        oai.responses.create(model=model, input="Hi", previous_response_id="resp_never_seen")
    assert "resp_never_seen" in raised.value.message
    assert raised.value.body["param"] == "previous_response_id"  # type: ignore[index]
    assert provider.exchanges == []


def test_unknown_previous_response_id_goes_to_a_native_backend_unchanged(
    oai: openai.OpenAI, provider: FakeProvider
) -> None:
    provider.reply(text="I remember.")
    oai.responses.create(model="gpt-5.1", input="Hi", previous_response_id="resp_kept_by_openai")
    assert provider.last.request.json["previous_response_id"] == "resp_kept_by_openai"


@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "groq:llama-3.3-70b"])
def test_builtin_tool_is_a_400_naming_it(oai: openai.OpenAI, provider: FakeProvider, model: str) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        oai.responses.create(model=model, input="Search the news", tools=[{"type": "web_search"}])
    assert "web_search" in raised.value.message
    assert provider.exchanges == []


@pytest.mark.parametrize("model", MODELS)
def test_upstream_rate_limit_is_a_rate_limit_error(oai: openai.OpenAI, provider: FakeProvider, model: str) -> None:
    provider.reply(error=(429, None), headers={"retry-after": "7"})
    with pytest.raises(openai.RateLimitError) as raised:
        oai.responses.create(model=model, input="Hi")
    assert raised.value.response.headers["retry-after"] == "7"


# Streams ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", MODELS)
def test_stream_helper_get_final_response(
    oai: openai.OpenAI, provider: FakeProvider, engine: EngineServer, chunking: str, model: str
) -> None:
    provider.reply(thinking="Both tools.", text="Checking both.", tool_calls=WEATHER_CALLS, usage=RICH_USAGE)
    with oai.responses.stream(model=model, input=QUESTION, tools=RESPONSES_TOOLS) as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "Checking both." == final.output_text
    assert [item.type for item in final.output] == ["reasoning", "message", "function_call", "function_call"]
    assert [(item.name, json.loads(item.arguments)) for item in final.output[2:]] == WEATHER_CALLS
    _assert_usage(final.usage)
    _upstream_body(provider, model, stream=True)
    assert engine.stored[-1].response_id == final.id


@pytest.mark.parametrize("model", MODELS)
def test_stream_async(engine: EngineServer, provider: FakeProvider, chunking: str, model: str) -> None:
    provider.reply(text="Bonjour.", usage=RICH_USAGE)

    async def run() -> Any:
        async with async_openai_client(engine) as client:
            async with client.responses.stream(model=model, input="Say hello in French") as stream:
                return await stream.get_final_response()

    final = asyncio.run(run())
    assert final.output_text == "Bonjour."
    _assert_usage(final.usage)


@pytest.mark.parametrize("model", MODELS)
def test_stream_previous_response_id_chain(
    oai: openai.OpenAI, provider: FakeProvider, chunking: str, model: str
) -> None:
    texts = ["Nice to meet you, Ada.", "Your name is Ada.", "You asked for your name."]
    inputs = ["My name is Ada.", "What is my name?", "What did I ask?"]
    previous = None
    for text, user in zip(texts, inputs, strict=True):
        provider.reply(text=text)
        extra = {"previous_response_id": previous} if previous else {}
        with oai.responses.stream(model=model, input=user, **extra) as stream:
            previous = stream.get_final_response().id
    assert _conversation(provider, model)[-5:] == [inputs[0], texts[0], inputs[1], texts[1], inputs[2]]


@pytest.mark.parametrize("model", MODELS)
def test_raw_stream_grammar(raw_http: httpx.Client, provider: FakeProvider, chunking: str, model: str) -> None:
    provider.reply(thinking="Hmm.", text="Hello.", tool_calls=[ToolCall("get_time", {"timezone": "UTC"})])
    body = {"model": model, "input": "Hi", "stream": True, "tools": RESPONSES_TOOLS}
    response = raw_http.post("/v1/responses", json=body)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    stream = check_responses_stream(response.content)
    assert stream.terminal == "response.completed" and stream.text == "Hello."


@pytest.mark.parametrize("stream", [False, True])
def test_native_backend_bytes_pass_unchanged(
    raw_http: httpx.Client, provider: FakeProvider, chunking: str, stream: bool
) -> None:
    """The same-format fast path: the backend's bytes reach the client as they were written (the
    model is the backend's own name here, so not even it changes)."""
    provider.reply(thinking="Hmm.", text="Hello.", tool_calls=[ToolCall("get_time", {"timezone": "UTC"})])
    response = raw_http.post("/v1/responses", json={"model": "gpt-5.1", "input": "Hi", "stream": stream})
    assert response.status_code == 200
    assert response.content == provider.last.sent_body
    assert provider.last.request.json == {"model": "gpt-5.1", "input": "Hi", "stream": stream}


@pytest.mark.parametrize("model", MODELS)
def test_stream_cut_midway_ends_in_band(
    oai: openai.OpenAI, provider: FakeProvider, chunking: str, model: str
) -> None:
    provider.reply(text="A long answer that never ends", fail_midstream=True)
    with oai.responses.stream(model=model, input="Hi") as stream:
        kinds = [event.type for event in stream]
        with pytest.raises(RuntimeError, match=r"response\.completed"):
            stream.get_final_response()
    # A native backend's own response.failed passes through; a translated stream ends with the
    # router's in-band error event.
    assert kinds[-1] == ("response.failed" if BACKENDS[model][2] == "responses" else "error"), kinds
    assert "response.completed" not in kinds


@pytest.mark.parametrize("drop_connection", [False, True], ids=["clean_eof", "connection_dropped"])
@pytest.mark.parametrize("model", MODELS)
def test_stream_truncated_upstream_ends_with_an_error_event(
    raw_http: httpx.Client, provider: FakeProvider, chunking: str, model: str, drop_connection: bool
) -> None:
    """No terminal event from upstream: the client's stream ends with one error event, never a fake
    completion — also on the same-format path, where the router adds only that event. The backend
    broke its protocol: a bad gateway, as a cut connection is (docs/errors.md)."""
    provider.reply(text="A long answer that never ends", truncate_after_events=3, drop_connection=drop_connection)
    response = raw_http.post("/v1/responses", json={"model": model, "input": "Hi", "stream": True})
    stream = check_responses_stream(response.content)
    assert stream.terminal is None and stream.error is not None
    assert stream.error["code"] == "bad_gateway"


# Chat and Anthropic clients → a model served only on /responses ------------------------------------
EGRESS_MODEL = "gpt-5-pro"


def test_chat_client_to_responses_only_model(oai: openai.OpenAI, provider: FakeProvider) -> None:
    provider.reply(text="Checking both.", tool_calls=WEATHER_CALLS, usage=RICH_USAGE)
    completion = oai.chat.completions.create(
        model=EGRESS_MODEL, messages=[{"role": "user", "content": QUESTION}],
        tools=openai_tools("get_weather", "get_time"),
    )
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls" and message.content == "Checking both."
    assert [(call.function.name, json.loads(call.function.arguments)) for call in message.tool_calls] == WEATHER_CALLS
    assert completion.usage.prompt_tokens == RICH_USAGE.prompt_tokens
    request = provider.last.request
    assert request.path == "/v1/responses" and request.json["store"] is False
    assert [tool["name"] for tool in request.json["tools"]] == ["get_weather", "get_time"]


def test_chat_client_stream_helper_to_responses_only_model(
    oai: openai.OpenAI, provider: FakeProvider, chunking: str
) -> None:
    provider.reply(thinking="Two tools.", text="Checking.", tool_calls=WEATHER_CALLS, usage=RICH_USAGE)
    with oai.chat.completions.stream(model=EGRESS_MODEL, messages=[{"role": "user", "content": QUESTION}],
                                     tools=openai_tools("get_weather", "get_time"),
                                     stream_options={"include_usage": True}) as stream:
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert [(call.function.name, json.loads(call.function.arguments)) for call in calls] == WEATHER_CALLS
    assert final.choices[0].message.content == "Checking."
    assert final.usage.completion_tokens == RICH_USAGE.output


def test_anthropic_client_to_responses_only_model(
    ant: anthropic.Anthropic, provider: FakeProvider, chunking: str
) -> None:
    provider.reply(thinking="Two tools.", text="Checking.", tool_calls=WEATHER_CALLS, usage=RICH_USAGE)
    with ant.messages.stream(model="openai:gpt-5.1-codex", max_tokens=500,
                             tools=anthropic_tools("get_weather", "get_time"),
                             messages=[{"role": "user", "content": QUESTION}]) as stream:
        final = stream.get_final_message()
    assert [block.type for block in final.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert [(block.name, block.input) for block in final.content[2:]] == WEATHER_CALLS
    assert final.stop_reason == "tool_use"
    assert final.usage.input_tokens == RICH_USAGE.input and final.usage.cache_read_input_tokens == RICH_USAGE.cache_read
    assert provider.last.request.path == "/v1/responses"
    assert provider.last.request.json["max_output_tokens"] == 500
