"""Deferred tools (Anthropic tool search) for a backend that has no tool search of its own.

On Anthropic's API a tool with ``defer_loading: true`` stays out of the model's context until a
tool search result names it: a ``tool_result`` holding ``{"type": "tool_reference", "tool_name": …}``
blocks, which the API expands into that tool's definition. Claude Code sends its MCP servers'
tools this way, beside ``ToolSearch`` (an ordinary tool it runs itself) and
``DeferredToolPlaceholder`` (deferred, empty schema, "never call this tool").

An OpenAI-compatible backend knows neither, so the translator does the expansion
(docs/clients/claude-code.md#deferred-tools):

* a deferred tool reaches the backend's tool list only once the history loads it — a
  ``tool_reference`` to it, or an earlier call to it (the model knew it then) — so the placeholder
  is never sent and unloaded tools cost no context, as on Anthropic;
* each ``tool_reference`` becomes a line of text saying that the tool is loaded and now in the tool
  list; a reference to a tool the request does not define says so (and leaves a note) instead of
  failing the call.

Reading is lenient, like :func:`~.anthropic_tool_names.tool_names_in_request`: malformed parts are
skipped here and reported by the translation that visits them.
"""

from typing import Any, Dict, Iterator, List, Set

__all__ = ["DeferredTools", "is_deferred"]


def is_deferred(tool: Any) -> bool:
    """A tool definition that asks to stay out of the context until a tool search loads it."""
    return isinstance(tool, dict) and tool.get("defer_loading") is True


class DeferredTools:
    """Which of a request's tools are deferred, and which of those its history has loaded."""

    def __init__(self, tools: List[Any], messages: List[Any]) -> None:
        named = [tool for tool in tools if isinstance(tool, dict) and isinstance(tool.get("name"), str)]
        self.defined: Set[str] = {tool["name"] for tool in named}
        self.deferred: Set[str] = {tool["name"] for tool in named if is_deferred(tool)}
        # Most requests defer nothing: then the history need not be read at all.
        self.loaded: Set[str] = self.deferred & set(_names_loaded_by(messages)) if self.deferred else set()

    @classmethod
    def for_request(cls, body: Dict[str, Any]) -> "DeferredTools":
        return cls(_list(body.get("tools")), _list(body.get("messages")))

    def reaches_backend(self, tool: Dict[str, Any]) -> bool:
        """Whether the backend's tool list carries this (client) tool now."""
        return not is_deferred(tool) or tool.get("name") in self.loaded

    @property
    def left_out(self) -> int:
        """How many deferred tools stay out of this request's tool list."""
        return len(self.deferred - self.loaded)

    def reference_text(self, name: str, backend_name: str) -> str:
        """What the model reads in place of a ``tool_reference`` to ``name``."""
        if name not in self.defined:
            return f"Tool {name} was requested, but it is not available in this conversation."
        return f"Tool {backend_name} is loaded: its definition is now in your tool list, and you can call it."


def _names_loaded_by(messages: List[Any]) -> Iterator[str]:
    """Tool names the history loads: a ``tool_use`` block's, and a ``tool_reference``'s inside a
    ``tool_result`` (where Anthropic's tool search puts them)."""
    for message in messages:
        for block in _blocks(message):
            kind = block.get("type")
            if kind == "tool_use":
                yield _name(block.get("name"))
            elif kind == "tool_result":
                yield from (_name(inner.get("tool_name")) for inner in _blocks(block)
                            if inner.get("type") == "tool_reference")


def _blocks(holder: Any) -> Iterator[Dict[str, Any]]:
    """The content blocks (objects) of a message or a tool result; nothing for other shapes."""
    content = holder.get("content") if isinstance(holder, dict) else None
    return (block for block in _list(content) if isinstance(block, dict))


def _name(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _list(value: Any) -> List[Any]:
    return value if isinstance(value, list) else []
