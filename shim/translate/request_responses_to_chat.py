"""Responses client request → Chat Completions request (docs/responses-api.md, "Translation:
Responses client → Chat backend").

Items become messages in :mod:`.responses_input_to_chat`, tools in :mod:`.responses_tools_to_chat`;
this module handles the top-level parameters. Fields without a Chat counterpart are dropped with a
note; what needs OpenAI's server-side state (``conversation``, ``background``, stored ``prompt``
templates, a ``previous_response_id`` the router could not expand) is a 400, since answering
without it would answer a different question.

The request fields a Response object echoes (``tools``, ``tool_choice``, ``instructions``…) travel
to the response side in :attr:`TranslatedRequest.response_echo`.
"""

from fnmatch import fnmatchcase
from typing import Any, Dict, List, Optional

from ..errors import InvalidRequestError, UnsupportedFeatureError
from ..protocols import OPENAI
from ..responses_store import input_items
from .context import RequestOptions, TranslatedRequest
from .request_anthropic_to_openai import REASONING_MODEL_GLOBS, XHIGH_EFFORT_MODEL_GLOBS
from .request_checks import (
    add_note,
    describe,
    expect_bool,
    expect_number,
    expect_object,
    expect_positive_int,
    expect_str,
)
from .responses_input_to_chat import responses_input_to_chat
from .responses_tools_to_chat import ToolFlattener, responses_tools_to_chat
from .system_placement import HOIST, hoist_system_messages, resolve_placement

__all__ = ["ECHOED_FIELDS", "REASONING_EFFORTS", "responses_request_to_chat"]

# Request fields a Response object repeats (SDK types/responses/response.py).
ECHOED_FIELDS = (
    "instructions", "max_output_tokens", "max_tool_calls", "metadata", "parallel_tool_calls",
    "previous_response_id", "prompt_cache_key", "reasoning", "safety_identifier", "service_tier", "store",
    "temperature", "text", "tool_choice", "tools", "top_logprobs", "top_p", "truncation", "user",
)
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
# Fields this module reads.
_HANDLED = frozenset({
    "model", "input", "instructions", "max_output_tokens", "temperature", "top_p", "stream", "tools",
    "tool_choice", "parallel_tool_calls", "text", "reasoning", "user", "safety_identifier",
})
# Fields dropped on purpose, each with the reason given in its note.
_DROPPED = {
    "metadata": "Chat servers keep no metadata",
    "prompt_cache_key": "not every Chat server has prompt caching by key",
    "prompt_cache_retention": "not every Chat server has prompt caching by key",
    "store": "the router keeps stored responses itself",
    "include": "the router cannot produce extra output data for this backend",
    "client_metadata": "it is for OpenAI's own logs",
    "service_tier": "service tiers are OpenAI's",
    "truncation": "the backend does not truncate conversations for the client",
    "top_logprobs": "Chat backends return no logprobs through the router",
    "max_tool_calls": "Chat has no limit on built-in tool calls",
    "stream_options": "it only concerns OpenAI's stream obfuscation",
}
# Need server-side state the router does not have (previous_response_id: see responses_chain.py).
_STATEFUL = {
    "conversation": "conversations are stored by OpenAI",
    "prompt": "prompt templates are stored by OpenAI",
}


def responses_request_to_chat(body: Dict[str, Any], options: RequestOptions) -> TranslatedRequest:
    """Translate a Responses request body; raises :class:`InvalidRequestError` for malformed input
    and :class:`UnsupportedFeatureError` for what a Chat backend cannot do."""
    _reject_stateful(body)
    notes: List[str] = []
    tools = ToolFlattener()
    chat_tools, tool_choice = responses_tools_to_chat(body, tools, options.upstream_model)
    messages = _placed(responses_input_to_chat(
        body.get("instructions"), input_items(body), tools, notes, options.replay_reasoning
    ), options, notes)
    out: Dict[str, Any] = {"model": options.upstream_model, "messages": messages}
    _set_max_tokens(body, options, out, notes)
    _set_sampling(body, out)
    stream = _set_stream(body, out)
    _set_tools(body, chat_tools, tool_choice, out)
    _set_text_format(body, out, notes)
    _set_reasoning(body, options, out, notes)
    _set_user(body, out)
    _note_dropped(body, notes)
    echo = {key: body[key] for key in ECHOED_FIELDS if body.get(key) is not None}
    return TranslatedRequest(
        body=out, stream=stream, include_usage=True, notes=notes, client_tools=tools.client_tools, response_echo=echo
    )


def _placed(messages: List[Dict[str, Any]], options: RequestOptions, notes: List[str]) -> List[Dict[str, Any]]:
    """System and developer items stay where the client put them (Chat accepts system messages
    anywhere) — unless the backend's setting hoists them into the leading one (docs/system-messages.md)."""
    if resolve_placement(options.mid_conversation_system, OPENAI, options.upstream_model) != HOIST:
        return messages
    hoisted = hoist_system_messages(messages)
    if hoisted != messages:
        add_note(notes, "hoisted mid-conversation system messages into the leading one (mid_conversation_system)")
    return hoisted


def _reject_stateful(body: Dict[str, Any]) -> None:
    for key, reason in _STATEFUL.items():
        if body.get(key) is not None:
            raise UnsupportedFeatureError(f"'{key}' is not supported for this model: {reason}", param=key)
    if body.get("background") is not None and expect_bool(body["background"], "background"):
        raise UnsupportedFeatureError("'background: true' is not supported for this model", param="background")
    previous = body.get("previous_response_id")
    if previous is not None:  # the plan expands ids it knows; one left here is unknown
        raise InvalidRequestError(
            f"previous response {describe(previous)} is unknown to the router", param="previous_response_id"
        )


def _set_max_tokens(body: Dict[str, Any], options: RequestOptions, out: Dict[str, Any], notes: List[str]) -> None:
    if body.get("max_output_tokens") is None:
        return
    requested = expect_positive_int(body["max_output_tokens"], "max_output_tokens")
    limit = options.max_output_tokens
    if limit is not None and requested > limit:
        add_note(notes, f"clamped max_output_tokens {requested} to the backend's limit {limit}")
        requested = limit
    out[options.max_tokens_field] = requested


def _set_sampling(body: Dict[str, Any], out: Dict[str, Any]) -> None:
    for key in ("temperature", "top_p"):  # the same ranges in both OpenAI APIs
        if body.get(key) is not None:
            out[key] = expect_number(body[key], key)


def _set_stream(body: Dict[str, Any], out: Dict[str, Any]) -> bool:
    if body.get("stream") is None or not expect_bool(body["stream"], "stream"):
        return False
    out["stream"] = True
    out["stream_options"] = {"include_usage": True}  # a Response always reports usage
    return True


def _set_tools(body: Dict[str, Any], chat_tools: List[Dict[str, Any]], tool_choice: Any, out: Dict[str, Any]) -> None:
    if chat_tools:
        out["tools"] = chat_tools
    if tool_choice is not None and (chat_tools or tool_choice == "none"):
        out["tool_choice"] = tool_choice
    if body.get("parallel_tool_calls") is not None:
        parallel = expect_bool(body["parallel_tool_calls"], "parallel_tool_calls")
        if chat_tools:  # OpenAI rejects parallel_tool_calls without tools
            out["parallel_tool_calls"] = parallel


def _set_text_format(body: Dict[str, Any], out: Dict[str, Any], notes: List[str]) -> None:
    """``text.format`` → ``response_format``; ``text.verbosity`` has no portable Chat form."""
    if body.get("text") is None:
        return
    text = expect_object(body["text"], "text")
    if text.get("verbosity") is not None:
        add_note(notes, "dropped text.verbosity: not every Chat server has it")
    if text.get("format") is None:
        return
    fmt = expect_object(text["format"], "text.format")
    kind = fmt.get("type")
    if kind == "text":
        return
    if kind == "json_object":
        out["response_format"] = {"type": "json_object"}
        return
    if kind != "json_schema":
        raise InvalidRequestError(
            f"'text.format.type' must be text, json_object or json_schema; got {describe(kind)}",
            param="text.format.type",
        )
    spec: Dict[str, Any] = {
        "name": expect_str(fmt.get("name"), "text.format.name", non_empty=True),
        "schema": expect_object(fmt.get("schema"), "text.format.schema"),
    }
    for key in ("description", "strict"):
        if fmt.get(key) is not None:
            spec[key] = fmt[key]
    out["response_format"] = {"type": "json_schema", "json_schema": spec}


def _set_reasoning(body: Dict[str, Any], options: RequestOptions, out: Dict[str, Any], notes: List[str]) -> None:
    """``reasoning.effort`` → ``reasoning_effort``: always for the next translator (Anthropic then
    gets the Chat policy), for a Chat server only when its model takes one."""
    if body.get("reasoning") is None:
        return
    effort = expect_object(body["reasoning"], "reasoning").get("effort")
    if effort is None:
        return
    if effort not in REASONING_EFFORTS:
        raise InvalidRequestError(
            f"'reasoning.effort' must be one of {', '.join(REASONING_EFFORTS)}; got {describe(effort)}",
            param="reasoning.effort",
        )
    chosen = effort if options.intermediate else _server_effort(effort, options.upstream_model, notes)
    if chosen is not None:
        out["reasoning_effort"] = chosen


def _server_effort(effort: str, model: str, notes: List[str]) -> Optional[str]:
    if not _model_matches(model, REASONING_MODEL_GLOBS):
        add_note(notes, f"dropped reasoning.effort: {model} takes no reasoning_effort")
        return None
    if effort == "xhigh" and not _model_matches(model, XHIGH_EFFORT_MODEL_GLOBS):
        add_note(notes, f"reasoning.effort 'xhigh' sent as 'high': {model} has no higher effort")
        return "high"
    return effort


def _set_user(body: Dict[str, Any], out: Dict[str, Any]) -> None:
    for key in ("safety_identifier", "user"):  # the newer field first
        if body.get(key) is not None:
            out["user"] = expect_str(body[key], key)
            return


def _note_dropped(body: Dict[str, Any], notes: List[str]) -> None:
    for key, value in body.items():
        if key in _HANDLED or value is None or key in ("background", "previous_response_id"):
            continue
        reason = _DROPPED.get(key)
        add_note(notes, f"dropped {key}: {reason}" if reason else f"dropped unknown field {describe(key)}")


def _model_matches(model: str, globs: Any) -> bool:
    base = model.rsplit("/", 1)[-1]
    return any(fnmatchcase(base, glob) for glob in globs)
