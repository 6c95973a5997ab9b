"""Usage conversions (shim/usage.py): the exact formulas of docs/protocol-rules.md#usage (docs/pitfalls.md#p8)."""

import json
from typing import Any, Dict

import hypothesis.strategies as st
import openai
import pytest
from anthropic.types import Usage as AnthropicUsage
from hypothesis import given, settings

from shim.usage import (
    Usage,
    response_usage,
    usage_from_anthropic,
    usage_from_openai,
    usage_to_anthropic,
    usage_to_openai,
)


def test_p8_anthropic_to_openai_prompt_tokens_include_cache() -> None:
    usage = usage_from_anthropic(
        {
            "input_tokens": 100,
            "cache_read_input_tokens": 20,
            "cache_creation_input_tokens": 7,
            "output_tokens": 50,
            "output_tokens_details": {"thinking_tokens": 30},
        }
    )
    assert usage_to_openai(usage) == {
        "prompt_tokens": 127,
        "completion_tokens": 50,
        "total_tokens": 177,
        "prompt_tokens_details": {"cached_tokens": 20, "cache_write_tokens": 7},
        "completion_tokens_details": {"reasoning_tokens": 30},
    }


def test_p8_openai_to_anthropic_input_tokens_exclude_cache() -> None:
    usage = usage_from_openai(
        {
            "prompt_tokens": 127,
            "completion_tokens": 50,
            "total_tokens": 177,
            "prompt_tokens_details": {"cached_tokens": 20, "cache_write_tokens": 7},
            "completion_tokens_details": {"reasoning_tokens": 30},
        }
    )
    assert usage_to_anthropic(usage) == {
        "input_tokens": 100,
        "cache_creation_input_tokens": 7,
        "cache_read_input_tokens": 20,
        "output_tokens": 50,
        "output_tokens_details": {"thinking_tokens": 30},
    }


def test_p8_input_tokens_never_negative() -> None:
    usage = usage_from_openai({"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 25}})
    assert usage.input_tokens == 0
    assert usage.cache_read_tokens == 25


def test_p8_reasoning_tokens_absent_stays_absent() -> None:
    usage = usage_from_openai({"prompt_tokens": 3, "completion_tokens": 4})
    assert usage.reasoning_tokens is None
    assert "output_tokens_details" not in usage_to_anthropic(usage)
    assert "completion_tokens_details" not in usage_to_openai(usage_from_anthropic({"output_tokens": 4}))


def test_p8_reasoning_tokens_zero_is_reported() -> None:
    usage = usage_from_anthropic({"output_tokens": 4, "output_tokens_details": {"thinking_tokens": 0}})
    assert usage_to_openai(usage)["completion_tokens_details"] == {"reasoning_tokens": 0}


def test_p8_cumulative_merge_overwrites_only_present_fields() -> None:
    start = usage_from_anthropic(
        {"input_tokens": 43, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 2, "output_tokens": 1}
    )
    delta = usage_from_anthropic({"output_tokens": 65}, start)
    assert delta == Usage(input_tokens=43, output_tokens=65, cache_read_tokens=5, cache_write_tokens=2)
    later = usage_from_anthropic({"input_tokens": 61, "output_tokens": 80, "cache_read_input_tokens": 9}, delta)
    assert later == Usage(input_tokens=61, output_tokens=80, cache_read_tokens=9, cache_write_tokens=2)


def test_p8_cumulative_merge_treats_null_as_absent() -> None:
    # The SDK's accumulator only overwrites fields that are not None.
    start = usage_from_anthropic({"input_tokens": 43, "cache_read_input_tokens": 5, "output_tokens": 1})
    merged = usage_from_anthropic(
        {"input_tokens": None, "cache_read_input_tokens": None, "output_tokens": 9, "output_tokens_details": None},
        start,
    )
    assert merged == Usage(input_tokens=43, output_tokens=9, cache_read_tokens=5)


def test_p8_cumulative_merge_keeps_thinking_tokens() -> None:
    start = usage_from_anthropic(
        {"input_tokens": 1, "output_tokens": 1, "output_tokens_details": {"thinking_tokens": 3}}
    )
    assert usage_from_anthropic({"output_tokens": 9}, start).reasoning_tokens == 3


def test_total_input_tokens() -> None:
    assert Usage(input_tokens=1, cache_read_tokens=2, cache_write_tokens=4).total_input_tokens == 7


@pytest.mark.parametrize("bad", [None, "12", -5, True, 1.5, [], {}])
def test_weird_values_count_as_zero(bad: object) -> None:
    usage = usage_from_openai({"prompt_tokens": bad, "completion_tokens": bad, "prompt_tokens_details": bad})
    assert usage == Usage()
    assert usage_from_anthropic({"input_tokens": bad, "output_tokens": bad}).input_tokens == 0


def test_rendered_usage_validates_against_the_sdks() -> None:
    usage = Usage(input_tokens=10, output_tokens=5, cache_read_tokens=3, cache_write_tokens=2, reasoning_tokens=1)
    AnthropicUsage.model_validate(usage_to_anthropic(usage), strict=True)
    openai.types.CompletionUsage.model_validate(usage_to_openai(usage), strict=True)


def test_round_trip_anthropic_openai_anthropic() -> None:
    usage = Usage(input_tokens=10, output_tokens=5, cache_read_tokens=3, cache_write_tokens=2, reasoning_tokens=1)
    assert usage_from_openai(usage_to_openai(usage)) == usage
    assert usage_from_anthropic(usage_to_anthropic(usage)) == usage


# response_usage: the tail read must agree with a full parse --------------------------------------
_JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
_JSON = st.recursive(_JSON_LEAF, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["usage", "a", "usage\\", '"usage"', "tokens"]) | st.text(max_size=6), inner, max_size=3),
    max_leaves=12)


@given(
    body=st.dictionaries(st.sampled_from(["id", "usage", "choices", "model", "x"]), _JSON, max_size=5),
    separators=st.sampled_from([(", ", ": "), (",", ":"), (",\n  ", " :\t ")]),
    ensure_ascii=st.booleans(),
)
@settings(max_examples=400, deadline=None)
def test_response_usage_agrees_with_a_full_parse(body: Dict[str, Any], separators: Any, ensure_ascii: bool) -> None:
    """Whatever the key order, nesting (a nested "usage", a string holding '"usage": {}'), spacing
    or escaping: the usage read from the tail is the one a full parse finds."""
    raw = json.dumps(body, separators=separators, ensure_ascii=ensure_ascii).encode()
    assert response_usage(raw) == json.loads(raw).get("usage")
    assert response_usage(raw + b"\n") == json.loads(raw).get("usage")


@pytest.mark.parametrize(("raw", "expected"), [
    (b'{"id":"x","usage":{"prompt_tokens":3}}', {"prompt_tokens": 3}),
    (b'{"usage":{"prompt_tokens":3},"id":"x"}', {"prompt_tokens": 3}),  # not last: parsed whole
    (b'{"choices":[{"usage":{"n":1}}],"id":"x"}', None),  # only a nested one
    (b'{"a":{"usage":{"n":1}}}', None),  # nested, and last: two braces follow it
    (b'{"text":"say \\"usage\\": {}","usage":{"n":2}}', {"n": 2}),
    (b'{"\\u0075sage":{"n":4}}', {"n": 4}),  # an escaped key: parsed whole
    (b'{"usage":{"n":1},"usage":{"n":5}}', {"n": 5}),  # duplicate keys: the last, as parsers do
    (b'[{"usage":{"n":1}}]', None),
    (b"not json", None),
    (b'{"usage": {"n": 1', None),
    (b"", None),
])
def test_response_usage_cases(raw: bytes, expected: Any) -> None:
    assert response_usage(raw) == expected
