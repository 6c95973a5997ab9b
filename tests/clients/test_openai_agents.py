"""The OpenAI Agents SDK 0.24.0 on Chat Completions (``OpenAIChatCompletionsModel``) under
``router shim``, asking for a Claude model: the Anthropic backend answers.

One plain run, one streamed run and one tool turn (the agent calls its function tool, the SDK runs
it, the result goes back, the agent answers), the turns bounded by ``max_turns``. Both sides are
checked: what the program got, and what the backend received (the Messages endpoint, the model,
its key, the tool offered only where the agent has it, the tool's real result). Its default
Responses model is covered with the Responses API (tests/e2e_shim/test_shim_responses_clients.py).
"""

from pathlib import Path
from typing import Dict

from clients_support import roles
from fakes import FakeProvider
from python_clients import (
    CLAUDE,
    WEATHER,
    WEATHER_RESULT,
    backend_calls,
    run_script,
    shim_summary,
    tool_names,
    tool_result_texts,
)

VERSION = "0.24.0"  # tests/constraints/openai-agents.txt pins it; the README's "Works with" table names it

SCRIPT = f"""
import asyncio
import agents
from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool
from openai import AsyncOpenAI

model = OpenAIChatCompletionsModel(model="{CLAUDE}", openai_client=AsyncOpenAI())
plain = Agent(name="plain", instructions="Answer briefly.", model=model)
with_tool = Agent(name="tools", instructions="Use tools.", model=model, tools=[function_tool(get_weather)])

async def main():
    out = {{"version": agents.__version__}}
    out["plain"] = (await Runner.run(plain, "hello", max_turns=2)).final_output
    streamed = Runner.run_streamed(plain, "stream please", max_turns=2)
    deltas = []
    async for event in streamed.stream_events():
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta":
            deltas.append(event.data.delta)
    out["stream"], out["deltas"] = streamed.final_output, deltas
    out["tool"] = (await Runner.run(with_tool, "weather in Paris?", max_turns=3)).final_output
    print(json.dumps(out))

asyncio.run(main())
"""


def test_plain_streamed_and_tool_runs_reach_the_anthropic_backend(
    provider: FakeProvider, homes: Dict[str, Path], workdir: Path, chunking: str
) -> None:
    for reply in ({"text": "Hello from Claude."}, {"text": "Streamed words, several of them."},
                  {"tool_calls": [WEATHER]}, {"text": "It is sunny in Paris."}):
        provider.reply(**reply)
    run = run_script("openai-agents", SCRIPT, homes, workdir)

    assert run.returncode == 0, run.explain()
    out = run.last_json()
    assert out["version"] == VERSION
    assert (out["plain"], out["stream"], out["tool"]) == (
        "Hello from Claude.", "Streamed words, several of them.", "It is sunny in Paris.")
    assert len(out["deltas"]) > 1 and "".join(out["deltas"]) == out["stream"]  # it streamed, in pieces
    plain, stream, tool_call, tool_answer = backend_calls(provider, CLAUDE, run)
    assert plain.json["system"] == "Answer briefly." and roles(plain.json) == ["user"]
    assert not plain.json.get("stream") and stream.json["stream"] is True
    assert tool_names(CLAUDE, plain.json) == [] and tool_names(CLAUDE, tool_call.json) == ["get_weather"]
    assert tool_result_texts(CLAUDE, tool_answer.json) == [WEATHER_RESULT]
    shim_summary(run, 4)
