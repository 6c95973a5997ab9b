"""LangGraph 1.2.24 react agents under ``router shim``, across protocols both ways: over
``ChatOpenAI`` asking for a Claude model, and over ``ChatAnthropic`` asking for a GPT model.

Per chat model: one plain ``invoke``, one ``stream`` (chunks as they arrive) and one react-agent
turn (``langgraph.prebuilt.create_react_agent``: the model calls the tool, the graph's tool node
runs it, the result goes back, the model answers), bounded by the graph's ``recursion_limit``.
Both sides are checked: what the program got, and what the backend received (endpoint, model, key,
the tool only where the agent has it, the tool's real result).
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

VERSION = "1.2.24"  # tests/constraints/langgraph.txt pins it; the README's "Works with" table names it

SCRIPT = """
import sys
from importlib.metadata import version
from langchain_anthropic import ChatAnthropic
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.prebuilt import create_react_agent

chat = sys.argv[1]
llm = ChatOpenAI(model=sys.argv[2], max_retries=0) if chat == "ChatOpenAI" else ChatAnthropic(
    model=sys.argv[2], max_retries=0)
out = {"version": version("langgraph"), "plain": llm.invoke("hello").text}
chunks = [chunk.text for chunk in llm.stream("stream please")]
out["stream"], out["chunks"] = "".join(chunks), len([c for c in chunks if c])
agent = create_react_agent(llm, [tool(get_weather)])
state = agent.invoke({"messages": [("user", "weather in Paris?")]}, {"recursion_limit": 6})
out["tool"] = state["messages"][-1].text
out["tool_messages"] = [m.content for m in state["messages"] if m.type == "tool"]
print(json.dumps(out))
"""

CHATS = {"ChatOpenAI": CLAUDE, "ChatAnthropic": GPT}


@pytest.mark.parametrize("chat", list(CHATS))
def test_plain_streamed_and_react_agent_cross_protocols(
    provider: FakeProvider, homes: Dict[str, Path], workdir: Path, chat: str, chunking: str
) -> None:
    model = CHATS[chat]
    for reply in ({"text": "Hello there."}, {"text": "Streamed words, several of them."},
                  {"tool_calls": [WEATHER]}, {"text": "It is sunny in Paris."}):
        provider.reply(**reply)
    run = run_script("langgraph", SCRIPT, homes, workdir, args=(chat, model))

    assert run.returncode == 0, run.explain()
    out = run.last_json()
    assert out["version"] == VERSION
    assert (out["plain"], out["stream"], out["tool"]) == (
        "Hello there.", "Streamed words, several of them.", "It is sunny in Paris.")
    assert out["chunks"] > 1 and out["tool_messages"] == [WEATHER_RESULT]
    plain, stream, tool_call, tool_answer = backend_calls(provider, model, run)
    assert stream.json["stream"] is True
    assert tool_names(model, plain.json) == [] and tool_names(model, tool_call.json) == ["get_weather"]
    assert tool_result_texts(model, tool_answer.json) == [WEATHER_RESULT]
    shim_summary(run, 4)
