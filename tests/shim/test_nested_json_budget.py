"""JSON inside a string is held to the call's JSON budget when a translator parses it
(docs/proxy-limits.md#request-bodies, docs/proxy-limits.md#answers).

A tool call's arguments are a string: to the body's count it is one value however much JSON it
holds, so the body's count let a 24 MiB request through whose arguments the Chat → Anthropic
translation then parsed into eight million lists. Every such parse now takes its values from one
budget per call, as large as a body's, and past it the call is refused in its side's terms: the
client's request a 413, a backend's answer a 502.
"""

import json
from typing import Any, Dict, List

import pytest

from shim.errors import RequestTooLargeError, UpstreamTransportError
from shim.json_budget import MAX_JSON_VALUES, JsonBudget, TooManyJsonValues, loads_within_budget
from shim.translate.context import ClientTool, RequestOptions, ResponseContext
from shim.translate.request_anthropic_to_openai import anthropic_request_to_openai
from shim.translate.request_openai_to_anthropic import openai_request_to_anthropic
from shim.translate.response_chat_to_responses import chat_response_to_responses
from shim.translate.response_openai_to_anthropic import openai_response_to_anthropic

HALF = MAX_JSON_VALUES // 2 + 1  # two of these are over the budget, one is not


def _lists(count: int) -> str:
    """JSON text of ``count`` empty lists in one list: the cheapest values to write, the dearest to parse."""
    return "[" + "[]," * (count - 1) + "[]]"


def _arguments(count: int) -> str:
    """Arguments holding ``count`` numbers: counted exactly (empty lists count up to twice: a bound)."""
    return '{"rows":[' + "1," * (count - 1) + "1]}"


def _chat_request(*arguments: str) -> Dict[str, Any]:
    calls = [{"id": f"call_{n}", "type": "function", "function": {"name": "f", "arguments": text}}
             for n, text in enumerate(arguments)]
    results = [{"role": "tool", "tool_call_id": f"call_{n}", "content": "done"} for n in range(len(arguments))]
    return {"model": "claude-sonnet-4-6", "messages": [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": calls}, *results]}


def _options() -> RequestOptions:
    return RequestOptions(upstream_model="claude-sonnet-4-6", json_budget=JsonBudget.for_request())


def _chat_answer(*arguments: str) -> Dict[str, Any]:
    calls = [{"id": f"call_{n}", "type": "function", "function": {"name": "f", "arguments": text}}
             for n, text in enumerate(arguments)]
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-5.1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": calls},
                         "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def _context(**fields: Any) -> ResponseContext:
    return ResponseContext(client_model="claude-sonnet-4-6", created=1, call_id="c1", **fields)


def test_a_request_whose_arguments_hold_too_many_values_is_a_413() -> None:
    with pytest.raises(RequestTooLargeError, match=r"messages\[1\]\.tool_calls\[0\]\.function\.arguments"):
        openai_request_to_anthropic(_chat_request(_arguments(MAX_JSON_VALUES)), _options())


def test_the_budget_is_one_per_call_not_one_per_string() -> None:
    """Each string alone is within the budget; together they are not."""
    translated = openai_request_to_anthropic(_chat_request(_arguments(HALF)), _options())
    assert len(translated.body["messages"][1]["content"][0]["input"]["rows"]) == HALF
    with pytest.raises(RequestTooLargeError):
        openai_request_to_anthropic(_chat_request(_arguments(HALF), _arguments(HALF)), _options())


def test_an_upper_bound_is_spent_while_it_fits_and_the_exact_count_decides() -> None:
    """Commas inside the arguments' own strings are in the quick bound, not in the values: a text
    whose bound does not fit what is left is counted exactly before it is refused."""
    prose = '{"text":"' + "a, " * MAX_JSON_VALUES + '"}'  # 500,000 commas, two values
    budget = JsonBudget.for_request()
    budget.loads(_arguments(HALF))
    assert budget.loads(prose) == {"text": "a, " * MAX_JSON_VALUES}


def test_a_json_user_id_is_held_to_the_budget() -> None:
    user_id = '{"device_id":' + _lists(MAX_JSON_VALUES) + "}"
    body = {"model": "gpt-5.1", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}],
            "metadata": {"user_id": user_id}}
    options = RequestOptions(upstream_model="gpt-5.1", json_budget=JsonBudget.for_request())
    with pytest.raises(RequestTooLargeError, match=r"metadata\.user_id"):
        anthropic_request_to_openai(body, options)


def test_an_answer_whose_arguments_hold_too_many_values_is_a_502() -> None:
    with pytest.raises(UpstreamTransportError, match="arguments"):
        openai_response_to_anthropic(_chat_answer(_arguments(HALF), _arguments(HALF)), _context())
    within = openai_response_to_anthropic(_chat_answer(_arguments(HALF)), _context())
    assert len(within["content"][0]["input"]["rows"]) == HALF


def test_a_custom_tools_input_is_held_to_the_budget() -> None:
    custom = {"f": ClientTool("f", custom=True)}
    text = json.dumps({"input": "x"})[:-1] + ',"rows":' + _lists(MAX_JSON_VALUES) + "}"
    with pytest.raises(UpstreamTransportError):
        chat_response_to_responses(_chat_answer(text), _context(client_tools=custom))


def test_best_effort_reads_treat_too_many_values_as_unparsable() -> None:
    """Usage, error details and stored records: what cannot be parsed is left unread, as before."""
    with pytest.raises(TooManyJsonValues) as refused:
        loads_within_budget(_lists(MAX_JSON_VALUES + 1))
    assert isinstance(refused.value, ValueError) and refused.value.values > MAX_JSON_VALUES
    many_ones: List[int] = loads_within_budget("[" + "1," * (MAX_JSON_VALUES - 2) + "1]")
    assert len(many_ones) == MAX_JSON_VALUES - 1


class _WatchedText(str):
    """A text that notes how far into it each of its ``count`` calls read."""

    def __new__(cls, text: str) -> "_WatchedText":
        watched = super().__new__(cls, text)
        watched.reads = []
        return watched

    def count(self, sub: str, start: Any = None, end: Any = None) -> int:  # type: ignore[override]
        self.reads.append(len(self) if end is None else min(end, len(self)))
        return super().count(sub, start, end)


def test_a_text_past_the_budget_in_its_first_megabyte_is_not_read_to_its_end() -> None:
    """The quick bound goes a megabyte at a time and stops where it passes the budget, as the exact
    count does: over 8 MiB of empty lists, read whole, it held the event loop 16 ms for nothing
    (docs/proxy-limits.md#answers)."""
    text = _WatchedText(_lists(3 * 1024 * 1024))  # 9 MiB, six million values
    with pytest.raises(RequestTooLargeError):
        JsonBudget.for_request().loads(text, "'arguments'")
    assert text.reads and max(text.reads) <= 2 * 1024 * 1024 < len(text)
