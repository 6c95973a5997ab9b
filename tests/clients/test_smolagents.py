"""smolagents 1.26.0 under ``router shim``: ``OpenAIServerModel`` asking for a Claude model (the
Anthropic backend answers), alone and driving a ``ToolCallingAgent``.

One plain generation, one streamed generation (``generate_stream``: deltas as they arrive) and one
agent run: the model calls ``get_weather``, smolagents runs it, the observation goes back, the model
calls smolagents' ``final_answer`` tool, and the run ends, bounded by ``max_steps``. Both sides are
checked: what the program got, and what the backend received (endpoint, model, key, the agent's
tools, the tool's real result).
"""

from pathlib import Path
from typing import Any, Dict, List

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

VERSION = "1.26.0"  # tests/constraints/smolagents.txt pins it; the README's "Works with" table names it

SCRIPT = f"""
import smolagents
from smolagents import OpenAIServerModel, ToolCallingAgent, tool

weather = tool(get_weather)
model = OpenAIServerModel(model_id="{CLAUDE}")
user = [{{"role": "user", "content": [{{"type": "text", "text": "hello"}}]}}]
out = {{"version": smolagents.__version__, "plain": model.generate(user).content}}
deltas = [delta.content for delta in model.generate_stream(user) if delta.content]
out["deltas"] = deltas
agent = ToolCallingAgent(tools=[weather], model=model, max_steps=3, verbosity_level=0)
out["tool"] = agent.run("weather in Paris?")
print(json.dumps(out))
"""


def test_plain_streamed_and_agent_runs_reach_the_anthropic_backend(
    provider: FakeProvider, homes: Dict[str, Path], workdir: Path, chunking: str
) -> None:
    for reply in ({"text": "Hello from Claude."}, {"text": "Streamed words, several of them."},
                  {"tool_calls": [WEATHER]}, {"tool_calls": [("final_answer", {"answer": "It is sunny in Paris."})]}):
        provider.reply(**reply)
    run = run_script("smolagents", SCRIPT, homes, workdir)

    assert run.returncode == 0, run.explain()
    out = run.last_json()
    assert out["version"] == VERSION
    assert (out["plain"], out["tool"]) == ("Hello from Claude.", "It is sunny in Paris.")
    assert len(out["deltas"]) > 1 and "".join(out["deltas"]) == "Streamed words, several of them."
    plain, stream, tool_call, tool_answer = backend_calls(provider, CLAUDE, run)
    assert not plain.json.get("stream") and stream.json["stream"] is True
    assert tool_names(CLAUDE, plain.json) == []
    assert set(tool_names(CLAUDE, tool_call.json)) == {"get_weather", "final_answer"}
    assert any(WEATHER_RESULT in text for text in _observations(tool_answer.json)), tool_answer.json["messages"]
    shim_summary(run, 4)


def _observations(body: Dict[str, Any]) -> List[str]:
    """smolagents sends a tool's output back as a tool result, or as text in a user turn
    ("Observation: …"): either way, the tool's real output must be in the next request."""
    texts = tool_result_texts(CLAUDE, body)
    for message in body["messages"]:
        content = message["content"]
        parts = [content] if isinstance(content, str) else [p.get("text", "") for p in content if isinstance(p, dict)]
        texts += parts
    return texts
