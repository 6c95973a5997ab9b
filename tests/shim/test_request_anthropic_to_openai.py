"""Anthropic Messages client request → OpenAI Chat Completions backend request
(docs/protocol-rules.md#request-parameters, docs/protocol-rules.md#messages; P-numbers: docs/pitfalls.md).

Outputs are validated against the openai SDK's request TypedDicts (pydantic, every nested
iterable forced) so a shape the SDK itself would not send fails the test.
"""

import copy
import json
import re
from typing import Any, Dict, List, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from request_shapes import assert_valid_openai_request

from shim.errors import InvalidRequestError, RouterError, UnsupportedFeatureError
from shim.translate.anthropic_tool_names import OPENAI_TOOL_NAME, ToolNameMap
from shim.translate.context import RequestOptions, TranslatedRequest
from shim.translate.request_anthropic_to_openai import anthropic_request_to_openai

LONG_MCP_NAME = "mcp__plugin_playwright_playwright__browser_take_screenshot_of_the_full_page"
PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}


def translate(
    messages: Optional[List[Any]] = None,
    *,
    model: str = "gpt-4o-mini",
    options: Optional[RequestOptions] = None,
    **fields: Any,
) -> TranslatedRequest:
    body: Dict[str, Any] = {"model": "claude-sonnet-4-6", "messages": messages or [_user("hi")], **fields}
    result = anthropic_request_to_openai(body, options or RequestOptions(upstream_model=model))
    assert_valid_openai_request(result.body)
    return result


def _user(content: Any) -> Dict[str, Any]:
    return {"role": "user", "content": content}


def _assistant(content: Any) -> Dict[str, Any]:
    return {"role": "assistant", "content": content}


def _text(text: str, **extra: Any) -> Dict[str, Any]:
    return {"type": "text", "text": text, **extra}


def _tool_use(call_id: str, name: str, tool_input: Any = None) -> Dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": name, "input": {} if tool_input is None else tool_input}


def _tool_result(call_id: str, content: Any = "ok", **extra: Any) -> Dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": call_id, "content": content, **extra}


def _tool(name: str, **extra: Any) -> Dict[str, Any]:
    return {"name": name, "description": f"the {name} tool", "input_schema": {"type": "object"}, **extra}


def _noted(result: TranslatedRequest, *words: str) -> bool:
    return any(all(word in note for word in words) for note in result.notes)


# --- basics, system, P17 -------------------------------------------------------------------------


def test_model_is_the_upstream_model_and_nothing_else_is_invented() -> None:
    result = translate(model="llama3.1:8b")
    assert result.body == {"model": "llama3.1:8b", "messages": [{"role": "user", "content": "hi"}]}
    assert result.stream is False and result.notes == [] and result.tool_names == {}


def test_system_string_becomes_one_leading_system_message() -> None:
    body = translate([_user("hi")], system="be brief").body
    assert body["messages"][0] == {"role": "system", "content": "be brief"}


def test_system_blocks_are_joined_and_empty_ones_skipped() -> None:
    body = translate(system=[_text("one"), _text(""), _text("two")]).body
    assert body["messages"][0] == {"role": "system", "content": "one\ntwo"}
    assert [m["role"] for m in body["messages"]] == ["system", "user"]


@pytest.mark.parametrize("system", ["", []])
def test_empty_system_sends_no_system_message(system: Any) -> None:
    assert [m["role"] for m in translate(system=system).body["messages"]] == ["user"]


def test_p17_cache_control_never_reaches_the_backend() -> None:
    ephemeral = {"type": "ephemeral", "ttl": "1h"}
    result = translate(
        [_user([_text("hi", cache_control=ephemeral)])],
        system=[_text("sys", cache_control=ephemeral)],
        tools=[_tool("Bash", cache_control=ephemeral)],
        cache_control=ephemeral,
    )
    assert "cache_control" not in json.dumps(result.body)
    assert sum("cache_control" in note for note in result.notes) == 1  # one note, however many blocks


# --- user content --------------------------------------------------------------------------------


def test_text_blocks_become_a_string_and_mixed_content_stays_parts() -> None:
    assert translate([_user([_text("a"), _text("b")])]).body["messages"] == [_user("a\nb")]
    mixed = translate([_user([_text("look"), {"type": "image", "source": PNG}])]).body["messages"][0]
    assert mixed["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]


@pytest.mark.parametrize(
    "messages",
    [
        [_user(""), _user("hi")],
        [_user([_text("")]), _user("hi")],
        [_user([_text(""), _text("hi")])],
        [_user("hi"), _assistant(""), _user("hi")],
        [_user("hi"), _assistant([_text("")]), _user("hi")],
    ],
)
def test_p9_empty_text_is_dropped(messages: List[Any]) -> None:
    sent = translate(messages).body["messages"]
    assert "" not in [m["content"] for m in sent]
    assert all(m["content"] == "hi" for m in sent)


def test_image_url_source_stays_a_url() -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
    part = translate([_user([image, _text("what is it")])]).body["messages"][0]["content"][0]
    assert part == {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}


@pytest.mark.parametrize("block_type", ["image", "document"])
def test_files_api_sources_are_unsupported(block_type: str) -> None:
    block = {"type": block_type, "source": {"type": "file", "file_id": "file_011"}}
    with pytest.raises(UnsupportedFeatureError) as caught:
        translate([_user([block])])
    assert caught.value.status_for("anthropic") == 400
    assert caught.value.param == "messages[0].content[0].source"
    assert "file" in caught.value.message


@pytest.mark.parametrize(("title", "filename"), [("report.pdf", "report.pdf"), (None, "document.pdf")])
def test_base64_pdf_document_becomes_a_file_part(title: Optional[str], filename: str) -> None:
    source = {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}
    document = {"type": "document", "source": source, **({"title": title} if title else {})}
    part = translate([_user([document, _text("summarize")])]).body["messages"][0]["content"][0]
    assert part == {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0x", "filename": filename}}


def test_text_and_content_documents_become_text() -> None:
    text_doc = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain doc"}}
    content_doc = {"type": "document", "source": {"type": "content", "content": [_text("inline doc")]}}
    assert translate([_user([text_doc, content_doc])]).body["messages"] == [_user("plain doc\ninline doc")]


def test_pdf_url_document_is_unsupported() -> None:
    document = {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}
    with pytest.raises(UnsupportedFeatureError):
        translate([_user([document])])


def test_unknown_user_block_is_dropped_with_a_note() -> None:
    result = translate([_user([{"type": "search_result", "source": "s", "title": "t", "content": []}, _text("q")])])
    assert result.body["messages"] == [_user("q")]
    assert _noted(result, "search_result")


# --- tool results: P10, P12 ----------------------------------------------------------------------


def _tool_loop(*results_and_user_blocks: Dict[str, Any]) -> List[Dict[str, Any]]:
    calls = [_tool_use(b["tool_use_id"], "Read") for b in results_and_user_blocks if b["type"] == "tool_result"]
    return [_user("go"), _assistant(calls), _user(list(results_and_user_blocks))]


def test_p10_tool_messages_come_first_and_the_rest_follows_in_order() -> None:
    messages = _tool_loop(_text("before"), _tool_result("t1", "one"), _text("between"), _tool_result("t2", "two"))
    sent = translate(messages).body["messages"][2:]
    assert sent == [
        {"role": "tool", "tool_call_id": "t1", "content": "one"},
        {"role": "tool", "tool_call_id": "t2", "content": "two"},
        _user("before\nbetween"),
    ]


def test_p10_consecutive_user_messages_are_one_turn_so_tool_messages_stay_adjacent() -> None:
    calls = _assistant([_tool_use("t1", "Read"), _tool_use("t2", "Read")])
    messages = [_user("go"), calls, _user([_tool_result("t1"), _text("note")]), _user([_tool_result("t2")])]
    sent = translate(messages).body["messages"]
    assert [(m["role"], m.get("tool_call_id")) for m in sent] == [
        ("user", None),
        ("assistant", None),
        ("tool", "t1"),
        ("tool", "t2"),
        ("user", None),
    ]
    assert sent[-1]["content"] == "note"


def test_consecutive_assistant_messages_are_one_turn() -> None:
    first, second = _assistant([_text("a"), _tool_use("t1", "Read")]), _assistant([_tool_use("t2", "Grep")])
    sent = translate([_user("go"), first, second, _user([_tool_result("t1"), _tool_result("t2")])]).body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
    assert [call["id"] for call in sent[1]["tool_calls"]] == ["t1", "t2"] and sent[1]["content"] == "a"


@pytest.mark.parametrize(
    ("content", "expected"),
    [("plain", "plain"), ([_text("a"), _text("b")], "a\nb"), ([], ""), (None, "")],
)
def test_tool_result_content_becomes_a_string(content: Any, expected: str) -> None:
    sent = translate(_tool_loop(_tool_result("t1", content))).body["messages"]
    assert sent[-1] == {"role": "tool", "tool_call_id": "t1", "content": expected}


def test_tool_result_error_is_prefixed() -> None:
    sent = translate(_tool_loop(_tool_result("t1", "exit 1", is_error=True))).body["messages"]
    assert sent[-1]["content"] == "[tool error] exit 1"


def test_p12_tool_result_image_moves_to_a_user_message_after_all_tool_messages() -> None:
    screenshot = [_text("saved"), {"type": "image", "source": PNG}]
    messages = _tool_loop(_tool_result("t1", screenshot), _tool_result("t2", "done"), _text("next?"))
    sent = translate(messages).body["messages"][2:]
    assert [m["role"] for m in sent] == ["tool", "tool", "user"]
    assert sent[0]["content"].startswith("saved")
    assert "next user message" in sent[0]["content"]
    follow_up = sent[2]["content"]
    assert "t1" in follow_up[0]["text"]
    assert follow_up[1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    assert follow_up[2] == {"type": "text", "text": "next?"}


def test_p12_document_inside_tool_result_moves_too() -> None:
    pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}}
    sent = translate(_tool_loop(_tool_result("t1", [pdf]))).body["messages"]
    assert sent[-2]["role"] == "tool"
    assert sent[-1]["content"][1]["type"] == "file"


# --- assistant content ---------------------------------------------------------------------------


def test_assistant_text_tool_use_and_thinking() -> None:
    turn = [
        {"type": "thinking", "thinking": "first I", "signature": "sig"},
        _text("Let me look."),
        {"type": "thinking", "thinking": "then I", "signature": "sig"},
        _tool_use("toolu_1", "Read", {"path": "a.py", "lines": [1, 2]}),
        _text("And search."),
        _tool_use("toolu_2", "Grep", {}),
    ]
    sent = translate(
        [_user("go"), _assistant(turn), _user([_tool_result("toolu_1"), _tool_result("toolu_2")])],
        options=RequestOptions("gpt-4o-mini", replay_reasoning=True),
    )
    assistant = sent.body["messages"][1]
    assert assistant["content"] == "Let me look.\nAnd search."
    assert assistant["reasoning_content"] == "first I\nthen I"
    assert assistant["tool_calls"] == [
        {
            "id": "toolu_1",
            "type": "function",
            "function": {"name": "Read", "arguments": '{"path": "a.py", "lines": [1, 2]}'},
        },
        {"id": "toolu_2", "type": "function", "function": {"name": "Grep", "arguments": "{}"}},
    ]
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"path": "a.py", "lines": [1, 2]}


def test_assistant_with_only_tool_calls_has_null_content() -> None:
    sent = translate([_user("go"), _assistant([_tool_use("t1", "Read")]), _user([_tool_result("t1")])])
    assert sent.body["messages"][1]["content"] is None


def test_assistant_with_only_thinking_keeps_the_reasoning() -> None:
    sent = translate(
        [_user("go"), _assistant([{"type": "thinking", "thinking": "hm", "signature": "s"}])],
        options=RequestOptions("deepseek-reasoner", replay_reasoning=True),
    )
    assert sent.body["messages"][1] == {"role": "assistant", "content": "", "reasoning_content": "hm"}


def test_history_thinking_is_not_replayed_unless_the_backend_asks_for_it() -> None:
    # Strict servers (Mistral: 422 "Extra inputs are not permitted") reject reasoning_content.
    turn = [{"type": "thinking", "thinking": "hm", "signature": "s"}, _text("Hi.")]
    sent = translate([_user("go"), _assistant(turn), _user("more")])
    assert sent.body["messages"][1] == {"role": "assistant", "content": "Hi."}
    assert any("dropped thinking from history" in note for note in sent.notes)
    only_thinking = translate([_user("go"), _assistant(turn[:1]), _user("more")])
    assert [m["role"] for m in only_thinking.body["messages"]] == ["user", "user"]


@pytest.mark.parametrize(
    ("block", "word"),
    [
        ({"type": "redacted_thinking", "data": "EmwKAhgB"}, "redacted_thinking"),
        ({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}, "server tool"),
        ({"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []}, "server tool"),
        ({"type": "code_execution_tool_result", "tool_use_id": "srvtoolu_1", "content": {}}, "server tool"),
        ({"type": "brand_new_block", "x": 1}, "brand_new_block"),
    ],
)
def test_assistant_blocks_without_counterpart_are_dropped_with_a_note(block: Dict[str, Any], word: str) -> None:
    result = translate([_user("go"), _assistant([block, _text("answer")])])
    assert result.body["messages"][1] == {"role": "assistant", "content": "answer"}
    assert _noted(result, word)


# --- scalar parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_goes_to_the_backends_field(field: str) -> None:
    result = translate(max_tokens=1000, options=RequestOptions("gpt-4o", max_tokens_field=field))
    assert result.body[field] == 1000
    assert ({"max_tokens", "max_completion_tokens"} - {field}).isdisjoint(result.body)


def test_p15_max_tokens_is_clamped_with_a_note() -> None:
    result = translate(max_tokens=64000, options=RequestOptions("deepseek-chat", max_output_tokens=8192))
    assert result.body["max_tokens"] == 8192
    assert _noted(result, "64000", "8192")


def test_max_tokens_under_the_clamp_is_untouched() -> None:
    result = translate(max_tokens=100, options=RequestOptions("deepseek-chat", max_output_tokens=8192))
    assert result.body["max_tokens"] == 100 and result.notes == []


def test_missing_max_tokens_sends_no_limit() -> None:
    body = translate().body
    assert "max_tokens" not in body and "max_completion_tokens" not in body


@pytest.mark.parametrize("value", [0, -5, "100", 1.5, True, [100]])
def test_bad_max_tokens_is_rejected(value: Any) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        translate(max_tokens=value)
    assert caught.value.param == "max_tokens"
    assert caught.value.status_for("anthropic") == 400


def test_temperature_and_top_p_pass_and_top_k_is_dropped() -> None:
    result = translate(temperature=0.2, top_p=0.9, top_k=40)
    assert (result.body["temperature"], result.body["top_p"]) == (0.2, 0.9)
    assert "top_k" not in result.body and _noted(result, "top_k")


@pytest.mark.parametrize(("field", "value"), [("temperature", "hot"), ("top_p", [1]), ("temperature", float("nan"))])
def test_bad_sampling_values_are_rejected(field: str, value: Any) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        translate(**{field: value})
    assert caught.value.param == field


def test_p7_stop_sequences_are_kept() -> None:
    assert translate(stop_sequences=["###", "END"]).body["stop"] == ["###", "END"]


def test_p7_more_than_four_stop_sequences_keep_the_first_four_with_a_note() -> None:
    result = translate(stop_sequences=["a", "b", "c", "d", "e", "f"])
    assert result.body["stop"] == ["a", "b", "c", "d"]
    assert _noted(result, "4", "6", "stop_sequences")


def test_empty_stop_sequences_send_nothing() -> None:
    assert "stop" not in translate(stop_sequences=[]).body


def test_stream_forces_usage_upstream() -> None:
    result = translate(stream=True)
    assert result.stream is True
    assert result.body["stream"] is True and result.body["stream_options"] == {"include_usage": True}


def test_stream_false_sends_no_stream_fields() -> None:
    result = translate(stream=False)
    assert result.stream is False
    assert "stream" not in result.body and "stream_options" not in result.body


def test_metadata_user_id_becomes_user() -> None:
    result = translate(metadata={"user_id": "user_abc", "team": "x"})
    assert result.body["user"] == "user_abc"
    assert _noted(result, "metadata.team")


@pytest.mark.parametrize(
    "field",
    ["container", "mcp_servers", "context_management", "service_tier", "speed", "inference_geo", "future_thing"],
)
def test_fields_without_counterpart_are_dropped_with_a_note(field: str) -> None:
    result = translate(**{field: {"any": "value"}})
    assert field not in result.body
    assert _noted(result, field)


# --- tools, tool_choice, P18 ---------------------------------------------------------------------


def test_client_tools_become_function_tools() -> None:
    tools = [
        _tool("Read", strict=True),
        {"type": "custom", "name": "Grep", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}},
        {"name": "Now"},
    ]
    assert translate(tools=tools).body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "Read",
                "description": "the Read tool",
                "parameters": {"type": "object"},
                "strict": True,
            },
        },
        {"type": "function", "function": {"name": "Grep", "parameters": tools[1]["input_schema"]}},
        {"type": "function", "function": {"name": "Now", "parameters": {"type": "object", "properties": {}}}},
    ]


@pytest.mark.parametrize(
    "server_tool",
    [
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        {"type": "bash_20250124", "name": "bash"},
        {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
        {"type": "code_execution_20250825", "name": "code_execution"},
    ],
)
def test_server_tools_are_dropped_with_a_note(server_tool: Dict[str, Any]) -> None:
    result = translate(tools=[_tool("Read"), server_tool])
    assert [t["function"]["name"] for t in result.body["tools"]] == ["Read"]
    assert _noted(result, server_tool["name"], server_tool["type"])


def _p18_request(name: str) -> TranslatedRequest:
    return translate(
        [_user("shoot"), _assistant([_tool_use("t1", name, {"full": True})]), _user([_tool_result("t1", "ok")])],
        tools=[_tool(name), _tool("Read")],
        tool_choice={"type": "tool", "name": name},
    )


@pytest.mark.parametrize("name", [LONG_MCP_NAME, "functions.Bash", "mcp__srv__tööl"])
def test_p18_illegal_tool_names_are_shortened_consistently_and_reversibly(name: str) -> None:
    result = _p18_request(name)
    short = result.body["tools"][0]["function"]["name"]
    assert short != name and OPENAI_TOOL_NAME.match(short)
    assert result.body["messages"][1]["tool_calls"][0]["function"]["name"] == short
    assert result.body["tool_choice"] == {"type": "function", "function": {"name": short}}
    assert result.tool_names == {short: name}  # legal names ("Read") are not listed
    # The response side restores the client's name from tool_names.
    backend_tool_call = {"name": short, "arguments": "{}"}
    assert result.tool_names.get(backend_tool_call["name"], backend_tool_call["name"]) == name


def test_p18_short_names_are_deterministic() -> None:
    assert _p18_request(LONG_MCP_NAME).body == _p18_request(LONG_MCP_NAME).body
    assert re.fullmatch(r"mcp__plugin_playwright_\w+_[0-9a-f]{8}", _p18_request(LONG_MCP_NAME).tool_names.popitem()[0])


def test_p18_short_name_never_collides_with_a_legal_name_or_another_short_name() -> None:
    squatted = ToolNameMap([]).backend_name(LONG_MCP_NAME)  # what the long name would become
    twin = LONG_MCP_NAME + "_v2"  # same 55-character prefix
    result = translate(tools=[_tool(squatted), _tool(LONG_MCP_NAME), _tool(twin)])
    sent = [t["function"]["name"] for t in result.body["tools"]]
    assert sent[0] == squatted and len(set(sent)) == 3
    assert result.tool_names == {sent[1]: LONG_MCP_NAME, sent[2]: twin}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "Read"}, {"type": "function", "function": {"name": "Read"}}),
    ],
)
def test_tool_choice_mapping(choice: Dict[str, Any], expected: Any) -> None:
    body = translate(tools=[_tool("Read")], tool_choice=choice).body
    assert body["tool_choice"] == expected and "parallel_tool_calls" not in body


def test_disable_parallel_tool_use_becomes_parallel_tool_calls_false() -> None:
    body = translate(tools=[_tool("Read")], tool_choice={"type": "auto", "disable_parallel_tool_use": True}).body
    assert body["parallel_tool_calls"] is False


@pytest.mark.parametrize("tools", [None, [{"type": "web_search_20250305", "name": "web_search"}]])
def test_tool_choice_without_tools_reaching_the_backend_is_dropped(tools: Any) -> None:
    extra = {} if tools is None else {"tools": tools}
    result = translate(tool_choice={"type": "any", "disable_parallel_tool_use": True}, **extra)
    assert {"tools", "tool_choice", "parallel_tool_calls"}.isdisjoint(result.body)
    assert _noted(result, "tool_choice")


def test_tool_choice_naming_a_dropped_server_tool_is_dropped() -> None:
    tools = [_tool("Read"), {"type": "web_search_20250305", "name": "web_search"}]
    result = translate(tools=tools, tool_choice={"type": "tool", "name": "web_search"})
    assert "tool_choice" not in result.body and _noted(result, "tool_choice")


# --- thinking / effort, output format ------------------------------------------------------------


@pytest.mark.parametrize(("budget", "effort"), [(1024, "low"), (1025, "medium"), (4096, "medium"), (4097, "high")])
@pytest.mark.parametrize("model", ["o3", "o4-mini", "gpt-5", "openai/gpt-5-mini", "o1"])
def test_thinking_budget_maps_to_reasoning_effort_on_reasoning_models(budget: int, effort: str, model: str) -> None:
    result = translate(model=model, max_tokens=20000, thinking={"type": "enabled", "budget_tokens": budget})
    assert result.body["reasoning_effort"] == effort
    assert "thinking" not in result.body


@pytest.mark.parametrize(
    ("model", "effort", "expected"),
    [("gpt-5", "low", "low"), ("gpt-5", "max", "high"), ("gpt-5", "xhigh", "high"), ("gpt-5.2", "max", "xhigh")],
)
def test_output_config_effort_passes_to_reasoning_models(model: str, effort: str, expected: str) -> None:
    result = translate(model=model, thinking={"type": "adaptive"}, output_config={"effort": effort})
    assert result.body["reasoning_effort"] == expected


def test_adaptive_thinking_without_effort_sends_no_effort() -> None:
    assert "reasoning_effort" not in translate(model="o3", thinking={"type": "adaptive"}).body


@pytest.mark.parametrize(
    "fields",
    [{"thinking": {"type": "enabled", "budget_tokens": 2000}}, {"output_config": {"effort": "high"}}],
)
@pytest.mark.parametrize("model", ["gpt-4o", "deepseek-reasoner", "llama3.1:8b"])
def test_thinking_is_dropped_with_a_note_for_other_models(fields: Dict[str, Any], model: str) -> None:
    result = translate(model=model, **fields)
    assert "reasoning_effort" not in result.body and "thinking" not in result.body
    assert _noted(result, "thinking")


def test_json_schema_output_format_becomes_response_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    result = translate(output_config={"format": {"type": "json_schema", "schema": schema}})
    assert result.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": schema},
    }


def test_other_output_format_is_dropped_with_a_note() -> None:
    result = translate(output_config={"format": {"type": "xml"}})
    assert "response_format" not in result.body and _noted(result, "format")


# --- malformed input -----------------------------------------------------------------------------

_MISSING = object()
_BAD_INPUTS = [
    ({"messages": _MISSING}, "messages", "required"),
    ({"messages": None}, "messages", "array"),
    ({"messages": "hi"}, "messages", "array"),
    ({"messages": [1]}, "messages[0]", "object"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role", "user"),
    ({"messages": [_user("a"), {"role": "system", "content": 5}]}, "messages[1].content", "array"),
    (
        {"messages": [_user("a"), {"role": "system", "content": [{"type": "image", "source": PNG}]}]},
        "messages[1].content[0].type",
        "text",
    ),
    ({"messages": [_user([{"type": "tool_reference"}])]}, "messages[0].content[0].tool_name", "string"),
    ({"messages": [{"content": "x"}]}, "messages[0].role", "user"),
    ({"messages": [_user(5)]}, "messages[0].content", "string"),
    ({"messages": [_user(None)]}, "messages[0].content", "string"),
    ({"messages": [_user(["x"])]}, "messages[0].content[0]", "object"),
    ({"messages": [_user("a"), _user([_text("b"), _text(5)])]}, "messages[1].content[1].text", "string"),
    ({"messages": [_user([{"text": "x"}])]}, "messages[0].content[0].type", "type"),
    ({"messages": [_user([{"type": "text", "text": 5}])]}, "messages[0].content[0].text", "string"),
    ({"messages": [_user([{"type": "image"}])]}, "messages[0].content[0].source", "object"),
    (
        {"messages": [_user([{"type": "image", "source": {"type": "base64", "data": "x"}}])]},
        "messages[0].content[0].source.media_type",
        "string",
    ),
    (
        {"messages": [_user([{"type": "image", "source": {"type": "ftp"}}])]},
        "messages[0].content[0].source.type",
        "ftp",
    ),
    ({"messages": [_user([{"type": "tool_result", "content": "x"}])]}, "messages[0].content[0].tool_use_id", "string"),
    ({"messages": [_user([_tool_result("t", 5)])]}, "messages[0].content[0].content", "array"),
    (
        {"messages": [_user("a"), _assistant([{"type": "tool_use", "name": "R", "input": {}}])]},
        "messages[1].content[0].id",
        "string",
    ),
    (
        {"messages": [_user("a"), _assistant([{"type": "tool_use", "id": "t", "input": {}}])]},
        "messages[1].content[0].name",
        "string",
    ),
    ({"messages": [_user("a"), _assistant([_tool_use("t", "R", "x")])]}, "messages[1].content[0].input", "object"),
    (
        {"messages": [_user("a"), _assistant([{"type": "tool_use", "id": "t", "name": "R"}])]},
        "messages[1].content[0].input",
        "object",
    ),
    ({"system": 5}, "system", "array"),
    ({"system": [{"type": "image", "source": PNG}]}, "system[0].type", "text"),
    ({"tools": "Read"}, "tools", "array"),
    ({"tools": [{"input_schema": {}}]}, "tools[0].name", "string"),
    ({"tools": [{"name": "R", "input_schema": "x"}]}, "tools[0].input_schema", "object"),
    ({"tools": [_tool("R")], "tool_choice": {"type": "function"}}, "tool_choice.type", "auto"),
    ({"tools": [_tool("R")], "tool_choice": {"type": "tool"}}, "tool_choice.name", "string"),
    ({"tool_choice": "auto"}, "tool_choice", "object"),
    ({"stop_sequences": "END"}, "stop_sequences", "array"),
    ({"stop_sequences": ["a", 1]}, "stop_sequences[1]", "string"),
    ({"stream": "yes"}, "stream", "boolean"),
    ({"metadata": "x"}, "metadata", "object"),
    ({"metadata": {"user_id": 5}}, "metadata.user_id", "string"),
    ({"thinking": {"type": "enabled", "budget_tokens": 0}}, "thinking.budget_tokens", "positive"),
    ({"thinking": {"type": "sometimes"}}, "thinking.type", "sometimes"),
    ({"output_config": {"effort": "extreme"}}, "output_config.effort", "extreme"),
    ({"output_config": []}, "output_config", "object"),
]


@pytest.mark.parametrize(("fields", "param", "word"), _BAD_INPUTS)
def test_malformed_input_is_a_400_naming_the_problem(fields: Dict[str, Any], param: str, word: str) -> None:
    body = {"model": "claude-sonnet-4-6", "messages": [_user("hi")], **fields}
    body = {key: value for key, value in body.items() if value is not _MISSING}
    with pytest.raises(InvalidRequestError) as caught:
        anthropic_request_to_openai(body, RequestOptions("gpt-4o"))
    error = caught.value
    assert error.status_for("anthropic") == 400
    assert error.param == param
    assert param in error.message and word in error.message


# --- a realistic Claude Code request -------------------------------------------------------------


def _claude_code_request() -> Dict[str, Any]:
    ephemeral = {"type": "ephemeral"}
    bash_schema = {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 32000,
        "stream": True,
        "metadata": {"user_id": "user_2f1c_account_9a_session_77"},
        "thinking": {"type": "enabled", "budget_tokens": 10000},
        "system": [
            _text("You are Claude Code, Anthropic's official CLI for Claude.", cache_control=ephemeral),
            _text(
                "You are an interactive CLI tool that helps users with software engineering tasks.",
                cache_control=ephemeral,
            ),
        ],
        "tools": [
            {"name": "Bash", "description": "Executes a bash command", "input_schema": bash_schema},
            {"name": "Read", "description": "Reads a file", "input_schema": {"type": "object", "properties": {}}},
            {
                "name": LONG_MCP_NAME,
                "description": "Take a screenshot",
                "input_schema": {"type": "object"},
                "cache_control": ephemeral,
            },
        ],
        "messages": [
            _user(
                [
                    _text("<system-reminder>CLAUDE.md says: run tests with pytest</system-reminder>"),
                    _text("Why does the homepage test fail?", cache_control=ephemeral),
                ]
            ),
            _assistant(
                [
                    {"type": "thinking", "thinking": "Run the test first.", "signature": "EqQBCkYIBxgCKkB"},
                    _text("I'll run the test."),
                    _tool_use("toolu_01A", "Bash", {"command": "pytest tests/test_home.py -q"}),
                ]
            ),
            _user([_tool_result("toolu_01A", "E   AssertionError: title mismatch\n1 failed", is_error=True)]),
            _assistant(
                [
                    {"type": "thinking", "thinking": "Look at the page.", "signature": "EqQBCkYIBxgCKkC"},
                    _tool_use("toolu_01B", LONG_MCP_NAME, {"fullPage": True}),
                ]
            ),
            _user(
                [
                    _tool_result("toolu_01B", [_text("Screenshot taken"), {"type": "image", "source": PNG}]),
                    _text("The title should say Welcome."),
                ]
            ),
        ],
    }


def test_realistic_claude_code_request() -> None:
    request = _claude_code_request()
    original = copy.deepcopy(request)
    assert 1800 < len(json.dumps(request)) < 4000
    options = RequestOptions("deepseek-reasoner", max_output_tokens=8192, replay_reasoning=True)
    result = anthropic_request_to_openai(request, options)
    assert request == original  # the client's body is not mutated
    body = result.body
    assert_valid_openai_request(body)
    assert "cache_control" not in json.dumps(body)
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool", "assistant", "tool", "user"]
    assert (
        body["messages"][0]["content"].startswith("You are Claude Code")
        and "interactive CLI" in body["messages"][0]["content"]
    )
    assert [m.get("reasoning_content") for m in body["messages"] if m["role"] == "assistant"] == [
        "Run the test first.",
        "Look at the page.",
    ]
    assert body["messages"][3]["content"].startswith("[tool error] E   AssertionError")
    assert body["messages"][5]["tool_call_id"] == "toolu_01B"
    last = body["messages"][6]["content"]
    assert "toolu_01B" in last[0]["text"] and last[1]["type"] == "image_url"
    assert last[2] == {"type": "text", "text": "The title should say Welcome."}
    ((short, original_name),) = result.tool_names.items()
    assert original_name == LONG_MCP_NAME and len(LONG_MCP_NAME) > 64 and OPENAI_TOOL_NAME.match(short)
    assert body["messages"][4]["tool_calls"][0]["function"]["name"] == short
    assert [t["function"]["name"] for t in body["tools"]] == ["Bash", "Read", short]
    assert body["max_tokens"] == 8192 and body["stream_options"] == {"include_usage": True}
    assert body["user"] == "user_2f1c_account_9a_session_77" and result.stream is True
    assert _noted(result, "thinking") and _noted(result, "cache_control") and _noted(result, "32000")


def test_realistic_request_on_an_openai_reasoning_model() -> None:
    options = RequestOptions("gpt-5", max_tokens_field="max_completion_tokens")
    body = anthropic_request_to_openai(_claude_code_request(), options).body
    assert body["reasoning_effort"] == "high" and body["max_completion_tokens"] == 32000
    assert "max_tokens" not in body


# --- never anything but RouterError --------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
_KEYS = [
    "type",
    "text",
    "source",
    "content",
    "tool_use_id",
    "id",
    "name",
    "input",
    "role",
    "thinking",
    "is_error",
    "media_type",
    "data",
    "url",
    "title",
    "budget_tokens",
    "effort",
    "format",
    "schema",
    "user_id",
]
_SHAPED = st.recursive(
    _JSON,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4),
    max_leaves=20,
)
_FIELDS = [
    "messages",
    "system",
    "max_tokens",
    "temperature",
    "top_p",
    "stop_sequences",
    "stream",
    "tools",
    "tool_choice",
    "thinking",
    "output_config",
    "metadata",
    "top_k",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(_FIELDS), _SHAPED, max_size=6))
def test_arbitrary_input_raises_only_router_errors(fields: Dict[str, Any]) -> None:
    body = {"model": "claude", **fields}
    try:
        result = anthropic_request_to_openai(body, RequestOptions("gpt-5", max_output_tokens=100))
    except RouterError:
        return
    json.dumps(result.body)


def _paths(value: Any, prefix: tuple = ()) -> List[tuple]:
    """Every path (tuple of keys/indexes) into a JSON value, the root included."""
    found = [prefix]
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in children:
        found.extend(_paths(child, (*prefix, key)))
    return found


_REALISTIC_PATHS = _paths(_claude_code_request())[1:]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_REALISTIC_PATHS), _SHAPED | st.just(_MISSING)), min_size=1, max_size=3))
def test_mutated_realistic_request_raises_only_router_errors(mutations: List[Any]) -> None:
    body = _claude_code_request()
    for path, replacement in mutations:
        parent = body
        try:
            for key in path[:-1]:
                parent = parent[key]
            if replacement is _MISSING:
                del parent[path[-1]]
            else:
                parent[path[-1]] = replacement
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path
    try:
        result = anthropic_request_to_openai(body, RequestOptions("o3", max_output_tokens=100))
    except RouterError:
        return
    assert_valid_openai_request(result.body)  # whatever gets through is still a valid OpenAI request
