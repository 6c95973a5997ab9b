"""Anthropic Messages client request → OpenAI Chat Completions backend request
(docs/protocol-rules.md#request-parameters; pitfall numbers: docs/pitfalls.md).

The backend is any OpenAI-compatible server (OpenAI, Groq, DeepSeek, vLLM, Ollama…), so the
output uses only what they all accept, plus ``reasoning_content`` on assistant history
(docs/protocol-rules.md#reasoning-history) and ``reasoning_effort`` for models that look like
OpenAI reasoning models. Messages and content blocks are translated in
:mod:`.anthropic_messages_to_openai`; this module handles the top-level parameters. Anything
without a counterpart is dropped with one note per field.

Leniency, by decision: Anthropic requires ``max_tokens``, but when a client omits it the
backend's own default is better than a guess of ours, so no limit is sent.

What Claude Code's default request carries and what becomes of each field:
docs/clients/claude-code.md. Mid-conversation system messages: docs/system-messages.md.
"""

from fnmatch import fnmatchcase
from typing import Any, Dict, List, Optional, Tuple

from ..errors import InvalidRequestError
from ..json_budget import JsonBudget
from ..protocols import OPENAI
from .anthropic_messages_to_openai import CACHE_CONTROL_NOTE, anthropic_messages_to_openai, system_messages
from .anthropic_tool_names import ToolNameMap
from .context import RequestOptions, TranslatedRequest
from .deferred_tools import DeferredTools
from .request_checks import (
    add_note,
    expect_bool,
    expect_list,
    expect_number,
    expect_object,
    expect_positive_int,
    expect_str,
)
from .system_placement import HOIST, hoist_system_messages, resolve_placement
from .user_identity import openai_user_id

__all__ = [
    "MAX_STOP_SEQUENCES",
    "REASONING_MODEL_GLOBS",
    "XHIGH_EFFORT_MODEL_GLOBS",
    "anthropic_request_to_openai",
    "reasoning_effort_for_budget",
]

# Upstream models that accept ``reasoning_effort``; other OpenAI-compatible servers reject it.
# Matched against the last path segment, so "openai/o3" (OpenRouter-style ids) matches too.
REASONING_MODEL_GLOBS: Tuple[str, ...] = ("o1*", "o3*", "o4*", "gpt-5*")
# Reasoning models known to accept "xhigh"; Anthropic's "max"/"xhigh" become "high" elsewhere.
XHIGH_EFFORT_MODEL_GLOBS: Tuple[str, ...] = ("gpt-5.1-codex-max*", "gpt-5.2*")
# OpenAI rejects more than 4 stop sequences (docs/protocol-rules.md#stop-sequences).
MAX_STOP_SEQUENCES = 4

_PASSED_EFFORTS = ("none", "minimal", "low", "medium", "high")
_TOP_EFFORTS = ("xhigh", "max")
_TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}
_CLIENT_TOOL_TYPES = (None, "custom")

# Fields this module reads; everything else in the body is dropped with a note.
_HANDLED_FIELDS = frozenset({
    "model", "messages", "system", "max_tokens", "temperature", "top_p", "stop_sequences", "stream",
    "tools", "tool_choice", "thinking", "output_config", "output_format", "metadata",
})
# Anthropic-only request fields with no OpenAI counterpart (docs/protocol-rules.md#dropped-fields).
_ANTHROPIC_ONLY_FIELDS = frozenset({
    "top_k", "container", "mcp_servers", "context_management", "service_tier", "speed", "inference_geo",
    "cache_control",
})


def anthropic_request_to_openai(body: Dict[str, Any], options: RequestOptions) -> TranslatedRequest:
    """Translate a Messages request body; raises :class:`InvalidRequestError` for malformed input."""
    notes: List[str] = []
    names = ToolNameMap.for_request(body)
    deferred = DeferredTools.for_request(body)
    if "messages" not in body:
        raise InvalidRequestError("'messages' is required", param="messages")
    out: Dict[str, Any] = {"model": options.upstream_model}
    out["messages"] = _messages(body, names, deferred, options, notes)
    _set_max_tokens(body, options, out, notes)
    _set_sampling(body, out)
    _set_stop(body, out, notes)
    stream = _set_stream(body, out)
    _set_tools(body, names, deferred, out, notes)
    _set_reasoning_effort(body, options.upstream_model, out, notes)
    _set_response_format(body, out, notes)
    _set_user(body, out, notes, options.json_budget)
    _note_dropped_fields(body, notes)
    return TranslatedRequest(body=out, stream=stream, notes=notes, tool_names=dict(names.renamed))


def _messages(
    body: Dict[str, Any], names: ToolNameMap, deferred: DeferredTools, options: RequestOptions, notes: List[str]
) -> List[Dict[str, Any]]:
    """The leading system message, then the conversation with its system messages in place —
    or hoisted into the leading one when the backend's setting says so (docs/system-messages.md)."""
    messages = system_messages(body.get("system"), notes) + anthropic_messages_to_openai(
        body["messages"], names, notes, options.replay_reasoning, deferred
    )
    if resolve_placement(options.mid_conversation_system, OPENAI, options.upstream_model) != HOIST:
        return messages
    hoisted = hoist_system_messages(messages)
    if hoisted != messages:
        add_note(notes, "hoisted mid-conversation system messages into the leading one (mid_conversation_system)")
    return hoisted


# --- scalar parameters ---------------------------------------------------------------------------

def _set_max_tokens(body: Dict[str, Any], options: RequestOptions, out: Dict[str, Any], notes: List[str]) -> None:
    """``max_tokens`` → the backend's field, clamped to its limit (P15). Absent: no limit sent."""
    if body.get("max_tokens") is None:
        return
    requested = expect_positive_int(body["max_tokens"], "max_tokens")
    limit = options.max_output_tokens
    if limit is not None and requested > limit:
        add_note(notes, f"clamped max_tokens {requested} to {limit}, the output limit of {options.upstream_model}")
        requested = limit
    out[options.max_tokens_field] = requested


def _set_sampling(body: Dict[str, Any], out: Dict[str, Any]) -> None:
    # Anthropic's ranges (0–1) are subsets of OpenAI's: pass through unchanged (docs/protocol-rules.md#sampling).
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = expect_number(body[key], key)


def _set_stop(body: Dict[str, Any], out: Dict[str, Any], notes: List[str]) -> None:
    """``stop_sequences`` → ``stop``; OpenAI takes at most 4, so keep the first 4 and say so (P7)."""
    if body.get("stop_sequences") is None:
        return
    sequences = expect_list(body["stop_sequences"], "stop_sequences")
    for i, sequence in enumerate(sequences):
        expect_str(sequence, f"stop_sequences[{i}]")
    if len(sequences) > MAX_STOP_SEQUENCES:
        add_note(notes, f"kept the first {MAX_STOP_SEQUENCES} of {len(sequences)} stop_sequences (OpenAI's limit)")
    if sequences:
        out["stop"] = sequences[:MAX_STOP_SEQUENCES]


def _set_stream(body: Dict[str, Any], out: Dict[str, Any]) -> bool:
    if body.get("stream") is None or not expect_bool(body["stream"], "stream"):
        return False
    out["stream"] = True
    # Without include_usage an OpenAI stream carries no usage at all (docs/protocol-rules.md#openai-stream, P8).
    out["stream_options"] = {"include_usage": True}
    return True


def _set_user(body: Dict[str, Any], out: Dict[str, Any], notes: List[str], json_budget: JsonBudget) -> None:
    if body.get("metadata") is None:
        return
    metadata = expect_object(body["metadata"], "metadata")
    if metadata.get("user_id") is not None:
        user_id = expect_str(metadata["user_id"], "metadata.user_id")
        out["user"] = openai_user_id(user_id, json_budget)
        if out["user"] != user_id:
            add_note(notes, "sent metadata.user_id as a 64-character hash of its session-independent part")
    for key in metadata:
        if key != "user_id":
            add_note(notes, f"dropped metadata.{key} (only user_id has an OpenAI counterpart)")


def _note_dropped_fields(body: Dict[str, Any], notes: List[str]) -> None:
    for key in body:
        if key in _ANTHROPIC_ONLY_FIELDS:
            add_note(notes, CACHE_CONTROL_NOTE if key == "cache_control" else f"dropped {key} (Anthropic-only)")
        elif key not in _HANDLED_FIELDS:
            add_note(notes, f"dropped unknown field {key!r}")


# --- tools ---------------------------------------------------------------------------------------

def _set_tools(
    body: Dict[str, Any], names: ToolNameMap, deferred: DeferredTools, out: Dict[str, Any], notes: List[str]
) -> None:
    tools = [] if body.get("tools") is None else expect_list(body["tools"], "tools")
    functions: List[Dict[str, Any]] = []
    for i, tool in enumerate(tools):
        function = _function_tool(tool, f"tools[{i}]", names, notes)  # validated even when left out
        if function is not None and deferred.reaches_backend(tool):
            functions.append(function)
    if deferred.left_out:
        add_note(notes, "left deferred tools out of the tool list until a tool search loads them (defer_loading)")
    if functions:
        out["tools"] = functions
    if body.get("tool_choice") is not None:
        _set_tool_choice(expect_object(body["tool_choice"], "tool_choice"), functions, names, out, notes)


def _function_tool(tool: Any, param: str, names: ToolNameMap, notes: List[str]) -> Optional[Dict[str, Any]]:
    """A client tool → an OpenAI function tool; Anthropic server tools → None (noted)."""
    expect_object(tool, param)
    kind = tool.get("type")
    name = expect_str(tool.get("name"), f"{param}.name", non_empty=True)
    if kind not in _CLIENT_TOOL_TYPES:
        add_note(notes, f"dropped server tool {name!r} ({kind}): it runs only on Anthropic's servers")
        return None
    function: Dict[str, Any] = {"name": names.backend_name(name)}
    if tool.get("description") is not None:
        function["description"] = expect_str(tool["description"], f"{param}.description")
    schema = tool.get("input_schema")
    function["parameters"] = {"type": "object", "properties": {}} if schema is None else expect_object(
        schema, f"{param}.input_schema"
    )
    if tool.get("strict") is True:
        function["strict"] = True
    if "cache_control" in tool:
        add_note(notes, CACHE_CONTROL_NOTE)
    return {"type": "function", "function": function}


def _set_tool_choice(
    choice: Dict[str, Any], functions: List[Dict[str, Any]], names: ToolNameMap, out: Dict[str, Any], notes: List[str]
) -> None:
    mapped = _mapped_tool_choice(choice, names)
    parallel_disabled = choice.get("disable_parallel_tool_use") is not None and expect_bool(
        choice["disable_parallel_tool_use"], "tool_choice.disable_parallel_tool_use"
    )
    if not functions:
        # OpenAI rejects tool_choice and parallel_tool_calls without tools.
        add_note(notes, "dropped tool_choice: no client tools reach the backend")
        return
    if isinstance(mapped, dict) and mapped["function"]["name"] not in {f["function"]["name"] for f in functions}:
        add_note(notes, "dropped tool_choice: the named tool does not reach the backend")
    else:
        out["tool_choice"] = mapped
    if parallel_disabled:
        out["parallel_tool_calls"] = False


def _mapped_tool_choice(choice: Dict[str, Any], names: ToolNameMap) -> Any:
    kind = choice.get("type")
    if kind == "tool":
        name = expect_str(choice.get("name"), "tool_choice.name", non_empty=True)
        return {"type": "function", "function": {"name": names.backend_name(name)}}
    if isinstance(kind, str) and kind in _TOOL_CHOICES:  # a list or dict is unhashable
        return _TOOL_CHOICES[kind]
    raise InvalidRequestError(
        f"tool_choice.type: must be 'auto', 'any', 'none' or 'tool', got {kind!r}", param="tool_choice.type"
    )


# --- reasoning and output format -----------------------------------------------------------------

def reasoning_effort_for_budget(budget_tokens: int) -> str:
    """Anthropic's thinking budget → an OpenAI effort bucket (brief: ≤1024 low, ≤4096 medium)."""
    if budget_tokens <= 1024:
        return "low"
    return "medium" if budget_tokens <= 4096 else "high"


def _set_reasoning_effort(body: Dict[str, Any], model: str, out: Dict[str, Any], notes: List[str]) -> None:
    """``thinking`` / ``output_config.effort`` → ``reasoning_effort``, only for reasoning models:
    OpenAI-compatible servers without reasoning support reject the field."""
    effort = _requested_effort(body, notes)
    if effort is None:
        return
    if not _model_matches(model, REASONING_MODEL_GLOBS):
        add_note(notes, f"dropped thinking/effort: {model!r} is not a known reasoning model")
        return
    if effort in _TOP_EFFORTS:
        effort = "xhigh" if _model_matches(model, XHIGH_EFFORT_MODEL_GLOBS) else "high"
    out["reasoning_effort"] = effort


def _requested_effort(body: Dict[str, Any], notes: List[str]) -> Optional[str]:
    """The effort the client asked for; an explicit ``output_config.effort`` wins over a budget."""
    explicit, from_budget = _explicit_effort(body), _thinking_effort(body, notes)  # both validated
    return explicit if explicit is not None else from_budget


def _explicit_effort(body: Dict[str, Any]) -> Optional[str]:
    config = _output_config(body)
    if config.get("effort") is None:
        return None
    effort = expect_str(config["effort"], "output_config.effort")
    if effort not in _PASSED_EFFORTS + _TOP_EFFORTS:
        raise InvalidRequestError(f"output_config.effort: unknown effort {effort!r}", param="output_config.effort")
    return effort


def _thinking_effort(body: Dict[str, Any], notes: List[str]) -> Optional[str]:
    if body.get("thinking") is None:
        return None
    thinking = expect_object(body["thinking"], "thinking")
    kind = expect_str(thinking.get("type"), "thinking.type")
    if thinking.get("display") is not None:
        # Claude Code sends display "omitted"; a backend's reasoning text is passed on as it comes.
        add_note(notes, "ignored thinking.display: the backend's reasoning text, if any, is passed on as it is")
    if kind == "enabled":
        return reasoning_effort_for_budget(expect_positive_int(thinking.get("budget_tokens"), "thinking.budget_tokens"))
    if kind in ("adaptive", "disabled"):
        return None  # adaptive without an effort: the model's default reasoning, as on Anthropic
    raise InvalidRequestError(f"thinking.type: unknown thinking type {kind!r}", param="thinking.type")


def _set_response_format(body: Dict[str, Any], out: Dict[str, Any], notes: List[str]) -> None:
    """``output_config.format`` (or the older beta top-level ``output_format``) → ``response_format``."""
    config = _output_config(body)
    for key in config:
        if key not in ("effort", "format"):
            add_note(notes, f"dropped output_config.{key}")
    param, requested = _requested_format(body, config)
    if requested is None:
        return
    fmt = expect_object(requested, param)
    if fmt.get("type") != "json_schema":
        add_note(notes, f"dropped {param} of type {fmt.get('type')!r}")
        return
    schema = expect_object(fmt.get("schema"), f"{param}.schema")
    out["response_format"] = {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}


def _requested_format(body: Dict[str, Any], config: Dict[str, Any]) -> Tuple[str, Any]:
    if config.get("format") is not None:
        return "output_config.format", config["format"]
    return "output_format", body.get("output_format")


def _output_config(body: Dict[str, Any]) -> Dict[str, Any]:
    config = body.get("output_config")
    return {} if config is None else expect_object(config, "output_config")


def _model_matches(model: str, globs: Tuple[str, ...]) -> bool:
    base = model.rsplit("/", 1)[-1]
    return any(fnmatchcase(base, glob) for glob in globs)
