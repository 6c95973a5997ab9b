"""Programs that speak the OpenAI Responses API, each in its pinned venv, under ``router shim``, asking
for a Claude model: the OpenAI Agents SDK (its default model class is a Responses model), pydantic-ai
(``openai:MODEL`` is a Responses model) and LangChain's ``ChatOpenAI(use_responses_api=True)``.

No program sets a key or a base URL. Every call is checked on both sides: the program got the text,
the stream, the tool call and the chained answer it asked for; the fake provider got each call as
an Anthropic Messages request, for the Claude model, with the Anthropic backend's key, carrying the
tool's real result and (for ``previous_response_id``) the conversation the shim stored.
"""

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
