"""OpenAI ``tools`` / ``tool_choice`` / ``parallel_tool_calls`` → Anthropic ``tools`` / ``tool_choice``
(docs/protocol-rules.md#tools, docs/protocol-rules.md#tool-choice)."""

from typing import AbstractSet, Any, Dict, List, Optional, Tuple

from ..errors import InvalidRequestError, UnsupportedFeatureError
from .request_checks import add_note, describe, expect_bool, expect_list, expect_object, expect_str

__all__ = ["openai_tools_to_anthropic"]

Block = Dict[str, Any]

# OpenAI string tool_choice → Anthropic tool_choice type.
_CHOICE_MODES = {"auto": "auto", "required": "any", "none": "none"}
_ALLOWED_TOOLS_MODES = {"auto": "auto", "required": "any"}
# A tool without parameters takes no arguments: Anthropic still requires an object schema.
_EMPTY_SCHEMA = {"type": "object", "properties": {}}


def openai_tools_to_anthropic(body: Dict[str, Any], notes: List[str]) -> Dict[str, Any]:
    """The Anthropic ``tools`` and ``tool_choice`` fields for ``body`` (either may be absent)."""
    tools = _tools(body.get("tools"), notes)
    if not tools:
        for field in ("tool_choice", "parallel_tool_calls"):
            if body.get(field) is not None:
                add_note(notes, f"dropped {field!r}: the request defines no tools")
        return {}
    tools, choice = _tool_choice(body.get("tool_choice"), tools)
    choice = _with_parallel_flag(body.get("parallel_tool_calls"), choice, notes)
    fields: Dict[str, Any] = {"tools": tools}
    if choice is not None:
        fields["tool_choice"] = choice
    return fields


def _tools(raw: Any, notes: List[str]) -> List[Block]:
    if raw is None:
        return []
    return [_tool(tool, f"tools[{index}]", notes) for index, tool in enumerate(expect_list(raw, "tools"))]


def _tool(raw: Any, param: str, notes: List[str]) -> Block:
    """``{type:"function", function:{name, description, parameters, strict}}`` → an Anthropic tool."""
    tool = expect_object(raw, param)
    if tool.get("type") not in (None, "function"):
        raise UnsupportedFeatureError(
            f"'{param}.type' is {describe(tool.get('type'))}; only function tools can be sent to an Anthropic backend",
            param=f"{param}.type",
        )
    function = expect_object(tool.get("function"), f"{param}.function")
    converted: Block = {"name": expect_str(function.get("name"), f"{param}.function.name", non_empty=True)}
    description = function.get("description")
    if description is not None and expect_str(description, f"{param}.function.description"):
        converted["description"] = description
    converted["input_schema"] = _input_schema(function.get("parameters"), f"{param}.function.parameters", notes)
    strict = function.get("strict")
    # Anthropic honours strict natively (structured outputs); false is its default, so only true travels.
    if strict is not None and expect_bool(strict, f"{param}.function.strict"):
        converted["strict"] = True
    return converted


def _input_schema(raw: Any, param: str, notes: List[str]) -> Block:
    """Anthropic requires a root schema of type object ("input_schema.type: Field required" —
    vercel/ai fixture anthropic-root-union-tool-schema-error.json)."""
    if raw is None:
        return dict(_EMPTY_SCHEMA)
    schema = expect_object(raw, param)
    root_type = schema.get("type")
    if root_type is None:
        # JSON Schema allows an untyped root ({} or a bare anyOf of objects); Anthropic does not.
        add_note(notes, "added 'type': 'object' to tool parameter schemas that had no root type")
        return {"type": "object", **schema}
    if root_type != "object":
        raise InvalidRequestError(
            f"'{param}.type' is {describe(root_type)}; an Anthropic backend needs tool parameters whose root type "
            "is 'object'",
            param=f"{param}.type",
        )
    return schema


def _tool_choice(raw: Any, tools: List[Block]) -> Tuple[List[Block], Optional[Block]]:
    """The (possibly filtered) tools and the Anthropic tool_choice; None leaves Anthropic's default."""
    if raw is None:
        return tools, None
    if isinstance(raw, str):
        mode = _CHOICE_MODES.get(raw)
        if mode is None:
            raise InvalidRequestError(
                f"'tool_choice' must be 'auto', 'required', 'none' or an object; got {describe(raw)}",
                param="tool_choice",
            )
        return tools, {"type": mode}
    choice = expect_object(raw, "tool_choice")
    choice_type = choice.get("type")
    if choice_type == "function":
        return tools, {"type": "tool", "name": _named_tool(choice, "tool_choice", _names(tools))}
    if choice_type == "allowed_tools":
        return _allowed_tools(choice, tools)
    if choice_type == "custom":
        raise UnsupportedFeatureError("'tool_choice': custom tools have no Anthropic counterpart", param="tool_choice")
    raise InvalidRequestError(
        f"'tool_choice.type' must be 'function' or 'allowed_tools'; got {describe(choice_type)}",
        param="tool_choice.type",
    )


def _names(tools: List[Block]) -> AbstractSet[str]:
    return {tool["name"] for tool in tools}


def _named_tool(reference: Dict[str, Any], param: str, defined: AbstractSet[str]) -> str:
    """The name in ``{"type":"function","function":{"name":…}}``, which must be one of the ``defined``
    tools' (a set: an ``allowed_tools`` list names each of thousands of tools in one lookup each,
    docs/proxy-limits.md#translation-work)."""
    function = expect_object(reference.get("function"), f"{param}.function")
    name = expect_str(function.get("name"), f"{param}.function.name", non_empty=True)
    if name not in defined:
        raise InvalidRequestError(
            f"'{param}.function.name' is {describe(name)}, which is not one of the request's tools",
            param=f"{param}.function.name",
        )
    return name


def _allowed_tools(choice: Dict[str, Any], tools: List[Block]) -> Tuple[List[Block], Block]:
    """``allowed_tools`` has no Anthropic form: send only the allowed tools, with auto/any."""
    allowed = expect_object(choice.get("allowed_tools"), "tool_choice.allowed_tools")
    raw_mode = allowed.get("mode")
    mode = _ALLOWED_TOOLS_MODES.get(raw_mode) if isinstance(raw_mode, str) else None
    if mode is None:
        raise InvalidRequestError(
            "'tool_choice.allowed_tools.mode' must be 'auto' or 'required'", param="tool_choice.allowed_tools.mode"
        )
    references = expect_list(allowed.get("tools"), "tool_choice.allowed_tools.tools")
    if not references:
        raise InvalidRequestError(
            "'tool_choice.allowed_tools.tools' must name at least one tool", param="tool_choice.allowed_tools.tools"
        )
    defined, names = _names(tools), set()
    for index, reference in enumerate(references):
        param = f"tool_choice.allowed_tools.tools[{index}]"
        names.add(_named_tool(expect_object(reference, param), param, defined))
    return [tool for tool in tools if tool["name"] in names], {"type": mode}


def _with_parallel_flag(raw: Any, choice: Optional[Block], notes: List[str]) -> Optional[Block]:
    """``parallel_tool_calls: false`` → ``disable_parallel_tool_use: true`` on the tool choice."""
    if raw is None or expect_bool(raw, "parallel_tool_calls"):
        return choice
    if choice is None:
        return {"type": "auto", "disable_parallel_tool_use": True}
    if choice["type"] == "none":  # Anthropic's none choice has no such flag, and no calls happen anyway
        add_note(notes, "dropped 'parallel_tool_calls': tool_choice is 'none'")
        return choice
    return {**choice, "disable_parallel_tool_use": True}
