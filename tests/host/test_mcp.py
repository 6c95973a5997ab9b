"""``router mcp`` as an MCP client sees it: the real command on stdio, driven by the official SDK's own
client (``stdio_client`` + ``ClientSession``). Every tool is read-only, answers from the real store
and configuration, and no answer holds a key."""

import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import anyio
import pytest
from host_cli_helpers import write_config
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from host.credentials import store_key
from host.telemetry_store import TelemetryStore
from shim.telemetry import CallEvent

STORED_KEY = "Vb6nM1qW8eR3tY5uI2oP9aS4dF7g"  # random-looking: no five characters of it occur elsewhere
ENV_KEY = "Lk3jH8gF1dS6aP0oI5uY2tR7eW9q"
CALL_TIMEOUT = 60


@pytest.fixture
def configured(home: Path) -> Path:
    write_config(home, """
[backends.anthropic]
protocol = "anthropic"
base_url = "http://127.0.0.1:9"

[backends.groq]
protocol = "openai"
base_url = "http://127.0.0.1:9/v1"
key_env = "MCPTEST_GROQ_KEY"

[aliases]
fast = "groq:llama-3.1-8b-instant"

[[routes]]
match = "llama-*"
backend = "groq"
""")
    store_key(home / "credentials.toml", "anthropic", STORED_KEY)
    store = TelemetryStore(home).start()
    for index, (backend, model) in enumerate([("anthropic", "claude-sonnet-4-6")] * 3 + [("groq", "llama-3.3")] * 2):
        store.submit(CallEvent(time=1_700_000_000.0 + index, source="shim", pid=10, ppid=1, program="agent.py",
                               client_protocol="openai", endpoint="chat", backend=backend, upstream_host="127.0.0.1",
                               requested_model=model, upstream_model=model, stream=False, translated=True,
                               status=200 if index else 529, error=None if index else "overloaded", latency_ms=50.0,
                               input_tokens=100, output_tokens=10), 0.001)
    store.close()
    return home


def session_calls(home: Path, calls: List[Tuple[str, Dict[str, Any]]]) -> Tuple[Any, List[Any]]:
    """Start ``router mcp``, list its tools and make ``calls``; (tools, results)."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "host", "mcp"],
                                   env={"ROUTER_HOME": str(home), "MCPTEST_GROQ_KEY": ENV_KEY})

    async def talk() -> Tuple[Any, List[Any]]:
        with anyio.fail_after(CALL_TIMEOUT * (len(calls) + 1)):
            async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                tools = await session.list_tools()
                results = [await session.call_tool(name, arguments) for name, arguments in calls]
                return tools, results

    return anyio.run(talk)


def payload(result: Any) -> Any:
    assert not result.is_error, result
    if result.structured_content is not None:
        content = result.structured_content
        return content.get("result", content) if set(content) == {"result"} else content
    return json.loads(result.content[0].text)


def test_tools_are_read_only_and_answer_from_the_store_and_config(configured: Path) -> None:
    tools, results = session_calls(configured, [
        ("stats", {"since": "all", "by": "backend"}),
        ("recent_calls", {"limit": 2}),
        ("explain_route", {"model": "fast"}),
        ("explain_route", {"model": "claude-sonnet-4-6", "client_protocol": "anthropic"}),
        ("routing_table", {}),
    ])
    assert sorted(tool.name for tool in tools.tools) == ["doctor", "explain_route", "recent_calls", "routing_table",
                                                         "stats"]
    for tool in tools.tools:
        assert tool.annotations.read_only_hint is True and tool.annotations.destructive_hint is False, tool.name
        assert tool.description
    stats, recent, fast, claude, table = (payload(result) for result in results)

    groups = {group["key"]: group for group in stats["groups"]}
    assert stats["total"]["calls"] == 5 and stats["total"]["errors"] == 1
    assert (groups["anthropic"]["calls"], groups["groq"]["calls"]) == (3, 2)
    assert [call["requested_model"] for call in recent] == ["llama-3.3", "llama-3.3"]
    assert fast["backend"] == "groq" and fast["upstream_model"] == "llama-3.1-8b-instant"
    assert fast["rule"].startswith("alias 'fast'")
    assert claude["backend"] == "anthropic" and claude["translated"] is False
    assert [backend["key"] for backend in table["backends"]] == ["stored (credentials file)",
                                                                  "env MCPTEST_GROQ_KEY (set)"]
    assert table["routes"] == [{"match": "llama-*", "backend": "groq"}]
    assert {tuple(family["patterns"][:1]): family["backend"] for family in table["families"]} == {
        ("claude-*",): "anthropic", ("gpt-*",): None}
    assert_no_key(results)


def test_doctor_runs_without_spending_and_without_keys(configured: Path) -> None:
    _, [result] = session_calls(configured, [("doctor", {"python": sys.executable})])
    report = payload(result)
    titles = [section["title"] for section in report["sections"]]
    assert "backend anthropic (anthropic, http://127.0.0.1:9)" in titles
    failed = [check["what"] for section in report["sections"] for check in section["checks"]
              if check["status"] == "fail"]
    assert failed == ["TCP", "TCP"]  # nothing listens on port 9; the rest of the setup is fine
    assert_no_key([result])


def test_nothing_that_changes_anything_is_offered(configured: Path) -> None:
    before = (configured / "config.toml").read_text()
    _, [result] = session_calls(configured, [("set_route", {"match": "*", "backend": "groq"})])
    assert result.is_error
    assert (configured / "config.toml").read_text() == before


def assert_no_key(results: List[Any]) -> None:
    text = " ".join(str(result.model_dump()) for result in results)
    for key in (STORED_KEY, ENV_KEY):
        assert not any(key[start:start + 5] in text for start in range(len(key) - 4)), key
