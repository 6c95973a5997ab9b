"""Tool names an OpenAI-compatible backend accepts, reversibly (docs/protocol-rules.md#tool-names,
docs/pitfalls.md#p18).

OpenAI enforces ``^[a-zA-Z0-9_-]{1,64}$`` on function names; Anthropic clients use longer names
(Claude Code's MCP tools are ``mcp__<server>__<tool>``, often past 64 characters). A name that does
not fit becomes ``<sanitized prefix>_<8 hex of sha256(name)>``: deterministic, so the same request
always yields the same backend names (cache-friendly), and recorded in :attr:`ToolNameMap.renamed`
(backend name → original) so the response side can give the client its own name back.

Collisions are impossible, not merely unlikely: every name the request already uses legally is
reserved before any short name is made, and a taken candidate is re-hashed with a counter.
"""

import hashlib
import re
from typing import Any, Dict, Iterator, List, Set

__all__ = ["OPENAI_TOOL_NAME", "ToolNameMap", "tool_names_in_request"]

OPENAI_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ILLEGAL_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
_HASH_CHARS = 8
_PREFIX_CHARS = 64 - 1 - _HASH_CHARS


class ToolNameMap:
    """Original tool name → backend tool name, for one request."""

    def __init__(self, names_in_request: List[str]) -> None:
        # Legal names stay as they are, so they must never be handed out as someone's short name.
        self._taken: Set[str] = {name for name in names_in_request if OPENAI_TOOL_NAME.match(name)}
        self._short: Dict[str, str] = {}
        self.renamed: Dict[str, str] = {}  # backend name → original, only for changed names

    @classmethod
    def for_request(cls, body: Dict[str, Any]) -> "ToolNameMap":
        return cls(tool_names_in_request(body))

    def backend_name(self, original: str) -> str:
        """The name to send upstream for the client's tool ``original``."""
        if OPENAI_TOOL_NAME.match(original):
            return original
        if original not in self._short:
            short = next(c for c in _candidates(original) if c not in self._taken)
            self._taken.add(short)
            self._short[original] = short
            self.renamed[short] = original
        return self._short[original]


def _candidates(original: str) -> Iterator[str]:
    prefix = _ILLEGAL_CHARS.sub("_", original)[:_PREFIX_CHARS]
    salt = 0
    while True:
        seed = original if salt == 0 else f"{original}\x00{salt}"
        yield f"{prefix}_{hashlib.sha256(seed.encode('utf-8', 'surrogatepass')).hexdigest()[:_HASH_CHARS]}"
        salt += 1


def tool_names_in_request(body: Dict[str, Any]) -> List[str]:
    """Every tool name the request mentions (definitions, history, tool_choice), read leniently:
    malformed parts are skipped here and reported by the translation that visits them."""
    names = [_name_of(tool) for tool in _list(body.get("tools"))]
    for message in _list(body.get("messages")):
        content = message.get("content") if isinstance(message, dict) else None
        names.extend(_name_of(block) for block in _list(content) if _is_tool_use(block))
    names.append(_name_of(body.get("tool_choice")))
    return [name for name in names if name]


def _list(value: Any) -> List[Any]:
    return value if isinstance(value, list) else []


def _name_of(obj: Any) -> str:
    name = obj.get("name") if isinstance(obj, dict) else None
    return name if isinstance(name, str) else ""


def _is_tool_use(block: Any) -> bool:
    return isinstance(block, dict) and block.get("type") == "tool_use"
