"""OpenAI Chat Completions request → Anthropic Messages request (docs/protocol-rules.md#request-parameters;
pitfall numbers: docs/pitfalls.md).

Messages and content blocks are translated in :mod:`.openai_messages_to_anthropic`, tools in
:mod:`.openai_tools_to_anthropic`; this module handles the top-level parameters and the rules that
tie them together (max_tokens vs. thinking budget, thinking vs. sampling and forced tool use).
Every field that is dropped, clamped or ignored leaves one human-readable note.

The request is sent with ``anthropic-version: 2023-06-01`` (plan.py,
docs/protocol-rules.md#translated-api-version), under which sampling parameters are still accepted
— except by the models in :data:`OPUS_4_7_PLUS_MODEL_GLOBS`.
"""

import fnmatch
from typing import Any, Dict, List, Optional

from ..errors import InvalidRequestError, UnsupportedFeatureError
from ..protocols import ANTHROPIC
from .context import RequestOptions, TranslatedRequest
from .openai_messages_to_anthropic import TranslatedMessages, openai_messages_to_anthropic
from .openai_tools_to_anthropic import openai_tools_to_anthropic
from .request_checks import (
    add_note,
    describe,
    expect_bool,
    expect_number,
    expect_object,
    expect_positive_int,
    expect_str,
)
from .system_placement import KEEP, resolve_placement

__all__ = ["IGNORED_FIELDS", "OPUS_4_7_PLUS_MODEL_GLOBS", "THINKING_BUDGETS", "openai_request_to_anthropic"]

# Upstream models (matched case-insensitively) that answer 400 to temperature/top_p ("`temperature`
# is deprecated for this model", P16) and accept only adaptive thinking, no budget_tokens
# (docs/protocol-rules.md#sampling, docs/protocol-rules.md#thinking): Opus 4.7 and later, and the
# Claude 5.5 models and Fable 5 (docs/clients/claude-code.md#thinking).
# The leading * also matches provider-prefixed ids such as "us.anthropic.claude-opus-4-7-v1:0".
OPUS_4_7_PLUS_MODEL_GLOBS = (
    "*claude-opus-4-7*", "*claude-opus-4-8*", "*claude-opus-5*", "*claude-fable-5*", "*claude-sonnet-5-5*",
    "*claude-haiku-5-5*",
)

# reasoning_effort → budget_tokens for models with budget thinking. Anthropic's floor is 1024
# (docs/protocol-rules.md#thinking; a smaller budget is a 400, P15).
THINKING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096, "xhigh": 8192, "max": 16384}
_MIN_THINKING_BUDGET = 1024
# reasoning_effort → output_config.effort for adaptive thinking; Anthropic has no "minimal".
_ADAPTIVE_EFFORTS = {"minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "max"}

# OpenAI fields Anthropic has no counterpart for; its own compat layer ignores them too
# (docs/protocol-rules.md#dropped-fields).
IGNORED_FIELDS = frozenset(
    {
        "seed", "frequency_penalty", "presence_penalty", "logit_bias", "logprobs", "top_logprobs", "prediction",
        "modalities", "audio", "store", "service_tier", "verbosity", "web_search_options", "prompt_cache_key",
        "prompt_cache_retention", "prompt_cache_options", "moderation",
    }
)
# Fields read by this translator (or its helpers); anything else is noted as dropped.
_HANDLED_FIELDS = frozenset(
    {
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "n", "stream",
        "stream_options", "tools", "tool_choice", "parallel_tool_calls", "reasoning_effort", "response_format",
        "metadata", "user", "safety_identifier",
    }
)


def openai_request_to_anthropic(body: Dict[str, Any], options: RequestOptions) -> TranslatedRequest:
    """Translate a parsed OpenAI Chat Completions request body for an Anthropic backend.

    Raises :class:`InvalidRequestError` for malformed input and :class:`UnsupportedFeatureError`
    for valid requests Anthropic cannot serve (``n > 1``, audio input, file ids…).
    """
    notes: List[str] = []
    _reject_unsupported(body)
    keep_in_place = resolve_placement(options.mid_conversation_system, ANTHROPIC, options.upstream_model) == KEEP
    conversation = openai_messages_to_anthropic(body.get("messages"), notes, options.json_budget, keep_in_place)
    out: Dict[str, Any] = {"model": options.upstream_model, "max_tokens": _max_tokens(body, options, notes)}
    if conversation.system is not None:
        out["system"] = conversation.system
    out["messages"] = conversation.messages
    _add_stop_sequences(out, body.get("stop"), notes)
    out.update(openai_tools_to_anthropic(body, notes))
    _add_thinking(out, body.get("reasoning_effort"), conversation, options, notes)
    _add_sampling(out, body, options.upstream_model, notes)
    _add_response_format(out, body.get("response_format"), notes)
    _add_metadata(out, body, notes)
    stream = _stream_requested(body.get("stream"))
    if stream:
        out["stream"] = True
    _note_dropped_fields(body, notes)
    return TranslatedRequest(body=out, stream=stream, include_usage=_include_usage(body), notes=notes)


def _reject_unsupported(body: Dict[str, Any]) -> None:
    n = body.get("n")
    if n is not None and expect_positive_int(n, "n") != 1:
        # Anthropic returns one completion per request; its compat layer: "Must be exactly 1"
        # (docs/protocol-rules.md#choices-and-legacy-fields).
        raise UnsupportedFeatureError(f"'n' is {n}; an Anthropic backend returns exactly one choice", param="n")
    for legacy in ("functions", "function_call"):
        if body.get(legacy) is not None:
            raise UnsupportedFeatureError(
                f"the legacy {legacy!r} field is not supported; use 'tools' and 'tool_choice'", param=legacy
            )


def _max_tokens(body: Dict[str, Any], options: RequestOptions, notes: List[str]) -> int:
    """P15: Anthropic requires max_tokens and rejects values above the model's output limit."""
    requested = _requested_max_tokens(body)
    limit = options.default_max_tokens if requested is None else requested
    cap = options.max_output_tokens
    if cap is not None and limit > cap:
        notes.append(f"clamped 'max_tokens' from {limit} to {cap}, the backend's output limit")
        return cap
    return limit


def _requested_max_tokens(body: Dict[str, Any]) -> Optional[int]:
    """``max_completion_tokens`` wins over the older ``max_tokens`` (both are validated)."""
    fields = [field for field in ("max_completion_tokens", "max_tokens") if body.get(field) is not None]
    values = [expect_positive_int(body[field], field) for field in fields]
    return values[0] if values else None


def _add_stop_sequences(out: Dict[str, Any], raw: Any, notes: List[str]) -> None:
    """``stop`` → ``stop_sequences`` without whitespace-only entries, which Anthropic rejects
    ("All non-whitespace stop sequences work", docs/protocol-rules.md#stop-sequences)."""
    if raw is None:
        return
    if not isinstance(raw, (str, list)):
        raise InvalidRequestError(f"'stop' must be a string or an array of strings, not {describe(raw)}", param="stop")
    sequences = [raw] if isinstance(raw, str) else [expect_str(item, f"stop[{i}]") for i, item in enumerate(raw)]
    kept = [sequence for sequence in sequences if sequence.strip()]
    if len(kept) < len(sequences):
        notes.append("dropped whitespace-only 'stop' sequences: Anthropic rejects them")
    if kept:
        out["stop_sequences"] = kept


def _is_opus_4_7_plus(model: str) -> bool:
    lowered = model.lower()
    return any(fnmatch.fnmatchcase(lowered, glob) for glob in OPUS_4_7_PLUS_MODEL_GLOBS)


def _add_thinking(
    out: Dict[str, Any], raw: Any, conversation: TranslatedMessages, options: RequestOptions, notes: List[str]
) -> None:
    """``reasoning_effort`` → adaptive thinking + effort (Opus 4.7+) or a budget (other models)."""
    effort = _reasoning_effort(raw)
    if effort is None:
        return
    blocker = _thinking_blocker(out, conversation)
    if blocker is not None:
        notes.append(f"dropped 'reasoning_effort': {blocker}")
        return
    if not _is_opus_4_7_plus(options.upstream_model):
        _add_budget_thinking(out, THINKING_BUDGETS[effort], options.max_output_tokens, notes)
        return
    out["thinking"] = {"type": "adaptive"}
    out.setdefault("output_config", {})["effort"] = _ADAPTIVE_EFFORTS[effort]
    if effort == "minimal":
        notes.append("mapped 'reasoning_effort' 'minimal' to Anthropic effort 'low', the lowest it has")


def _reasoning_effort(raw: Any) -> Optional[str]:
    """The requested effort, or None when no thinking was asked for."""
    if raw is None or raw == "none":
        return None
    if not isinstance(raw, str) or raw not in THINKING_BUDGETS:
        raise InvalidRequestError(
            f"'reasoning_effort' must be one of none, {', '.join(THINKING_BUDGETS)}; got {describe(raw)}",
            param="reasoning_effort",
        )
    return raw


def _thinking_blocker(out: Dict[str, Any], conversation: TranslatedMessages) -> Optional[str]:
    """Why thinking cannot be turned on for this request, if it cannot."""
    if out.get("tool_choice", {}).get("type") in ("any", "tool"):
        # "Thinking isn't compatible with … forced tool use" (docs/protocol-rules.md#tool-choice): the
        # tool choice is the harder constraint for the client's program, so it wins over reasoning.
        return "Anthropic does not allow thinking with a forced tool_choice"
    if conversation.last_assistant_called_tools:
        # docs/protocol-rules.md#thinking-round-trips: continuing a tool loop with thinking on requires
        # the assistant turn's signed thinking blocks, which an OpenAI client never sends back.
        return "the history continues a tool loop without the signed thinking blocks Anthropic requires"
    return None


def _add_budget_thinking(out: Dict[str, Any], budget: int, cap: Optional[int], notes: List[str]) -> None:
    """Budget thinking needs 1024 <= budget < max_tokens (docs/protocol-rules.md#thinking, P15): raise
    max_tokens to budget + 1024 when needed; if the backend's cap forbids that, shrink the budget, or
    drop thinking below 1024."""
    max_tokens = out["max_tokens"]
    if max_tokens <= budget:
        wanted = budget + _MIN_THINKING_BUDGET
        raised = wanted if cap is None else min(wanted, cap)
        if raised < wanted:
            budget = raised - _MIN_THINKING_BUDGET
            if budget < _MIN_THINKING_BUDGET:
                notes.append(
                    f"dropped 'reasoning_effort': the backend's output limit {cap} leaves no room for the "
                    f"{_MIN_THINKING_BUDGET}-token minimum thinking budget"
                )
                return
            notes.append(f"reduced the thinking budget to {budget} tokens to fit the backend's output limit {cap}")
        if raised != max_tokens:
            notes.append(f"raised 'max_tokens' from {max_tokens} to {raised} to make room for thinking")
            out["max_tokens"] = raised
    out["thinking"] = {"type": "enabled", "budget_tokens": budget}


def _add_sampling(out: Dict[str, Any], body: Dict[str, Any], model: str, notes: List[str]) -> None:
    """temperature (clamped to Anthropic's 0–1) and top_p, unless the model or thinking forbids them."""
    for field in ("temperature", "top_p"):
        raw = body.get(field)
        if raw is None:
            continue
        value = expect_number(raw, field)
        if _is_opus_4_7_plus(model):
            notes.append(f"dropped {field!r}: {model} rejects sampling parameters")
        elif "thinking" in out:
            notes.append(f"dropped {field!r}: Anthropic rejects it while thinking is on")
        elif field == "temperature":
            out[field] = _clamped_temperature(value, notes)
        else:
            out[field] = value


def _clamped_temperature(value: float, notes: List[str]) -> float:
    # OpenAI's range is 0–2; Anthropic's is 0–1 (its own compat layer caps values above 1,
    # docs/protocol-rules.md#sampling).
    clamped = min(max(value, 0.0), 1.0)
    if clamped != value:
        notes.append(f"clamped 'temperature' from {value:g} to {clamped:g}, Anthropic's range is 0 to 1")
    return clamped


def _add_response_format(out: Dict[str, Any], raw: Any, notes: List[str]) -> None:
    """json_schema → ``output_config.format``; text and json_object have no Anthropic form."""
    if raw is None:
        return
    response_format = expect_object(raw, "response_format")
    kind = response_format.get("type")
    if kind in ("text", "json_object"):
        notes.append(f"dropped 'response_format' of type {kind!r}: no Anthropic counterpart")
        return
    if kind != "json_schema":
        raise InvalidRequestError(
            f"'response_format.type' must be text, json_object or json_schema; got {describe(kind)}",
            param="response_format.type",
        )
    spec = expect_object(response_format.get("json_schema"), "response_format.json_schema")
    schema = expect_object(spec.get("schema"), "response_format.json_schema.schema")
    out.setdefault("output_config", {})["format"] = {"type": "json_schema", "schema": schema}


def _add_metadata(out: Dict[str, Any], body: Dict[str, Any], notes: List[str]) -> None:
    """``safety_identifier`` (or the older ``user``) → ``metadata.user_id``; OpenAI ``metadata`` is
    dropped because Anthropic's metadata holds only ``user_id`` (docs/protocol-rules.md#metadata)."""
    if body.get("metadata") is not None:
        notes.append("dropped 'metadata': Anthropic metadata holds only a user id")
    for field in ("safety_identifier", "user"):
        raw = body.get(field)
        if raw is not None and expect_str(raw, field) and "metadata" not in out:
            out["metadata"] = {"user_id": raw}


def _stream_requested(raw: Any) -> bool:
    return raw is not None and expect_bool(raw, "stream")


def _include_usage(body: Dict[str, Any]) -> bool:
    raw = body.get("stream_options")
    return raw is not None and expect_object(raw, "stream_options").get("include_usage") is True


def _note_dropped_fields(body: Dict[str, Any], notes: List[str]) -> None:
    """One note per top-level field not translated (null values are "not sent" and stay silent)."""
    for field, value in body.items():
        if field in _HANDLED_FIELDS or value is None:
            continue
        reason = "no Anthropic counterpart" if field in IGNORED_FIELDS else "unknown field"
        add_note(notes, f"dropped {describe(field)}: {reason}")
