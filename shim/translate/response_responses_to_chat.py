"""A Responses backend's Response object → an OpenAI ``chat.completion`` (docs/responses-api.md,
"Composition").

Output items are read in order: ``message`` items give the text (``output_text`` parts, joined
with nothing between them, as their streamed deltas would be) and the refusal (``refusal`` parts);
``function_call`` items become ``tool_calls`` (their ``call_id`` is the Chat tool-call id);
``reasoning`` items give ``reasoning_content`` (summary text, else reasoning text). Items of
OpenAI's built-in tools (never requested by the router) and unknown types are skipped.

``finish_reason``: ``tool_calls`` whenever a function was called (P7, docs/pitfalls.md); an
``incomplete`` response gives ``length`` (``max_output_tokens``) or ``content_filter``; otherwise
``stop``. A ``failed`` response,
or one carrying an ``error``, is an upstream error, translated like any other.
"""

from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..errors import UpstreamProtocolError
from ..protocols import OPENAI
from ..usage import usage_from_responses, usage_to_openai
from .context import ResponseContext
from .response_common import OPENAI_ID_PREFIX, array_items, optional_field, required_field, upstream_object
from .responses_events import error_from_failed_response

__all__ = ["finish_reason_for", "responses_response_to_chat", "summary_text"]

# incomplete_details.reason → Chat finish_reason.
_FINISH_FOR_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


def responses_response_to_chat(body: Dict[str, Any], context: ResponseContext) -> Dict[str, Any]:
    """Translate a Response object into a ``chat.completion`` body."""
    body = upstream_object(body, OPENAI)
    if body.get("status") == "failed":
        raise error_from_failed_response(body)
    texts, refusals, reasoning, calls = _read_output(required_field(body, "output", list, ""), context)
    message: Dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None, "refusal": "".join(refusals)
                               or None}
    if calls:
        message["tool_calls"] = calls
    if reasoning:
        message["reasoning_content"] = "\n\n".join(reasoning)
    choice = {"index": 0, "message": message, "finish_reason": finish_reason_for(body, bool(calls)), "logprobs": None}
    usage = optional_field(body, "usage", dict, "") or {}
    return {
        "id": completion_id(body.get("id"), context.call_id),
        "object": "chat.completion",
        "created": context.created,
        "model": context.client_model,  # the client never learns which vendor answered
        "choices": [choice],
        "usage": usage_to_openai(usage_from_responses(usage)),
    }


def completion_id(response_id: Any, call_id: str) -> str:
    """``chatcmpl-`` + the response id without its ``resp_`` prefix (or the call id)."""
    base = response_id if isinstance(response_id, str) and response_id else call_id
    return OPENAI_ID_PREFIX + (base[len("resp_"):] if base.startswith("resp_") else base)


def finish_reason_for(response: Mapping[str, Any], called_tool: bool) -> str:
    """The Chat finish reason for a Response's status (a called tool always wins, P7)."""
    if called_tool:
        return "tool_calls"
    if response.get("status") != "incomplete":
        return "stop"
    details = response.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    return _FINISH_FOR_INCOMPLETE.get(reason if isinstance(reason, str) else "", "length")


def _read_output(
    output: List[Any], context: ResponseContext
) -> Tuple[List[str], List[str], List[str], List[Dict[str, Any]]]:
    texts: List[str] = []
    refusals: List[str] = []
    reasoning: List[str] = []
    calls: List[Dict[str, Any]] = []
    for index, item in enumerate(array_items(output, "output")):
        where = f"output[{index}]"
        kind = required_field(item, "type", str, where)
        if kind == "message":
            _read_message(item, where, texts, refusals)
        elif kind == "function_call":
            calls.append(_tool_call(item, where, len(calls), context))
        elif kind == "reasoning":
            text = summary_text(item)
            if text:
                reasoning.append(text)
    return texts, refusals, reasoning, calls


def _read_message(item: Mapping[str, Any], where: str, texts: List[str], refusals: List[str]) -> None:
    content = array_items(optional_field(item, "content", list, where) or [], f"{where}.content")
    for index, part in enumerate(content):
        kind = part.get("type")
        if kind == "output_text":
            texts.append(required_field(part, "text", str, f"{where}.content[{index}]"))
        elif kind == "refusal":
            refusals.append(required_field(part, "refusal", str, f"{where}.content[{index}]"))


def _tool_call(item: Mapping[str, Any], where: str, position: int, context: ResponseContext) -> Dict[str, Any]:
    name = required_field(item, "name", str, where)
    call_id = optional_field(item, "call_id", str, where) or optional_field(item, "id", str, where)
    if not call_id:
        raise UpstreamProtocolError(f"upstream response has no `{where}.call_id`")
    arguments = optional_field(item, "arguments", str, where) or "{}"
    return {"id": call_id, "type": "function",
            "function": {"name": context.tool_names.get(name, name), "arguments": arguments}}


def summary_text(item: Mapping[str, Any]) -> Optional[str]:
    """A reasoning item's text: its summaries, else its reasoning content (gpt-oss servers)."""
    for key in ("summary", "content"):
        parts = item.get(key)
        if isinstance(parts, list):
            texts = [part.get("text") for part in parts if isinstance(part, dict)]
            joined = "\n\n".join(text for text in texts if isinstance(text, str) and text)
            if joined:
                return joined
    return None
