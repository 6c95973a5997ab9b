"""Responses client request → Chat Completions request (docs/responses-api.md, "Translation:
Responses client → Chat backend"; tools: docs/responses-api.md#tools).

Requests are modeled on what the openai SDK's ``responses.create`` and Codex send (Codex's request
shape: its ``codex-rs/tools/src/tool_spec.rs`` and ``responses_api.rs``)."""

import json
from typing import Any, Dict, List

import pytest

from shim.errors import InvalidRequestError, UnsupportedFeatureError
from shim.translate.context import ClientTool, RequestOptions, TranslatedRequest
from shim.translate.request_responses_to_chat import responses_request_to_chat

OPTIONS = RequestOptions("llama-3.3-70b")
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def translate(body: Dict[str, Any], options: RequestOptions = OPTIONS) -> TranslatedRequest:
    return responses_request_to_chat({"model": "client-model", **body}, options)


def messages(body: Dict[str, Any], options: RequestOptions = OPTIONS) -> List[Dict[str, Any]]:
    return translate(body, options).body["messages"]  # type: ignore[no-any-return]


# Input --------------------------------------------------------------------------------------------

def test_string_input_and_instructions() -> None:
    out = translate({"input": "Hello", "instructions": "Be brief."})
    assert out.body == {"model": "llama-3.3-70b", "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]}


def test_message_items_keep_their_order_and_a_mid_conversation_developer_message_its_place() -> None:
    items = [
        {"role": "user", "content": "one"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "two"}]},
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Use metric."}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "three"},
                                                         {"type": "input_text", "text": "four"}]},
    ]
    assert messages({"input": items}) == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "two"},
        {"role": "system", "content": "Use metric."},
        {"role": "user", "content": "three\nfour"},
    ]


def test_a_backend_set_to_hoist_gets_every_system_instruction_in_the_leading_message() -> None:
    """docs/system-messages.md: mid_conversation_system = "hoist" for chat templates that accept
    only a leading system message; the default keeps the position."""
    items = [{"role": "user", "content": "one"},
             {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Use metric."}]},
             {"role": "user", "content": "two"}]
    out = translate({"input": items, "instructions": "Be brief."},
                    RequestOptions("qwen3", mid_conversation_system="hoist"))
    assert out.body["messages"] == [{"role": "system", "content": "Be brief.\nUse metric."},
                                    {"role": "user", "content": "one"}, {"role": "user", "content": "two"}]
    assert any("hoisted" in note for note in out.notes)


def test_images_and_files_in_user_messages() -> None:
    content = [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "image_url": "data:image/png;base64,iVBOR", "detail": "high"},
        {"type": "input_file", "file_data": "data:application/pdf;base64,JVBER", "filename": "a.pdf"},
    ]
    assert messages({"input": [{"role": "user", "content": content}]}) == [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR", "detail": "high"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBER", "filename": "a.pdf"}},
    ]}]


@pytest.mark.parametrize(("part", "needle"), [
    ({"type": "input_image", "file_id": "file-abc"}, "file_id"),
    ({"type": "input_file", "file_id": "file-abc"}, "file_id"),
    ({"type": "input_file", "file_url": "https://example.com/a.pdf"}, "file_url"),
])
def test_openai_side_files_are_a_clear_400(part: Dict[str, Any], needle: str) -> None:
    with pytest.raises(UnsupportedFeatureError) as raised:
        translate({"input": [{"role": "user", "content": [part]}]})
    assert needle in str(raised.value) and raised.value.param == f"input[0].content[0].{needle}"


def test_function_calls_join_the_assistant_message_before_them_and_outputs_become_tool_messages() -> None:
    items = [
        {"role": "user", "content": "Weather and time?"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call", "call_id": "call_2", "name": "get_time", "arguments": ""},
        {"type": "function_call_output", "call_id": "call_1", "output": "Sunny"},
        {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "14:00"}]},
    ]
    assert messages({"input": items}) == [
        {"role": "user", "content": "Weather and time?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": "14:00"},
    ]


def test_a_function_call_without_assistant_text_starts_an_assistant_message() -> None:
    items = [{"role": "user", "content": "x"},
             {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}]
    assert messages({"input": items})[1] == {
        "role": "assistant", "content": None,
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }


def test_images_returned_by_a_tool_follow_the_tool_messages_in_a_user_message() -> None:
    output = [{"type": "input_text", "text": "screenshot taken"},
              {"type": "input_image", "image_url": "data:image/png;base64,AAA"}]
    items = [
        {"type": "function_call", "call_id": "c1", "name": "shot", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": output},
        {"role": "user", "content": "What do you see?"},
    ]
    assert messages({"input": items})[1:] == [
        {"role": "tool", "tool_call_id": "c1", "content": "screenshot taken"},
        {"role": "user", "content": [{"type": "text", "text": "Content returned by tool call c1:"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}}]},
        {"role": "user", "content": "What do you see?"},
    ]


def test_reasoning_summary_goes_back_only_to_backends_that_replay_reasoning() -> None:
    items = [
        {"role": "user", "content": "q"},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Think A."},
                                                         {"type": "summary_text", "text": "Think B."}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "a"}]},
    ]
    replayed = messages({"input": items}, RequestOptions("deepseek-reasoner", replay_reasoning=True))
    assert replayed[1] == {"role": "assistant", "content": "a", "reasoning_content": "Think A.\n\nThink B."}
    assert messages({"input": items})[1] == {"role": "assistant", "content": "a"}


def test_encrypted_reasoning_is_dropped_with_a_note() -> None:
    items = [{"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA=="},
             {"role": "user", "content": "q"}]
    out = translate({"input": items})
    assert "gAAAA" not in json.dumps(out.body)
    assert any("encrypted_content" in note for note in out.notes)


@pytest.mark.parametrize("kind", ["web_search_call", "file_search_call", "mcp_list_tools", "local_shell_call_output"])
def test_builtin_tool_items_in_the_history_are_dropped_with_a_note(kind: str) -> None:
    out = translate({"input": [{"type": kind, "id": "x_1", "status": "completed"}, {"role": "user", "content": "q"}]})
    assert out.body["messages"] == [{"role": "user", "content": "q"}]
    assert any(kind in note for note in out.notes)


@pytest.mark.parametrize(("item", "error"), [
    ({"type": "item_reference", "id": "msg_1"}, UnsupportedFeatureError),
    ({"type": "hologram", "id": "h"}, InvalidRequestError),
    ({"type": "message", "role": "narrator", "content": "x"}, InvalidRequestError),
    ({"type": "message", "role": "system", "content": [{"type": "input_image", "image_url": "data:,"}]},
     InvalidRequestError),
    ({"type": "function_call", "name": "f", "arguments": "{}"}, InvalidRequestError),
    ("just text", InvalidRequestError),
])
def test_bad_items_are_a_400_naming_the_item(item: Any, error: type) -> None:
    with pytest.raises(error) as raised:
        translate({"input": [{"role": "user", "content": "q"}, item]})
    assert raised.value.param is not None and raised.value.param.startswith("input[1]")


def test_input_must_be_a_string_or_items() -> None:
    with pytest.raises(InvalidRequestError) as raised:
        translate({"input": {"role": "user"}})
    assert raised.value.param == "input"


# Tools --------------------------------------------------------------------------------------------

def test_function_tools_become_chat_function_tools() -> None:
    tools = [{"type": "function", "name": "get_weather", "description": "Weather", "parameters": WEATHER_SCHEMA,
              "strict": True},
             {"type": "function", "name": "ping", "parameters": None, "strict": False}]
    out = translate({"input": "q", "tools": tools, "tool_choice": "required", "parallel_tool_calls": False})
    assert out.body["tools"] == [
        {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER_SCHEMA,
                                          "strict": True}},
        {"type": "function", "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}}},
    ]
    assert out.body["tool_choice"] == "required" and out.body["parallel_tool_calls"] is False
    assert out.client_tools == {}


def test_namespace_groups_are_flattened_reversibly_the_way_codex_flattens_them() -> None:
    """codex-rs/protocol/src/tool_name.rs: namespace without trailing "_", "__", name without
    leading "_"; the call goes back with name and namespace apart (ResponseContext.client_tools)."""
    tools = [{"type": "namespace", "name": "mcp__github_", "description": "GitHub", "tools": [
        {"type": "function", "name": "_list_issues", "description": "List", "parameters": WEATHER_SCHEMA},
        {"type": "custom", "name": "query", "description": "GraphQL"},
    ]}]
    history = [{"type": "function_call", "call_id": "c1", "name": "_list_issues", "namespace": "mcp__github_",
                "arguments": "{}"}]
    out = translate({"input": history, "tools": tools})
    names = [tool["function"]["name"] for tool in out.body["tools"]]
    assert names == ["mcp__github__list_issues", "mcp__github__query"]
    assert out.client_tools == {
        "mcp__github__list_issues": ClientTool("_list_issues", "mcp__github_"),
        "mcp__github__query": ClientTool("query", "mcp__github_", custom=True),
    }
    assert out.body["messages"][0]["tool_calls"][0]["function"]["name"] == "mcp__github__list_issues"


def test_flat_names_chat_would_reject_are_shortened_validly_and_stay_reversible() -> None:
    long = "x" * 60
    tools = [{"type": "namespace", "name": "mcp__server.with.dots", "description": "d",
              "tools": [{"type": "function", "name": long}]}]
    out = translate({"input": "q", "tools": tools})
    [name] = [tool["function"]["name"] for tool in out.body["tools"]]
    assert len(name) <= 64 and all(char.isalnum() or char in "_-" for char in name)
    assert out.client_tools[name] == ClientTool(long, "mcp__server.with.dots")


def test_two_tools_with_one_flat_spelling_get_different_names() -> None:
    tools = [{"type": "function", "name": "a__b"},
             {"type": "namespace", "name": "a", "description": "d", "tools": [{"type": "function", "name": "b"}]}]
    names = [tool["function"]["name"] for tool in translate({"input": "q", "tools": tools}).body["tools"]]
    assert names[0] == "a__b" and names[1] != "a__b"


def test_custom_tools_take_their_free_form_input_as_one_string_parameter() -> None:
    grammar = {"type": "grammar", "syntax": "lark", "definition": "start: \"*** Begin Patch\" /.+/"}
    tools = [{"type": "custom", "name": "apply_patch", "description": "Edit files", "format": grammar}]
    history = [{"type": "custom_tool_call", "call_id": "c1", "name": "apply_patch", "input": "*** Begin Patch"},
               {"type": "custom_tool_call_output", "call_id": "c1", "output": "Done"}]
    out = translate({"input": history, "tools": tools})
    function = out.body["tools"][0]["function"]
    assert function["name"] == "apply_patch" and function["description"] == "Edit files"
    assert function["parameters"]["required"] == ["input"]
    assert "lark" in function["parameters"]["properties"]["input"]["description"]
    assert out.client_tools == {"apply_patch": ClientTool("apply_patch", None, custom=True)}
    call = out.body["messages"][0]["tool_calls"][0]["function"]
    assert json.loads(call["arguments"]) == {"input": "*** Begin Patch"}
    assert out.body["messages"][1] == {"role": "tool", "tool_call_id": "c1", "content": "Done"}


BUILTINS = ["web_search", "web_search_preview", "web_search_2025_08_26", "file_search", "code_interpreter",
            "computer_use_preview", "image_generation", "mcp", "local_shell", "shell", "apply_patch", "tool_search"]


@pytest.mark.parametrize("kind", BUILTINS)
def test_builtin_tools_are_a_400_naming_the_tool(kind: str) -> None:
    tools = [{"type": "function", "name": "f"}, {"type": kind}]
    with pytest.raises(UnsupportedFeatureError) as raised:
        translate({"input": "q", "tools": tools})
    assert repr(kind) in str(raised.value) and raised.value.param == "tools[1]"
    assert raised.value.status_for("openai") == 400


def test_a_builtin_tool_inside_a_namespace_is_a_400_too() -> None:
    tools = [{"type": "namespace", "name": "ns", "description": "d", "tools": [{"type": "web_search"}]}]
    with pytest.raises(UnsupportedFeatureError, match="web_search"):
        translate({"input": "q", "tools": tools})


def test_unknown_tool_types_are_a_400() -> None:
    with pytest.raises(InvalidRequestError, match="hologram"):
        translate({"input": "q", "tools": [{"type": "hologram"}]})


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", "auto"),
    ("none", "none"),
    ({"type": "function", "name": "get_weather"}, {"type": "function", "function": {"name": "get_weather"}}),
    ({"type": "custom", "name": "apply_patch"}, {"type": "function", "function": {"name": "apply_patch"}}),
])
def test_tool_choice(choice: Any, expected: Any) -> None:
    tools = [{"type": "function", "name": "get_weather"}, {"type": "custom", "name": "apply_patch"}]
    assert translate({"input": "q", "tools": tools, "tool_choice": choice}).body["tool_choice"] == expected


def test_allowed_tools_keeps_only_those_tools() -> None:
    tools = [{"type": "function", "name": "a"}, {"type": "function", "name": "b"}]
    choice = {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "b"}]}
    out = translate({"input": "q", "tools": tools, "tool_choice": choice})
    assert [tool["function"]["name"] for tool in out.body["tools"]] == ["b"] and out.body["tool_choice"] == "required"


@pytest.mark.parametrize("choice", [{"type": "web_search_preview"}, {"type": "mcp", "server_label": "x"}])
def test_builtin_tool_choices_are_a_400(choice: Dict[str, Any]) -> None:
    with pytest.raises(UnsupportedFeatureError):
        translate({"input": "q", "tools": [{"type": "function", "name": "a"}], "tool_choice": choice})


# Parameters ---------------------------------------------------------------------------------------

def test_max_output_tokens_goes_to_the_backends_field_clamped_to_its_limit() -> None:
    options = RequestOptions("gpt-4.1", max_output_tokens=1000, max_tokens_field="max_completion_tokens")
    out = translate({"input": "q", "max_output_tokens": 5000, "temperature": 0.2, "top_p": 0.9}, options)
    assert out.body["max_completion_tokens"] == 1000 and "max_tokens" not in out.body
    assert out.body["temperature"] == 0.2 and out.body["top_p"] == 0.9
    assert any("clamped" in note for note in out.notes)


def test_stream_asks_for_usage() -> None:
    out = translate({"input": "q", "stream": True})
    assert out.stream and out.body["stream"] is True and out.body["stream_options"] == {"include_usage": True}


def test_text_format_json_schema_becomes_response_format() -> None:
    fmt = {"type": "json_schema", "name": "weather", "schema": WEATHER_SCHEMA, "strict": True}
    out = translate({"input": "q", "text": {"format": fmt, "verbosity": "low"}})
    assert out.body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "weather", "schema": WEATHER_SCHEMA, "strict": True}}
    assert any("verbosity" in note for note in out.notes)
    assert translate({"input": "q", "text": {"format": {"type": "json_object"}}}).body["response_format"] == {
        "type": "json_object"}
    assert "response_format" not in translate({"input": "q", "text": {"format": {"type": "text"}}}).body


@pytest.mark.parametrize(("model", "effort", "expected"), [
    ("gpt-5.1", "high", "high"),
    ("openai/o3", "low", "low"),
    ("gpt-5.1", "xhigh", "high"),
    ("gpt-5.2", "xhigh", "xhigh"),
    ("llama-3.3-70b", "high", None),
])
def test_reasoning_effort_for_a_chat_server(model: str, effort: str, expected: Any) -> None:
    out = translate({"input": "q", "reasoning": {"effort": effort, "summary": "auto"}}, RequestOptions(model))
    assert out.body.get("reasoning_effort") == expected


def test_reasoning_effort_always_reaches_the_next_translator() -> None:
    out = translate({"input": "q", "reasoning": {"effort": "medium"}},
                    RequestOptions("claude-sonnet-4-6", intermediate=True))
    assert out.body["reasoning_effort"] == "medium"


def test_user_and_safety_identifier() -> None:
    assert translate({"input": "q", "user": "u1"}).body["user"] == "u1"
    assert translate({"input": "q", "user": "u1", "safety_identifier": "s1"}).body["user"] == "s1"


def test_fields_without_a_chat_counterpart_are_dropped_with_a_note() -> None:
    body = {"input": "q", "store": False, "include": ["reasoning.encrypted_content"], "prompt_cache_key": "k",
            "client_metadata": {"x": "y"}, "service_tier": "flex", "metadata": {"a": "b"}, "truncation": "auto",
            "brand_new_field": 1}
    out = translate(body)
    for key in ("store", "include", "prompt_cache_key", "client_metadata", "service_tier", "metadata", "truncation",
                "brand_new_field"):
        assert key not in out.body and any(key in note for note in out.notes), key


@pytest.mark.parametrize(("field", "value"), [
    ("conversation", "conv_123"),
    ("background", True),
    ("prompt", {"id": "pmpt_1"}),
    ("previous_response_id", "resp_unknown"),
])
def test_what_needs_openais_server_state_is_a_400(field: str, value: Any) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        translate({"input": "q", field: value})
    assert raised.value.param == field


def test_background_false_is_fine() -> None:
    assert translate({"input": "q", "background": False}).body["messages"] == [{"role": "user", "content": "q"}]


def test_the_fields_a_response_echoes_travel_to_the_response_side() -> None:
    tools = [{"type": "function", "name": "f"}]
    out = translate({"input": "q", "instructions": "i", "tools": tools, "tool_choice": "auto", "temperature": 0.5,
                     "store": False, "metadata": {"k": "v"}})
    assert out.response_echo == {"instructions": "i", "tools": tools, "tool_choice": "auto", "temperature": 0.5,
                                 "store": False, "metadata": {"k": "v"}}
