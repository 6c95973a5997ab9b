"""OpenAI(-compatible) backend ``chat.completion`` → Anthropic client ``message`` (docs/protocol-rules.md#responses)."""

import copy
from typing import Any, Dict, List, Optional

import pytest
from anthropic.types import Message

from shim.errors import UpstreamError, UpstreamProtocolError
from shim.json_budget import JsonBudget
from shim.translate.context import ResponseContext
from shim.translate.response_openai_to_anthropic import openai_response_to_anthropic, tool_input_from_arguments

LONG_TOOL_NAME = "mcp__github_enterprise_server__create_pull_request_review_comment_with_suggestions"
CONTEXT = ResponseContext(
    client_model="claude-sonnet-4-6",
    created=1763780000,
    call_id="c0ffee42",
    tool_names={"mcp__github_enterprise_s_1f3a9c": LONG_TOOL_NAME},
)
COMPLETION_ID = "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"
REALISTIC_USAGE = {
    "prompt_tokens": 19,
    "completion_tokens": 10,
    "total_tokens": 29,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}


def openai_body(
    content: Optional[str] = "Hello!", finish_reason: Optional[str] = "stop", **message_extra: Any
) -> Dict[str, Any]:
    """A chat.completion shaped like a live OpenAI answer (docs/protocol-rules.md#responses)."""
    message: Dict[str, Any] = {"role": "assistant", "content": content, "refusal": None, "annotations": []}
    message.update(message_extra)
    return {
        "id": COMPLETION_ID,
        "object": "chat.completion",
        "created": 1741569952,
        "model": "gpt-4.1-2025-04-14",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
        "usage": copy.deepcopy(REALISTIC_USAGE),
        "service_tier": "default",
        "system_fingerprint": "fp_fc9f1d7035",
    }


def tool_call(call_id: Optional[str], name: str, arguments: Any) -> Dict[str, Any]:
    call: Dict[str, Any] = {"type": "function", "function": {"name": name, "arguments": arguments}}
    if call_id is not None:
        call["id"] = call_id
    return call


def with_tool_calls(
    calls: List[Dict[str, Any]], content: Optional[str] = None, finish: Optional[str] = "tool_calls"
) -> Dict[str, Any]:
    return openai_body(content, finish, tool_calls=calls)


def translate(body: Dict[str, Any], context: ResponseContext = CONTEXT) -> Dict[str, Any]:
    """Translate, and check the result is a valid Anthropic Message in strict mode."""
    out = openai_response_to_anthropic(body, context)
    Message.model_validate(out, strict=True)
    return out


def blocks_of_type(out: Dict[str, Any], block_type: str) -> List[Dict[str, Any]]:
    return [block for block in out["content"] if block["type"] == block_type]


# ---------------------------------------------------------------------------------------- shape


def test_text_response_has_the_full_anthropic_shape() -> None:
    out = translate(openai_body("Hi! How can I help?"))
    assert out == {
        "id": "msg_B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": [{"type": "text", "text": "Hi! How can I help?"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "stop_details": None,
        "usage": {
            "input_tokens": 19,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 10,
            "output_tokens_details": {"thinking_tokens": 0},
        },
    }


@pytest.mark.parametrize("finish_reason", ["stop", "length", "tool_calls", "content_filter", None])
def test_p19_stop_sequence_is_always_present(finish_reason: Optional[str]) -> None:
    out = translate(openai_body("x", finish_reason))
    assert "stop_sequence" in out
    assert out["stop_sequence"] is None


@pytest.mark.parametrize(
    ("upstream_id", "expected"),
    [
        (COMPLETION_ID, "msg_B9MBs8CjcvOU2jLn4n570S5qMJKcT"),
        ("cmpl-8f2a", "msg_cmpl-8f2a"),  # vLLM-style: no chatcmpl- prefix to strip
        ("chatcmpl-", "msg_c0ffee42"),
        ("", "msg_c0ffee42"),
        (None, "msg_c0ffee42"),
        (123, "msg_c0ffee42"),
    ],
)
def test_message_id_derivation(upstream_id: Any, expected: str) -> None:
    body = openai_body()
    body["id"] = upstream_id
    assert translate(body)["id"] == expected


def test_only_the_first_choice_is_read() -> None:
    body = openai_body("first")
    second = copy.deepcopy(body["choices"][0])
    second["index"] = 1
    second["message"]["content"] = "second"
    body["choices"].append(second)
    assert translate(body)["content"] == [{"type": "text", "text": "first"}]


def test_input_body_is_not_mutated() -> None:
    body = with_tool_calls([tool_call("call_1", "f", '{"a": [1]}')], "x")
    before = copy.deepcopy(body)
    translate(body)
    assert body == before


# ----------------------------------------------------------------------------------------- text


@pytest.mark.parametrize("content", ["", None], ids=["empty-string", "null"])
def test_p9_no_empty_text_block(content: Optional[str]) -> None:
    assert translate(openai_body(content))["content"] == []


def test_p9_tool_call_with_empty_content_has_no_leading_text_block() -> None:
    out = translate(with_tool_calls([tool_call("call_1", "f", "{}")], content=""))
    assert [block["type"] for block in out["content"]] == ["tool_use"]


# ---------------------------------------------------------------------------------------- tools


def test_single_tool_call() -> None:
    body = with_tool_calls([tool_call("call_4XzN2", "get_weather", '{"location":"Paris, FR","unit":"c"}')])
    out = translate(body)
    assert out["content"] == [
        {"type": "tool_use", "id": "call_4XzN2", "name": "get_weather", "input": {"location": "Paris, FR", "unit": "c"}}
    ]
    assert out["stop_reason"] == "tool_use"


def test_p5_parallel_tool_calls_become_separate_blocks_after_the_text() -> None:
    body = with_tool_calls(
        [tool_call("call_a", "get_weather", '{"city":"Paris"}'), tool_call("call_b", "get_weather", '{"city":"Oslo"}')],
        content="Checking both cities.",
    )
    out = translate(body)
    assert [block["type"] for block in out["content"]] == ["text", "tool_use", "tool_use"]
    tools = blocks_of_type(out, "tool_use")
    assert [(t["id"], t["input"]) for t in tools] == [("call_a", {"city": "Paris"}), ("call_b", {"city": "Oslo"})]


@pytest.mark.parametrize("arguments", ["", "{}", None, "  "], ids=["empty", "braces", "null", "blank"])
def test_p6_no_argument_tool_call_has_empty_object_input(arguments: Optional[str]) -> None:
    out = translate(with_tool_calls([tool_call("call_1", "list_files", arguments)]))
    assert out["content"][0]["input"] == {}


def test_p6_missing_arguments_key_gives_empty_object_input() -> None:
    out = translate(with_tool_calls([{"id": "call_1", "type": "function", "function": {"name": "list_files"}}]))
    assert out["content"][0]["input"] == {}


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"location": "Par', {}),  # truncated JSON (finish_reason length)
        ("not json at all", {}),
        ("[1, 2]", {}),  # valid JSON, not an object
        ("42", {}),
        ("null", {}),
        ('"just a string"', {}),
        (7, {}),
        (["a"], {}),
        ('"{\\"q\\": \\"x\\"}"', {"q": "x"}),  # double-encoded object
        ({"q": "x"}, {"q": "x"}),  # object instead of a string
        ("[" * 100000, {}),  # absurd nesting must not escape as RecursionError
    ],
    ids=[
        "truncated", "garbage", "array", "number", "null", "string", "int", "list", "double-encoded", "object", "deep"
    ],
)
def test_p6_odd_tool_arguments_never_crash(arguments: Any, expected: Dict[str, Any]) -> None:
    assert tool_input_from_arguments(arguments, JsonBudget.for_answer()) == expected
    out = translate(with_tool_calls([tool_call("call_1", "search", arguments)]))
    assert out["content"][0]["input"] == expected


@pytest.mark.parametrize("missing_id", [None, ""], ids=["absent", "empty"])
def test_tool_call_without_id_gets_a_deterministic_id(missing_id: Optional[str]) -> None:
    calls = [tool_call("call_a", "f", "{}"), tool_call(missing_id, "g", "{}")]
    if missing_id is None:
        calls[1].pop("id", None)
    out = translate(with_tool_calls(calls))
    assert out["content"][1]["id"] == "toolu_c0ffee42_1"


def test_p11_tool_ids_with_illegal_characters_are_sanitized() -> None:
    out = translate(with_tool_calls([tool_call("functions.Bash:0", "Bash", '{"command": "ls"}')]))
    assert out["content"][0]["id"] == "functions_Bash_0"


def test_p18_long_tool_name_is_restored_from_context() -> None:
    out = translate(with_tool_calls([tool_call("call_1", "mcp__github_enterprise_s_1f3a9c", '{"pr": 7}')]))
    assert out["content"][0]["name"] == LONG_TOOL_NAME


def test_unmapped_tool_name_is_kept() -> None:
    out = translate(with_tool_calls([tool_call("call_1", "get_weather", "{}")]))
    assert out["content"][0]["name"] == "get_weather"


# ------------------------------------------------------------------------------------- thinking


def test_p13_reasoning_content_becomes_a_leading_unsigned_thinking_block() -> None:
    body = with_tool_calls([tool_call("call_1", "f", "{}")], content="Let me check.")
    body["choices"][0]["message"]["reasoning_content"] = "The user wants weather."
    out = translate(body)
    assert out["content"][:2] == [
        {"type": "thinking", "thinking": "The user wants weather.", "signature": ""},
        {"type": "text", "text": "Let me check."},
    ]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"reasoning": "vLLM thinks"}, "vLLM thinks"),
        ({"reasoning_content": "DeepSeek thinks"}, "DeepSeek thinks"),
        ({"reasoning_content": "first", "reasoning": "second"}, "first"),
        ({"reasoning_content": "", "reasoning": "second"}, "second"),
        ({"reasoning_content": None, "reasoning": "second"}, "second"),
        ({"reasoning": {"effort": "high"}, "reasoning_content": "text"}, "text"),
    ],
)
def test_p14_reasoning_field_names(fields: Dict[str, Any], expected: str) -> None:
    out = translate(openai_body("answer", **fields))
    assert blocks_of_type(out, "thinking") == [{"type": "thinking", "thinking": expected, "signature": ""}]


@pytest.mark.parametrize("fields", [{}, {"reasoning_content": ""}, {"reasoning": 5}, {"reasoning": None}])
def test_no_thinking_block_without_reasoning_text(fields: Dict[str, Any]) -> None:
    assert blocks_of_type(translate(openai_body("answer", **fields)), "thinking") == []


# ---------------------------------------------------------------------------------------- refusal


def test_refusal_becomes_text_and_refusal_stop_reason() -> None:
    body = openai_body(None, "stop", refusal="I'm sorry, I can't help with that request.")
    out = translate(body)
    assert out["content"] == [{"type": "text", "text": "I'm sorry, I can't help with that request."}]
    assert out["stop_reason"] == "refusal"
    assert out["stop_sequence"] is None
    assert out["stop_details"] == {
        "type": "refusal",
        "category": None,
        "explanation": "I'm sorry, I can't help with that request.",
    }


def test_content_filter_without_refusal_text_is_a_refusal_without_explanation() -> None:
    out = translate(openai_body(None, "content_filter"))
    assert out["content"] == []
    assert out["stop_reason"] == "refusal"
    assert out["stop_details"] == {"type": "refusal", "category": None, "explanation": None}


def test_empty_refusal_string_is_not_a_refusal() -> None:
    out = translate(openai_body("fine", "stop", refusal=""))
    assert out["stop_reason"] == "end_turn"
    assert out["stop_details"] is None


# ---------------------------------------------------------------------------------- stop reasons


@pytest.mark.parametrize(
    ("finish_reason", "stop_reason"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("content_filter", "refusal"),
        ("function_call", "tool_use"),
        ("tool_calls", "tool_use"),
        (None, "end_turn"),
        ("eos", "end_turn"),  # unknown values from compatible servers
    ],
)
def test_every_finish_reason_maps_to_a_valid_stop_reason(finish_reason: Optional[str], stop_reason: str) -> None:
    out = translate(openai_body("text", finish_reason))
    assert (out["stop_reason"], out["stop_sequence"]) == (stop_reason, None)


@pytest.mark.parametrize("finish_reason", ["stop", "length", "tool_calls", None, "content_filter"])
def test_p7_a_called_tool_always_stops_with_tool_use(finish_reason: Optional[str]) -> None:
    out = translate(with_tool_calls([tool_call("call_1", "f", "{}")], finish=finish_reason))
    assert out["stop_reason"] == "tool_use"


@pytest.mark.parametrize(
    ("choice_extra", "expected"),
    [
        ({"stop_reason": "###"}, ("stop_sequence", "###")),  # vLLM
        ({"matched_stop": "END"}, ("stop_sequence", "END")),  # SGLang
        ({"stop_reason": 128001}, ("end_turn", None)),  # vLLM EOS token id, not a stop string
        ({"matched_stop": 2}, ("end_turn", None)),  # SGLang EOS token id
        ({"stop_reason": None}, ("end_turn", None)),
    ],
    ids=["vllm-string", "sglang-string", "vllm-eos-id", "sglang-eos-id", "null"],
)
def test_p7_stop_sequence_reported_by_compatible_servers(choice_extra: Dict[str, Any], expected: Any) -> None:
    body = openai_body("1, 2, 3", "stop")
    body["choices"][0].update(choice_extra)
    out = translate(body)
    assert (out["stop_reason"], out["stop_sequence"]) == expected


def test_p7_matched_stop_is_ignored_when_a_tool_was_called() -> None:
    body = with_tool_calls([tool_call("call_1", "f", "{}")], finish="stop")
    body["choices"][0]["stop_reason"] = "###"
    out = translate(body)
    assert (out["stop_reason"], out["stop_sequence"]) == ("tool_use", None)


def test_matched_stop_is_ignored_when_finish_is_length() -> None:
    body = openai_body("abc", "length")
    body["choices"][0]["matched_stop"] = "END"
    out = translate(body)
    assert (out["stop_reason"], out["stop_sequence"]) == ("max_tokens", None)


# ------------------------------------------------------------------------------------------ usage


def test_p8_usage_with_cache_read_write_and_reasoning_tokens() -> None:
    body = openai_body()
    body["usage"] = {
        "prompt_tokens": 2400,
        "completion_tokens": 50,
        "total_tokens": 2450,
        "prompt_tokens_details": {"cached_tokens": 2000, "cache_write_tokens": 300, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 20, "audio_tokens": 0},
    }
    assert translate(body)["usage"] == {
        "input_tokens": 100,
        "cache_creation_input_tokens": 300,
        "cache_read_input_tokens": 2000,
        "output_tokens": 50,
        "output_tokens_details": {"thinking_tokens": 20},
    }


@pytest.mark.parametrize("usage", ["absent", None], ids=["absent", "null"])
def test_missing_usage_is_zeros_never_absent(usage: Any) -> None:
    body = openai_body()
    if usage == "absent":
        del body["usage"]
    else:
        body["usage"] = usage
    assert translate(body)["usage"] == {
        "input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 0,
    }


# ------------------------------------------------------------------------------- malformed bodies


def test_an_error_body_answered_with_200_is_an_upstream_error() -> None:
    body = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
    with pytest.raises(UpstreamError) as caught:
        openai_response_to_anthropic(body, CONTEXT)
    assert caught.value.kind_name == "rate_limit"


def _mutated(path: List[Any], value: Any) -> Dict[str, Any]:
    """A realistic body with one nested field replaced (``...`` as value deletes it)."""
    body = with_tool_calls([tool_call("call_1", "f", "{}")], content="text")
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


_MESSAGE = ["choices", 0, "message"]
_CALL = [*_MESSAGE, "tool_calls", 0]


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ([], "not a JSON object"),
        ("ok", "not a JSON object"),
        (None, "not a JSON object"),
        (_mutated(["choices"], ...), "choices"),
        (_mutated(["choices"], None), "choices"),
        (_mutated(["choices"], []), "empty `choices`"),
        (_mutated(["choices"], {"0": {}}), "choices"),
        (_mutated(["choices", 0], "text"), "choices[0]"),
        (_mutated(_MESSAGE, ...), "choices[0].message"),
        (_mutated(_MESSAGE, "hello"), "choices[0].message"),
        (_mutated([*_MESSAGE, "content"], [{"type": "text", "text": "x"}]), "choices[0].message.content"),
        (_mutated([*_MESSAGE, "content"], 12), "choices[0].message.content"),
        (_mutated([*_MESSAGE, "refusal"], {"text": "no"}), "choices[0].message.refusal"),
        (_mutated([*_MESSAGE, "tool_calls"], {"id": "x"}), "choices[0].message.tool_calls"),
        (_mutated([*_MESSAGE, "tool_calls"], ["call"]), "choices[0].message.tool_calls[0]"),
        (_mutated([*_CALL, "function"], ...), "tool_calls[0].function"),
        (_mutated([*_CALL, "function"], "f()"), "tool_calls[0].function"),
        (_mutated([*_CALL, "function", "name"], ...), "tool_calls[0].function.name"),
        (_mutated([*_CALL, "function", "name"], 5), "tool_calls[0].function.name"),
        (_mutated([*_CALL, "id"], 17), "tool_calls[0].id"),
        (_mutated(["choices", 0, "finish_reason"], 1), "choices[0].finish_reason"),
        (_mutated(["usage"], [19, 10]), "usage"),
        (_mutated(["usage"], "29"), "usage"),
    ],
)
def test_malformed_upstream_body_is_an_upstream_protocol_error(body: Any, mentions: str) -> None:
    with pytest.raises(UpstreamProtocolError) as caught:
        openai_response_to_anthropic(body, CONTEXT)
    assert mentions in caught.value.message
