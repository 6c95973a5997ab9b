"""OpenAI Chat Completions request → Anthropic Messages request (shim/translate/request_openai_to_anthropic.py
and the openai_* helper modules; docs/protocol-rules.md#request-parameters, docs/protocol-rules.md#messages
and pitfalls P9–P16, P22 of docs/pitfalls.md).

Every translated body is checked against the anthropic SDK's own request types (MessageCreateParams).
"""

import json
from typing import Any, Dict, Type

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from request_shapes import assert_valid_anthropic_request

from shim.errors import InvalidRequestError, RouterError, UnsupportedFeatureError
from shim.protocols import OPENAI
from shim.translate.context import RequestOptions, TranslatedRequest
from shim.translate.openai_messages_to_anthropic import MISSING_TOOL_RESULT_TEXT
from shim.translate.request_openai_to_anthropic import (
    IGNORED_FIELDS,
    OPUS_4_7_PLUS_MODEL_GLOBS,
    THINKING_BUDGETS,
    openai_request_to_anthropic,
)

SONNET = "claude-sonnet-4-5"
OPUS_47 = "claude-opus-4-7"
OPTIONS = RequestOptions(upstream_model=SONNET)
HI = [{"role": "user", "content": "hi"}]
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
PDF_B64 = "JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSPj4Kc3RyZWFtCg=="

def translate(messages: Any = HI, options: RequestOptions = OPTIONS, **fields: Any) -> TranslatedRequest:
    body = {"model": "gpt-4o", "messages": messages, **fields}
    translated = openai_request_to_anthropic(body, options)
    assert_valid_anthropic_request(translated.body)
    return translated


def expect_error(
    error_type: Type[RouterError], param: str, messages: Any = HI, options: RequestOptions = OPTIONS, **fields: Any
) -> RouterError:
    """The translation fails with exactly ``error_type``, a 400 for the OpenAI client, naming ``param``."""
    body = {"model": "gpt-4o", "messages": messages, **fields}
    with pytest.raises(RouterError) as caught:
        openai_request_to_anthropic(body, options)
    error = caught.value
    assert type(error) is error_type, repr(error)
    assert error.status_for(OPENAI) == 400
    assert error.param == param
    assert len(error.message) > 20 and param in error.message
    return error


def user(content: Any) -> Dict[str, Any]:
    return {"role": "user", "content": content}


def call(call_id: str, name: str = "get_weather", arguments: Any = '{"city": "Paris"}') -> Dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def assistant_calls(*calls: Dict[str, Any], content: Any = None) -> Dict[str, Any]:
    return {"role": "assistant", "content": content, "tool_calls": list(calls)}


def tool(call_id: str, content: Any = "sunny") -> Dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def text(value: str) -> Dict[str, Any]:
    return {"type": "text", "text": value}


def result(tool_use_id: str, value: str = "sunny") -> Dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_use_id, "content": [text(value)]}


TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


# --- basics -------------------------------------------------------------------------------------


def test_minimal_request_uses_upstream_model_and_default_max_tokens() -> None:
    translated = translate()
    hi = [{"role": "user", "content": [text("hi")]}]
    assert translated.body == {"model": SONNET, "max_tokens": 4096, "messages": hi}
    assert (translated.stream, translated.include_usage, translated.notes) == (False, False, [])
    assert translated.headers == {} and translated.tool_names == {}


def test_stream_and_include_usage() -> None:
    translated = translate(stream=True, stream_options={"include_usage": True})
    assert translated.body["stream"] is True
    assert translated.stream and translated.include_usage


@pytest.mark.parametrize(
    "fields", [{"stream": False}, {"stream": True, "stream_options": {"include_usage": False}}, {}]
)
def test_stream_false_is_not_sent_and_usage_only_when_asked(fields: Dict[str, Any]) -> None:
    translated = translate(**fields)
    assert translated.body.get("stream") is (True if fields.get("stream") else None)
    assert translated.include_usage is False


def test_the_client_body_is_not_mutated() -> None:
    body = {"model": "m", "messages": [assistant_calls(call("a:1")), tool("a:1")], "tools": [TOOL]}
    snapshot = json.loads(json.dumps(body))
    openai_request_to_anthropic(body, OPTIONS)
    assert body == snapshot


# --- system / developer hoisting (P22) ------------------------------------------------------------


def test_p22_system_and_developer_messages_anywhere_are_hoisted_and_joined() -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        user("hi"),
        {"role": "developer", "content": [text("Answer in French."), text(""), text("No emoji.")]},
        {"role": "assistant", "content": "Bonjour"},
        {"role": "system", "content": "Late rule."},
        user("again"),
    ]
    body = translate(messages).body
    assert body["system"] == "You are terse.\nAnswer in French.\nNo emoji.\nLate rule."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]


def test_p22_system_message_between_tool_messages_does_not_split_the_results() -> None:
    system = {"role": "system", "content": "S"}
    messages = [user("go"), assistant_calls(call("a"), call("b")), tool("a"), system, tool("b")]
    body = translate(messages, tools=[TOOL]).body
    assert body["system"] == "S"
    assert body["messages"][2] == {"role": "user", "content": [result("a"), result("b")]}


def test_empty_system_messages_leave_no_system_field() -> None:
    assert "system" not in translate([{"role": "system", "content": "  "}, user("hi")]).body


# --- user content -------------------------------------------------------------------------------


def test_user_text_parts_become_text_blocks() -> None:
    body = translate([user([text("a"), text("b")])]).body
    assert body["messages"][0]["content"] == [text("a"), text("b")]


@pytest.mark.parametrize(
    "media_type, expected", [("image/png", "image/png"), ("image/jpeg", "image/jpeg"), ("image/jpg", "image/jpeg"),
                             ("image/gif", "image/gif"), ("IMAGE/WEBP", "image/webp")]
)
def test_data_uri_image_becomes_base64_source_and_detail_is_dropped(media_type: str, expected: str) -> None:
    part = {"type": "image_url", "image_url": {"url": f"data:{media_type};base64,{PNG_B64}", "detail": "high"}}
    block = translate([user([text("what is this?"), part])]).body["messages"][0]["content"][1]
    assert block == {"type": "image", "source": {"type": "base64", "media_type": expected, "data": PNG_B64}}


@pytest.mark.parametrize("url", ["https://example.com/cat.png", "http://example.com/a.jpg?x=1", "HTTPS://EXAMPLE.COM/b"])
def test_p12_http_image_url_is_passed_as_url_source_never_downloaded(url: str) -> None:
    block = translate([user([{"type": "image_url", "image_url": {"url": url}}])]).body["messages"][0]["content"][0]
    assert block == {"type": "image", "source": {"type": "url", "url": url}}


def test_image_url_given_as_bare_string_is_accepted() -> None:
    block = translate([user([{"type": "image_url", "image_url": "https://x.test/a.png"}])]).body["messages"][0]
    assert block["content"][0]["source"] == {"type": "url", "url": "https://x.test/a.png"}


def test_unsupported_image_media_type_is_a_400() -> None:
    part = {"type": "image_url", "image_url": {"url": f"data:image/bmp;base64,{PNG_B64}"}}
    error = expect_error(UnsupportedFeatureError, "messages[0].content[0].image_url.url", [user([part])])
    assert "image/bmp" in error.message


@pytest.mark.parametrize(
    "url", ["data:image/png,notbase64", "data:image/png;base64,", "data:;base64,AAAA", "ftp://x/y.png", "cat.png"]
)
def test_malformed_image_urls_are_a_400(url: str) -> None:
    part = {"type": "image_url", "image_url": {"url": url}}
    expect_error(InvalidRequestError, "messages[0].content[0].image_url.url", [user([part])])


def test_pdf_file_data_becomes_a_document_block_titled_by_filename() -> None:
    part = {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PDF_B64}", "filename": "r.pdf"}}
    block = translate([user([part, text("summarize")])]).body["messages"][0]["content"][0]
    assert block == {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64},
        "title": "r.pdf",
    }


def test_non_pdf_file_data_is_unsupported() -> None:
    part = {"type": "file", "file": {"file_data": "data:text/csv;base64,YSxi"}}
    expect_error(UnsupportedFeatureError, "messages[0].content[0].file.file_data", [user([part])])


def test_file_id_is_unsupported() -> None:
    part = {"type": "file", "file": {"file_id": "file-abc"}}
    error = expect_error(UnsupportedFeatureError, "messages[0].content[0].file.file_id", [user([part])])
    assert "file_data" in error.message


def test_input_audio_is_unsupported() -> None:
    part = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    expect_error(UnsupportedFeatureError, "messages[1].content[0].input_audio", [user("x"), user([part])])


# --- empty content (P9) ---------------------------------------------------------------------------


def test_p9_empty_strings_and_parts_are_dropped() -> None:
    body = translate([user([text(""), text("real"), text(" \n")])]).body
    assert body["messages"] == [{"role": "user", "content": [text("real")]}]


def test_p9_message_left_empty_is_dropped_with_a_note() -> None:
    translated = translate([user(""), {"role": "assistant", "content": ""}, user("hi")])
    assert translated.body["messages"] == [{"role": "user", "content": [text("hi")]}]
    assert any("without content" in note for note in translated.notes)


def test_p9_empty_tool_result_is_sent_without_content() -> None:
    messages = [user("go"), assistant_calls(call("a")), tool("a", ""), user("ok")]
    body = translate(messages, tools=[TOOL]).body
    assert body["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "a"}, text("ok")]


def test_no_message_left_is_a_400() -> None:
    expect_error(InvalidRequestError, "messages", [{"role": "system", "content": "only a system prompt"}, user("")])


def test_final_assistant_prefill_loses_trailing_whitespace() -> None:
    body = translate([user("Name a colour."), {"role": "assistant", "content": "The colour is "}]).body
    assert body["messages"][-1] == {"role": "assistant", "content": [text("The colour is")]}


# --- assistant messages and tool calls ------------------------------------------------------------


def test_assistant_content_and_tool_calls_become_text_and_tool_use_blocks() -> None:
    messages = [user("weather?"), assistant_calls(call("call_1"), content="Let me check."), tool("call_1")]
    body = translate(messages, tools=[TOOL]).body
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            text("Let me check."),
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
        ],
    }


@pytest.mark.parametrize("arguments, expected, noted", [
    ('{"a": [1, 2]}', {"a": [1, 2]}, False),
    ("", {}, False),  # P6: the no-argument call
    (None, {}, False),
    ({"a": 1}, {"a": 1}, False),
    ("{not json", {}, True),
    ("[1, 2]", {}, True),
    ('"text"', {}, True),
    ("[" * 100_000, {}, True),  # deep nesting: RecursionError inside json must not escape
])
def test_tool_call_arguments_are_decoded_to_an_object(arguments: Any, expected: Dict[str, Any], noted: bool) -> None:
    translated = translate([user("go"), assistant_calls(call("c", arguments=arguments)), tool("c")], tools=[TOOL])
    assert translated.body["messages"][1]["content"][0]["input"] == expected
    assert any("arguments" in note for note in translated.notes) is noted


def test_refusal_part_in_assistant_history_becomes_text() -> None:
    messages = [user("x"), {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't."}]}, user("ok")]
    assert translate(messages).body["messages"][1]["content"] == [text("I can't.")]


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_p13_reasoning_in_history_is_dropped_with_a_note(field: str) -> None:
    messages = [user("x"), {"role": "assistant", "content": "y", field: "I thought hard."}, user("z")]
    translated = translate(messages)
    assert translated.body["messages"][1]["content"] == [text("y")]
    assert any(field in note and "signature" in note for note in translated.notes)


def test_message_name_is_dropped_with_a_note() -> None:
    translated = translate([{"role": "user", "content": "hi", "name": "alice"}])
    assert translated.body["messages"] == [{"role": "user", "content": [text("hi")]}]
    assert any("'name'" in note for note in translated.notes)


def test_consecutive_same_role_messages_are_merged() -> None:
    c, d = {"role": "assistant", "content": "c"}, {"role": "assistant", "content": "d"}
    messages = [user("a"), user([text("b")]), c, d]
    assert translate(messages).body["messages"] == [
        {"role": "user", "content": [text("a"), text("b")]},
        {"role": "assistant", "content": [text("c"), text("d")]},
    ]


# --- tool ids (P11) -------------------------------------------------------------------------------


def test_p11_illegal_tool_ids_are_sanitized_identically_on_use_and_result() -> None:
    messages = [user("go"), assistant_calls(call("functions.Bash:0"), call("call 2/x")), tool("call 2/x"),
                tool("functions.Bash:0")]
    translated = translate(messages, tools=[TOOL])
    uses = [block["id"] for block in translated.body["messages"][1]["content"]]
    results = [block["tool_use_id"] for block in translated.body["messages"][2]["content"]]
    assert uses == results == ["functions_Bash_0", "call_2_x"]
    assert any("rewrote tool call ids" in note for note in translated.notes)


def test_p11_duplicate_ids_across_turns_become_unique_and_results_follow_their_turn() -> None:
    messages = [
        user("go"), assistant_calls(call("call_0")), tool("call_0", "first"),
        assistant_calls(call("call_0")), tool("call_0", "second"),
    ]
    body = translate(messages, tools=[TOOL]).body
    assert body["messages"][1]["content"][0]["id"] == "call_0"
    assert body["messages"][2]["content"] == [result("call_0", "first")]
    assert body["messages"][3]["content"][0]["id"] == "call_0_2"
    assert body["messages"][4]["content"] == [result("call_0_2", "second")]


def test_p11_duplicate_ids_in_one_message_are_answered_in_order() -> None:
    messages = [user("go"), assistant_calls(call("x"), call("x"), call("x_2")), tool("x", "1"), tool("x", "2"),
                tool("x_2", "3")]
    body = translate(messages, tools=[TOOL]).body
    ids = [block["id"] for block in body["messages"][1]["content"]]
    assert ids == ["x", "x_2", "x_2_2"] and len(set(ids)) == 3
    assert body["messages"][2]["content"] == [result("x", "1"), result("x_2", "2"), result("x_2_2", "3")]


def test_p11_empty_tool_id_gets_a_valid_one() -> None:
    body = translate([user("go"), assistant_calls(call("")), tool("")], tools=[TOOL]).body
    assert body["messages"][1]["content"][0]["id"] == body["messages"][2]["content"][0]["tool_use_id"] == "toolu"


# --- tool results (P10) ---------------------------------------------------------------------------


def test_p10_tool_messages_become_one_user_message_in_call_order_followed_by_user_text() -> None:
    messages = [
        user("weather in Paris and Rome?"),
        assistant_calls(call("a"), call("b", arguments='{"city": "Rome"}')),
        tool("b", [text("rain")]),
        tool("a", "sun"),
        user([text("and tomorrow?")]),
    ]
    body = translate(messages, tools=[TOOL]).body
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][2]["content"] == [result("a", "sun"), result("b", "rain"), text("and tomorrow?")]


def test_p10_missing_tool_result_is_synthesized_as_an_error_with_a_note() -> None:
    messages = [user("go"), assistant_calls(call("a"), call("b")), tool("a"), user("continue")]
    translated = translate(messages, tools=[TOOL])
    assert translated.body["messages"][2]["content"] == [
        result("a"),
        {"type": "tool_result", "tool_use_id": "b", "is_error": True, "content": [text(MISSING_TOOL_RESULT_TEXT)]},
        text("continue"),
    ]
    assert any("'b'" in note and "is_error" in note for note in translated.notes)


def test_p10_tool_calls_at_the_end_of_history_get_synthesized_results() -> None:
    body = translate([user("go"), assistant_calls(call("a"))], tools=[TOOL]).body
    assert body["messages"][-1]["role"] == "user"
    assert body["messages"][-1]["content"][0]["is_error"] is True


def test_p10_tool_message_without_preceding_tool_call_is_a_400() -> None:
    expect_error(InvalidRequestError, "messages[1].tool_call_id", [user("x"), tool("a")])


def test_p10_tool_message_after_user_message_is_a_400() -> None:
    messages = [user("x"), assistant_calls(call("a")), user("interrupt"), tool("a")]
    expect_error(InvalidRequestError, "messages[3].tool_call_id", messages, tools=[TOOL])


def test_p10_tool_message_for_unknown_id_is_a_400() -> None:
    expect_error(InvalidRequestError, "messages[2].tool_call_id", [user("x"), assistant_calls(call("a")), tool("zzz")])


def test_p10_tool_call_answered_twice_is_a_400() -> None:
    messages = [user("x"), assistant_calls(call("a")), tool("a"), tool("a")]
    error = expect_error(InvalidRequestError, "messages[3].tool_call_id", messages)
    assert "more than once" in error.message


# --- malformed messages ---------------------------------------------------------------------------


@pytest.mark.parametrize("messages, error_type, param", [
    ("hi", InvalidRequestError, "messages"),
    (None, InvalidRequestError, "messages"),
    (["hi"], InvalidRequestError, "messages[0]"),
    ([user("a"), {"content": "no role"}], InvalidRequestError, "messages[1].role"),
    ([{"role": "robot", "content": "x"}], InvalidRequestError, "messages[0].role"),
    ([{"role": ["user"], "content": "x"}], InvalidRequestError, "messages[0].role"),
    ([{"role": "function", "name": "f", "content": "x"}], UnsupportedFeatureError, "messages[0].role"),
    ([user("a"), user("b"), user("c"), user(42)], InvalidRequestError, "messages[3].content"),
    ([user({"type": "text", "text": "x"})], InvalidRequestError, "messages[0].content"),
    ([{"role": "user"}], InvalidRequestError, "messages[0].content"),
    ([user(["bare string part"])], InvalidRequestError, "messages[0].content[0]"),
    ([user([{"text": "no type"}])], InvalidRequestError, "messages[0].content[0].type"),
    ([user([{"type": "video", "video": {}}])], InvalidRequestError, "messages[0].content[0].type"),
    ([user([{"type": "text", "text": 5}])], InvalidRequestError, "messages[0].content[0].text"),
    ([user([{"type": "image_url"}])], InvalidRequestError, "messages[0].content[0].image_url"),
    ([user([{"type": "image_url", "image_url": {"url": 1}}])], InvalidRequestError,
     "messages[0].content[0].image_url.url"),
    ([user([{"type": "file", "file": "x"}])], InvalidRequestError, "messages[0].content[0].file"),
    ([user("x"), {"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": "https://a/b"}}]}],
     InvalidRequestError, "messages[1].content[0].type"),
    ([user("x"), {"role": "assistant", "content": 3}], InvalidRequestError, "messages[1].content"),
    ([user("x"), {"role": "assistant", "tool_calls": {"id": "a"}}], InvalidRequestError, "messages[1].tool_calls"),
    ([user("x"), {"role": "assistant", "tool_calls": ["a"]}], InvalidRequestError, "messages[1].tool_calls[0]"),
    ([user("x"), {"role": "assistant", "tool_calls": [{"id": "a", "type": "function"}]}],
     InvalidRequestError, "messages[1].tool_calls[0].function"),
    ([user("x"), {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f"}}]}],
     InvalidRequestError, "messages[1].tool_calls[0].id"),
    ([user("x"), assistant_calls(call("a", name=""))], InvalidRequestError, "messages[1].tool_calls[0].function.name"),
    ([user("x"), assistant_calls(call("a", arguments=7))], InvalidRequestError,
     "messages[1].tool_calls[0].function.arguments"),
    ([user("x"), assistant_calls({"id": "a", "type": "custom", "custom": {"name": "f", "input": "x"}})],
     UnsupportedFeatureError, "messages[1].tool_calls[0].type"),
    ([user("x"), {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}}],
     UnsupportedFeatureError, "messages[1].function_call"),
    ([user("x"), assistant_calls(call("a")), {"role": "tool", "content": "r"}], InvalidRequestError,
     "messages[2].tool_call_id"),
    ([user("x"), assistant_calls(call("a")), tool("a", [{"type": "image_url", "image_url": {"url": "https://a"}}])],
     InvalidRequestError, "messages[2].content[0].type"),
    ([{"role": "system", "content": None}, user("x")], InvalidRequestError, "messages[0].content"),
])
def test_malformed_messages_are_a_400_naming_the_field(
    messages: Any, error_type: Type[RouterError], param: str
) -> None:
    expect_error(error_type, param, messages)


# --- max_tokens (P15) -----------------------------------------------------------------------------


@pytest.mark.parametrize("fields, expected", [
    ({}, 4096),
    ({"max_tokens": 100}, 100),
    ({"max_completion_tokens": 200}, 200),
    ({"max_completion_tokens": 200, "max_tokens": 100}, 200),
    ({"max_tokens": None, "max_completion_tokens": None}, 4096),
    ({"max_tokens": 2048.0}, 2048),
])
def test_max_tokens_source(fields: Dict[str, Any], expected: int) -> None:
    translated = translate(**fields)
    assert translated.body["max_tokens"] == expected
    assert translated.notes == []


def test_p15_max_tokens_is_clamped_to_the_backend_limit_with_a_note() -> None:
    translated = translate(options=RequestOptions(SONNET, max_output_tokens=64000), max_completion_tokens=128001)
    assert translated.body["max_tokens"] == 64000
    assert translated.notes == ["clamped 'max_tokens' from 128001 to 64000, the backend's output limit"]


def test_p15_default_max_tokens_is_clamped_too() -> None:
    options = RequestOptions(SONNET, default_max_tokens=8192, max_output_tokens=1000)
    assert translate(options=options).body["max_tokens"] == 1000


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
@pytest.mark.parametrize("value", [0, -5, 1.5, "100", True, [100]])
def test_p15_non_positive_integer_max_tokens_is_a_400(field: str, value: Any) -> None:
    expect_error(InvalidRequestError, field, **{field: value})


# --- sampling (P16) -------------------------------------------------------------------------------


@pytest.mark.parametrize("temperature, expected, noted", [(0, 0.0, False), (0.7, 0.7, False), (1, 1.0, False),
                                                           (1.8, 1.0, True), (2, 1.0, True), (-0.5, 0.0, True)])
def test_temperature_is_clamped_to_anthropic_range(temperature: float, expected: float, noted: bool) -> None:
    translated = translate(temperature=temperature)
    assert translated.body["temperature"] == expected
    assert any("clamped 'temperature'" in note for note in translated.notes) is noted


def test_top_p_is_passed_through() -> None:
    assert translate(top_p=0.9).body["top_p"] == 0.9


@pytest.mark.parametrize("model", ["claude-opus-4-7", "claude-opus-4-7-20260101", "CLAUDE-OPUS-4-8",
                                   "claude-opus-5", "us.anthropic.claude-opus-4-7-v1:0", "claude-opus-5-5",
                                   "claude-fable-5-2", "claude-sonnet-5-5", "claude-haiku-5-5"])
def test_p16_sampling_params_are_dropped_for_opus_4_7_and_later(model: str) -> None:
    translated = translate(options=RequestOptions(model), temperature=0.2, top_p=0.5)
    assert "temperature" not in translated.body and "top_p" not in translated.body
    assert [note.split(":")[0] for note in translated.notes] == ["dropped 'temperature'", "dropped 'top_p'"]


@pytest.mark.parametrize("model", ["claude-opus-4-1", "claude-opus-4-6", "claude-sonnet-4-5", "claude-haiku-4-5"])
def test_p16_sampling_params_are_kept_for_older_models(model: str) -> None:
    body = translate(options=RequestOptions(model), temperature=0.2, top_p=0.5).body
    assert (body["temperature"], body["top_p"]) == (0.2, 0.5)


def test_p16_glob_tuple_is_the_documented_one() -> None:
    assert "*claude-opus-4-7*" in OPUS_4_7_PLUS_MODEL_GLOBS


@pytest.mark.parametrize("field", ["temperature", "top_p"])
@pytest.mark.parametrize("value", ["0.5", True, [1], float("nan"), float("inf")])
def test_wrong_sampling_types_are_a_400(field: str, value: Any) -> None:
    expect_error(InvalidRequestError, field, **{field: value})


# --- stop sequences ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stop, expected, noted", [
    ("END", ["END"], False),
    (["a", "b"], ["a", "b"], False),
    (["\n", "END", " "], ["END"], True),
    ("\n\n", None, True),
    ([], None, False),
])
def test_stop_becomes_stop_sequences_without_whitespace_only_entries(stop: Any, expected: Any, noted: bool) -> None:
    translated = translate(stop=stop)
    assert translated.body.get("stop_sequences") == expected
    assert any("whitespace-only" in note for note in translated.notes) is noted


@pytest.mark.parametrize("stop, param", [(5, "stop"), ({"a": 1}, "stop"), (["a", 3], "stop[1]")])
def test_wrong_stop_types_are_a_400(stop: Any, param: str) -> None:
    expect_error(InvalidRequestError, param, stop=stop)


# --- n, legacy functions ------------------------------------------------------------------------------


def test_n_of_one_is_accepted() -> None:
    assert translate(n=1).notes == []


@pytest.mark.parametrize("n, error_type", [(2, UnsupportedFeatureError), (0, InvalidRequestError),
                                           ("2", InvalidRequestError)])
def test_n_other_than_one_is_a_400(n: Any, error_type: Type[RouterError]) -> None:
    expect_error(error_type, "n", n=n)


@pytest.mark.parametrize("field, value", [("functions", [{"name": "f"}]), ("function_call", "auto")])
def test_legacy_functions_are_unsupported(field: str, value: Any) -> None:
    expect_error(UnsupportedFeatureError, field, **{field: value})


# --- tools ----------------------------------------------------------------------------------------


def test_function_tool_becomes_anthropic_tool() -> None:
    assert translate(tools=[TOOL]).body["tools"] == [{
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }]


def test_tool_without_parameters_gets_an_empty_object_schema_and_strict_passes() -> None:
    tools = [{"type": "function", "function": {"name": "now", "strict": True}},
             {"type": "function", "function": {"name": "later", "strict": False, "description": ""}}]
    assert translate(tools=tools).body["tools"] == [
        {"name": "now", "input_schema": {"type": "object", "properties": {}}, "strict": True},
        {"name": "later", "input_schema": {"type": "object", "properties": {}}},
    ]


def test_untyped_root_schema_gets_type_object_with_a_note() -> None:
    schema = {"properties": {"q": {"type": "string"}}}
    translated = translate(tools=[{"type": "function", "function": {"name": "s", "parameters": schema}}])
    assert translated.body["tools"][0]["input_schema"] == {"type": "object", **schema}
    assert any("'type': 'object'" in note for note in translated.notes)


@pytest.mark.parametrize("tools, error_type, param", [
    ({"type": "function"}, InvalidRequestError, "tools"),
    (["get_weather"], InvalidRequestError, "tools[0]"),
    ([{"type": "function"}], InvalidRequestError, "tools[0].function"),
    ([{"type": "function", "function": {"name": 3}}], InvalidRequestError, "tools[0].function.name"),
    ([{"type": "function", "function": {"name": "f", "description": 1}}], InvalidRequestError,
     "tools[0].function.description"),
    ([{"type": "function", "function": {"name": "f", "parameters": "{}"}}], InvalidRequestError,
     "tools[0].function.parameters"),
    ([{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}], InvalidRequestError,
     "tools[0].function.parameters.type"),
    ([{"type": "function", "function": {"name": "f", "strict": "yes"}}], InvalidRequestError,
     "tools[0].function.strict"),
    ([{"type": "custom", "custom": {"name": "grammar"}}], UnsupportedFeatureError, "tools[0].type"),
    ([TOOL, {"type": "web_search"}], UnsupportedFeatureError, "tools[1].type"),
])
def test_malformed_or_unsupported_tools_are_a_400(tools: Any, error_type: Type[RouterError], param: str) -> None:
    expect_error(error_type, param, tools=tools)


# --- tool_choice / parallel_tool_calls ------------------------------------------------------------


@pytest.mark.parametrize("choice, expected", [
    ("auto", {"type": "auto"}),
    ("required", {"type": "any"}),
    ("none", {"type": "none"}),
    ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
])
def test_tool_choice_mapping(choice: Any, expected: Dict[str, Any]) -> None:
    assert translate(tools=[TOOL], tool_choice=choice).body["tool_choice"] == expected


@pytest.mark.parametrize("mode, expected", [("auto", "auto"), ("required", "any")])
def test_allowed_tools_filters_tools(mode: str, expected: str) -> None:
    other = {"type": "function", "function": {"name": "get_time"}}
    choice = {"type": "allowed_tools",
              "allowed_tools": {"mode": mode, "tools": [{"type": "function", "function": {"name": "get_time"}}]}}
    body = translate(tools=[TOOL, other], tool_choice=choice).body
    assert [t["name"] for t in body["tools"]] == ["get_time"]
    assert body["tool_choice"] == {"type": expected}


@pytest.mark.parametrize("choice, error_type, param", [
    ("sometimes", InvalidRequestError, "tool_choice"),
    (3, InvalidRequestError, "tool_choice"),
    ({"type": "function", "function": {"name": "nope"}}, InvalidRequestError, "tool_choice.function.name"),
    ({"type": "function"}, InvalidRequestError, "tool_choice.function"),
    ({"type": "magic"}, InvalidRequestError, "tool_choice.type"),
    ({"type": "custom", "custom": {"name": "g"}}, UnsupportedFeatureError, "tool_choice"),
    ({"type": "allowed_tools", "allowed_tools": {"mode": ["auto"], "tools": []}}, InvalidRequestError,
     "tool_choice.allowed_tools.mode"),
    ({"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}}, InvalidRequestError,
     "tool_choice.allowed_tools.tools"),
    ({"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [{"type": "function",
                                                                           "function": {"name": "x"}}]}},
     InvalidRequestError, "tool_choice.allowed_tools.tools[0].function.name"),
])
def test_malformed_tool_choice_is_a_400(choice: Any, error_type: Type[RouterError], param: str) -> None:
    expect_error(error_type, param, tools=[TOOL], tool_choice=choice)


@pytest.mark.parametrize("fields", [{"tool_choice": "auto"}, {"parallel_tool_calls": False}, {"tools": []}])
def test_tool_settings_without_tools_are_dropped_with_a_note(fields: Dict[str, Any]) -> None:
    translated = translate(**fields)
    assert "tools" not in translated.body and "tool_choice" not in translated.body
    assert len(translated.notes) == (0 if fields == {"tools": []} else 1)


@pytest.mark.parametrize("choice, expected", [
    (None, {"type": "auto", "disable_parallel_tool_use": True}),
    ("required", {"type": "any", "disable_parallel_tool_use": True}),
    ({"type": "function", "function": {"name": "get_weather"}},
     {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}),
    ("none", {"type": "none"}),
])
def test_parallel_tool_calls_false_disables_parallel_use(choice: Any, expected: Dict[str, Any]) -> None:
    fields = {"tool_choice": choice} if choice is not None else {}
    translated = translate(tools=[TOOL], parallel_tool_calls=False, **fields)
    assert translated.body["tool_choice"] == expected
    assert bool(translated.notes) is (choice == "none")


def test_parallel_tool_calls_true_changes_nothing() -> None:
    assert "tool_choice" not in translate(tools=[TOOL], parallel_tool_calls=True).body


def test_parallel_tool_calls_wrong_type_is_a_400() -> None:
    expect_error(InvalidRequestError, "parallel_tool_calls", tools=[TOOL], parallel_tool_calls="no")


# --- reasoning_effort → thinking ------------------------------------------------------------------


@pytest.mark.parametrize("effort, budget", sorted(THINKING_BUDGETS.items()))
def test_reasoning_effort_becomes_a_thinking_budget(effort: str, budget: int) -> None:
    translated = translate(max_completion_tokens=32000, reasoning_effort=effort)
    assert translated.body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert budget >= 1024 and translated.body["max_tokens"] == 32000


def test_budgets_follow_the_spec() -> None:
    assert THINKING_BUDGETS == {"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096, "xhigh": 8192,
                                "max": 16384}


@pytest.mark.parametrize("effort, expected", [("minimal", "low"), ("low", "low"), ("medium", "medium"),
                                              ("high", "high"), ("xhigh", "xhigh"), ("max", "max")])
def test_reasoning_effort_on_opus_4_7_is_adaptive_with_effort(effort: str, expected: str) -> None:
    translated = translate(options=RequestOptions(OPUS_47), reasoning_effort=effort)
    assert translated.body["thinking"] == {"type": "adaptive"}
    assert translated.body["output_config"] == {"effort": expected}
    assert translated.body["max_tokens"] == 4096
    assert any("minimal" in note for note in translated.notes) is (effort == "minimal")


@pytest.mark.parametrize("model", ["claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5", "claude-fable-5-2"])
def test_reasoning_effort_on_the_claude_5_5_models_is_adaptive_never_a_budget(model: str) -> None:
    translated = translate(options=RequestOptions(model), reasoning_effort="medium")
    assert translated.body["thinking"] == {"type": "adaptive"}
    assert translated.body["output_config"] == {"effort": "medium"}


def test_reasoning_effort_none_means_no_thinking() -> None:
    translated = translate(reasoning_effort="none")
    assert "thinking" not in translated.body and translated.notes == []


@pytest.mark.parametrize("effort", ["extreme", "", 3, ["low"]])
def test_invalid_reasoning_effort_is_a_400(effort: Any) -> None:
    expect_error(InvalidRequestError, "reasoning_effort", reasoning_effort=effort)


def test_p15_max_tokens_is_raised_above_the_thinking_budget() -> None:
    translated = translate(max_tokens=1000, reasoning_effort="high")
    assert translated.body["max_tokens"] == 4096 + 1024
    assert translated.body["thinking"]["budget_tokens"] == 4096
    assert translated.notes == ["raised 'max_tokens' from 1000 to 5120 to make room for thinking"]


def test_p15_thinking_budget_shrinks_to_fit_the_backend_limit() -> None:
    options = RequestOptions(SONNET, max_output_tokens=6000)
    translated = translate(options=options, max_tokens=3000, reasoning_effort="max")
    assert translated.body["max_tokens"] == 6000
    assert translated.body["thinking"] == {"type": "enabled", "budget_tokens": 6000 - 1024}
    assert len(translated.notes) == 2


def test_p15_thinking_is_dropped_when_the_backend_limit_is_below_the_minimum_budget() -> None:
    options = RequestOptions(SONNET, max_output_tokens=2000)
    translated = translate(options=options, max_tokens=1000, reasoning_effort="low")
    assert "thinking" not in translated.body and translated.body["max_tokens"] == 1000
    assert any("dropped 'reasoning_effort'" in note for note in translated.notes)


def test_thinking_drops_temperature_and_top_p_with_notes() -> None:
    translated = translate(max_tokens=8000, reasoning_effort="low", temperature=0.3, top_p=0.9)
    body = translated.body
    assert "thinking" in body and "temperature" not in body and "top_p" not in body
    assert sum("while thinking is on" in note for note in translated.notes) == 2


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "get_weather"}}])
def test_forced_tool_choice_wins_over_thinking(choice: Any) -> None:
    translated = translate(tools=[TOOL], tool_choice=choice, reasoning_effort="high", temperature=0.5)
    assert "thinking" not in translated.body
    assert translated.body["tool_choice"]["type"] in ("any", "tool")
    assert translated.body["temperature"] == 0.5  # thinking off: sampling survives
    assert any("forced tool_choice" in note for note in translated.notes)


def test_thinking_is_dropped_when_history_continues_a_tool_loop() -> None:
    messages = [user("go"), assistant_calls(call("a")), tool("a")]
    translated = translate(messages, tools=[TOOL], reasoning_effort="high", options=RequestOptions(OPUS_47))
    assert "thinking" not in translated.body and "output_config" not in translated.body
    assert any("tool loop" in note for note in translated.notes)


def test_thinking_stays_on_when_the_last_assistant_message_made_no_tool_calls() -> None:
    messages = [user("go"), assistant_calls(call("a")), tool("a"), {"role": "assistant", "content": "done"}, user("q")]
    body = translate(messages, tools=[TOOL], max_tokens=8000, reasoning_effort="medium").body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}


# --- response_format, metadata ----------------------------------------------------------------------


SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
          "additionalProperties": False}


def test_json_schema_response_format_becomes_output_config_format() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "a", "strict": True, "schema": SCHEMA}}
    assert translate(response_format=fmt).body["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}


def test_json_schema_and_adaptive_effort_share_output_config() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}}
    body = translate(options=RequestOptions(OPUS_47), response_format=fmt, reasoning_effort="high").body
    assert body["output_config"] == {"effort": "high", "format": {"type": "json_schema", "schema": SCHEMA}}


@pytest.mark.parametrize("kind", ["text", "json_object"])
def test_text_and_json_object_response_formats_are_dropped_with_a_note(kind: str) -> None:
    translated = translate(response_format={"type": kind})
    assert "output_config" not in translated.body
    assert translated.notes == [f"dropped 'response_format' of type '{kind}': no Anthropic counterpart"]


@pytest.mark.parametrize("fmt, param", [
    ("json", "response_format"),
    ({"type": "yaml"}, "response_format.type"),
    ({"type": "json_schema"}, "response_format.json_schema"),
    ({"type": "json_schema", "json_schema": {"name": "a"}}, "response_format.json_schema.schema"),
])
def test_malformed_response_format_is_a_400(fmt: Any, param: str) -> None:
    expect_error(InvalidRequestError, param, response_format=fmt)


@pytest.mark.parametrize("fields, expected", [
    ({"user": "u-1"}, {"user_id": "u-1"}),
    ({"safety_identifier": "s-1"}, {"user_id": "s-1"}),
    ({"safety_identifier": "s-1", "user": "u-1"}, {"user_id": "s-1"}),
    ({"user": ""}, None),
])
def test_user_and_safety_identifier_become_metadata_user_id(fields: Dict[str, Any], expected: Any) -> None:
    assert translate(**fields).body.get("metadata") == expected


def test_openai_metadata_is_dropped_with_a_note() -> None:
    translated = translate(metadata={"session": "x"}, user="u")
    assert translated.body["metadata"] == {"user_id": "u"}
    assert translated.notes == ["dropped 'metadata': Anthropic metadata holds only a user id"]


@pytest.mark.parametrize("fields, param", [({"user": 5}, "user"), ({"safety_identifier": ["x"]}, "safety_identifier"),
                                           ({"metadata": None, "stream": "yes"}, "stream"),
                                           ({"stream_options": "usage"}, "stream_options")])
def test_wrong_types_of_simple_fields_are_a_400(fields: Dict[str, Any], param: str) -> None:
    expect_error(InvalidRequestError, param, **fields)


# --- ignored and unknown fields ---------------------------------------------------------------------


@pytest.mark.parametrize("field", sorted(IGNORED_FIELDS))
def test_ignored_fields_are_dropped_with_a_note(field: str) -> None:
    translated = translate(**{field: {"some": "value"}})
    assert translated.notes == [f"dropped '{field}': no Anthropic counterpart"]
    assert field not in translated.body


def test_spec_listed_ignored_fields_are_all_covered() -> None:
    listed = {"seed", "frequency_penalty", "presence_penalty", "logit_bias", "logprobs", "top_logprobs", "prediction",
              "modalities", "audio", "store", "service_tier", "verbosity", "web_search_options", "prompt_cache_key",
              "prompt_cache_retention"}
    assert listed <= IGNORED_FIELDS


def test_unknown_fields_are_dropped_with_a_note_and_nulls_are_silent() -> None:
    translated = translate(top_k=5, logit_bias=None, seed=None)
    assert translated.notes == ["dropped 'top_k': unknown field"]
    assert "top_k" not in translated.body


# --- a realistic request --------------------------------------------------------------------------


def realistic_request() -> Dict[str, Any]:
    """What an agent framework sends on its third turn: tools, a parallel tool loop, an image."""
    return {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are a travel assistant. Be concise and cite the tools you used."},
            {"role": "user", "content": [
                {"type": "text", "text": "I'm flying to Lisbon on Friday. What's the weather, and the time there?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/ticket.png", "detail": "low"}},
            ]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_W1", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city": "Lisbon", "day": "friday"}'}},
                {"id": "call_T1", "type": "function",
                 "function": {"name": "get_time", "arguments": '{"tz": "Europe/Lisbon"}'}},
            ]},
            {"role": "tool", "tool_call_id": "call_W1", "content": '{"forecast": "sunny", "high_c": 24, "low_c": 16}'},
            {"role": "tool", "tool_call_id": "call_T1", "content": [{"type": "text", "text": "14:05 WEST"}]},
            {"role": "assistant", "content": "Friday in Lisbon: sunny, 16–24 °C. Local time is 14:05 (WEST)."},
            {"role": "developer", "content": "If the user asks for packing advice, call suggest_items."},
            {"role": "user", "content": "Great — what should I pack?", "name": "maria"},
        ],
        "tools": [
            {"type": "function", "function": {
                "name": "get_weather", "description": "Forecast for a city and day.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                               "day": {"type": "string", "enum": ["today", "tomorrow", "friday"]}},
                               "required": ["city"], "additionalProperties": False},
                "strict": True}},
            {"type": "function", "function": {
                "name": "get_time", "description": "Current local time in an IANA time zone.",
                "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}}},
            {"type": "function", "function": {
                "name": "suggest_items", "description": "Packing list for a forecast.",
                "parameters": {"type": "object", "properties": {"forecast": {"type": "string"},
                               "days": {"type": "integer", "minimum": 1}}, "required": ["forecast"]}}},
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "temperature": 0.4,
        "max_completion_tokens": 1024,
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": "user-7d3f",
        "seed": 42,
        "presence_penalty": 0.1,
    }


def test_realistic_request_with_tools_and_a_multi_turn_tool_loop() -> None:
    request = realistic_request()
    assert 2000 <= len(json.dumps(request)) <= 3200
    translated = openai_request_to_anthropic(request, RequestOptions(SONNET, max_output_tokens=64000))
    assert_valid_anthropic_request(translated.body)
    tools = request["tools"]
    assert translated.body == {
        "model": SONNET,
        "max_tokens": 1024,
        "system": "You are a travel assistant. Be concise and cite the tools you used.\n"
                  "If the user asks for packing advice, call suggest_items.",
        "messages": [
            {"role": "user", "content": [
                text("I'm flying to Lisbon on Friday. What's the weather, and the time there?"),
                {"type": "image", "source": {"type": "url", "url": "https://example.com/ticket.png"}},
            ]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "call_W1", "name": "get_weather",
                 "input": {"city": "Lisbon", "day": "friday"}},
                {"type": "tool_use", "id": "call_T1", "name": "get_time", "input": {"tz": "Europe/Lisbon"}},
            ]},
            {"role": "user", "content": [
                result("call_W1", '{"forecast": "sunny", "high_c": 24, "low_c": 16}'),
                result("call_T1", "14:05 WEST"),
            ]},
            {"role": "assistant", "content": [text("Friday in Lisbon: sunny, 16–24 °C. Local time is 14:05 (WEST).")]},
            {"role": "user", "content": [text("Great — what should I pack?")]},
        ],
        "tools": [
            {"name": "get_weather", "description": "Forecast for a city and day.",
             "input_schema": tools[0]["function"]["parameters"], "strict": True},
            {"name": "get_time", "description": "Current local time in an IANA time zone.",
             "input_schema": tools[1]["function"]["parameters"]},
            {"name": "suggest_items", "description": "Packing list for a forecast.",
             "input_schema": tools[2]["function"]["parameters"]},
        ],
        "tool_choice": {"type": "auto"},
        "temperature": 0.4,
        "metadata": {"user_id": "user-7d3f"},
        "stream": True,
    }
    assert (translated.stream, translated.include_usage) == (True, True)
    assert sorted(translated.notes) == sorted([
        "dropped 'name' on messages: Anthropic messages carry no author name",
        "dropped 'seed': no Anthropic counterpart",
        "dropped 'presence_penalty': no Anthropic counterpart",
        "hoisted mid-conversation system messages into 'system' (the model takes them there)",
    ])


# --- robustness: only router errors escape ------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 70000) | st.floats(allow_nan=True) | st.text(max_size=12)
    | st.sampled_from(["user", "assistant", "tool", "system", "text", "image_url", "function", "a", "data:,"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["role", "content", "type", "text", "tool_calls", "id", "function", "name", "arguments",
                         "tool_call_id", "image_url", "url", "file", "file_data", "parameters"]),
        children, max_size=5),
    max_leaves=20,
)
_FIELDS = ["messages", "tools", "tool_choice", "max_tokens", "temperature", "stop", "n", "reasoning_effort",
           "response_format", "parallel_tool_calls", "stream_options", "user", "top_p", "stream"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(_FIELDS), value=_json_values, index=st.integers(0, 9))
def test_random_values_only_raise_router_errors(field: str, value: Any, index: int) -> None:
    body = realistic_request()
    if field == "messages" and isinstance(value, dict):
        body["messages"][index % len(body["messages"])] = value  # mutate one message
    else:
        body[field] = value
    try:
        translated = openai_request_to_anthropic(body, RequestOptions(SONNET))
    except RouterError as error:
        assert error.status_for(OPENAI) == 400
        return
    json.dumps(translated.body, allow_nan=False)
