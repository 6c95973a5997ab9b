"""A Chat backend's ``chat.completion`` → a Response object (docs/responses-api.md), checked with
the openai SDK's own types in strict mode and through ``responses.create`` (strict client)."""

import json
from typing import Any, Dict

import pytest
from responses_support import CONTEXT, RESPONSE_ADAPTER, openai_client

from shim.errors import UpstreamError, UpstreamProtocolError
from shim.translate.context import ResponseContext
from shim.translate.response_chat_to_responses import chat_response_to_responses

USAGE = {"prompt_tokens": 1300, "completion_tokens": 58, "total_tokens": 1358,
         "prompt_tokens_details": {"cached_tokens": 1024, "cache_write_tokens": 210},
         "completion_tokens_details": {"reasoning_tokens": 21}}


def completion(message: Dict[str, Any], finish: str = "stop", **top: Any) -> Dict[str, Any]:
    body = {"id": "chatcmpl-9", "object": "chat.completion", "created": 1, "model": "llama-3.3-70b",
            "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
            "usage": USAGE}
    body.update(top)
    return body


def translate(body: Dict[str, Any], context: ResponseContext = CONTEXT) -> Dict[str, Any]:
    response = chat_response_to_responses(body, context)
    RESPONSE_ADAPTER.validate_python(json.loads(json.dumps(response)), strict=True)
    return response


def test_text_answer() -> None:
    response = translate(completion({"content": "Hello."}))
    assert response["id"] == "resp_c0ffee" and response["object"] == "response"
    assert response["model"] == "gpt-5.1-codex" and response["created_at"] == CONTEXT.created
    assert response["status"] == "completed" and response["incomplete_details"] is None
    assert response["output"] == [{"id": "msg_c0ffee_0", "type": "message", "status": "completed", "role": "assistant",
                                   "content": [{"type": "output_text", "text": "Hello.", "annotations": [],
                                                "logprobs": []}]}]


def test_usage_input_includes_cache_reads_and_writes() -> None:
    assert translate(completion({"content": "x"}))["usage"] == {
        "input_tokens": 1300, "input_tokens_details": {"cached_tokens": 1024, "cache_write_tokens": 210},
        "output_tokens": 58, "output_tokens_details": {"reasoning_tokens": 21}, "total_tokens": 1358,
    }


def test_reasoning_then_message_then_calls_in_the_order_a_model_produces_them() -> None:
    message = {"content": "Checking.", "reasoning_content": "Two tools.", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "mcp__fs__read", "arguments": '{"p":"a"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "apply_patch", "arguments": '{"input":"*** Begin"}'}},
        {"id": "call_3", "type": "function", "function": {"name": "plain", "arguments": ""}},
    ]}
    output = translate(completion(message, "tool_calls"))["output"]
    assert [item["type"] for item in output] == ["reasoning", "message", "function_call", "custom_tool_call",
                                                 "function_call"]
    assert output[0] == {"id": "rs_c0ffee_0", "type": "reasoning",
                         "summary": [{"type": "summary_text", "text": "Two tools."}]}
    assert output[2] == {"id": "fc_c0ffee_2", "type": "function_call", "status": "completed", "call_id": "call_1",
                         "name": "read", "arguments": '{"p":"a"}', "namespace": "mcp__fs"}
    assert output[3] == {"id": "ctc_c0ffee_3", "type": "custom_tool_call", "status": "completed", "call_id": "call_2",
                         "name": "apply_patch", "input": "*** Begin"}
    assert output[4]["arguments"] == "{}" and output[4]["name"] == "plain"


def test_vllm_reasoning_field_and_arguments_sent_as_an_object() -> None:
    message = {"content": None, "reasoning": "hm", "tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]}
    output = translate(completion(message, "tool_calls"))["output"]
    assert output[0]["summary"][0]["text"] == "hm"
    assert json.loads(output[1]["arguments"]) == {"a": 1}
    assert output[1]["call_id"].startswith("toolu_c0ffee"), "a call without an id gets a deterministic one"


@pytest.mark.parametrize(("finish", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")])
def test_incomplete_responses(finish: str, reason: str) -> None:
    response = translate(completion({"content": "Partial", "refusal": "I cannot."}, finish))
    assert response["status"] == "incomplete" and response["incomplete_details"] == {"reason": reason}
    assert response["output"][0]["content"][1] == {"type": "refusal", "refusal": "I cannot."}


def test_the_request_fields_are_echoed() -> None:
    tools = [{"type": "function", "name": "f", "parameters": None, "strict": False}]
    echo = {"instructions": "Be brief.", "tools": tools, "tool_choice": "required", "store": False,
            "temperature": 0.3, "metadata": {"k": "v"}, "reasoning": {"effort": "low"}}
    context = ResponseContext(client_model="m", created=5, call_id="x", response_echo=echo)
    response = translate(completion({"content": "ok"}), context)
    for key, value in echo.items():
        assert response[key] == value


def test_the_sdk_parses_it_strictly() -> None:
    body = json.dumps(chat_response_to_responses(completion({"content": "Hello."}), CONTEXT)).encode()
    response = openai_client(body, "application/json").responses.create(model="gpt-5.1-codex", input="hi")
    assert response.output_text == "Hello." and response.usage.input_tokens_details.cache_write_tokens == 210


def test_an_error_body_with_status_200_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError) as raised:
        chat_response_to_responses({"error": {"message": "overloaded", "code": "server_is_overloaded"}}, CONTEXT)
    assert raised.value.kind_name == "overloaded"


@pytest.mark.parametrize("body", [{"choices": []}, {"choices": [{"index": 0}]}, {"id": "x"},
                                  {"choices": [{"message": {"content": 3}}]}])
def test_malformed_upstream_bodies_are_protocol_errors(body: Dict[str, Any]) -> None:
    with pytest.raises(UpstreamProtocolError):
        chat_response_to_responses(body, CONTEXT)
