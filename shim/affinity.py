"""Which conversation a call belongs to, as a number: what keeps it on the backend holding its cache.

Providers cache a prompt's prefix per backend (per organisation, per key, per region): a conversation
that moves between equivalent backends pays full price for its whole history again on each one.
Calls are therefore told apart by, in this order (docs/routing.md#prompt-cache-stickiness):

1. the client's session header (Claude Code sends ``X-Claude-Code-Session-Id`` on every request);
2. ``prompt_cache_key``, which OpenAI clients set for exactly this purpose (OpenAI's prompt caching
   guide: requests sharing a key and a prefix are routed to the same cache);
3. the conversation's stable prefix: its system prompt (or ``instructions``), the names of its tools
   and its first user message — what every later call of the same conversation starts with.

Only a number leaves this module (a CRC-32: stable across processes and Python versions, and cheap);
it is computed only for calls that reach a balanced group.
"""

from typing import Any, Mapping, Optional
from zlib import crc32

__all__ = ["SESSION_HEADERS", "ConversationKey"]

SESSION_HEADERS = ("x-claude-code-session-id",)
_PART_LIMIT = 4096  # characters of each prefix part: enough to tell conversations apart, cheap to hash
_DEPTH_LIMIT = 6


class ConversationKey:
    """The affinity of one call, worked out on first use (:attr:`value`)."""

    __slots__ = ("_body", "_computed", "_headers", "_value")

    def __init__(self, headers: Mapping[str, str], body: Mapping[str, Any]) -> None:
        self._headers = headers  # names in lower case
        self._body = body
        self._computed = False
        self._value: Optional[int] = None

    @property
    def value(self) -> Optional[int]:
        """The conversation's number; None when the call says nothing that identifies one."""
        if not self._computed:
            self._value = _affinity(self._headers, self._body)
            self._computed = True
        return self._value


def _affinity(headers: Mapping[str, str], body: Mapping[str, Any]) -> Optional[int]:
    for name in SESSION_HEADERS:
        session = headers.get(name)
        if session:
            return crc32(b"session\0" + session.encode("utf-8", "replace"))
    cache_key = body.get("prompt_cache_key")
    if isinstance(cache_key, str) and cache_key:
        return crc32(b"cache-key\0" + cache_key.encode("utf-8", "replace"))
    return _prefix_affinity(body)


def _prefix_affinity(body: Mapping[str, Any]) -> Optional[int]:
    parts = [_text(body.get("system")), _text(body.get("instructions")), _tool_names(body.get("tools"))]
    turns = body.get("messages")
    if not isinstance(turns, list):
        turns = body.get("input")
    parts.append(_opening(turns))
    if not any(parts):
        return None
    value = 0
    for part in parts:
        value = crc32(part[:_PART_LIMIT].encode("utf-8", "replace") + b"\0", value)
    return value


def _opening(turns: Any) -> str:
    """The turns up to the first user turn: leading system/developer messages and the first question."""
    if isinstance(turns, str):
        return turns
    if not isinstance(turns, list):
        return ""
    texts = []
    for turn in turns[:8]:
        if not isinstance(turn, Mapping):
            continue
        texts.append(_text(turn.get("content")))
        if turn.get("role") == "user":
            break
    return "\n".join(texts)


def _tool_names(tools: Any) -> str:
    if not isinstance(tools, list):
        return ""
    names = []
    for tool in tools:
        if isinstance(tool, Mapping):
            function = tool.get("function")
            name = function.get("name") if isinstance(function, Mapping) else tool.get("name")
            names.append(name if isinstance(name, str) else "")
    return ",".join(names)


def _text(value: Any, depth: int = 0) -> str:
    """The text in a content value (a string, content blocks, or anything else JSON), bounded."""
    if isinstance(value, str):
        return value
    if depth >= _DEPTH_LIMIT:
        return ""
    if isinstance(value, list):
        return "\n".join(_text(item, depth + 1) for item in value[:32])
    if isinstance(value, Mapping):
        text = value.get("text")
        return text if isinstance(text, str) else _text(value.get("content"), depth + 1)
    return ""
