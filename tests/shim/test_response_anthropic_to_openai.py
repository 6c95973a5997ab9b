"""Anthropic backend response → OpenAI client ``chat.completion`` (docs/protocol-rules.md#responses)."""

import copy
import json
from typing import Any, Dict, List, Optional

import openai
import pytest
from openai.lib._parsing._completions import parse_chat_completion
from openai.types.chat import ChatCompletion

from shim.errors import UpstreamError, UpstreamProtocolError
from shim.translate.context import ResponseContext
from shim.translate.response_anthropic_to_openai import GENERIC_REFUSAL, anthropic_response_to_openai

LONG_TOOL_NAME = "mcp__github_enterprise_server__create_pull_request_review_comment_with_suggestions"
CONTEXT = ResponseContext(
    client_model="gpt-4o",
    created=1763780000,
    call_id="c0ffee42",
    tool_names={"mcp__github_enterprise_s_1f3a9c": LONG_TOOL_NAME},
)
MESSAGE_ID = "msg_01XFDUDYJgAACzvnptvVoYEL"
REALISTIC_USAGE = {
    "input_tokens": 21,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
    "output_tokens": 6,
    "output_tokens_details": {"thinking_tokens": 0},
    "service_tier": "standard",
    "inference_geo": "global",
}


def anthropic_body(
    content: List[Dict[str, Any]], stop_reason: Optional[str] = "end_turn", **extra: Any
) -> Dict[str, Any]:
    """A Messages response shaped like a live one (docs/protocol-rules.md#responses)."""
    body: Dict[str, Any] = {
        "id": MESSAGE_ID,
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "stop_details": None,
        "usage": copy.deepcopy(REALISTIC_USAGE),
    }
    body.update(extra)
    return body


def translate(body: Dict[str, Any], context: ResponseContext = CONTEXT) -> Dict[str, Any]:
    """Translate, and check the result is a valid ChatCompletion in strict mode."""
    out = anthropic_response_to_openai(body, context)
    ChatCompletion.model_validate(out, strict=True)
    return out


def message_of(out: Dict[str, Any]) -> Dict[str, Any]:
    message: Dict[str, Any] = out["choices"][0]["message"]
    return message


def text(value: str) -> Dict[str, Any]:
    return {"type": "text", "text": value}


def tool_use(tool_id: str, name: str, tool_input: Dict[str, Any]) -> Dict[str, Any]:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}


# ---------------------------------------------------------------------------------------- shape


def test_text_response_has_the_full_openai_shape() -> None:
    out = translate(anthropic_body([text("Hi! How can I help?")]))
    assert out == {
        "id": "chatcmpl-" + MESSAGE_ID,
        "object": "chat.completion",
        "created": 1763780000,
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi! How can I help?", "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": 21,
            "completion_tokens": 6,
            "total_tokens": 27,
            "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }


def test_model_is_the_client_model_not_the_backend_model() -> None:
    out = translate(anthropic_body([text("x")]))
    assert out["model"] == "gpt-4o"
    assert "claude" not in json.dumps(out)


def test_id_falls_back_to_call_id_when_backend_gave_none() -> None:
    body = anthropic_body([text("x")])
    del body["id"]
    assert translate(body)["id"] == "chatcmpl-c0ffee42"


def test_input_body_is_not_mutated() -> None:
    body = anthropic_body([text("a"), tool_use("toolu_1", "f", {"a": [1, 2]})], "tool_use")
    before = copy.deepcopy(body)
    translate(body)
    assert body == before


# ----------------------------------------------------------------------------------------- text


def test_multiple_text_blocks_are_concatenated_in_order() -> None:
    out = translate(anthropic_body([text("Hello"), text(", "), text("world.")]))
    assert message_of(out)["content"] == "Hello, world."


@pytest.mark.parametrize("content", [[], [text("")]], ids=["no-blocks", "empty-text-block"])
def test_content_is_null_without_text(content: List[Dict[str, Any]]) -> None:
    assert message_of(translate(anthropic_body(content)))["content"] is None


# ---------------------------------------------------------------------------------------- tools


def test_single_tool_call() -> None:
    body = anthropic_body(
        [text("Let me check."), tool_use("toolu_01A09q90qw90lq917835lq9", "get_weather", {"location": "Paris, FR"})],
        "tool_use",
    )
    out = translate(body)
    message = message_of(out)
    assert message["content"] == "Let me check."
    assert message["tool_calls"] == [
        {
            "id": "toolu_01A09q90qw90lq917835lq9",
            "type": "function",
            "function": {"name": "get_weather", "arguments": json.dumps({"location": "Paris, FR"})},
        }
    ]
    assert out["choices"][0]["finish_reason"] == "tool_calls"


def test_parallel_tool_calls_keep_order_and_ids() -> None:
    body = anthropic_body(
        [
            text("Checking both."),
            tool_use("toolu_a", "get_weather", {"location": "Paris"}),
            tool_use("toolu_b", "get_time", {"tz": "Europe/Paris", "format": {"h24": True}}),
        ],
        "tool_use",
    )
    calls = message_of(translate(body))["tool_calls"]
    assert [call["id"] for call in calls] == ["toolu_a", "toolu_b"]
    assert [call["function"]["name"] for call in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[1]["function"]["arguments"]) == {"tz": "Europe/Paris", "format": {"h24": True}}


@pytest.mark.parametrize("block_extra", [{"input": {}}, {}, {"input": None}], ids=["empty", "missing", "null"])
def test_p6_no_argument_tool_call_has_arguments_braces(block_extra: Dict[str, Any]) -> None:
    block = {"type": "tool_use", "id": "toolu_1", "name": "list_files", **block_extra}
    calls = message_of(translate(anthropic_body([block], "tool_use")))["tool_calls"]
    assert calls[0]["function"]["arguments"] == "{}"


def test_p18_long_tool_name_is_restored_from_context() -> None:
    body = anthropic_body([tool_use("toolu_1", "mcp__github_enterprise_s_1f3a9c", {"pr": 7})], "tool_use")
    calls = message_of(translate(body))["tool_calls"]
    assert calls[0]["function"]["name"] == LONG_TOOL_NAME


def test_tool_call_without_id_gets_a_deterministic_one() -> None:
    body = anthropic_body([tool_use("toolu_1", "a", {}), {"type": "tool_use", "name": "b", "input": {}}], "tool_use")
    calls = message_of(translate(body))["tool_calls"]
    assert calls[1]["id"] == "toolu_c0ffee42_1"


def test_p3_tool_calls_skip_blocks_that_have_no_openai_slot() -> None:
    """Server-tool, redacted and unknown blocks are dropped; tool calls stay a contiguous list."""
    body = anthropic_body(
        [
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "x"}},
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
            {"type": "fallback", "model": "claude-other"},
            text("Found it."),
            tool_use("toolu_1", "open_url", {"url": "https://example.com"}),
        ],
        "tool_use",
    )
    message = message_of(translate(body))
    assert message["content"] == "Found it."
    assert [call["id"] for call in message["tool_calls"]] == ["toolu_1"]
    assert "reasoning_content" not in message


# ------------------------------------------------------------------------------------- thinking


def test_thinking_becomes_reasoning_content_and_signature_is_dropped() -> None:
    body = anthropic_body(
        [
            {"type": "thinking", "thinking": "The user wants weather. ", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA"},
            text("Let me check."),
            tool_use("toolu_1", "get_weather", {"location": "Paris"}),
            {"type": "thinking", "thinking": "Now answer.", "signature": "EqQBCgIYAhIMsecond"},
        ],
        "tool_use",
    )
    out = translate(body)
    message = message_of(out)
    assert message["reasoning_content"] == "The user wants weather. Now answer."
    assert "EqQB" not in json.dumps(out)
    parsed = ChatCompletion.model_validate(out, strict=True)
    assert parsed.choices[0].message.model_extra == {"reasoning_content": "The user wants weather. Now answer."}


def test_signed_thinking_with_omitted_text_adds_no_reasoning_field() -> None:
    body = anthropic_body([{"type": "thinking", "thinking": "", "signature": "EqQBsig"}, text("42")])
    assert "reasoning_content" not in message_of(translate(body))


# ---------------------------------------------------------------------------------- stop reasons


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
        ("some_future_reason", "stop"),
        (None, "stop"),
    ],
)
def test_every_stop_reason_maps_to_a_valid_finish_reason(stop_reason: Optional[str], finish_reason: str) -> None:
    out = translate(anthropic_body([text("ok")], stop_reason))
    assert out["choices"][0]["finish_reason"] == finish_reason


def test_stop_sequence_matched_string_has_no_openai_field() -> None:
    body = anthropic_body([text("1, 2, 3")], "stop_sequence", stop_sequence="\n\nHuman:")
    out = translate(body)
    assert out["choices"][0]["finish_reason"] == "stop"
    assert message_of(out)["content"] == "1, 2, 3"


@pytest.mark.parametrize("stop_reason", ["end_turn", "max_tokens", "stop_sequence", None])
def test_p7_a_called_tool_always_finishes_with_tool_calls(stop_reason: Optional[str]) -> None:
    body = anthropic_body([tool_use("toolu_1", "f", {"a": 1})], stop_reason)
    assert translate(body)["choices"][0]["finish_reason"] == "tool_calls"


# ---------------------------------------------------------------------------------------- refusal


def test_refusal_with_explanation_keeps_text_as_content() -> None:
    body = anthropic_body(
        [text("I started to ")],
        "refusal",
        stop_details={"type": "refusal", "category": "cyber", "explanation": "This could enable malware."},
    )
    out = translate(body)
    assert out["choices"][0]["finish_reason"] == "content_filter"
    assert message_of(out)["refusal"] == "This could enable malware."
    assert message_of(out)["content"] == "I started to "


def test_refusal_without_explanation_moves_text_into_refusal() -> None:
    body = anthropic_body(
        [text("I can't help with that.")],
        "refusal",
        stop_details={"type": "refusal", "category": None, "explanation": None},
    )
    message = message_of(translate(body))
    assert message["refusal"] == "I can't help with that."
    assert message["content"] is None


def test_refusal_with_only_an_empty_text_block_gets_a_generic_refusal() -> None:
    """The SDK's own refusal fixture: one empty text block and no explanation."""
    message = message_of(translate(anthropic_body([text("")], "refusal")))
    assert message["refusal"] == GENERIC_REFUSAL
    assert message["content"] is None


def test_refusal_makes_the_openai_parse_helper_raise_content_filter_error() -> None:
    """Documented consequence of the honest mapping (docs/protocol-rules.md#refusal)."""
    completion = ChatCompletion.model_validate(translate(anthropic_body([text("No.")], "refusal")), strict=True)
    with pytest.raises(openai.ContentFilterFinishReasonError):
        parse_chat_completion(response_format=openai.omit, input_tools=openai.omit, chat_completion=completion)


def test_refusal_is_null_when_not_refused() -> None:
    assert message_of(translate(anthropic_body([text("fine")])))["refusal"] is None


# ------------------------------------------------------------------------------------------ usage


def test_p8_usage_with_cache_read_write_and_thinking_tokens() -> None:
    usage = {
        "input_tokens": 100,
        "cache_creation_input_tokens": 300,
        "cache_read_input_tokens": 2000,
        "cache_creation": {"ephemeral_5m_input_tokens": 300, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 50,
        "output_tokens_details": {"thinking_tokens": 20},
        "service_tier": "standard",
    }
    out = translate(anthropic_body([text("x")], usage=usage))
    assert out["usage"] == {
        "prompt_tokens": 2400,
        "completion_tokens": 50,
        "total_tokens": 2450,
        "prompt_tokens_details": {"cached_tokens": 2000, "cache_write_tokens": 300},
        "completion_tokens_details": {"reasoning_tokens": 20},
    }


@pytest.mark.parametrize("usage_extra", [{}, {"usage": None}], ids=["absent", "null"])
def test_missing_usage_reports_zeros(usage_extra: Dict[str, Any]) -> None:
    body = anthropic_body([text("x")])
    del body["usage"]
    body.update(usage_extra)
    usage = translate(body)["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (0, 0, 0)


# ------------------------------------------------------------------------------- malformed bodies


def test_an_error_body_answered_with_200_is_an_upstream_error() -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(UpstreamError) as caught:
        anthropic_response_to_openai(body, CONTEXT)
    assert caught.value.kind_name == "overloaded"


def _without(key: str) -> Dict[str, Any]:
    body = anthropic_body([text("x")])
    del body[key]
    return body


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ([], "not a JSON object"),
        ("hello", "not a JSON object"),
        (None, "not a JSON object"),
        (_without("content"), "content"),
        (anthropic_body("Hi"), "content"),  # type: ignore[arg-type]
        (anthropic_body({"type": "text"}), "content"),  # type: ignore[arg-type]
        (anthropic_body(["Hi"]), "content[0]"),  # type: ignore[list-item]
        (anthropic_body([{"text": "Hi"}]), "content[0].type"),
        (anthropic_body([text("a"), {"type": ["text"], "text": "Hi"}]), "content[1].type"),
        (anthropic_body([{"type": "text"}]), "content[0].text"),
        (anthropic_body([{"type": "text", "text": 5}]), "content[0].text"),
        (anthropic_body([text("a"), {"type": "tool_use", "id": "t", "input": {}}]), "content[1].name"),
        (anthropic_body([{"type": "tool_use", "id": "t", "name": 3, "input": {}}]), "content[0].name"),
        (anthropic_body([{"type": "tool_use", "id": "t", "name": "f", "input": [1]}]), "content[0].input"),
        (anthropic_body([{"type": "tool_use", "id": 9, "name": "f", "input": {}}]), "content[0].id"),
        (anthropic_body([{"type": "thinking", "thinking": ["x"], "signature": ""}]), "content[0].thinking"),
        (anthropic_body([text("x")], usage=[1, 2]), "usage"),
        (anthropic_body([text("x")], usage="12"), "usage"),
        (anthropic_body([text("x")], stop_reason=3), "stop_reason"),  # type: ignore[arg-type]
        (anthropic_body([text("x")], "refusal", stop_details="cyber"), "stop_details"),
        (anthropic_body([text("x")], "refusal", stop_details={"type": "refusal", "explanation": 1}), "explanation"),
    ],
)
def test_malformed_upstream_body_is_an_upstream_protocol_error(body: Any, mentions: str) -> None:
    with pytest.raises(UpstreamProtocolError) as caught:
        anthropic_response_to_openai(body, CONTEXT)
    assert mentions in caught.value.message
