"""Anthropic ``system`` and ``messages`` → OpenAI Chat ``messages`` (docs/protocol-rules.md#messages).

The shape changes, not just the names (pitfall numbers: docs/pitfalls.md):

* ``tool_result`` blocks inside a user message become ``role:"tool"`` messages placed *before*
  whatever else that user message said, which follows as a separate user message (P10): OpenAI
  requires every ``tool_call_id`` to be answered before the next non-tool message.
* OpenAI tool messages carry text only, so images and documents returned by a tool move to that
  follow-up user message, introduced by a line naming the tool call they came from (P12).
* Assistant ``thinking`` becomes ``reasoning_content``: DeepSeek's thinking mode requires it to be
  replayed on later turns (docs/protocol-rules.md#reasoning-history).
* Consecutive same-role messages are merged into one turn, as Anthropic does.
* A ``role: "system"`` message inside ``messages`` becomes a Chat system message at the same
  position (turns are never merged across it); the request translator hoists it when the backend
  asks for that (docs/system-messages.md).
* A ``tool_reference`` (a tool search result) becomes a line of text; the tool it loads joins the
  backend's tool list (:mod:`.deferred_tools`, docs/clients/claude-code.md#deferred-tools).
* Empty text is dropped (P9); ``cache_control`` is dropped everywhere (P17).

Content that is text only is sent as a plain string: every OpenAI-compatible server accepts that,
while some reject part arrays for some roles. Text parts are joined with ``TEXT_JOINER``.
"""

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ..errors import NOT_A_JSON_NUMBER, InvalidRequestError, UnsupportedFeatureError
from .anthropic_tool_names import ToolNameMap
from .deferred_tools import DeferredTools
from .request_checks import add_note, block_type, expect_list, expect_object, expect_str
from .system_placement import anthropic_system_texts

__all__ = ["CACHE_CONTROL_NOTE", "TEXT_JOINER", "TOOL_ERROR_PREFIX", "anthropic_messages_to_openai", "system_messages"]

Message = Dict[str, Any]
Part = Dict[str, Any]
Block = Tuple[Any, str]  # a content block and its JSON path (for error params)

TEXT_JOINER = "\n"
# OpenAI tool messages have no error flag (docs/protocol-rules.md#tool-results): the model learns it from the text.
TOOL_ERROR_PREFIX = "[tool error] "
CACHE_CONTROL_NOTE = "dropped cache_control (OpenAI-compatible backends reject it)"


@dataclass
class _Conversion:
    names: ToolNameMap
    deferred: DeferredTools
    notes: List[str] = field(default_factory=list)
    replay_reasoning: bool = False  # send history thinking as reasoning_content (DeepSeek needs it)

    def note(self, text: str) -> None:
        add_note(self.notes, text)


def system_messages(system: Any, notes: List[str]) -> List[Message]:
    """Anthropic ``system`` (string or text blocks) → zero or one leading system message."""
    if system is None:
        return []
    return _system_message(system, "system", notes)


def _system_message(content: Any, param: str, notes: List[str]) -> List[Message]:
    """System content (the top-level field or a system message's) → zero or one system message."""
    texts, cached = anthropic_system_texts(content, param)
    if cached:
        add_note(notes, CACHE_CONTROL_NOTE)
    joined = TEXT_JOINER.join(text for text in texts if text)
    return [{"role": "system", "content": joined}] if joined else []


def anthropic_messages_to_openai(
    messages: Any, names: ToolNameMap, notes: List[str], replay_reasoning: bool = False,
    deferred: Optional[DeferredTools] = None,
) -> List[Message]:
    """Translate the ``messages`` array; tool names go through ``names`` (P18). History thinking is
    replayed as ``reasoning_content`` only when ``replay_reasoning``: DeepSeek requires it, while
    strict servers (Mistral: 422 "Extra inputs are not permitted") reject the unknown field.
    ``deferred`` words ``tool_reference`` blocks (default: the tools of no request)."""
    conversion = _Conversion(names, deferred or DeferredTools([], []), notes, replay_reasoning)
    translated: List[Message] = []
    for role, blocks in _turns(expect_list(messages, "messages"), notes):
        if role == "user":
            translated.extend(_user_messages(blocks, conversion))
        elif role == "system":
            translated.extend(_system_turn(blocks))
        else:
            assistant = _assistant_message(blocks, conversion)
            if assistant:
                translated.append(assistant)
    return translated


def _turns(messages: List[Any], notes: List[str]) -> List[Tuple[str, List[Block]]]:
    """Consecutive same-role messages merged into one turn, as Anthropic itself does
    (docs/protocol-rules.md#consecutive-roles).
    Otherwise a tool call answered in the second of two user messages, or two assistant messages
    whose calls are answered together, would break OpenAI's "tool messages right after" rule (P10).
    A system message is a turn of its own, so user or assistant turns are never merged across it."""
    turns: List[Tuple[str, List[Block]]] = []
    for i, message in enumerate(messages):
        role, blocks = _role_and_blocks(message, f"messages[{i}]", notes)
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    return turns


def _system_turn(blocks: List[Block]) -> List[Message]:
    """A mid-conversation system message (docs/system-messages.md): one Chat system message here,
    unless it says nothing. Its blocks are text blocks already (see :func:`_role_and_blocks`)."""
    joined = TEXT_JOINER.join(block["text"] for block, _ in blocks if block["text"])
    return [{"role": "system", "content": joined}] if joined else []


def _role_and_blocks(message: Any, param: str, notes: List[str]) -> Tuple[str, List[Block]]:
    expect_object(message, param)
    role = message.get("role")
    if role not in ("user", "assistant", "system"):
        raise InvalidRequestError(
            f"{param}.role: must be 'user', 'assistant' or 'system', got {role!r}", param=f"{param}.role"
        )
    content = message.get("content")
    if role == "system":  # Anthropic allows text only there (docs/system-messages.md#anthropic)
        texts, cached = anthropic_system_texts(content, f"{param}.content")
        if cached:
            add_note(notes, CACHE_CONTROL_NOTE)
        return role, [({"type": "text", "text": text}, f"{param}.content") for text in texts]
    if isinstance(content, str):
        return role, [({"type": "text", "text": content}, f"{param}.content")]
    if not isinstance(content, list):
        raise InvalidRequestError(
            f"{param}.content: expected a string or an array of content blocks", param=f"{param}.content"
        )
    return role, [(block, f"{param}.content[{j}]") for j, block in enumerate(content)]


# --- user messages -------------------------------------------------------------------------------

def _user_messages(blocks: List[Block], conversion: _Conversion) -> List[Message]:
    tool_messages: List[Message] = []
    moved: List[Part] = []  # what tool messages cannot carry (P12)
    parts: List[Part] = []
    for block, param in blocks:
        kind = _block_kind(block, param, conversion)
        if kind == "tool_result":
            tool_message, attachments = _tool_result(block, param, conversion)
            tool_messages.append(tool_message)
            moved.extend(attachments)
        else:
            parts.extend(_content_parts(block, kind, param, conversion))
    follow_up = moved + parts
    return tool_messages + ([{"role": "user", "content": _packed(follow_up)}] if follow_up else [])


def _block_kind(block: Any, param: str, conversion: _Conversion) -> str:
    kind = block_type(block, param)
    if "cache_control" in block:
        conversion.note(CACHE_CONTROL_NOTE)
    return kind


def _packed(parts: List[Part]) -> Any:
    """A string when every part is text (widest server support), else the part array."""
    if all(part["type"] == "text" for part in parts):
        return TEXT_JOINER.join(part["text"] for part in parts)
    return parts


def _content_parts(block: Dict[str, Any], kind: str, param: str, conversion: _Conversion) -> List[Part]:
    """One user-side content block → OpenAI content parts (empty when the block is dropped)."""
    if kind == "text":
        text = expect_str(block.get("text"), f"{param}.text")
        return [{"type": "text", "text": text}] if text else []  # P9
    if kind == "image":
        return [_image_part(block.get("source"), f"{param}.source")]
    if kind == "document":
        return _document_parts(block, f"{param}.source", conversion)
    if kind == "tool_reference":
        return [{"type": "text", "text": _tool_reference_text(block, param, conversion)}]
    conversion.note(f"dropped {kind!r} content blocks (no OpenAI counterpart in user content)")
    return []


def _tool_reference_text(block: Dict[str, Any], param: str, conversion: _Conversion) -> str:
    """A tool search result's reference → text; the tool itself joins the backend's tool list
    (:mod:`.deferred_tools`). A reference to a tool the request lacks is said, not refused."""
    name = expect_str(block.get("tool_name"), f"{param}.tool_name", non_empty=True)
    if name not in conversion.deferred.defined:
        conversion.note("a tool_reference names a tool the request does not define: told the model so")
    return conversion.deferred.reference_text(name, conversion.names.backend_name(name))


def _image_part(raw_source: Any, param: str) -> Part:
    source, kind = _source(raw_source, param)
    if kind == "base64":
        return {"type": "image_url", "image_url": {"url": _data_uri(source, param, None)}}
    if kind == "url":
        # URLs stay URLs: downloading and inlining them is needless work (P12).
        return {"type": "image_url", "image_url": {"url": expect_str(source.get("url"), f"{param}.url")}}
    raise _unsupported_source(kind, param)


def _document_parts(block: Dict[str, Any], param: str, conversion: _Conversion) -> List[Part]:
    source, kind = _source(block.get("source"), param)
    if kind == "base64":
        title = block.get("title")
        filename = title if isinstance(title, str) and title else "document.pdf"
        file_data = _data_uri(source, param, "application/pdf")
        return [{"type": "file", "file": {"file_data": file_data, "filename": filename}}]
    if kind == "text":
        text = expect_str(source.get("data"), f"{param}.data")
        return [{"type": "text", "text": text}] if text else []
    if kind == "content":
        return _inline_document_parts(source.get("content"), f"{param}.content", conversion)
    raise _unsupported_source(kind, param)


def _inline_document_parts(content: Any, param: str, conversion: _Conversion) -> List[Part]:
    """A ``content`` document source: a string or text/image blocks, translated like user content."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    parts: List[Part] = []
    for k, block in enumerate(expect_list(content, param)):
        kind = _block_kind(block, f"{param}[{k}]", conversion)
        parts.extend(_content_parts(block, kind, f"{param}[{k}]", conversion))
    return parts


def _source(raw: Any, param: str) -> Tuple[Dict[str, Any], str]:
    """A media ``source`` object and its type."""
    source = expect_object(raw, param)
    return source, expect_str(source.get("type"), f"{param}.type", non_empty=True)


def _data_uri(source: Dict[str, Any], param: str, default_media_type: Optional[str]) -> str:
    media_type = source.get("media_type", default_media_type)
    media_type = expect_str(media_type, f"{param}.media_type", non_empty=True)
    return f"data:{media_type};base64,{expect_str(source.get('data'), f'{param}.data')}"


def _unsupported_source(kind: str, param: str) -> InvalidRequestError:
    if kind == "file":
        return UnsupportedFeatureError(
            f"{param}: Files API file ids cannot be sent to an OpenAI-compatible backend; send the content inline",
            param=param,
        )
    return UnsupportedFeatureError(f"{param}.type: source type {kind!r} is not supported here", param=f"{param}.type")


def _tool_result(block: Dict[str, Any], param: str, conversion: _Conversion) -> Tuple[Message, List[Part]]:
    """A ``tool_result`` → (its tool message, parts moved to the follow-up user message)."""
    call_id = expect_str(block.get("tool_use_id"), f"{param}.tool_use_id", non_empty=True)
    texts, attachments = _tool_result_content(block.get("content"), f"{param}.content", conversion)
    text = TEXT_JOINER.join(texts)
    if block.get("is_error") is True:
        text = TOOL_ERROR_PREFIX + text
    if attachments:
        # OpenAI tool messages cannot carry images (P12): say where they went, and label them there.
        text = (text + TEXT_JOINER if text else "") + "(attachments follow in the next user message)"
        label = {"type": "text", "text": f"Attachments returned by tool call {call_id}:"}
        attachments = [label, *attachments]
    return {"role": "tool", "tool_call_id": call_id, "content": text}, attachments


def _tool_result_content(content: Any, param: str, conversion: _Conversion) -> Tuple[List[str], List[Part]]:
    if content is None:
        return [], []
    if isinstance(content, str):
        return [content], []
    texts: List[str] = []
    attachments: List[Part] = []
    for k, block in enumerate(expect_list(content, param)):
        kind = _block_kind(block, f"{param}[{k}]", conversion)
        for part in _content_parts(block, kind, f"{param}[{k}]", conversion):
            if part["type"] == "text":
                texts.append(part["text"])
            else:
                attachments.append(part)
    return texts, attachments


# --- assistant messages --------------------------------------------------------------------------

@dataclass
class _AssistantTurn:
    texts: List[str] = field(default_factory=list)
    tool_calls: List[Dict[str, Any]] = field(default_factory=list)
    reasoning: List[str] = field(default_factory=list)


def _assistant_message(blocks: List[Block], conversion: _Conversion) -> Optional[Message]:
    turn = _AssistantTurn()
    for block, param in blocks:
        _add_assistant_block(turn, block, param, conversion)
    if turn.reasoning and not conversion.replay_reasoning:
        conversion.note("dropped thinking from history (set replay_reasoning for backends that want it back)")
        turn.reasoning = []
    return _assistant_from_turn(turn)


def _add_assistant_block(turn: _AssistantTurn, block: Any, param: str, conversion: _Conversion) -> None:
    kind = _block_kind(block, param, conversion)
    if kind == "text":
        turn.texts.append(expect_str(block.get("text"), f"{param}.text"))
    elif kind == "tool_use":
        turn.tool_calls.append(_tool_call(block, param, conversion.names))
    elif kind == "thinking":
        # Signatures are Anthropic's alone and meaningless to any other backend: dropped.
        turn.reasoning.append(expect_str(block.get("thinking"), f"{param}.thinking"))
    elif kind == "redacted_thinking":
        conversion.note("dropped redacted_thinking blocks (encrypted; only Anthropic can read them)")
    elif kind in ("server_tool_use", "mcp_tool_use") or kind.endswith("_tool_result"):
        conversion.note(f"dropped {kind!r} blocks (Anthropic server tools have no OpenAI counterpart)")
    else:
        conversion.note(f"dropped {kind!r} content blocks (no OpenAI counterpart in assistant content)")


def _tool_call(block: Dict[str, Any], param: str, names: ToolNameMap) -> Dict[str, Any]:
    call_id = expect_str(block.get("id"), f"{param}.id", non_empty=True)
    name = expect_str(block.get("name"), f"{param}.name", non_empty=True)
    try:
        arguments = json.dumps(expect_object(block.get("input"), f"{param}.input"), allow_nan=False)
    except ValueError:  # a float parsed from 1e999 (docs/protocol-rules.md#numbers)
        raise InvalidRequestError(f"'{param}.input' {NOT_A_JSON_NUMBER}", param=f"{param}.input") from None
    return {"id": call_id, "type": "function", "function": {"name": names.backend_name(name), "arguments": arguments}}


def _assistant_from_turn(turn: _AssistantTurn) -> Optional[Message]:
    text = TEXT_JOINER.join(t for t in turn.texts if t)  # P9
    reasoning = TEXT_JOINER.join(r for r in turn.reasoning if r)
    if not (text or turn.tool_calls or reasoning):
        return None  # an empty assistant turn says nothing and some servers reject it
    message: Message = {"role": "assistant", "content": text or (None if turn.tool_calls else "")}
    if turn.tool_calls:
        message["tool_calls"] = turn.tool_calls
    if reasoning:
        message["reasoning_content"] = reasoning
    return message
