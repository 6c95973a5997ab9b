"""An OpenAI(-compatible) backend's ``chat.completion`` → an Anthropic ``message``
(docs/protocol-rules.md#responses; pitfall numbers: docs/pitfalls.md).

Only ``choices[0]`` is read: requests with ``n > 1`` are rejected before they go upstream
(docs/protocol-rules.md#choices-and-legacy-fields).
Content blocks come out in the order an Anthropic model produces them: a ``thinking`` block
(from ``reasoning_content``, or vLLM's ``reasoning`` — P14), a ``text`` block for the content, a
``text`` block for a refusal, then one ``tool_use`` block per tool call (P5). Empty strings make
no block (P9: Anthropic rejects empty text blocks when the client replays its history).

Thinking blocks carry ``signature: ""``: the router never forges a signature (P13). A made-up
signature would be rejected by real Anthropic with "Invalid signature" if the client later
switched this conversation to an Anthropic backend; an empty one is visibly unsigned, so the
request side can strip such blocks. (Clients that keep only signed thinking blocks, like recent
Claude Code, will drop them from their history — the lesser harm.)
"""

from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..errors import UpstreamProtocolError
from ..json_budget import JsonBudget
from ..protocols import OPENAI
from ..stop_reasons import matched_stop_from_openai_choice, stop_reason_from_openai
from ..usage import usage_from_openai, usage_to_anthropic
from .context import ResponseContext
from .response_common import (
    anthropic_message_id,
    array_items,
    client_tool_name,
    fallback_tool_id,
    optional_field,
    required_field,
    sanitize_tool_id,
    upstream_object,
    usage_object,
)

__all__ = ["openai_response_to_anthropic", "tool_input_from_arguments"]

_MESSAGE = "choices[0].message"


def openai_response_to_anthropic(body: Dict[str, Any], context: ResponseContext) -> Dict[str, Any]:
    """Translate an OpenAI ``chat.completion`` body into an Anthropic ``message`` body."""
    body = upstream_object(body, OPENAI)
    choice = _first_choice(body)
    message = required_field(choice, "message", dict, "choices[0]")
    refusal = optional_field(message, "refusal", str, _MESSAGE) or None
    tool_uses = _tool_use_blocks(message, context)
    stop_reason, stop_sequence = _stop(choice, called_tool=bool(tool_uses), refused=refusal is not None)
    return {
        "id": anthropic_message_id(body.get("id"), context.call_id),
        "type": "message",
        "role": "assistant",
        "model": context.client_model,  # the client never learns which vendor answered
        "content": _leading_blocks(message, refusal) + tool_uses,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,  # always present, null when unused (P19)
        "stop_details": _stop_details(stop_reason, refusal),
        "usage": usage_to_anthropic(usage_from_openai(usage_object(body))),
    }


def _first_choice(body: Mapping[str, Any]) -> Dict[str, Any]:
    choices = array_items(required_field(body, "choices", list, ""), "choices")
    if not choices:
        raise UpstreamProtocolError("upstream response has an empty `choices` array")
    return choices[0]


def _leading_blocks(message: Mapping[str, Any], refusal: Optional[str]) -> List[Dict[str, Any]]:
    blocks: List[Dict[str, Any]] = []
    reasoning = _reasoning_text(message)
    if reasoning:
        blocks.append({"type": "thinking", "thinking": reasoning, "signature": ""})  # never forged (P13)
    content = optional_field(message, "content", str, _MESSAGE)
    for text in (content, refusal):
        if text:  # no empty text blocks (P9)
            blocks.append({"type": "text", "text": text})
    return blocks


def _reasoning_text(message: Mapping[str, Any]) -> Optional[str]:
    """``reasoning_content`` (DeepSeek) or ``reasoning`` (vLLM, OpenRouter) — P14.

    These are extensions, not protocol: a value that is not a string (some servers put structured
    data under similar names) is ignored rather than failing an otherwise valid answer.
    """
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _tool_use_blocks(message: Mapping[str, Any], context: ResponseContext) -> List[Dict[str, Any]]:
    calls = array_items(optional_field(message, "tool_calls", list, _MESSAGE) or [], f"{_MESSAGE}.tool_calls")
    return [_tool_use_block(call, position, context) for position, call in enumerate(calls)]


def _tool_use_block(call: Mapping[str, Any], position: int, context: ResponseContext) -> Dict[str, Any]:
    where = f"{_MESSAGE}.tool_calls[{position}]"
    function = required_field(call, "function", dict, where)
    name = required_field(function, "name", str, f"{where}.function")
    tool_id = optional_field(call, "id", str, where) or fallback_tool_id(context.call_id, position)
    return {
        "type": "tool_use",
        "id": sanitize_tool_id(tool_id),  # P11
        "name": client_tool_name(name, context),  # P18
        "input": tool_input_from_arguments(function.get("arguments"), context.json_budget),
    }


def tool_input_from_arguments(arguments: Any, json_budget: JsonBudget) -> Dict[str, Any]:
    """The ``tool_use.input`` object for an OpenAI ``function.arguments`` value.

    Decision (docs/protocol-rules.md#arguments-that-are-not-an-object; requests follow the same rule):
    anything that does not yield a JSON object becomes ``{}``. Anthropic requires ``input`` to be
    an object, and wrapping the raw text under an invented key would hand the client's tool a
    parameter its schema does not declare; with ``{}`` the tool reports its missing arguments and
    the model can retry. Two lenient readings rescue real backends: arguments sent as an object
    instead of a string, and a JSON object encoded twice (a string holding JSON).
    """
    if isinstance(arguments, dict):
        return arguments
    decoded = _json_or_none(arguments, json_budget)
    if isinstance(decoded, str):
        decoded = _json_or_none(decoded, json_budget)
    return decoded if isinstance(decoded, dict) else {}


def _json_or_none(text: Any, json_budget: JsonBudget) -> Any:
    """Parsed from the answer's JSON budget (a 502 past it: docs/proxy-limits.md#answers)."""
    if not isinstance(text, str) or not text.strip():
        return None  # missing or "" arguments: a no-argument call (P6)
    try:
        return json_budget.loads(text, "a tool call's arguments")
    except (ValueError, RecursionError):  # RecursionError: absurdly nested arrays/objects
        return None


def _stop(choice: Mapping[str, Any], called_tool: bool, refused: bool) -> Tuple[str, Optional[str]]:
    finish_reason = optional_field(choice, "finish_reason", str, "choices[0]")
    if refused and not called_tool:
        # A refusal may finish with "stop"; the refusal field is the stronger signal (docs/protocol-rules.md#refusal).
        return "refusal", None
    return stop_reason_from_openai(finish_reason, called_tool, matched_stop_from_openai_choice(choice))


def _stop_details(stop_reason: str, refusal: Optional[str]) -> Optional[Dict[str, Any]]:
    # docs/protocol-rules.md#refusal: content_filter → refusal with stop_details; OpenAI gives no category.
    if stop_reason != "refusal":
        return None
    return {"type": "refusal", "category": None, "explanation": refusal}
