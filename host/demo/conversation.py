"""What a stand-in model reads from a request, in any protocol: the tools it offers and whether a
tool's result has come back yet.

That is all a provider needs to play a model in an agent loop (call a tool first, answer once the
result is in), and it is the only part of such a loop that depends on the wire format. Callers ask
:func:`read_conversation`; each protocol registers one reader in :data:`READERS`, so a new wire
format adds one function here instead of a branch in every caller (``router demo``'s provider and
the tests' agent-loop mode both use it).
"""

from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple

from .wire_server import ANTHROPIC, OPENAI

__all__ = ["READERS", "Conversation", "read_conversation"]


@dataclass(frozen=True)
class Conversation:
    """The parts of a request an agent loop decides on."""

    tool_names: Tuple[str, ...]  # the tools the request offers, in its order
    has_tool_result: bool  # some message carries a tool's result

    @property
    def first_tool(self) -> Optional[str]:
        return self.tool_names[0] if self.tool_names else None


ConversationReader = Callable[[Mapping[str, Any]], Conversation]


def read_conversation(protocol: str, body: Mapping[str, Any]) -> Conversation:
    """The conversation of a request ``body`` sent in ``protocol`` (a key of :data:`READERS`)."""
    return READERS[protocol](body)


def _read_anthropic(body: Mapping[str, Any]) -> Conversation:
    """Messages API: ``tools[].name``; results are ``tool_result`` blocks in a user message."""
    names = (tool.get("name") for tool in _dicts(body.get("tools")))
    blocks = (block for message in _dicts(body.get("messages")) for block in _dicts(message.get("content")))
    has_result = any(block.get("type") == "tool_result" for block in blocks)
    return Conversation(_strings(names), has_result)


def _read_openai_chat(body: Mapping[str, Any]) -> Conversation:
    """Chat Completions: ``tools[].function.name``; results are messages with role ``tool``."""
    functions = (tool.get("function") for tool in _dicts(body.get("tools")))
    names = (function.get("name") for function in functions if isinstance(function, dict))
    has_result = any(message.get("role") == "tool" for message in _dicts(body.get("messages")))
    return Conversation(_strings(names), has_result)


READERS: Dict[str, ConversationReader] = {ANTHROPIC: _read_anthropic, OPENAI: _read_openai_chat}


def _dicts(value: Any) -> Iterator[Dict[str, Any]]:
    """The objects of a JSON list (anything else, e.g. string content, holds none)."""
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


def _strings(values: Iterator[Any]) -> Tuple[str, ...]:
    found: List[str] = [value for value in values if isinstance(value, str)]
    return tuple(found)
