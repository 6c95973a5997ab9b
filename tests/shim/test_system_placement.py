"""Mid-conversation system messages, every direction, one policy (docs/system-messages.md).

Anthropic client → OpenAI Chat backend: kept at their position (or hoisted when the backend asks).
OpenAI Chat client → Anthropic backend: kept when the model accepts them and Anthropic's placement
rules hold, hoisted into ``system`` otherwise. Outputs are validated against the official SDKs'
request types (the helpers of the two request-translator test modules).
"""

from typing import Any, Dict, List

import pytest
from request_shapes import assert_valid_anthropic_request, assert_valid_openai_request

from shim.config import ConfigError, RouterConfig
from shim.protocols import ANTHROPIC, OPENAI
from shim.translate.context import RequestOptions, TranslatedRequest
from shim.translate.request_anthropic_to_openai import anthropic_request_to_openai
from shim.translate.request_openai_to_anthropic import openai_request_to_anthropic
from shim.translate.system_placement import (
    AUTO,
    HOIST,
    KEEP,
    hoist_system_messages,
    place_anthropic_system_messages,
    resolve_placement,
)

OPUS_48 = "claude-opus-4-8"
SONNET = "claude-sonnet-4-6"


def _text(value: str, **extra: Any) -> Dict[str, Any]:
    return {"type": "text", "text": value, **extra}


def _msg(role: str, content: Any) -> Dict[str, Any]:
    return {"role": role, "content": content}


def _roles(messages: List[Dict[str, Any]]) -> List[str]:
    return [message["role"] for message in messages]


# --- the policy ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "protocol", "model", "expected"),
    [
        (AUTO, OPENAI, "gpt-4o", KEEP),
        (AUTO, OPENAI, "qwen3-coder", KEEP),
        (AUTO, ANTHROPIC, OPUS_48, KEEP),
        (AUTO, ANTHROPIC, "claude-opus-5-5", KEEP),
        (AUTO, ANTHROPIC, "claude-sonnet-5-5", KEEP),
        (AUTO, ANTHROPIC, "claude-fable-5-2", KEEP),
        (AUTO, ANTHROPIC, "CLAUDE-OPUS-4-8-20260801", KEEP),
        (AUTO, ANTHROPIC, SONNET, HOIST),
        (AUTO, ANTHROPIC, "claude-opus-4-7", HOIST),
        (AUTO, ANTHROPIC, "claude-haiku-4-5", HOIST),
        (HOIST, OPENAI, "gpt-4o", HOIST),
        (HOIST, ANTHROPIC, OPUS_48, HOIST),
        (KEEP, ANTHROPIC, SONNET, KEEP),
    ],
)
def test_resolve_placement(setting: str, protocol: str, model: str, expected: str) -> None:
    assert resolve_placement(setting, protocol, model) == expected


def test_hoist_keeps_the_order_of_the_texts_and_of_everything_else() -> None:
    messages = [_msg("system", "A"), _msg("user", "u1"), _msg("system", "B"), _msg("assistant", "a"),
                _msg("system", ""), _msg("system", "C")]
    assert hoist_system_messages(messages) == [
        _msg("system", "A\nB\nC"), _msg("user", "u1"), _msg("assistant", "a"),
    ]


def test_backend_setting_is_validated_and_defaults_to_auto() -> None:
    table = {"protocol": "openai", "base_url": "http://127.0.0.1:1/v1"}
    assert RouterConfig.from_dict({"backends": {"b": table}}).backends["b"].mid_conversation_system == AUTO
    config = RouterConfig.from_dict({"backends": {"b": {**table, "mid_conversation_system": "hoist"}}})
    assert config.backends["b"].mid_conversation_system == HOIST
    with pytest.raises(ConfigError, match="mid_conversation_system must be one of auto, keep, hoist"):
        RouterConfig.from_dict({"backends": {"b": {**table, "mid_conversation_system": "sometimes"}}})


# --- Anthropic's placement rules -----------------------------------------------------------------


def _anthropic(role: str, *texts: str) -> Dict[str, Any]:
    return {"role": role, "content": [_text(t) for t in texts]}


@pytest.mark.parametrize(
    ("messages", "kept_roles", "hoisted"),
    [
        # allowed: after a user message, last or before an assistant turn
        ([_anthropic("user", "u"), _anthropic("system", "S")], ["user", "system"], []),
        ([_anthropic("user", "u"), _anthropic("system", "S"), _anthropic("assistant", "a")],
         ["user", "system", "assistant"], []),
        # after an assistant message ending in a server tool use
        ([_anthropic("user", "u"), {"role": "assistant", "content": [{"type": "server_tool_use", "id": "s"}]},
          _anthropic("system", "S")], ["user", "assistant", "system"], []),
        # not first
        ([_anthropic("system", "S"), _anthropic("user", "u")], ["user"], ["S"]),
        # not after an (ordinary) assistant message
        ([_anthropic("user", "u"), _anthropic("assistant", "a"), _anthropic("system", "S")],
         ["user", "assistant"], ["S"]),
        # not followed by a user message: hoisted, and the two user messages become one
        ([_anthropic("user", "u1"), _anthropic("system", "S"), _anthropic("user", "u2")], ["user"], ["S"]),
        # never two in a row: merged into one
        ([_anthropic("user", "u"), _anthropic("system", "S1"), _anthropic("system", "S2")], ["user", "system"], []),
        # text only
        ([_anthropic("user", "u"), {"role": "system", "content": [{"type": "image", "source": {}}]}], ["user"], []),
    ],
)
def test_anthropic_placement_rules(messages: List[Dict[str, Any]], kept_roles: List[str], hoisted: List[str]) -> None:
    placed, moved = place_anthropic_system_messages(messages)
    assert _roles(placed) == kept_roles and moved == hoisted


def test_placement_merges_around_a_hoisted_message_without_mutating_the_input() -> None:
    messages = [_anthropic("user", "u1"), _anthropic("system", "S"), _anthropic("user", "u2")]
    snapshot = [dict(m, content=list(m["content"])) for m in messages]
    placed, _ = place_anthropic_system_messages(messages)
    assert placed == [{"role": "user", "content": [_text("u1"), _text("u2")]}]
    assert messages == snapshot


# --- Anthropic client → OpenAI Chat backend ------------------------------------------------------


def _to_openai(messages: List[Any], setting: str = AUTO, **fields: Any) -> TranslatedRequest:
    body = {"model": "claude-opus-5-5", "messages": messages, **fields}
    result = anthropic_request_to_openai(body, RequestOptions("gpt-4o", mid_conversation_system=setting))
    assert_valid_openai_request(result.body)
    return result


def test_claude_codes_system_message_after_the_first_user_message_keeps_its_position() -> None:
    reminder = _text("<system-reminder>today</system-reminder>")
    system = _msg("system", [_text("# Environment\nlinux", cache_control={"type": "ephemeral"})])
    result = _to_openai([_msg("user", [reminder, _text("say hi")]), system], system=[_text("You are an agent.")])
    assert result.body["messages"] == [
        _msg("system", "You are an agent."),
        _msg("user", "<system-reminder>today</system-reminder>\nsay hi"),
        _msg("system", "# Environment\nlinux"),
    ]
    assert "cache_control" not in str(result.body)
    assert any("cache_control" in note for note in result.notes)


def test_turns_are_not_merged_across_a_system_message() -> None:
    messages = [
        _msg("user", "question"),
        _msg("assistant", [{"type": "tool_use", "id": "t1", "name": "Read", "input": {}}]),
        _msg("user", [{"type": "tool_result", "tool_use_id": "t1", "content": "file"}]),
        _msg("system", "Now answer briefly."),
        _msg("user", "and?"),
        _msg("assistant", "done"),
        _msg("system", "first"),
        _msg("system", [_text("second")]),
    ]
    body = _to_openai(messages, tools=[{"name": "Read", "input_schema": {"type": "object"}}]).body
    assert _roles(body["messages"]) == ["user", "assistant", "tool", "system", "user", "assistant", "system"]
    assert body["messages"][3]["content"] == "Now answer briefly."
    assert body["messages"][6]["content"] == "first\nsecond"  # consecutive system messages: one


def test_hoist_setting_moves_them_into_the_leading_system_message_with_a_note() -> None:
    messages = [_msg("user", "hi"), _msg("system", "late rule"), _msg("assistant", "ok"), _msg("user", "go")]
    result = _to_openai(messages, HOIST, system="top rule")
    assert result.body["messages"] == [
        _msg("system", "top rule\nlate rule"), _msg("user", "hi"), _msg("assistant", "ok"), _msg("user", "go"),
    ]
    assert any("hoisted mid-conversation system messages" in note for note in result.notes)


def test_hoist_setting_without_a_top_level_system_creates_the_leading_one() -> None:
    body = _to_openai([_msg("user", "hi"), _msg("system", "late")], HOIST).body
    assert body["messages"] == [_msg("system", "late"), _msg("user", "hi")]


def test_an_empty_system_message_sends_nothing() -> None:
    assert _roles(_to_openai([_msg("user", "hi"), _msg("system", [_text("")])]).body["messages"]) == ["user"]


# --- OpenAI Chat client → Anthropic backend ------------------------------------------------------


def _to_anthropic(messages: List[Any], model: str = OPUS_48, setting: str = AUTO, **fields: Any) -> TranslatedRequest:
    body = {"model": "gpt-4o", "messages": messages, **fields}
    result = openai_request_to_anthropic(body, RequestOptions(model, mid_conversation_system=setting))
    assert_valid_anthropic_request(result.body)
    return result


_CONVERSATION = [
    _msg("system", "You are terse."),
    _msg("user", "hi"),
    _msg("developer", "From now on, answer in French."),
    _msg("assistant", "Bonjour"),
    _msg("user", "again"),
]


def test_a_model_that_accepts_them_gets_them_in_place() -> None:
    result = _to_anthropic(_CONVERSATION)
    assert result.body["system"] == "You are terse."
    assert result.body["messages"] == [
        {"role": "user", "content": [_text("hi")]},
        {"role": "system", "content": [_text("From now on, answer in French.")]},
        {"role": "assistant", "content": [_text("Bonjour")]},
        {"role": "user", "content": [_text("again")]},
    ]
    assert not any("hoisted" in note for note in result.notes)


@pytest.mark.parametrize(("model", "setting"), [(SONNET, AUTO), (OPUS_48, HOIST)])
def test_otherwise_they_are_hoisted_with_a_note(model: str, setting: str) -> None:
    result = _to_anthropic(_CONVERSATION, model, setting)
    assert result.body["system"] == "You are terse.\nFrom now on, answer in French."
    assert _roles(result.body["messages"]) == ["user", "assistant", "user"]
    assert any("hoisted mid-conversation system messages" in note for note in result.notes)


def test_keep_setting_admits_a_model_the_table_does_not_list() -> None:
    result = _to_anthropic(_CONVERSATION, "claude-opus-6", KEEP)
    assert _roles(result.body["messages"]) == ["user", "system", "assistant", "user"]


def test_one_that_breaks_a_placement_rule_is_hoisted_the_others_stay() -> None:
    messages = [
        _msg("user", "hi"),
        _msg("system", "after user, before assistant: stays"),
        _msg("assistant", "ok"),
        _msg("system", "after assistant: hoisted"),
        _msg("user", "more"),
        _msg("system", "last, after user: stays"),
        _msg("developer", "and merged with this one"),
    ]
    result = _to_anthropic(messages)
    body = result.body
    assert body["system"] == "after assistant: hoisted"
    assert _roles(body["messages"]) == ["user", "system", "assistant", "user", "system"]
    assert body["messages"][4]["content"] == [_text("last, after user: stays"), _text("and merged with this one")]
    assert any("does not accept at their position" in note for note in result.notes)


def test_one_inside_a_run_of_tool_messages_waits_for_the_tool_results() -> None:
    call = {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    call_b = {**call, "id": "b"}
    messages = [
        _msg("user", "go"),
        {"role": "assistant", "content": None, "tool_calls": [call, call_b]},
        {"role": "tool", "tool_call_id": "a", "content": "A"},
        _msg("system", "S"),
        {"role": "tool", "tool_call_id": "b", "content": "B"},
        _msg("assistant", "done"),
    ]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    body = _to_anthropic(messages, tools=tools).body
    assert _roles(body["messages"]) == ["user", "assistant", "user", "system", "assistant"]
    assert [block["tool_use_id"] for block in body["messages"][2]["content"]] == ["a", "b"]
    assert "system" not in body
