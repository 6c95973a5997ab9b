"""The Response object and its output items, as both Chat → Responses translators write them.

One builder for the whole-response translator and the stream translator, so a client sees the same
shapes, ids and statuses whether it streamed or not (docs/responses-api.md#stream-grammar). Field
sets follow the SDK's types (``types/responses/response.py``, ``response_output_message.py``,
``response_function_tool_call.py``, ``response_custom_tool_call.py``,
``response_reasoning_item.py``): every required field is present, optional ones as OpenAI sends
them.

Ids are seeded from the driver's call id — the engine has no randomness — so a response is
``resp_<call id>`` and its items ``msg_``/``fc_``/``ctc_``/``rs_<call id>_<n>``. A function call's
``call_id`` is the backend's own tool-call id: it comes back in ``function_call_output`` and goes
to the backend again as the Chat ``tool_call_id``.
"""

from typing import Any, Dict, List, Optional, Tuple

from ..json_budget import JsonBudget
from ..usage import Usage, usage_to_responses
from .context import ResponseContext

__all__ = [
    "RESPONSE_ID_PREFIX",
    "call_item",
    "item_id",
    "message_item",
    "output_text_part",
    "reasoning_item",
    "refusal_part",
    "response_id",
    "response_object",
    "status_for_finish_reason",
]

RESPONSE_ID_PREFIX = "resp_"
# Chat finish reasons that leave a response incomplete, and the reason a Response gives for each.
_INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}

Item = Dict[str, Any]


def response_id(context: ResponseContext) -> str:
    return RESPONSE_ID_PREFIX + context.call_id


def item_id(prefix: str, context: ResponseContext, position: int) -> str:
    """The id of the ``position``-th output item (``prefix`` is msg, fc, ctc or rs)."""
    return f"{prefix}_{context.call_id}_{position}"


def status_for_finish_reason(finish_reason: Optional[str]) -> Tuple[str, Optional[str]]:
    """(Response ``status``, ``incomplete_details.reason``) for a Chat finish reason."""
    reason = _INCOMPLETE_REASONS.get(finish_reason or "")
    return ("incomplete", reason) if reason else ("completed", None)


def response_object(
    context: ResponseContext,
    *,
    status: str,
    output: List[Item],
    usage: Optional[Usage],
    incomplete_reason: Optional[str] = None,
) -> Dict[str, Any]:
    """A Response object: what the client asked for (echoed), what the model produced."""
    echo = context.response_echo
    response: Dict[str, Any] = {
        "id": response_id(context),
        "object": "response",
        "created_at": context.created,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "instructions": echo.get("instructions"),
        "max_output_tokens": echo.get("max_output_tokens"),
        "max_tool_calls": echo.get("max_tool_calls"),
        "model": context.client_model,  # the client never learns which vendor answered
        "output": output,
        "parallel_tool_calls": echo.get("parallel_tool_calls", True),
        "previous_response_id": echo.get("previous_response_id"),
        "reasoning": echo.get("reasoning", {"effort": None, "summary": None}),
        "service_tier": echo.get("service_tier", "default"),
        "store": echo.get("store", True),
        "temperature": echo.get("temperature", 1.0),
        "text": echo.get("text", {"format": {"type": "text"}}),
        "tool_choice": echo.get("tool_choice", "auto"),
        "tools": echo.get("tools", []),
        "top_p": echo.get("top_p", 1.0),
        "truncation": echo.get("truncation", "disabled"),
        "usage": None if usage is None else usage_to_responses(usage),
        "user": echo.get("user"),
        "metadata": echo.get("metadata", {}),
    }
    for key in ("safety_identifier", "prompt_cache_key", "top_logprobs"):
        if key in echo:
            response[key] = echo[key]
    return response


def output_text_part(text: str) -> Dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def refusal_part(text: str) -> Dict[str, Any]:
    return {"type": "refusal", "refusal": text}


def message_item(identifier: str, content: List[Dict[str, Any]], status: str) -> Item:
    return {"id": identifier, "type": "message", "status": status, "role": "assistant", "content": content}


def reasoning_item(identifier: str, summaries: List[str]) -> Item:
    return {"id": identifier, "type": "reasoning", "summary": [{"type": "summary_text", "text": s} for s in summaries]}


def call_item(
    context: ResponseContext, position: int, call_id: str, backend_name: str, arguments: str, status: str
) -> Item:
    """A ``function_call`` item, or a ``custom_tool_call`` for a custom tool, named as the client
    named the tool (its namespace included)."""
    tool = context.client_tools.get(backend_name)
    name = tool.name if tool is not None else context.tool_names.get(backend_name, backend_name)
    if tool is not None and tool.custom:
        item: Item = {
            "id": item_id("ctc", context, position),
            "type": "custom_tool_call",
            "status": status,
            "call_id": call_id,
            "name": name,
            "input": custom_input(arguments, context.json_budget),
        }
    else:
        item = {
            "id": item_id("fc", context, position),
            "type": "function_call",
            "status": status,
            "call_id": call_id,
            "name": name,
            "arguments": arguments,
        }
    if tool is not None and tool.namespace:
        item["namespace"] = tool.namespace
    return item


def custom_input(arguments: str, json_budget: JsonBudget) -> str:
    """A custom tool's free-form input, from the function arguments it travelled in: their
    ``input`` string; arguments that are not such an object are the input themselves. Parsed
    from the answer's ``json_budget`` (docs/proxy-limits.md#answers)."""
    try:
        decoded = json_budget.loads(arguments, "a tool call's arguments")
    except (ValueError, RecursionError):
        return arguments
    if isinstance(decoded, dict) and isinstance(decoded.get("input"), str):
        return str(decoded["input"])
    return arguments
