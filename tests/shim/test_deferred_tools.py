"""Deferred tools and tool search toward a backend without tool search (docs/clients/claude-code.md#deferred-tools).

A deferred tool reaches the backend's tool list once the history loads it (a ``tool_reference``
or an earlier call); the placeholder never does; a reference becomes text; never a 400.
"""

from typing import Any, Dict, List

from request_shapes import assert_valid_openai_request

from shim.translate.anthropic_tool_names import OPENAI_TOOL_NAME
from shim.translate.context import RequestOptions, TranslatedRequest
from shim.translate.request_anthropic_to_openai import anthropic_request_to_openai

MCP_WEATHER = "mcp__demo__get_weather"
LONG_MCP = "mcp__plugin_playwright_playwright__browser_take_screenshot_of_the_full_page"
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


def _tool(name: str, deferred: bool = False) -> Dict[str, Any]:
    tool: Dict[str, Any] = {"name": name, "description": f"the {name} tool", "input_schema": SCHEMA}
    return {**tool, "defer_loading": True} if deferred else tool


TOOLS = [
    _tool("Bash"),
    _tool("ToolSearch"),
    {
        "name": "DeferredToolPlaceholder",
        "description": "Reserved placeholder that keeps deferred tool loading active; never call this tool.",
        "input_schema": {"type": "object", "properties": {}},
        "defer_loading": True,
    },
    _tool(MCP_WEATHER, deferred=True),
    _tool("mcp__demo__add_numbers", deferred=True),
]


def _search_and_result(*names: str) -> List[Dict[str, Any]]:
    """The assistant's ToolSearch call and the tool_result that loads ``names``, as Claude Code sends them."""
    return [
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "ToolSearch", "input": {"query": "select:x"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1",
             "content": [{"type": "tool_reference", "tool_name": name} for name in names]},
            {"type": "text", "text": "Tool loaded.", "cache_control": {"type": "ephemeral"}},
        ]},
    ]


def _translate(messages: List[Dict[str, Any]], tools: List[Dict[str, Any]] = TOOLS) -> TranslatedRequest:
    body = {"model": "claude-opus-5-5", "messages": messages, "tools": tools, "stream": True}
    result = anthropic_request_to_openai(body, RequestOptions("gpt-4o"))
    assert_valid_openai_request(result.body)
    return result


def _tool_names(result: TranslatedRequest) -> List[str]:
    return [tool["function"]["name"] for tool in result.body.get("tools", [])]


FIRST = [{"role": "user", "content": "What is the weather in Paris?"}]


def test_before_any_search_deferred_tools_and_the_placeholder_stay_out() -> None:
    result = _translate(FIRST)
    assert _tool_names(result) == ["Bash", "ToolSearch"]
    assert "defer_loading" not in str(result.body)
    assert any("deferred tools out of the tool list" in note for note in result.notes)


def test_a_tool_reference_loads_that_tool_and_becomes_text() -> None:
    result = _translate(FIRST + _search_and_result(MCP_WEATHER))
    assert _tool_names(result) == ["Bash", "ToolSearch", MCP_WEATHER]
    loaded = next(tool for tool in result.body["tools"] if tool["function"]["name"] == MCP_WEATHER)
    assert loaded["function"]["parameters"] == SCHEMA and "defer_loading" not in loaded["function"]
    tool_message = next(m for m in result.body["messages"] if m["role"] == "tool")
    assert tool_message["tool_call_id"] == "toolu_1"
    assert MCP_WEATHER in tool_message["content"] and "tool list" in tool_message["content"]
    assert result.body["messages"][-1] == {"role": "user", "content": "Tool loaded."}


def test_a_tool_called_earlier_stays_loaded_when_the_reference_is_gone() -> None:
    # e.g. after the client compacted the history that held the search result
    messages = [
        *FIRST,
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t2", "name": MCP_WEATHER, "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t2", "content": "sunny"}]},
    ]
    assert MCP_WEATHER in _tool_names(_translate(messages))


def test_a_reference_to_an_undefined_tool_is_said_not_refused() -> None:
    result = _translate(FIRST + _search_and_result("mcp__gone__tool"))
    assert _tool_names(result) == ["Bash", "ToolSearch"]
    tool_message = next(m for m in result.body["messages"] if m["role"] == "tool")
    assert "mcp__gone__tool" in tool_message["content"] and "not available" in tool_message["content"]
    assert any("does not define" in note for note in result.notes)


def test_a_long_mcp_name_is_referenced_by_its_backend_name() -> None:
    tools = [*TOOLS, _tool(LONG_MCP, deferred=True)]
    result = _translate(FIRST + _search_and_result(LONG_MCP), tools)
    ((short, original),) = result.tool_names.items()
    assert original == LONG_MCP and OPENAI_TOOL_NAME.match(short)
    assert short in _tool_names(result)
    assert short in next(m for m in result.body["messages"] if m["role"] == "tool")["content"]


def test_tool_choice_naming_an_unloaded_deferred_tool_is_dropped_with_a_note() -> None:
    body = {"model": "m", "messages": FIRST, "tools": TOOLS, "tool_choice": {"type": "tool", "name": MCP_WEATHER}}
    result = anthropic_request_to_openai(body, RequestOptions("gpt-4o"))
    assert "tool_choice" not in result.body
    assert any("named tool does not reach the backend" in note for note in result.notes)


def test_an_unloaded_deferred_tool_is_still_validated() -> None:
    bad = {"name": "mcp__x", "input_schema": "not a schema", "defer_loading": True}
    body = {"model": "m", "messages": FIRST, "tools": [bad]}
    try:
        anthropic_request_to_openai(body, RequestOptions("gpt-4o"))
    except Exception as error:  # the client's malformed definition is a 400 whether or not it is loaded
        assert getattr(error, "param", None) == "tools[0].input_schema"
    else:
        raise AssertionError("a malformed deferred tool passed")
