"""A translated request costs work in proportion to its size (docs/proxy-limits.md#translation-work).

Three lookups in the translators scanned a list once per item: the notes kept about a request (one
per unknown field, metadata key or server tool), the calls a tool message may answer, and the tools
an ``allowed_tools`` choice may name. Within every body limit, 30,000 items made one call hold the
proxy's event loop for 5–7 s (100,000 unknown fields: 51 s). Measured here as growth, not time: the
same request with eight times the items must cost about eight times as much, where those scans cost
sixty-four times."""

import json
from typing import Any, Callable, Dict, List

import pytest
from fastest_run import fastest

from shim.config import RouterConfig
from shim.plan import FORWARD, ClientCall, Plan, plan_call
from shim.translate.request_checks import MAX_NOTES, NOTES_LEFT_OUT

CONFIG = RouterConfig.from_dict({"backends": {
    "openai": {"protocol": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-oai", "models": ["gpt-*"]},
    "anthropic": {"protocol": "anthropic", "base_url": "http://127.0.0.1:9", "api_key": "sk-ant",
                  "models": ["claude-*"]},
}})
USER = [{"role": "user", "content": "hi"}]
SMALL, LARGE = 2_500, 20_000

Body = Dict[str, Any]


def _unknown_fields(model: str, base: Body) -> Callable[[int], Body]:
    return lambda n: {"model": model, **base, **{f"field_{i}": 0 for i in range(n)}}


def _chat_tool_round(n: int) -> Body:
    calls = [{"id": f"call_{i}", "type": "function", "function": {"name": "f", "arguments": "{}"}} for i in range(n)]
    results = [{"role": "tool", "tool_call_id": f"call_{i}", "content": "ok"} for i in range(n)]
    return {"model": "claude-x", "messages": [*USER, {"role": "assistant", "tool_calls": calls}, *results]}


def _chat_tool_round_one_id(n: int) -> Body:
    """Every call with the same id: each tool message answers the first call still unanswered."""
    calls = [{"id": "call", "type": "function", "function": {"name": "f", "arguments": "{}"}} for _ in range(n)]
    results = [{"role": "tool", "tool_call_id": "call", "content": "ok"} for _ in range(n)]
    return {"model": "claude-x", "messages": [*USER, {"role": "assistant", "tool_calls": calls}, *results]}


def _responses_tool_round(n: int) -> Body:
    calls = [{"type": "function_call", "call_id": f"call_{i}", "name": "f", "arguments": "{}"} for i in range(n)]
    outputs = [{"type": "function_call_output", "call_id": f"call_{i}", "output": "ok"} for i in range(n)]
    return {"model": "claude-x", "store": False, "input": [{"role": "user", "content": "hi"}, *calls, *outputs]}


def _allowed_tools(n: int) -> Body:
    tools = [{"type": "function", "function": {"name": f"tool_{i}"}} for i in range(n)]
    named = [{"type": "function", "function": {"name": f"tool_{i}"}} for i in range(n)]
    return {"model": "claude-x", "messages": USER, "tools": tools,
            "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": named}}}


CASES: Dict[str, Any] = {
    "messages to openai, unknown fields": ("messages", _unknown_fields("gpt-x", {"max_tokens": 8, "messages": USER})),
    "messages to openai, metadata keys": (
        "messages", lambda n: {"model": "gpt-x", "max_tokens": 8, "messages": USER,
                               "metadata": {f"key_{i}": "v" for i in range(n)}}),
    "chat to anthropic, unknown fields": ("chat", _unknown_fields("claude-x", {"messages": USER})),
    "responses to anthropic, unknown fields": (
        "responses", _unknown_fields("claude-x", {"store": False, "input": "hi"})),
    "chat to anthropic, tool results": ("chat", _chat_tool_round),
    "chat to anthropic, tool results of one id": ("chat", _chat_tool_round_one_id),
    "responses to anthropic, tool results": ("responses", _responses_tool_round),
    "chat to anthropic, allowed tools": ("chat", _allowed_tools),
}


def _plan(endpoint: str, body: Body) -> Plan:
    raw = json.dumps(body).encode()
    return plan_call(CONFIG, ClientCall(endpoint, {"anthropic-version": "2023-06-01"}, raw), now=1.0, call_id="t")



@pytest.mark.parametrize("case", list(CASES))
def test_eight_times_the_items_cost_about_eight_times_the_work(case: str) -> None:
    endpoint, build = CASES[case]
    small, large = build(SMALL), build(LARGE)
    plan = _plan(endpoint, large)
    assert plan.disposition == FORWARD and plan.translated, plan.refusal
    small_cost = fastest(lambda: _plan(endpoint, small))
    large_cost = fastest(lambda: _plan(endpoint, large))
    assert large_cost < 20 * small_cost, (small_cost, large_cost)  # linear: ~8; a scan per item: ~64


@pytest.mark.parametrize("case", [name for name in CASES if "unknown fields" in name or "metadata" in name])
def test_a_note_per_item_stops_at_the_cap_and_says_so(case: str) -> None:
    endpoint, build = CASES[case]
    notes: List[str] = _plan(endpoint, build(LARGE)).notes
    assert len(notes) <= MAX_NOTES + 3  # and a few one-off notes (the expansion, a clamp) besides
    assert notes.count(NOTES_LEFT_OUT) == 1
    assert len(set(notes)) == len(notes)


def test_tool_results_of_one_id_still_answer_their_calls_in_order() -> None:
    """The lookup by id keeps the rule it had: the first unanswered call with the id, then the next."""
    body = _chat_tool_round_one_id(3)
    body["messages"][-1]["content"] = "third"
    sent = json.loads(_plan("chat", body).upstream_body)
    results = sent["messages"][-1]["content"]
    uses = sent["messages"][-2]["content"]
    assert [result["tool_use_id"] for result in results] == [use["id"] for use in uses]
    assert len({use["id"] for use in uses}) == 3 and results[-1]["content"] == [{"type": "text", "text": "third"}]


def test_a_fourth_answer_to_three_calls_of_one_id_is_still_refused() -> None:
    body = _chat_tool_round_one_id(3)
    body["messages"].append({"role": "tool", "tool_call_id": "call", "content": "again"})
    plan = _plan("chat", body)
    assert plan.refusal is not None and "answered more than once" in str(plan.refusal)
