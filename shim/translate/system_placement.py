"""Where a system instruction that stands mid-conversation goes, in every translation direction.

One policy for every translator (docs/system-messages.md), so that the Chat and Responses
translators cannot drift apart:

* A backend's ``mid_conversation_system`` setting is ``"auto"`` (the default), ``"keep"`` or
  ``"hoist"``; :func:`resolve_placement` turns it into :data:`KEEP` or :data:`HOIST` for one call.
  ``auto`` keeps the position on OpenAI-protocol backends (OpenAI Chat and Responses accept system
  messages anywhere) and, on Anthropic backends, only for the models in
  :data:`ANTHROPIC_MID_CONVERSATION_SYSTEM_MODEL_GLOBS` (older Claude models answer 400 to a
  ``role: "system"`` message). ``hoist`` exists for OpenAI-compatible servers whose chat template
  accepts only a leading system message (several Qwen and Gemma templates in vLLM and llama.cpp).
* :data:`KEEP` toward an OpenAI-shaped backend: the system message stays where the client put it.
  :data:`HOIST`: :func:`hoist_system_messages` moves its text into the leading system message.
* :data:`KEEP` toward Anthropic: :func:`place_anthropic_system_messages` keeps each system message
  that Anthropic's placement rules allow there and hoists the others into the top-level ``system``.
* Anthropic → Anthropic never comes here: same-protocol calls are forwarded untouched.
"""

from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any, Dict, List, Optional, Tuple

from ..errors import InvalidRequestError
from ..protocols import ANTHROPIC
from .request_checks import block_type, expect_list, expect_str

__all__ = [
    "ANTHROPIC_MID_CONVERSATION_SYSTEM_MODEL_GLOBS",
    "AUTO",
    "HOIST",
    "KEEP",
    "MID_CONVERSATION_SYSTEM_SETTINGS",
    "SYSTEM_JOINER",
    "anthropic_system_texts",
    "hoist_system_messages",
    "place_anthropic_system_messages",
    "resolve_placement",
]

AUTO = "auto"
KEEP = "keep"
HOIST = "hoist"
MID_CONVERSATION_SYSTEM_SETTINGS = (AUTO, KEEP, HOIST)

# Anthropic models that accept ``role: "system"`` inside ``messages`` (docs/system-messages.md#anthropic):
# Claude Opus 4.8 and the later Opus models, Fable 5 and the Claude 5.5 models; Claude Code 2.1.332
# sends them to its default claude-opus-5-5. Matched case-insensitively; the leading * admits
# provider prefixes. A model not listed is hoisted (always valid); a backend's
# ``mid_conversation_system = "keep"`` admits any model.
ANTHROPIC_MID_CONVERSATION_SYSTEM_MODEL_GLOBS: Tuple[str, ...] = (
    "*claude-opus-4-8*", "*claude-opus-5*", "*claude-fable-5*", "*claude-sonnet-5-5*", "*claude-haiku-5-5*",
)

SYSTEM_JOINER = "\n"

Message = Dict[str, Any]


def resolve_placement(setting: str, backend_protocol: str, upstream_model: str) -> str:
    """:data:`KEEP` or :data:`HOIST` for one call to ``upstream_model`` on a backend of ``backend_protocol``."""
    if setting != AUTO:
        return setting
    if backend_protocol != ANTHROPIC:
        return KEEP
    if len(upstream_model) > _CACHED_NAME_LIMIT:
        return _placement_by_name(upstream_model)
    return _anthropic_placement(upstream_model)


_CACHED_NAME_LIMIT = 256  # longer names are matched, never kept: bounded in bytes (docs/telemetry-bounds.md)


@lru_cache(maxsize=256)  # a glob match per listed model, on every call to an Anthropic backend
def _anthropic_placement(upstream_model: str) -> str:
    return _placement_by_name(upstream_model)


def _placement_by_name(upstream_model: str) -> str:
    lowered = upstream_model.lower()
    accepted = any(fnmatchcase(lowered, glob) for glob in ANTHROPIC_MID_CONVERSATION_SYSTEM_MODEL_GLOBS)
    return KEEP if accepted else HOIST


# --- OpenAI-shaped messages (Chat messages, Responses message items) -----------------------------

def hoist_system_messages(messages: List[Message]) -> List[Message]:
    """``messages`` with every system message merged into one leading system message, texts in
    their order. Messages are ``{"role": …, "content": str}``-shaped where the role is system;
    everything else keeps its order."""
    texts = [message["content"] for message in messages if message.get("role") == "system"]
    rest = [message for message in messages if message.get("role") != "system"]
    joined = SYSTEM_JOINER.join(text for text in texts if text)
    return ([{"role": "system", "content": joined}] if joined else []) + rest


# --- Anthropic system content --------------------------------------------------------------------

def anthropic_system_texts(content: Any, param: str) -> Tuple[List[str], bool]:
    """The texts of Anthropic system content — the top-level ``system`` or a ``role: "system"``
    message's ``content`` (a string or text blocks; Anthropic accepts nothing else there) — and
    whether any block carried ``cache_control``."""
    if isinstance(content, str):
        return [content], False
    texts: List[str] = []
    cached = False
    for i, block in enumerate(expect_list(content, param)):
        where = f"{param}[{i}]"
        if block_type(block, where) != "text":
            raise InvalidRequestError(f"{where}.type: system content must be text blocks", param=f"{where}.type")
        cached = cached or "cache_control" in block
        texts.append(expect_str(block.get("text"), f"{where}.text"))
    return texts, cached


# --- Anthropic placement rules -------------------------------------------------------------------

def place_anthropic_system_messages(messages: List[Message]) -> Tuple[List[Message], List[str]]:
    """Anthropic ``messages`` in which ``role: "system"`` entries stand where the client put them →
    (messages Anthropic accepts, texts of the system messages that had to be hoisted, in order).

    Anthropic's placement rules (docs/system-messages.md#anthropic): a system message is not the
    first entry; it immediately follows a user message (or an assistant message ending in a server
    tool use); it is the last entry or is followed by an assistant turn; it is never adjacent to
    another system message; it holds text only. Consecutive system messages are merged first; a
    system message that still breaks a rule is hoisted, and the messages around it are merged when
    their roles now repeat. Content is lists of blocks, as the translators build it."""
    merged = _merged_same_role(messages)
    kept: List[Message] = []
    hoisted: List[str] = []
    for index, message in enumerate(merged):
        if message["role"] == "system" and not _placement_allowed(merged, index):
            hoisted.extend(block["text"] for block in message["content"] if block.get("type") == "text")
            continue
        kept.append(message)
    return _merged_same_role(kept), hoisted


def _merged_same_role(messages: List[Message]) -> List[Message]:
    """Consecutive messages of one role as one message (content lists joined), without mutating."""
    result: List[Message] = []
    for message in messages:
        if result and result[-1]["role"] == message["role"]:
            result[-1] = {**result[-1], "content": [*result[-1]["content"], *message["content"]]}
        else:
            result.append(message)
    return result


def _placement_allowed(messages: List[Message], index: int) -> bool:
    previous = messages[index - 1] if index > 0 else None
    following: Optional[Message] = messages[index + 1] if index + 1 < len(messages) else None
    text_only = all(block.get("type") == "text" for block in messages[index]["content"])
    return (
        text_only
        and previous is not None
        and (previous["role"] == "user" or _ends_in_server_tool_use(previous))
        and (following is None or following["role"] == "assistant")
    )


def _ends_in_server_tool_use(message: Message) -> bool:
    content = message["content"]
    return message["role"] == "assistant" and bool(content) and content[-1].get("type") == "server_tool_use"
