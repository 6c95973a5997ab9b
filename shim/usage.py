"""Token usage in one canonical form, and the exact conversions to and from each protocol.

Canonical form follows Anthropic's semantics because they are the finer ones:
``input_tokens`` *excludes* cache reads and writes ("Total input tokens in a request is the
summation of input_tokens, cache_creation_input_tokens, and cache_read_input_tokens"), while
OpenAI's ``prompt_tokens`` *includes* them (``cached_tokens`` is a subset). Formulas: TRANSLATION.md
§3.5 — getting these wrong is pitfall P8.
"""

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional

__all__ = ["Usage", "usage_from_anthropic", "usage_from_openai", "usage_to_anthropic", "usage_to_openai"]


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0  # excludes cache reads and writes
    output_tokens: int = 0  # includes reasoning/thinking
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: Optional[int] = None  # None when the backend does not say

    @property
    def total_input_tokens(self) -> int:
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _details(usage: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = usage.get(key)
    # JSON objects are dicts; isinstance against typing.Mapping goes through the ABC machinery (~1 µs)
    return value if isinstance(value, dict) else {}


def usage_from_anthropic(usage: Mapping[str, Any], previous: Optional[Usage] = None) -> Usage:
    """Read an Anthropic ``usage`` object.

    With ``previous`` (streaming), fields absent or null here keep their earlier value:
    ``message_delta`` usage is cumulative and overwrites only the fields it carries (TRANSLATION.md
    §1.3; the SDK's accumulator also skips ``None``).
    """
    base = previous or Usage()
    thinking = _details(usage, "output_tokens_details").get("thinking_tokens")
    return Usage(
        input_tokens=_carried(usage, "input_tokens", base.input_tokens),
        output_tokens=_carried(usage, "output_tokens", base.output_tokens),
        cache_read_tokens=_carried(usage, "cache_read_input_tokens", base.cache_read_tokens),
        cache_write_tokens=_carried(usage, "cache_creation_input_tokens", base.cache_write_tokens),
        reasoning_tokens=_int(thinking) if thinking is not None else base.reasoning_tokens,
    )


def _carried(usage: Mapping[str, Any], key: str, earlier: int) -> int:
    value = usage.get(key)
    return earlier if value is None else _int(value)


def usage_from_openai(usage: Mapping[str, Any]) -> Usage:
    """Read an OpenAI ``usage`` object (prompt_tokens includes cached and cache-write tokens)."""
    prompt = _details(usage, "prompt_tokens_details")
    completion = _details(usage, "completion_tokens_details")
    cache_read = _int(prompt.get("cached_tokens"))
    cache_write = _int(prompt.get("cache_write_tokens"))
    reasoning = completion.get("reasoning_tokens")
    return Usage(
        input_tokens=max(0, _int(usage.get("prompt_tokens")) - cache_read - cache_write),
        output_tokens=_int(usage.get("completion_tokens")),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=_int(reasoning) if reasoning is not None else None,
    )


def usage_to_anthropic(usage: Usage) -> Dict[str, Any]:
    """An Anthropic ``usage`` object (valid for both a response and ``message_delta``)."""
    out: Dict[str, Any] = {
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
        "output_tokens": usage.output_tokens,
    }
    if usage.reasoning_tokens is not None:
        out["output_tokens_details"] = {"thinking_tokens": usage.reasoning_tokens}
    return out


def usage_to_openai(usage: Usage) -> Dict[str, Any]:
    """An OpenAI ``usage`` object."""
    prompt_tokens = usage.total_input_tokens
    out: Dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt_tokens + usage.output_tokens,
        "prompt_tokens_details": {
            "cached_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
    }
    if usage.reasoning_tokens is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return out
