"""Chat Completions client request → Responses request, for models served only on ``/responses``
(docs/responses-api.md#upstream-endpoint-choice; reached directly by Chat clients, and by
Anthropic clients through the Chat hub).

The backend is OpenAI's Responses API (or a server that copies it), so the output uses its shapes:
messages become input items in order (``system`` / ``developer`` messages keep their role and
place; assistant ``tool_calls`` become ``function_call`` items; ``tool`` messages become
``function_call_output`` items); function tools become flat Responses function tools with
``strict`` written out (Responses otherwise turns strict mode on by itself, which Chat does not);
``response_format`` becomes ``text.format``; ``reasoning_effort`` becomes ``reasoning.effort``.

``store`` is ``false`` unless the client asked otherwise: the router sends the whole conversation
every time, so OpenAI has no reason to keep it. Earlier reasoning (``reasoning_content``) cannot
go back: a Responses backend takes only its own encrypted reasoning items, so it is dropped with a
note. Fields without a Responses counterpart (``stop``, penalties, ``logit_bias``, ``seed``…) are
dropped with a note.
"""

from typing import Any, Dict, List, Optional

from ..errors import InvalidRequestError, UnsupportedFeatureError
from ..protocols import OPENAI
from .context import RequestOptions, TranslatedRequest
from .request_checks import (
    add_note,
    describe,
    expect_bool,
    expect_list,
    expect_number,
    expect_object,
    expect_positive_int,
    expect_str,
)
from .system_placement import HOIST, hoist_system_messages, resolve_placement

__all__ = ["chat_request_to_responses"]

Item = Dict[str, Any]

# Chat fields passed on under the same name (and the same meaning) in a Responses request.
_SAME_FIELDS = ("metadata", "prompt_cache_key", "safety_identifier", "service_tier", "user", "prompt_cache_retention")
_HANDLED = frozenset({
    "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "stream",
    "stream_options", "tools", "tool_choice", "parallel_tool_calls", "response_format", "reasoning_effort",
    "verbosity", "store", *_SAME_FIELDS,
})
_ROLES = ("system", "developer", "user", "assistant", "tool")


def chat_request_to_responses(body: Dict[str, Any], options: RequestOptions) -> TranslatedRequest:
    """Translate a Chat Completions request body for a Responses backend."""
    notes: List[str] = []
    _reject_unsupported(body)
    items = _placed(_input_items(body.get("messages"), notes), options, notes)
    out: Dict[str, Any] = {"model": options.upstream_model, "input": items}
    _set_max_output_tokens(body, options, out, notes)
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = expect_number(body[key], key)
    stream = body.get("stream") is not None and expect_bool(body["stream"], "stream")
    if stream:
        out["stream"] = True
    _set_tools(body, out)
    _set_text(body, out)
    _set_reasoning(body, out)
    for key in _SAME_FIELDS:
        if body.get(key) is not None:
            out[key] = body[key]
    out["store"] = expect_bool(body["store"], "store") if body.get("store") is not None else False
    _note_dropped(body, notes)
    return TranslatedRequest(body=out, stream=stream, include_usage=_include_usage(body), notes=notes)


def _placed(items: List[Item], options: RequestOptions, notes: List[str]) -> List[Item]:
    """System and developer messages keep their place (Responses accepts them anywhere), unless the
    backend's setting hoists them into one leading system item (docs/system-messages.md)."""
    if resolve_placement(options.mid_conversation_system, OPENAI, options.upstream_model) != HOIST:
        return items
    unified = [{**item, "role": "system"} if item.get("role") == "developer" else item for item in items]
    hoisted = hoist_system_messages(unified)
    if hoisted != unified:
        add_note(notes, "hoisted mid-conversation system messages into the leading one (mid_conversation_system)")
    return hoisted


def _reject_unsupported(body: Dict[str, Any]) -> None:
    n = body.get("n")
    if n is not None and expect_positive_int(n, "n") != 1:
        raise UnsupportedFeatureError(f"'n' is {n}; a Responses backend returns exactly one answer", param="n")
    for legacy in ("functions", "function_call"):
        if body.get(legacy) is not None:
            raise UnsupportedFeatureError(
                f"the legacy {legacy!r} field is not supported; use 'tools' and 'tool_choice'", param=legacy
            )
    if body.get("audio") is not None:
        raise UnsupportedFeatureError("audio output is not supported for this model", param="audio")


def _include_usage(body: Dict[str, Any]) -> bool:
    raw = body.get("stream_options")
    return raw is not None and expect_object(raw, "stream_options").get("include_usage") is True


# --- messages ------------------------------------------------------------------------------------

def _input_items(raw: Any, notes: List[str]) -> List[Item]:
    items: List[Item] = []
    for index, message in enumerate(expect_list(raw, "messages")):
        items.extend(_message_items(expect_object(message, f"messages[{index}]"), f"messages[{index}]", notes))
    return items


def _message_items(message: Dict[str, Any], param: str, notes: List[str]) -> List[Item]:
    role = message.get("role")
    if role not in _ROLES:
        raise InvalidRequestError(
            f"'{param}.role' must be one of {', '.join(_ROLES)}; got {describe(role)}", param=f"{param}.role"
        )
    if role == "tool":
        call_id = expect_str(message.get("tool_call_id"), f"{param}.tool_call_id", non_empty=True)
        text = _text(message.get("content"), f"{param}.content")
        return [{"type": "function_call_output", "call_id": call_id, "output": text}]
    if role == "assistant":
        return _assistant_items(message, param, notes)
    if role == "user":
        return [{"role": "user", "content": _user_content(message.get("content"), f"{param}.content")}]
    return [{"role": role, "content": _text(message.get("content"), f"{param}.content")}]


def _assistant_items(message: Dict[str, Any], param: str, notes: List[str]) -> List[Item]:
    if message.get("reasoning_content") is not None or message.get("reasoning") is not None:
        add_note(notes, "dropped earlier reasoning_content: a Responses backend takes back only its own reasoning")
    items: List[Item] = []
    text = _text(message.get("content"), f"{param}.content") if message.get("content") is not None else ""
    refusal = message.get("refusal")
    if refusal is not None:
        text = text or expect_str(refusal, f"{param}.refusal")
    if text:
        items.append({"role": "assistant", "content": text})
    calls = message.get("tool_calls")
    for index, call in enumerate([] if calls is None else expect_list(calls, f"{param}.tool_calls")):
        where = f"{param}.tool_calls[{index}]"
        items.append(_function_call(expect_object(call, where), where))
    return items


def _function_call(call: Dict[str, Any], param: str) -> Item:
    function = expect_object(call.get("function"), f"{param}.function")
    arguments = function.get("arguments")
    return {
        "type": "function_call",
        "call_id": expect_str(call.get("id"), f"{param}.id", non_empty=True),
        "name": expect_str(function.get("name"), f"{param}.function.name", non_empty=True),
        "arguments": "{}" if arguments is None else (expect_str(arguments, f"{param}.function.arguments") or "{}"),
    }


def _text(content: Any, param: str) -> str:
    """Text-only content: a string, or text parts joined (refusal parts count as text)."""
    if isinstance(content, str):
        return content
    texts = []
    for index, part in enumerate(expect_list(content, param)):
        part = expect_object(part, f"{param}[{index}]")
        kind = part.get("type")
        if kind == "text":
            texts.append(expect_str(part.get("text"), f"{param}[{index}].text"))
        elif kind == "refusal":
            texts.append(expect_str(part.get("refusal"), f"{param}[{index}].refusal"))
        else:
            raise InvalidRequestError(f"'{param}[{index}].type' must be text here, not {describe(kind)}",
                                      param=f"{param}[{index}].type")
    return "\n".join(texts)


def _user_content(content: Any, param: str) -> Any:
    if isinstance(content, str):
        return content
    return [_user_part(expect_object(part, f"{param}[{i}]"), f"{param}[{i}]")
            for i, part in enumerate(expect_list(content, param))]


def _user_part(part: Dict[str, Any], param: str) -> Item:
    kind = part.get("type")
    if kind == "text":
        return {"type": "input_text", "text": expect_str(part.get("text"), f"{param}.text")}
    if kind == "image_url":
        image = part.get("image_url")
        url = image if isinstance(image, str) else expect_object(image, f"{param}.image_url").get("url")
        detail = image.get("detail") if isinstance(image, dict) else None
        url = expect_str(url, f"{param}.image_url.url")
        return {"type": "input_image", "image_url": url, "detail": detail or "auto"}
    if kind == "file":
        file = expect_object(part.get("file"), f"{param}.file")
        converted: Item = {"type": "input_file"}
        for key in ("file_data", "file_id", "filename"):
            if file.get(key) is not None:
                converted[key] = expect_str(file[key], f"{param}.file.{key}")
        return converted
    if kind == "input_audio":
        raise UnsupportedFeatureError(f"'{param}': audio input is not supported for this model", param=param)
    raise InvalidRequestError(f"'{param}.type' {describe(kind)} is not a content part type", param=f"{param}.type")


# --- parameters ----------------------------------------------------------------------------------

def _set_max_output_tokens(
    body: Dict[str, Any], options: RequestOptions, out: Dict[str, Any], notes: List[str]
) -> None:
    fields = [field for field in ("max_completion_tokens", "max_tokens") if body.get(field) is not None]
    values = [expect_positive_int(body[field], field) for field in fields]
    if not values:
        return
    requested, limit = values[0], options.max_output_tokens
    if limit is not None and requested > limit:
        add_note(notes, f"clamped max_output_tokens {requested} to the backend's limit {limit}")
        requested = limit
    out["max_output_tokens"] = requested


def _set_tools(body: Dict[str, Any], out: Dict[str, Any]) -> None:
    tools = [] if body.get("tools") is None else expect_list(body["tools"], "tools")
    converted = [_tool(expect_object(tool, f"tools[{i}]"), f"tools[{i}]") for i, tool in enumerate(tools)]
    if converted:
        out["tools"] = converted
    if body.get("tool_choice") is not None:
        out["tool_choice"] = _tool_choice(body["tool_choice"])
    if body.get("parallel_tool_calls") is not None:
        out["parallel_tool_calls"] = expect_bool(body["parallel_tool_calls"], "parallel_tool_calls")


def _tool(tool: Dict[str, Any], param: str) -> Item:
    if tool.get("type") != "function":
        raise UnsupportedFeatureError(f"'{param}.type' {describe(tool.get('type'))}: only function tools are "
                                      "supported for this model", param=f"{param}.type")
    function = expect_object(tool.get("function"), f"{param}.function")
    converted: Item = {"type": "function", "name": expect_str(function.get("name"), f"{param}.function.name",
                                                              non_empty=True)}
    if function.get("description") is not None:
        converted["description"] = expect_str(function["description"], f"{param}.function.description")
    parameters = function.get("parameters")
    converted["parameters"] = (
        {"type": "object", "properties": {}} if parameters is None else expect_object(parameters, f"{param}.parameters")
    )
    strict = function.get("strict")
    converted["strict"] = False if strict is None else expect_bool(strict, f"{param}.function.strict")
    return converted


def _tool_choice(raw: Any) -> Any:
    if raw in ("auto", "none", "required"):
        return raw
    choice = expect_object(raw, "tool_choice")
    kind = choice.get("type")
    if kind == "function":
        function = expect_object(choice.get("function"), "tool_choice.function")
        return {"type": "function", "name": expect_str(function.get("name"), "tool_choice.function.name")}
    if kind == "allowed_tools":
        allowed = expect_object(choice.get("allowed_tools"), "tool_choice.allowed_tools")
        tools = []
        for index, tool in enumerate(expect_list(allowed.get("tools"), "tool_choice.allowed_tools.tools")):
            where = f"tool_choice.allowed_tools.tools[{index}]"
            function = expect_object(expect_object(tool, where).get("function"), f"{where}.function")
            tools.append({"type": "function", "name": expect_str(function.get("name"), f"{where}.function.name")})
        return {"type": "allowed_tools", "mode": allowed.get("mode", "auto"), "tools": tools}
    raise InvalidRequestError(f"'tool_choice' {describe(raw)} is not a tool choice", param="tool_choice")


def _set_text(body: Dict[str, Any], out: Dict[str, Any]) -> None:
    text: Dict[str, Any] = {}
    fmt = _text_format(body.get("response_format"))
    if fmt is not None:
        text["format"] = fmt
    if body.get("verbosity") is not None:
        text["verbosity"] = expect_str(body["verbosity"], "verbosity")
    if text:
        out["text"] = text


def _text_format(raw: Any) -> Optional[Item]:
    if raw is None:
        return None
    response_format = expect_object(raw, "response_format")
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind != "json_schema":
        raise InvalidRequestError(
            f"'response_format.type' must be text, json_object or json_schema; got {describe(kind)}",
            param="response_format.type",
        )
    spec = expect_object(response_format.get("json_schema"), "response_format.json_schema")
    fmt: Item = {
        "type": "json_schema",
        "name": expect_str(spec.get("name"), "response_format.json_schema.name", non_empty=True),
        "schema": expect_object(spec.get("schema"), "response_format.json_schema.schema"),
    }
    for key in ("description", "strict"):
        if spec.get(key) is not None:
            fmt[key] = spec[key]
    return fmt


def _set_reasoning(body: Dict[str, Any], out: Dict[str, Any]) -> None:
    # No summary is asked for: OpenAI answers 400 to organizations not verified for summaries.
    effort = body.get("reasoning_effort")
    if effort is not None:
        out["reasoning"] = {"effort": expect_str(effort, "reasoning_effort")}


def _note_dropped(body: Dict[str, Any], notes: List[str]) -> None:
    for key, value in body.items():
        if key not in _HANDLED and value is not None:
            add_note(notes, f"dropped {describe(key)}: no Responses counterpart")
