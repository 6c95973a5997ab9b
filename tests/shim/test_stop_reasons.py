"""stop_reason ⇄ finish_reason (shim/stop_reasons.py): docs/protocol-rules.md#stop-reasons, docs/pitfalls.md#p7."""

from typing import Any, Dict, Optional

import pytest

from shim.stop_reasons import finish_reason_from_anthropic, matched_stop_from_openai_choice, stop_reason_from_openai


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
        (None, "stop"),
        ("something_new", "stop"),  # outside the OpenAI enum → strict SDK validation would fail
    ],
)
def test_finish_reason_from_anthropic(stop_reason: Optional[str], finish_reason: str) -> None:
    assert finish_reason_from_anthropic(stop_reason, called_tool=False) == finish_reason


@pytest.mark.parametrize("stop_reason", ["end_turn", "max_tokens", "stop_sequence", None])
def test_p7_any_stop_with_a_tool_call_is_tool_calls(stop_reason: Optional[str]) -> None:
    assert finish_reason_from_anthropic(stop_reason, called_tool=True) == "tool_calls"


@pytest.mark.parametrize(
    ("finish_reason", "stop_reason"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("function_call", "tool_use"),
        ("content_filter", "refusal"),
        (None, "end_turn"),
        ("end_turn", "end_turn"),
        ("eos", "end_turn"),
    ],
)
def test_stop_reason_from_openai(finish_reason: Optional[str], stop_reason: str) -> None:
    assert stop_reason_from_openai(finish_reason, called_tool=False, matched_stop=None) == (stop_reason, None)


@pytest.mark.parametrize("finish_reason", ["stop", "length", "end_turn", None])
def test_p7_tool_call_wins_over_whatever_the_backend_said(finish_reason: Optional[str]) -> None:
    assert stop_reason_from_openai(finish_reason, called_tool=True, matched_stop="###") == ("tool_use", None)


def test_p7_matched_stop_sequence_is_reported() -> None:
    assert stop_reason_from_openai("stop", called_tool=False, matched_stop="END") == ("stop_sequence", "END")


def test_p7_matched_stop_only_for_stop() -> None:
    assert stop_reason_from_openai("length", called_tool=False, matched_stop="END") == ("max_tokens", None)
    assert stop_reason_from_openai("stop", called_tool=False, matched_stop="") == ("end_turn", None)


@pytest.mark.parametrize(
    ("choice", "matched"),
    [
        ({"finish_reason": "stop", "stop_reason": "###"}, "###"),  # vLLM
        ({"finish_reason": "stop", "matched_stop": "</answer>"}, "</answer>"),  # SGLang
        ({"finish_reason": "stop", "stop_reason": 128001}, None),  # an EOS token id, not a stop string
        ({"finish_reason": "stop", "matched_stop": 2}, None),
        ({"finish_reason": "stop", "stop_reason": None}, None),
        ({"finish_reason": "stop", "stop_reason": ""}, None),
        ({"finish_reason": "stop"}, None),
        ({"stop_reason": 5, "matched_stop": "x"}, "x"),
    ],
)
def test_p7_matched_stop_from_openai_choice(choice: Dict[str, Any], matched: Optional[str]) -> None:
    assert matched_stop_from_openai_choice(choice) == matched
