"""pydantic-ai 2.78.0 under ``router shim``, across protocols both ways: its Chat Completions model
(``openai-chat:``) asking for a Claude model, and its Anthropic model (``anthropic:``) asking for a
GPT model.

One plain run, one streamed run (``run_stream``, text deltas) and one tool turn (the agent calls its
tool, pydantic-ai runs it, the result goes back, the agent answers) per model. Both sides are
checked: what the agent returned, and what the backend received (endpoint, model, key, the tool
only where the agent has it, the tool's real result). Its Responses model (``openai:``) is covered
with the Responses API (tests/e2e_shim/test_shim_responses_clients.py).

anthropic 2.17, which this venv holds, once made pydantic-ai's Anthropic model fail with
``TypeError: Cannot instantiate typing.Union``, router or not; with pydantic-ai 2.78 it does not
(docs/clients/python-frameworks.md#pydantic-ai), and this test would show it again.
"""

from pathlib import Path
from typing import Dict

import pytest
from fakes import FakeProvider
from python_clients import (
    CLAUDE,
    GPT,
    WEATHER,
    WEATHER_RESULT,
    backend_calls,
    run_script,
    shim_summary,
    tool_names,
    tool_result_texts,
)

VERSION = "2.78.0"  # tests/constraints/pydantic-ai.txt pins it; the README's "Works with" table names it

SCRIPT = """
import asyncio, sys
from importlib.metadata import version
from pydantic_ai import Agent

model = sys.argv[1]
plain = Agent(model, instructions="Answer briefly.")
with_tool = Agent(model, instructions="Use tools.", tools=[get_weather])

async def streamed():
    async with plain.run_stream("stream please") as result:
        return [delta async for delta in result.stream_text(delta=True, debounce_by=None)]

out = {"version": version("pydantic-ai-slim"), "plain": plain.run_sync("hello").output}
out["deltas"] = asyncio.run(streamed())
out["tool"] = with_tool.run_sync("weather in Paris?").output
print(json.dumps(out))
"""

MODELS = {"openai-chat": CLAUDE, "anthropic": GPT}


@pytest.mark.parametrize("prefix", list(MODELS))
def test_plain_streamed_and_tool_runs_cross_protocols(
    provider: FakeProvider, homes: Dict[str, Path], workdir: Path, prefix: str, chunking: str
) -> None:
    model = MODELS[prefix]
    for reply in ({"text": "Hello there."}, {"text": "Streamed words, several of them."},
                  {"tool_calls": [WEATHER]}, {"text": "It is sunny in Paris."}):
        provider.reply(**reply)
    run = run_script("pydantic-ai", SCRIPT, homes, workdir, args=(f"{prefix}:{model}",))

    assert run.returncode == 0, run.explain()
    out = run.last_json()
    assert out["version"] == VERSION
    assert (out["plain"], out["tool"]) == ("Hello there.", "It is sunny in Paris.")
    assert len(out["deltas"]) > 1 and "".join(out["deltas"]) == "Streamed words, several of them."
    plain, stream, tool_call, tool_answer = backend_calls(provider, model, run)
    assert not plain.json.get("stream") and stream.json["stream"] is True
    assert tool_names(model, plain.json) == [] and tool_names(model, tool_call.json) == ["get_weather"]
    assert tool_result_texts(model, tool_answer.json) == [WEATHER_RESULT]
    shim_summary(run, 4)
