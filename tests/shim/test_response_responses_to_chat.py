"""A Responses backend's Response → a ``chat.completion`` (docs/responses-api.md, "Composition"),
with Response bodies as OpenAI writes them (``host.demo.wire_responses`` renders the same shapes)."""

import json
from typing import Any, Dict, List

import pytest
from responses_support import openai_client

from host.demo.reply import Reply, ToolCall, UsageSpec
from host.demo.wire_responses import ResponsesWire
from shim.errors import UpstreamError, UpstreamProtocolError
from shim.translate.context import ResponseContext
from shim.translate.response_responses_to_chat import responses_response_to_chat

CONTEXT = ResponseContext(client_model="gpt-5-pro", created=1_730_000_000, call_id="c1", tool_names={"f_1": "f.1"})
USAGE = UsageSpec(input=37, output=58, cache_read=1024, cache_write=210, reasoning=21)


def response(**reply: Any) -> Dict[str, Any]:
    return ResponsesWire(Reply.build(usage=USAGE, **reply), "gpt-5-pro", 1, {}).body()


def test_text_and_usage() -> None:
    completion = responses_response_to_chat(response(text="Hello."), CONTEXT)
    assert completion["id"] == "chatcmpl-Fake000001" and completion["model"] == "gpt-5-pro"
    assert completion["choices"] == [{"index": 0,
                                      "message": {"role": "assistant", "content": "Hello.", "refusal": None},
                                      "finish_reason": "stop", "logprobs": None}]
    assert completion["usage"] == {
        "prompt_tokens": 1271, "completion_tokens": 58, "total_tokens": 1329,
        "prompt_tokens_details": {"cached_tokens": 1024, "cache_write_tokens": 210},
        "completion_tokens_details": {"reasoning_tokens": 21},
    }


def test_reasoning_and_tool_calls() -> None:
    body = response(thinking="Two tools.", text="Checking.",
                    tool_calls=[ToolCall("get_weather", {"city": "Paris"}), ToolCall("f_1", {})])
    message = responses_response_to_chat(body, CONTEXT)["choices"][0]["message"]
    assert message["reasoning_content"] == "Two tools." and message["content"] == "Checking."
    assert message["tool_calls"] == [
        {"id": "call_Fake0001x0", "type": "function", "function": {"name": "get_weather",
                                                                   "arguments": '{"city": "Paris"}'}},
        {"id": "call_Fake0001x1", "type": "function", "function": {"name": "f.1", "arguments": "{}"}},
    ]
    assert responses_response_to_chat(body, CONTEXT)["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(("reason", "finish"), [("max_output_tokens", "length"), ("content_filter", "content_filter")])
def test_incomplete_responses(reason: str, finish: str) -> None:
    body = {**response(text="Partial"), "status": "incomplete", "incomplete_details": {"reason": reason}}
    assert responses_response_to_chat(body, CONTEXT)["choices"][0]["finish_reason"] == finish


def test_refusal_parts_and_skipped_items() -> None:
    output: List[Dict[str, Any]] = [
        {"type": "web_search_call", "id": "ws_1", "status": "completed"},
        {"type": "message", "id": "m", "role": "assistant", "status": "completed",
         "content": [{"type": "refusal", "refusal": "I can't help with that."}]},
    ]
    message = responses_response_to_chat({**response(), "output": output}, CONTEXT)["choices"][0]["message"]
    assert message["refusal"] == "I can't help with that." and message["content"] is None


def test_a_failed_response_is_an_upstream_error() -> None:
    body = {**response(), "status": "failed", "error": {"code": "rate_limit_exceeded", "message": "Slow down"}}
    with pytest.raises(UpstreamError) as raised:
        responses_response_to_chat(body, CONTEXT)
    assert raised.value.kind_name == "rate_limit" and raised.value.message == "Slow down"


@pytest.mark.parametrize("body", [{"id": "x"}, {"output": [{"type": "function_call", "name": "f"}]},
                                  {"output": ["x"]},
                                  {"output": [{"type": "message", "content": [{"type": "output_text"}]}]}])
def test_malformed_upstream_bodies_are_protocol_errors(body: Dict[str, Any]) -> None:
    with pytest.raises(UpstreamProtocolError):
        responses_response_to_chat(body, CONTEXT)


def test_the_sdk_parses_it_strictly() -> None:
    body = responses_response_to_chat(response(text="Hi", tool_calls=[ToolCall("f", {"a": 1})]), CONTEXT)
    completion = openai_client(json.dumps(body).encode(), "application/json").chat.completions.create(
        model="gpt-5-pro", messages=[{"role": "user", "content": "q"}])
    assert completion.choices[0].message.tool_calls[0].function.name == "f"
    assert completion.usage.prompt_tokens_details.cached_tokens == 1024
