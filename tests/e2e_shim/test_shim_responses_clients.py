"""Programs that speak the OpenAI Responses API, each in its pinned venv, under ``router shim``, asking
for a Claude model: the OpenAI Agents SDK (its default model class is a Responses model), pydantic-ai
(``openai:MODEL`` is a Responses model) and LangChain's ``ChatOpenAI(use_responses_api=True)``.

No program sets a key or a base URL. Every call is checked on both sides: the program got the text,
the stream, the tool call and the chained answer it asked for; the fake provider got each call as
an Anthropic Messages request, for the Claude model, with the Anthropic backend's key, carrying the
tool's real result and (for ``previous_response_id``) the conversation the shim stored.
"""

import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
from fakes import FakeProvider, RecordedRequest
from pinned_envs import pinned_python
from shim_support import BACKEND_KEYS, ShimResult, run_shim, write_script

from shim.env_names import PLACEHOLDER_API_KEY

MODEL = "claude-sonnet-4-6"
WEATHER = ("get_weather", {"city": "Paris"})
TOOL_RESULT = "weather in Paris: sunny-5"  # what the program's own tool returns: it ran, for real


def _run(program: str, script: str, home: Path, workdir: Path) -> ShimResult:
    ran = run_shim([pinned_python(program), str(write_script(workdir, script))], home, cwd=workdir)
    assert ran.returncode == 0, ran.explain()
    return ran


def _messages_calls(provider: FakeProvider) -> List[RecordedRequest]:
    """The calls that reached the Anthropic backend, each checked for model and key."""
    calls = [request for request in provider.requests if request.path.split("?")[0] == "/v1/messages"]
    for call in calls:
        assert call.json["model"] == MODEL
        assert call.header("x-api-key") == BACKEND_KEYS["anthropic"]
        assert PLACEHOLDER_API_KEY not in str(call.headers)
    return calls


def _texts(body: Dict[str, Any]) -> List[str]:
    """Every text the conversation holds, tool results included, in order."""
    out: List[str] = []
    for message in body["messages"]:
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for block in blocks:
            if block["type"] == "text":
                out.append(block["text"])
            elif block["type"] == "tool_result":
                inner = block.get("content")
                out.append(inner if isinstance(inner, str) else "".join(part.get("text", "") for part in inner or ()))
    return out


def _tool_names(body: Dict[str, Any]) -> List[str]:
    return [tool["name"] for tool in body.get("tools", [])]


def _assert_counted(ran: ShimResult, calls: int) -> None:
    assert f"router shim: {calls} calls, 0 errors" in ran.stderr, ran.explain()


# The OpenAI Agents SDK -----------------------------------------------------------------------
AGENTS_SCRIPT = """
import asyncio
from agents import Agent, Runner, function_tool

@function_tool
def get_weather(city: str) -> str:
    return f"weather in {city}: sunny-{len(city)}"

plain = Agent(name="plain", instructions="Answer briefly.", model="claude-sonnet-4-6")
with_tool = Agent(name="tools", instructions="Use tools.", model="claude-sonnet-4-6", tools=[get_weather])

async def main():
    out = {}
    first = await Runner.run(plain, "hello")
    out["plain"] = first.final_output
    streamed = Runner.run_streamed(plain, "stream please")
    deltas = []
    async for event in streamed.stream_events():
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
            deltas.append(event.data.delta)
    out["stream"], out["deltas"] = streamed.final_output, deltas
    out["tool"] = (await Runner.run(with_tool, "weather in Paris?")).final_output
    chained = await Runner.run(plain, "and again", previous_response_id=first.last_response_id)
    out["chained"] = chained.final_output
    report(out)

asyncio.run(main())
"""


def test_openai_agents_plain_streamed_tool_and_chained_runs(
    router_home: Path, workdir: Path, provider: FakeProvider, chunking: str
) -> None:
    for reply in ({"text": "Hello from Claude."}, {"text": "Streamed words, several of them."},
                  {"tool_calls": [WEATHER]}, {"text": "It is sunny in Paris."}, {"text": "Again, hello."}):
        provider.reply(**reply)
    ran = _run("openai-agents", AGENTS_SCRIPT, router_home, workdir)

    out = ran.result()
    assert (out["plain"], out["stream"], out["tool"], out["chained"]) == (
        "Hello from Claude.", "Streamed words, several of them.", "It is sunny in Paris.", "Again, hello.")
    assert len(out["deltas"]) > 1 and "".join(out["deltas"]) == out["stream"]  # it streamed, in pieces
    plain, streamed, tool_call, tool_answer, chained = _messages_calls(provider)
    assert plain.json["system"] == "Answer briefly." and _texts(plain.json) == ["hello"]
    assert streamed.json["stream"] is True
    assert _tool_names(tool_call.json) == ["get_weather"] and _tool_names(plain.json) == []
    assert _texts(tool_answer.json)[-1] == TOOL_RESULT  # the program ran its tool; the result came back
    # previous_response_id: the shim had stored the first run, and put it in front of the new input
    assert _texts(chained.json) == ["hello", "Hello from Claude.", "and again"]
    _assert_counted(ran, 5)
    # its traces went to the openai backend with that backend's key (docs/platform-calls.md)
    uploads = [request for request in provider.requests if request.path == "/v1/traces/ingest"]
    assert uploads and all(u.header("authorization") == f"Bearer {BACKEND_KEYS['openai']}" for u in uploads)
    assert "[non-fatal]" not in ran.stderr


# pydantic-ai ---------------------------------------------------------------------------------
PYDANTIC_AI_SCRIPT = """
from pydantic_ai import Agent

agent = Agent("openai:claude-sonnet-4-6", instructions="Use tools.")

@agent.tool_plain
def get_weather(city: str) -> str:
    return f"weather in {city}: sunny-{len(city)}"

plain = Agent("openai:claude-sonnet-4-6")
out = {"plain": plain.run_sync("hello").output, "tool": agent.run_sync("weather in Paris?").output}
report(out)
"""


def test_pydantic_ai_openai_model_plain_and_tool(router_home: Path, workdir: Path, provider: FakeProvider) -> None:
    for reply in ({"text": "Hello from Claude."}, {"tool_calls": [WEATHER]}, {"text": "It is sunny in Paris."}):
        provider.reply(**reply)
    ran = _run("pydantic-ai", PYDANTIC_AI_SCRIPT, router_home, workdir)

    assert ran.result() == {"plain": "Hello from Claude.", "tool": "It is sunny in Paris."}
    plain, tool_call, tool_answer = _messages_calls(provider)
    assert _texts(plain.json) == ["hello"]
    assert _tool_names(tool_call.json) == ["get_weather"]
    assert _texts(tool_answer.json)[-1] == TOOL_RESULT
    _assert_counted(ran, 3)


# LangChain -----------------------------------------------------------------------------------
LANGCHAIN_SCRIPT = """
from langchain_openai import ChatOpenAI

llm = ChatOpenAI(model="claude-sonnet-4-6", use_responses_api=True, max_retries=0)
out = {"invoke": llm.invoke("hello").text}
chunks = [chunk.text for chunk in llm.stream("stream please")]
out["stream"], out["chunks"] = "".join(chunks), len([c for c in chunks if c])
call = llm.bind_tools([{"type": "function", "name": "get_weather", "description": "Weather for a city",
                        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                       "required": ["city"]}}]).invoke("weather in Paris?")
out["tool_calls"] = [(c["name"], c["args"]) for c in call.tool_calls]
report(out)
"""


@pytest.mark.parametrize("chunked", [False, True], ids=["per_event", "byte_by_byte"])
def test_langchain_chat_openai_on_the_responses_api(
    router_home: Path, workdir: Path, provider: FakeProvider, chunked: bool
) -> None:
    provider.byte_by_byte = chunked
    for reply in ({"text": "Hello from Claude."}, {"text": "Streamed words, several of them."},
                  {"tool_calls": [WEATHER]}):
        provider.reply(**reply)
    ran = _run("langchain-responses", LANGCHAIN_SCRIPT, router_home, workdir)

    out = ran.result()
    assert (out["invoke"], out["stream"]) == ("Hello from Claude.", "Streamed words, several of them.")
    assert out["chunks"] > 1 and out["tool_calls"] == [list(WEATHER)]
    invoke, stream, tool_call = _messages_calls(provider)
    assert _texts(invoke.json) == ["hello"] and stream.json["stream"] is True
    assert _tool_names(tool_call.json) == ["get_weather"]
    _assert_counted(ran, 3)


# The openai SDK's responses resource, both SDK majors (httpx2 and httpx) ---------------------
SDK_SCRIPT = """
import openai

client = openai.OpenAI(max_retries=0)
created = client.responses.create(model="claude-sonnet-4-6", input="hello")
out = {"text": created.output_text, "retrieved": client.responses.retrieve(created.id).output_text}
client.responses.delete(created.id)
try:  # gone from the shim's store: the lookup goes where the program sent it (api.openai.com)
    client.responses.retrieve(created.id)
    out["after_delete"] = "found"
except openai.APIConnectionError:
    out["after_delete"] = "passed through"
with client.responses.stream(model="claude-sonnet-4-6", input="stream please") as stream:
    out["stream"] = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
report(out)
"""


@pytest.mark.parametrize("program", ["sdks", "legacy"])
def test_openai_sdk_responses_retrieve_and_delete_in_the_program(
    router_home: Path, workdir: Path, provider: FakeProvider, program: str
) -> None:
    provider.reply(text="Hello from Claude.")
    provider.reply(text="Streamed words, several of them.")
    ran = _run(program, SDK_SCRIPT, router_home, workdir)

    assert ran.result() == {"text": "Hello from Claude.", "retrieved": "Hello from Claude.",
                            "after_delete": "passed through", "stream": "Streamed words, several of them."}
    assert len(_messages_calls(provider)) == 2  # retrieve and delete were answered in the program
    assert [r.method for r in provider.requests] == ["POST", "POST"]
    _assert_counted(ran, 2)  # lookups are not LLM calls


# Plain requests and aiohttp -----------------------------------------------------------------
PLAIN_SCRIPT = """
import asyncio, aiohttp, requests

URL = "https://api.openai.com/v1/responses"
body = {"model": "claude-sonnet-4-6", "input": "hello"}
out = {"requests": requests.post(URL, json=body, timeout=10).json()["output"][0]["content"][0]["text"]}
with requests.post(URL, json={**body, "stream": True}, stream=True, timeout=10) as streamed:
    out["requests_stream"] = [line for line in streamed.iter_lines() if line.startswith(b"event: ")][-1].decode()

async def via_aiohttp():
    async with aiohttp.ClientSession() as session:
        async with session.post(URL, json=body) as response:
            return (await response.json())["output"][0]["content"][0]["text"]

out["aiohttp"] = asyncio.run(via_aiohttp())
report(out)
"""


def test_plain_requests_and_aiohttp_responses_calls_are_routed(
    router_home: Path, workdir: Path, provider: FakeProvider
) -> None:
    for text in ("via requests", "streamed via requests", "via aiohttp"):
        provider.reply(text=text)
    ran = run_shim([sys.executable, str(write_script(workdir, PLAIN_SCRIPT))], router_home, cwd=workdir)
    assert ran.returncode == 0, ran.explain()
    assert ran.result() == {"requests": "via requests", "requests_stream": "event: response.completed",
                            "aiohttp": "via aiohttp"}
    assert len(_messages_calls(provider)) == 3
    _assert_counted(ran, 3)  # the aiohttp call through the shim's proxy, reported as well
