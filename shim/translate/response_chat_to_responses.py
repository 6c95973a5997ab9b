"""A Chat Completions backend's ``chat.completion`` → a Response object (docs/responses-api.md,
"Translation: Responses client → Chat backend").

Output items come in the order a model produces them: a ``reasoning`` item (summary from
``reasoning_content``, or vLLM's ``reasoning``), a ``message`` item (its text as ``output_text``
and a refusal as a ``refusal`` part), then one ``function_call`` (or ``custom_tool_call``) item per
tool call. ``finish_reason`` ``length`` / ``content_filter`` make the response ``incomplete`` with
``max_output_tokens`` / ``content_filter`` as the reason; anything else is ``completed``.
"""

from typing import Any, Dict, List, Mapping

from ..errors import UpstreamProtocolError
from ..protocols import OPENAI
from ..usage import usage_from_openai
from .chat_chunks import reasoning_delta
from .context import ResponseContext
from .response_common import (
    arguments_json,
    array_items,
    fallback_tool_id,
    optional_field,
    required_field,
    upstream_object,
)
from .responses_objects import (
    call_item,
    item_id,
    message_item,
    output_text_part,
    reasoning_item,
    refusal_part,
    response_object,
    status_for_finish_reason,
)

__all__ = ["chat_response_to_responses"]

_MESSAGE = "choices[0].message"


def chat_response_to_responses(body: Dict[str, Any], context: ResponseContext) -> Dict[str, Any]:
    """Translate a ``chat.completion`` body into a Response object."""
    body = upstream_object(body, OPENAI)
    choices = array_items(required_field(body, "choices", list, ""), "choices")
    if not choices:
        raise UpstreamProtocolError("upstream response has an empty `choices` array")
    choice = choices[0]
    message = required_field(choice, "message", dict, "choices[0]")
    output = _output(message, context)
    status, reason = status_for_finish_reason(optional_field(choice, "finish_reason", str, "choices[0]"))
    usage = optional_field(body, "usage", dict, "")
    return response_object(
        context, status=status, output=output, usage=usage_from_openai(usage or {}), incomplete_reason=reason
    )


def _output(message: Mapping[str, Any], context: ResponseContext) -> List[Dict[str, Any]]:
    output: List[Dict[str, Any]] = []
    reasoning = reasoning_delta(message)
    if reasoning:
        output.append(reasoning_item(item_id("rs", context, len(output)), [reasoning]))
    parts = []
    text = optional_field(message, "content", str, _MESSAGE)
    if text:
        parts.append(output_text_part(text))
    refusal = optional_field(message, "refusal", str, _MESSAGE)
    if refusal:
        parts.append(refusal_part(refusal))
    if parts:
        output.append(message_item(item_id("msg", context, len(output)), parts, "completed"))
    calls = array_items(optional_field(message, "tool_calls", list, _MESSAGE) or [], f"{_MESSAGE}.tool_calls")
    for position, call in enumerate(calls):
        output.append(_call(call, position, len(output), context))
    return output


def _call(call: Mapping[str, Any], position: int, index: int, context: ResponseContext) -> Dict[str, Any]:
    where = f"{_MESSAGE}.tool_calls[{position}]"
    function = required_field(call, "function", dict, where)
    name = required_field(function, "name", str, f"{where}.function")
    call_id = optional_field(call, "id", str, where) or fallback_tool_id(context.call_id, position)
    return call_item(context, index, call_id, name, _arguments(function.get("arguments")), "completed")


def _arguments(arguments: Any) -> str:
    """The arguments string; a no-argument call is ``"{}"``, and an object some servers send
    instead of a string is serialized."""
    if isinstance(arguments, str):
        return arguments or "{}"
    if isinstance(arguments, dict):
        return arguments_json(arguments)
    return "{}"

