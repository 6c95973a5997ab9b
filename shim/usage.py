"""Token usage in one canonical form, and the exact conversions to and from each protocol.

Canonical form follows Anthropic's semantics because they are the finer ones:
``input_tokens`` *excludes* cache reads and writes ("Total input tokens in a request is the
summation of input_tokens, cache_creation_input_tokens, and cache_read_input_tokens"), while
OpenAI's ``prompt_tokens`` *includes* them (``cached_tokens`` is a subset). Formulas:
docs/protocol-rules.md#usage — getting these wrong is pitfall P8 (docs/pitfalls.md#p8).
"""

import json
import re
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional

from .json_budget import loads_within_budget

__all__ = [
    "Usage",
    "answer_object",
    "response_usage",
    "usage_from_anthropic",
    "usage_from_openai",
    "usage_from_responses",
    "usage_to_anthropic",
    "usage_to_openai",
    "usage_to_responses",
]


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
    ``message_delta`` usage is cumulative and overwrites only the fields it carries
    (docs/protocol-rules.md#usage; the SDK's accumulator also skips ``None``).
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


def usage_from_responses(usage: Mapping[str, Any]) -> Usage:
    """Read a Responses ``usage`` object: ``input_tokens`` includes cached tokens (and cache writes,
    where a server reports them), as Chat's ``prompt_tokens`` does (docs/responses-api.md#usage)."""
    details = _details(usage, "input_tokens_details")
    cache_read = _int(details.get("cached_tokens"))
    cache_write = _int(details.get("cache_write_tokens"))
    reasoning = _details(usage, "output_tokens_details").get("reasoning_tokens")
    return Usage(
        input_tokens=max(0, _int(usage.get("input_tokens")) - cache_read - cache_write),
        output_tokens=_int(usage.get("output_tokens")),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=_int(reasoning) if reasoning is not None else None,
    )


def usage_to_responses(usage: Usage) -> Dict[str, Any]:
    """A Responses ``usage`` object. Every detail field is present: the openai SDK requires
    ``cached_tokens``, ``cache_write_tokens`` and ``reasoning_tokens``
    (``types/responses/response_usage.py``)."""
    input_tokens = usage.total_input_tokens
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens or 0},
        "total_tokens": input_tokens + usage.output_tokens,
    }


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


def response_usage(body: bytes, json_values: Optional[int] = None) -> Any:
    """The top-level ``usage`` member of a JSON response body, as parsed JSON (None when the body is
    not a JSON object or has none).

    Both APIs write ``usage`` as the body's last member, so it is read from the tail alone when the
    tail proves it is the top-level one; only other bodies are parsed whole. A long completion
    then costs a search instead of a parse of every byte of its text. ``json_values``: as
    :func:`~shim.json_budget.loads_within_budget` takes it."""
    found = _trailing_usage(body)
    if found is not _NOT_AT_END:
        return found
    parsed = answer_object(body, json_values)
    return None if parsed is None else parsed.get("usage")


def answer_object(body: bytes, json_values: Optional[int] = None) -> Optional[Dict[str, Any]]:
    """A response body parsed for what it says of itself (its usage, whether it is an error); None
    when it is not one JSON object, or too much to parse (then that is unknown:
    docs/proxy-limits.md#answers). ``json_values``: as :func:`response_usage` takes it."""
    try:
        parsed = loads_within_budget(body, json_values)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


_NOT_AT_END = object()
_USAGE_KEY = b'"usage"'
_DECODER = json.JSONDecoder()
_COLON = re.compile(r"[ \t\n\r]*:[ \t\n\r]*")  # JSON's whitespace only


def _trailing_usage(body: bytes) -> Any:
    """The value of the last ``"usage"`` key when it is the last member of the object that closes
    the body; :data:`_NOT_AT_END` when that cannot be shown from the tail.

    Why the tail is enough: inside a JSON string every quote is escaped, so ``"usage"`` followed by
    a colon is a key; its value is decoded exactly; and when only one ``}`` (and whitespace) follows
    that value, the object holding the key closes at the end of the body: the top-level object.
    A duplicate key is no trap either: JSON parsers keep the last one, and this is the last."""
    at = body.rfind(_USAGE_KEY)
    if at < 0:
        return _NOT_AT_END
    try:
        tail = body[at + len(_USAGE_KEY):].decode("utf-8")
        colon = _COLON.match(tail)
        if colon is None:
            return _NOT_AT_END
        value, end = _DECODER.raw_decode(tail, colon.end())
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return _NOT_AT_END
    return value if tail[end:].strip() == "}" else _NOT_AT_END
