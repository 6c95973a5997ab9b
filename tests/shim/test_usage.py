"""Usage conversions (shim/usage.py): the exact formulas of TRANSLATION.md §3.5 (pitfall P8)."""

import openai
import pytest
from anthropic.types import Usage as AnthropicUsage

from shim.usage import Usage, usage_from_anthropic, usage_from_openai, usage_to_anthropic, usage_to_openai


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
