"""An Anthropic backend's Messages response → an OpenAI ``chat.completion`` (docs/protocol-rules.md#responses).

Block by block: ``text`` blocks are concatenated into ``message.content``; ``tool_use`` blocks
become ``tool_calls`` in order (their position there, not their block index, is what counts —
P3, docs/pitfalls.md#p3); ``thinking`` text goes to the ``reasoning_content`` extension field
(docs/protocol-rules.md#reasoning-fields), which the OpenAI SDK keeps as an extra field even in
strict mode. ``redacted_thinking``, signatures, server-tool blocks and unknown block types have no
OpenAI slot and are skipped (docs/protocol-rules.md#blocks-without-a-slot: drop rather than fail a
whole answer).

Refusal (docs/protocol-rules.md#refusal): ``stop_reason: "refusal"`` becomes ``finish_reason:
"content_filter"`` with ``message.refusal`` set. That is the honest mapping, although it makes the
OpenAI SDK's ``.parse()`` and ``get_final_completion()`` raise ``ContentFilterFinishReasonError``;
answering ``stop`` would hide from the client that the model refused.
"""

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional

from ..protocols import ANTHROPIC
from ..stop_reasons import finish_reason_from_anthropic
from ..usage import usage_from_anthropic, usage_to_openai
from .context import ResponseContext
from .response_common import (
    arguments_json,
    array_items,
    client_tool_name,
    fallback_tool_id,
    openai_completion_id,
    optional_field,
    required_field,
    upstream_object,
    usage_object,
)

__all__ = ["GENERIC_REFUSAL", "anthropic_response_to_openai"]

# message.refusal when the backend refused without any text or explanation: OpenAI clients test
# `if message.refusal:`, so an empty value would hide the refusal. Vendor-neutral on purpose.
GENERIC_REFUSAL = "The model declined to respond to this request."


@dataclass
class _Parts:
    """What the content blocks of one response contribute to the OpenAI message."""

    texts: List[str] = field(default_factory=list)
    reasoning: List[str] = field(default_factory=list)
    tool_calls: List[Dict[str, Any]] = field(default_factory=list)


def anthropic_response_to_openai(body: Dict[str, Any], context: ResponseContext) -> Dict[str, Any]:
    """Translate an Anthropic ``message`` body into an OpenAI ``chat.completion`` body."""
    body = upstream_object(body, ANTHROPIC)
    parts = _read_content(required_field(body, "content", list, ""), context)
    stop_reason = optional_field(body, "stop_reason", str, "")
    finish_reason = finish_reason_from_anthropic(stop_reason, called_tool=bool(parts.tool_calls))
    choice = {
        "index": 0,
        "message": _message(parts, finish_reason, body),
        "finish_reason": finish_reason,
        "logprobs": None,  # Anthropic has no logprobs (docs/protocol-rules.md#responses)
    }
    return {
        "id": openai_completion_id(body.get("id"), context.call_id),
        "object": "chat.completion",
        "created": context.created,
        "model": context.client_model,  # the client never learns which vendor answered
        "choices": [choice],
        "usage": usage_to_openai(usage_from_anthropic(usage_object(body))),
    }


def _read_content(content: List[Any], context: ResponseContext) -> _Parts:
    parts = _Parts()
    for index, block in enumerate(array_items(content, "content")):
        where = f"content[{index}]"
        reader = _BLOCK_READERS.get(required_field(block, "type", str, where))
        if reader is not None:  # other types have no OpenAI slot: skipped (module docstring)
            reader(block, where, parts, context)
    return parts


def _read_text(block: Mapping[str, Any], where: str, parts: _Parts, context: ResponseContext) -> None:
    parts.texts.append(required_field(block, "text", str, where))


def _read_thinking(block: Mapping[str, Any], where: str, parts: _Parts, context: ResponseContext) -> None:
    # Signed blocks may have empty text (display "omitted", docs/protocol-rules.md#reasoning-history);
    # only the text has a slot here.
    parts.reasoning.append(optional_field(block, "thinking", str, where) or "")


def _read_tool_use(block: Mapping[str, Any], where: str, parts: _Parts, context: ResponseContext) -> None:
    name = required_field(block, "name", str, where)
    tool_input = optional_field(block, "input", dict, where)
    tool_id = optional_field(block, "id", str, where) or fallback_tool_id(context.call_id, len(parts.tool_calls))
    parts.tool_calls.append(
        {
            "id": tool_id,
            "type": "function",
            # A no-argument call is "{}", never "" (P6: "" breaks OpenAI clients).
            "function": {"name": client_tool_name(name, context), "arguments": arguments_json(tool_input or {})},
        }
    )


_BlockReader = Callable[[Mapping[str, Any], str, _Parts, ResponseContext], None]
_BLOCK_READERS: Dict[str, _BlockReader] = {
    "text": _read_text,
    "thinking": _read_thinking,
    "tool_use": _read_tool_use,
}


def _message(parts: _Parts, finish_reason: str, body: Mapping[str, Any]) -> Dict[str, Any]:
    # Stream parity (docs/protocol-rules.md#anthropic-to-openai-stream): text and thinking deltas are
    # concatenated with no separator there, so they are here too. Empty text counts as no text:
    # content is null then, as OpenAI sends.
    text = "".join(parts.texts) or None
    message: Dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if finish_reason == "content_filter":
        _set_refusal(message, _refusal_explanation(body))
    if parts.tool_calls:
        message["tool_calls"] = parts.tool_calls
    reasoning = "".join(parts.reasoning)
    if reasoning:
        message["reasoning_content"] = reasoning
    return message


def _set_refusal(message: Dict[str, Any], explanation: Optional[str]) -> None:
    """``refusal`` = the backend's explanation, else the refusal text itself, else a generic line.

    When the text *is* the refusal it moves out of ``content``, as in OpenAI's own refusals
    (content null, refusal set); text that an explanation accompanies stays in ``content``.
    """
    if explanation:
        message["refusal"] = explanation
        return
    message["refusal"] = message["content"] or GENERIC_REFUSAL
    message["content"] = None


def _refusal_explanation(body: Mapping[str, Any]) -> Optional[str]:
    details = optional_field(body, "stop_details", dict, "")
    if details is None:
        return None
    explanation: Optional[str] = optional_field(details, "explanation", str, "stop_details")
    return explanation
