"""Chat Completions client request → Responses request, for models served only on /responses
(docs/responses-api.md#upstream-endpoint-choice). The output is checked against the openai SDK's
own request types (``ResponseCreateParams``)."""

import json
from typing import Any, Dict

import pydantic
import pytest
from openai.types.responses.response_create_params import ResponseCreateParamsNonStreaming

from shim.errors import InvalidRequestError, UnsupportedFeatureError
from shim.translate.context import RequestOptions, TranslatedRequest
from shim.translate.request_chat_to_responses import chat_request_to_responses

OPTIONS = RequestOptions("gpt-5-pro")
REQUEST_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ResponseCreateParamsNonStreaming)
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def translate(body: Dict[str, Any], options: RequestOptions = OPTIONS) -> TranslatedRequest:
    out = chat_request_to_responses({"model": "client-model", **body}, options)
    REQUEST_ADAPTER.validate_python({key: value for key, value in out.body.items() if key != "stream"})
    return out


def test_a_conversation_becomes_input_items_in_order() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Weather?"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "Sunny"}]},
        {"role": "developer", "content": "Answer in French."},
        {"role": "user", "content": "So?"},
    ]
    out = translate({"messages": messages})
    assert out.body["input"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "input_text", "text": "Weather?"},
                                     {"type": "input_image", "image_url": "data:image/png;base64,AA",
                                      "detail": "auto"}]},
        {"role": "assistant", "content": "Checking."},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "Sunny"},
        {"role": "developer", "content": "Answer in French."},
        {"role": "user", "content": "So?"},
    ]
    assert out.body["model"] == "gpt-5-pro" and out.body["store"] is False


def test_a_backend_set_to_hoist_gets_one_leading_system_item() -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "one"},
                {"role": "developer", "content": "Use metric."}, {"role": "user", "content": "two"}]
    out = translate({"messages": messages}, RequestOptions("gpt-5-pro", mid_conversation_system="hoist"))
    assert out.body["input"] == [{"role": "system", "content": "Be brief.\nUse metric."},
                                 {"role": "user", "content": "one"}, {"role": "user", "content": "two"}]


def test_files_pass_as_input_files() -> None:
    part = {"type": "file", "file": {"file_data": "data:application/pdf;base64,JV", "filename": "a.pdf"}}
    content = translate({"messages": [{"role": "user", "content": [part]}]}).body["input"][0]["content"]
    assert content == [{"type": "input_file", "file_data": "data:application/pdf;base64,JV", "filename": "a.pdf"}]


def test_earlier_reasoning_cannot_go_back_and_says_so() -> None:
    messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "reasoning_content": "hm"},
                {"role": "user", "content": "q2"}]
    out = translate({"messages": messages})
    assert "hm" not in json.dumps(out.body) and any("reasoning" in note for note in out.notes)


def test_tools_choice_and_parallel_calls() -> None:
    tools = [{"type": "function",
              "function": {"name": "get_weather", "description": "W", "parameters": WEATHER_SCHEMA}},
             {"type": "function", "function": {"name": "ping", "strict": True}}]
    out = translate({"messages": [{"role": "user", "content": "q"}], "tools": tools, "parallel_tool_calls": False,
                     "tool_choice": {"type": "function", "function": {"name": "get_weather"}}})
    assert out.body["tools"] == [
        {"type": "function", "name": "get_weather", "description": "W", "parameters": WEATHER_SCHEMA, "strict": False},
        {"type": "function", "name": "ping", "parameters": {"type": "object", "properties": {}}, "strict": True},
    ]
    assert out.body["tool_choice"] == {"type": "function", "name": "get_weather"}
    assert out.body["parallel_tool_calls"] is False


def test_allowed_tools_choice() -> None:
    choice = {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [
        {"type": "function", "function": {"name": "a"}}]}}
    out = translate({"messages": [{"role": "user", "content": "q"}], "tool_choice": choice})
    assert out.body["tool_choice"] == {"type": "allowed_tools", "mode": "required",
                                       "tools": [{"type": "function", "name": "a"}]}


def test_parameters() -> None:
    body = {"messages": [{"role": "user", "content": "q"}], "max_completion_tokens": 9000, "max_tokens": 5,
            "temperature": 0.5, "top_p": 0.8, "reasoning_effort": "high", "verbosity": "low", "user": "u",
            "metadata": {"k": "v"}, "prompt_cache_key": "pk", "store": True, "stream": True,
            "stream_options": {"include_usage": True},
            "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": WEATHER_SCHEMA,
                                                                        "strict": True}}}
    out = translate(body, RequestOptions("gpt-5-pro", max_output_tokens=4000))
    assert out.body["max_output_tokens"] == 4000 and any("clamped" in note for note in out.notes)
    assert out.body["reasoning"] == {"effort": "high"}, "no summary is asked for (unverified organizations get a 400)"
    assert out.body["text"] == {"format": {"type": "json_schema", "name": "w", "schema": WEATHER_SCHEMA,
                                           "strict": True},
                                "verbosity": "low"}
    assert (out.body["temperature"], out.body["top_p"], out.body["user"]) == (0.5, 0.8, "u")
    assert out.body["metadata"] == {"k": "v"} and out.body["prompt_cache_key"] == "pk" and out.body["store"] is True
    assert out.body["stream"] is True and "stream_options" not in out.body
    assert out.stream and out.include_usage


def test_fields_without_a_responses_counterpart_are_dropped_with_a_note() -> None:
    out = translate({"messages": [{"role": "user", "content": "q"}], "stop": ["\n"], "seed": 3, "logit_bias": {"1": 2},
                     "frequency_penalty": 0.1})
    for key in ("stop", "seed", "logit_bias", "frequency_penalty"):
        assert key not in out.body and any(key in note for note in out.notes)


@pytest.mark.parametrize(("body", "param"), [
    ({"n": 2}, "n"),
    ({"functions": [{"name": "f"}]}, "functions"),
    ({"audio": {"voice": "x"}}, "audio"),
    ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0].type"),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
     "messages[0].content[0]"),
])
def test_what_a_responses_backend_cannot_do_is_a_400(body: Dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedFeatureError) as raised:
        translate({"messages": [{"role": "user", "content": "q"}], **body})
    assert raised.value.param == param


@pytest.mark.parametrize("messages", [
    [{"role": "wizard", "content": "x"}],
    [{"role": "tool", "content": "x"}],
    [{"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f"}}]}],
    "hello",
])
def test_malformed_messages_are_a_400(messages: Any) -> None:
    with pytest.raises(InvalidRequestError):
        translate({"messages": messages})
