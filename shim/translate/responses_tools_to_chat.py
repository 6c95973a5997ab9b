"""A Responses client's ``tools`` and ``tool_choice`` → Chat Completions function tools.

Chat has flat function tools only (docs/responses-api.md#tools), so:

* ``function`` tools become Chat function tools (``parameters`` null → an empty object schema);
* ``namespace`` groups (Codex) are flattened: each inner tool is named as Codex flattens names
  (``namespace`` without trailing ``_``, ``__``, name without leading ``_``), shortened with a hash
  when that is not a valid Chat function name;
* ``custom`` tools (free-form text input) become functions with one string parameter, ``input``;
* built-in tools that only OpenAI runs are a 400 naming the tool — never silently dropped, since the
  model would then answer without a capability the client believes it has;
* any other type is a 400 too.

:class:`ToolFlattener` remembers every flat name it made, so that calls go back to the client as
it named them (:class:`~.context.ClientTool`) and history items are flattened the same way.
"""

import re
import zlib
from typing import Any, Dict, List, Optional, Tuple

from ..errors import InvalidRequestError, UnsupportedFeatureError
from .context import ClientTool
from .request_checks import describe, expect_bool, expect_list, expect_object, expect_str

__all__ = [
    "BUILTIN_TOOL_TYPES",
    "CUSTOM_INPUT",
    "ToolFlattener",
    "flat_tool_name",
    "is_builtin_tool",
    "responses_tools_to_chat",
]

# Tools that run on OpenAI's own servers (or need its model-native formats): SDK
# types/responses/tool_param.py. A prefix match also catches dated variants (web_search_2025_08_26…).
BUILTIN_TOOL_TYPES: Tuple[str, ...] = (
    "web_search", "file_search", "code_interpreter", "computer", "image_generation", "mcp",
    "local_shell", "shell", "apply_patch", "tool_search",
)
# The one parameter a custom tool's free-form input travels in.
CUSTOM_INPUT = "input"
_CHAT_NAME_LIMIT = 64
_CHAT_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_CHAT_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")  # OpenAI's rule for function names
_EMPTY_SCHEMA: Dict[str, Any] = {"type": "object", "properties": {}}
_SIMPLE_CHOICES = ("auto", "none", "required")

Tool = Dict[str, Any]


def flat_tool_name(namespace: Optional[str], name: str) -> str:
    """Codex's own flat spelling of a namespaced tool (``codex-rs/protocol/src/tool_name.rs``)."""
    if not namespace:
        return name
    return namespace.rstrip("_") + "__" + name.lstrip("_")


def is_builtin_tool(kind: str) -> bool:
    return kind.startswith(BUILTIN_TOOL_TYPES)


class ToolFlattener:
    """Flat Chat names for a request's tools, and the way back to the client's names."""

    def __init__(self) -> None:
        self.client_tools: Dict[str, ClientTool] = {}  # flat name → client tool, when not the same
        self._by_client: Dict[Tuple[Optional[str], str], str] = {}
        self._taken: Dict[str, Tuple[Optional[str], str]] = {}

    def flat(self, namespace: Optional[str], name: str, custom: bool = False) -> str:
        """The flat name of the client's tool ``namespace``/``name`` (made once, then reused)."""
        key = (namespace or None, name)
        known = self._by_client.get(key)
        if known is not None:
            return known
        flat = _valid_chat_name(flat_tool_name(namespace, name))
        while flat in self._taken:  # two client tools, one spelling: the later one gets a suffix
            flat = _hashed(flat + "#")
        self._by_client[key] = flat
        self._taken[flat] = key
        if flat != name or namespace or custom:
            self.client_tools[flat] = ClientTool(name, namespace or None, custom)
        return flat


def responses_tools_to_chat(
    body: Dict[str, Any], tools: ToolFlattener, model: str
) -> Tuple[List[Tool], Optional[Any]]:
    """(Chat tools, Chat tool_choice or None) for the request's ``tools`` and ``tool_choice``."""
    raw = [] if body.get("tools") is None else expect_list(body["tools"], "tools")
    chat_tools: List[Tool] = []
    for index, tool in enumerate(raw):
        chat_tools.extend(_chat_tools(tool, f"tools[{index}]", tools, model))
    choice = body.get("tool_choice")
    if choice is None:
        return chat_tools, None
    return _tool_choice(choice, chat_tools, tools, model)


def _chat_tools(tool: Any, param: str, tools: ToolFlattener, model: str) -> List[Tool]:
    kind = _tool_type(tool, param)
    if kind == "function":
        return [_function(tool, param, None, tools)]
    if kind == "custom":
        return [_custom(tool, param, None, tools)]
    if kind == "namespace":
        return _namespace(tool, param, tools, model)
    raise _unusable_tool(kind, param, model)


def _tool_type(tool: Any, param: str) -> str:
    expect_object(tool, param)
    return expect_str(tool.get("type"), f"{param}.type", non_empty=True)


def _unusable_tool(kind: str, param: str, model: str) -> InvalidRequestError:
    if is_builtin_tool(kind):
        return UnsupportedFeatureError(
            f"'{param}' is OpenAI's built-in tool {kind!r}, which runs only on OpenAI's servers; "
            f"{model!r} is served by a backend that cannot run it: remove the tool from the request",
            param=param,
        )
    return InvalidRequestError(f"'{param}.type' {describe(kind)} is not a tool type the router knows", param=param)


def _function(tool: Dict[str, Any], param: str, namespace: Optional[str], tools: ToolFlattener) -> Tool:
    name = expect_str(tool.get("name"), f"{param}.name", non_empty=True)
    function: Dict[str, Any] = {"name": tools.flat(namespace, name)}
    description = _description(tool, param)
    if description:
        function["description"] = description
    schema = tool.get("parameters")
    function["parameters"] = dict(_EMPTY_SCHEMA) if schema is None else expect_object(schema, f"{param}.parameters")
    if tool.get("strict") is not None and expect_bool(tool["strict"], f"{param}.strict"):
        function["strict"] = True
    return {"type": "function", "function": function}


def _custom(tool: Dict[str, Any], param: str, namespace: Optional[str], tools: ToolFlattener) -> Tool:
    """A free-form tool as a function taking its text in ``input`` (the grammar, if any, described)."""
    name = expect_str(tool.get("name"), f"{param}.name", non_empty=True)
    input_schema: Dict[str, Any] = {"type": "string"}
    grammar = _grammar(tool.get("format"), f"{param}.format")
    if grammar:
        input_schema["description"] = grammar
    parameters = {
        "type": "object",
        "properties": {CUSTOM_INPUT: input_schema},
        "required": [CUSTOM_INPUT],
        "additionalProperties": False,
    }
    function: Dict[str, Any] = {"name": tools.flat(namespace, name, custom=True), "parameters": parameters}
    description = _description(tool, param)
    if description:
        function["description"] = description
    return {"type": "function", "function": function}


def _grammar(raw: Any, param: str) -> str:
    if raw is None:
        return ""
    fmt = expect_object(raw, param)
    if fmt.get("type") != "grammar":
        return ""  # {"type": "text"}: unconstrained text
    syntax = expect_str(fmt.get("syntax"), f"{param}.syntax")
    definition = expect_str(fmt.get("definition"), f"{param}.definition")
    return f"The input must follow this {syntax} grammar:\n{definition}"


def _description(tool: Dict[str, Any], param: str) -> str:
    description = tool.get("description")
    return "" if description is None else expect_str(description, f"{param}.description")


def _namespace(tool: Dict[str, Any], param: str, tools: ToolFlattener, model: str) -> List[Tool]:
    namespace = expect_str(tool.get("name"), f"{param}.name", non_empty=True)
    flattened: List[Tool] = []
    for index, inner in enumerate(expect_list(tool.get("tools"), f"{param}.tools")):
        where = f"{param}.tools[{index}]"
        kind = _tool_type(inner, where)
        if kind == "function":
            flattened.append(_function(inner, where, namespace, tools))
        elif kind == "custom":
            flattened.append(_custom(inner, where, namespace, tools))
        else:
            raise _unusable_tool(kind, where, model)
    return flattened


# --- tool_choice ---------------------------------------------------------------------------------

def _tool_choice(
    raw: Any, chat_tools: List[Tool], tools: ToolFlattener, model: str
) -> Tuple[List[Tool], Optional[Any]]:
    if isinstance(raw, str):
        if raw not in _SIMPLE_CHOICES:
            raise InvalidRequestError(
                f"'tool_choice' must be one of {', '.join(_SIMPLE_CHOICES)} or an object; got {describe(raw)}",
                param="tool_choice",
            )
        return chat_tools, raw
    choice = expect_object(raw, "tool_choice")
    kind = expect_str(choice.get("type"), "tool_choice.type", non_empty=True)
    if kind in ("function", "custom"):
        name = expect_str(choice.get("name"), "tool_choice.name", non_empty=True)
        return chat_tools, {"type": "function", "function": {"name": _chosen_name(choice, name, tools)}}
    if kind == "allowed_tools":
        return _allowed_tools(choice, chat_tools, tools, model)
    raise _unusable_tool(kind, "tool_choice", model)


def _chosen_name(choice: Dict[str, Any], name: str, tools: ToolFlattener) -> str:
    namespace = choice.get("namespace")
    return tools.flat(expect_str(namespace, "tool_choice.namespace") if namespace is not None else None, name)


def _allowed_tools(
    choice: Dict[str, Any], chat_tools: List[Tool], tools: ToolFlattener, model: str
) -> Tuple[List[Tool], Optional[Any]]:
    """``allowed_tools`` → only those tools are sent, with the mode as the choice (Chat servers
    other than OpenAI have no allowed_tools)."""
    mode = choice.get("mode", "auto")
    if mode not in ("auto", "required"):
        raise InvalidRequestError("'tool_choice.mode' must be 'auto' or 'required'", param="tool_choice.mode")
    allowed = set()
    for index, entry in enumerate(expect_list(choice.get("tools"), "tool_choice.tools")):
        where = f"tool_choice.tools[{index}]"
        kind = _tool_type(entry, where)
        if kind not in ("function", "custom"):
            raise _unusable_tool(kind, where, model)
        name = expect_str(entry.get("name"), f"{where}.name", non_empty=True)
        namespace = entry.get("namespace")
        allowed.add(tools.flat(expect_str(namespace, f"{where}.namespace") if namespace is not None else None, name))
    kept = [tool for tool in chat_tools if tool["function"]["name"] in allowed]
    return kept, mode if kept else "none"


def _valid_chat_name(name: str) -> str:
    """``name`` if Chat accepts it as a function name, else a valid one derived from it."""
    if _CHAT_NAME.fullmatch(name):
        return name
    cleaned = "".join(char if char in _CHAT_NAME_CHARS else "_" for char in name) or "tool"
    return _hashed(cleaned)


def _hashed(name: str) -> str:
    """A valid name of at most 64 characters: the start of ``name`` and a hash of all of it."""
    digest = format(zlib.crc32(name.encode("utf-8", "surrogatepass")), "08x")
    head = "".join(char if char in _CHAT_NAME_CHARS else "_" for char in name)[: _CHAT_NAME_LIMIT - 9]
    return f"{head}_{digest}"
