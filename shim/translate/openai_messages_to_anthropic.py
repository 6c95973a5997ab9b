"""OpenAI Chat ``messages`` → Anthropic ``system`` + ``messages`` (docs/protocol-rules.md#messages).

The conversation is rebuilt in one pass (pitfall numbers: docs/pitfalls.md):

* leading system/developer messages become the ``system`` string; later ones stay where they are
  as Anthropic ``role: "system"`` messages when the model accepts them and Anthropic's placement
  rules allow, and are hoisted into ``system`` otherwise (docs/system-messages.md);
* assistant ``tool_calls`` become ``tool_use`` blocks with ids Anthropic accepts (P11);
* the tool messages answering them become ONE user message that starts with the ``tool_result``
  blocks in the assistant's call order, followed by any user content that comes next (P10);
* consecutive messages of one role are merged, and messages left without content are dropped (P9).
"""

import re
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, List, Optional

from ..errors import InvalidRequestError, UnsupportedFeatureError
from ..json_budget import JsonBudget
from .openai_content_to_anthropic import ASSISTANT_PARTS, TEXT_PARTS, USER_PARTS, content_blocks
from .request_checks import add_note, decode_json_object, describe, expect_list, expect_object, expect_str
from .system_placement import place_anthropic_system_messages

__all__ = ["MISSING_TOOL_RESULT_TEXT", "TranslatedMessages", "openai_messages_to_anthropic"]

Block = Dict[str, Any]

# Anthropic tool ids must match this (400 "String should match pattern" otherwise,
# docs/protocol-rules.md#tool-ids).
_ILLEGAL_TOOL_ID_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
# Sent as an is_error tool_result for a call the client never answered: every tool_use must have
# its tool_result in the next message, or Anthropic rejects the whole request (P10). Synthesizing
# keeps the conversation usable and tells the model plainly why (docs/protocol-rules.md#tool-results).
MISSING_TOOL_RESULT_TEXT = "No result was provided for this tool call: the client's history did not include one."
_REASONING_FIELDS = ("reasoning_content", "reasoning")
_ROLES = ("system", "developer", "user", "assistant", "tool")
_HOISTED_NOTE = "hoisted mid-conversation system messages into 'system' (the model takes them there)"


@dataclass
class TranslatedMessages:
    """The Anthropic side of a conversation."""

    system: Optional[str]
    messages: List[Block]
    # The last assistant message made tool calls: the request continues a tool loop
    # (docs/protocol-rules.md#thinking-round-trips).
    last_assistant_called_tools: bool


def openai_messages_to_anthropic(
    messages: Any, notes: List[str], json_budget: JsonBudget, keep_system_in_place: bool = False
) -> TranslatedMessages:
    """Translate an OpenAI ``messages`` array; notes about dropped fields are appended to ``notes``.
    Tool calls' arguments are parsed from ``json_budget``. ``keep_system_in_place``: the upstream
    model accepts mid-conversation system messages."""
    builder = _ConversationBuilder(notes, json_budget, keep_system_in_place)
    for index, message in enumerate(expect_list(messages, "messages")):
        param = f"messages[{index}]"
        builder.add(expect_object(message, param), param)
    return builder.finish()


@dataclass
class _ToolCall:
    """One assistant tool call, and the tool message answering it once one arrives."""

    client_id: str
    anthropic_id: str
    name: str
    arguments: Dict[str, Any]
    result: Optional[Block] = None

    def use_block(self) -> Block:
        return {"type": "tool_use", "id": self.anthropic_id, "name": self.name, "input": self.arguments}

    def result_block(self, notes: List[str]) -> Block:
        if self.result is not None:
            return self.result
        missing = f"synthesized an is_error tool_result for tool call {self.client_id!r}, which had no tool message"
        add_note(notes, missing)
        return {
            "type": "tool_result",
            "tool_use_id": self.anthropic_id,
            "is_error": True,
            "content": [{"type": "text", "text": MISSING_TOOL_RESULT_TEXT}],
        }


class _ToolIdAllocator:
    """P11: ids must match ``^[a-zA-Z0-9_-]+$`` and be unique within the request. Every assistant
    tool call gets its own id derived only from the history (the same history always yields the
    same ids), and the tool message answering that call reuses exactly that id."""

    def __init__(self, notes: List[str]) -> None:
        self._notes = notes
        self._used: Dict[str, None] = {}
        self._next_suffix: Dict[str, int] = {}

    def allocate(self, client_id: str) -> str:
        base = _ILLEGAL_TOOL_ID_CHARS.sub("_", client_id) or "toolu"
        candidate = base
        while candidate in self._used:
            suffix = self._next_suffix.get(base, 2)
            self._next_suffix[base] = suffix + 1
            candidate = f"{base}_{suffix}"
        self._used[candidate] = None
        if candidate != client_id:
            add_note(self._notes, "rewrote tool call ids Anthropic would reject (illegal characters or duplicates)")
        return candidate


class _ConversationBuilder:
    def __init__(self, notes: List[str], json_budget: JsonBudget, keep_system_in_place: bool) -> None:
        self._notes = notes
        self._json_budget = json_budget
        self._keep_system_in_place = keep_system_in_place
        self._system: List[str] = []
        self._messages: List[Block] = []
        self._system_after_tool_results: List[Block] = []  # met inside a run of tool messages
        self._pending: List[_ToolCall] = []  # calls of the latest assistant message, awaiting results
        # The same calls by client id, each id's not yet answered first: a tool message finds its call
        # in one lookup however many the message made (docs/proxy-limits.md#translation-work).
        self._unanswered: Dict[str, Deque[_ToolCall]] = {}
        self._tool_ids = _ToolIdAllocator(notes)
        self._last_assistant_called_tools = False

    def add(self, message: Dict[str, Any], param: str) -> None:
        role = message.get("role")
        if role == "function":
            raise UnsupportedFeatureError(
                f"'{param}.role': legacy 'function' messages are not supported; use 'tool' messages",
                param=f"{param}.role",
            )
        handler = _ROLE_HANDLERS.get(role) if isinstance(role, str) else None
        if handler is None:
            raise InvalidRequestError(
                f"'{param}.role' must be one of {', '.join(_ROLES)}; got {describe(role)}", param=f"{param}.role"
            )
        if message.get("name") is not None:
            add_note(self._notes, "dropped 'name' on messages: Anthropic messages carry no author name")
        handler(self, message, param)

    def finish(self) -> TranslatedMessages:
        self._flush_tool_results()
        self._place_system_messages()
        _strip_prefill_trailing_whitespace(self._messages)
        if not self._messages:
            raise InvalidRequestError(
                "'messages' must contain at least one user or assistant message with content "
                "(system and developer messages become Anthropic's separate 'system' field)",
                param="messages",
            )
        return TranslatedMessages("\n".join(self._system) or None, self._messages, self._last_assistant_called_tools)

    def _add_system(self, message: Dict[str, Any], param: str) -> None:
        """Leading ones (and all of them, for a model that takes them only there) go to ``system``
        (P22, docs/protocol-rules.md#system-messages). A later one stays in place; inside a run of
        tool messages it waits until the run's tool results are written, which it must not
        interrupt (docs/system-messages.md)."""
        blocks = content_blocks(message.get("content"), f"{param}.content", TEXT_PARTS)
        if not self._messages or not self._keep_system_in_place:
            if self._messages:
                add_note(self._notes, _HOISTED_NOTE)
            self._system.extend(block["text"] for block in blocks)
        elif self._pending:
            self._system_after_tool_results.extend(blocks)
        else:
            self._append("system", blocks)

    def _place_system_messages(self) -> None:
        """Hoist the kept system messages that Anthropic's placement rules do not allow where they stand."""
        if not self._keep_system_in_place:
            return
        self._messages, hoisted = place_anthropic_system_messages(self._messages)
        if hoisted:
            add_note(self._notes, "hoisted system messages Anthropic does not accept at their position into 'system'")
            self._system.extend(hoisted)

    def _add_user(self, message: Dict[str, Any], param: str) -> None:
        self._flush_tool_results()
        self._append("user", content_blocks(message.get("content"), f"{param}.content", USER_PARTS))

    def _add_assistant(self, message: Dict[str, Any], param: str) -> None:
        self._flush_tool_results()
        self._note_dropped_reasoning(message)
        if message.get("function_call") is not None:
            raise UnsupportedFeatureError(
                f"'{param}.function_call': legacy function calls are not supported; use 'tool_calls'",
                param=f"{param}.function_call",
            )
        content = message.get("content")
        text = [] if content is None else content_blocks(content, f"{param}.content", ASSISTANT_PARTS)
        calls = self._tool_calls(message.get("tool_calls"), f"{param}.tool_calls")
        self._last_assistant_called_tools = bool(calls)
        self._pending = calls
        self._unanswered = {}
        for call in calls:
            self._unanswered.setdefault(call.client_id, deque()).append(call)
        self._append("assistant", text + [call.use_block() for call in calls])

    def _add_tool(self, message: Dict[str, Any], param: str) -> None:
        id_param = f"{param}.tool_call_id"
        client_id = expect_str(message.get("tool_call_id"), id_param)
        content = content_blocks(message.get("content"), f"{param}.content", TEXT_PARTS)
        call = self._open_call(client_id, id_param)
        call.result = {"type": "tool_result", "tool_use_id": call.anthropic_id}
        if content:  # an empty result is sent without content rather than with an empty text block (P9)
            call.result["content"] = content

    def _open_call(self, client_id: str, param: str) -> _ToolCall:
        """The first unanswered call of the latest assistant message with this id, now taken as answered."""
        unanswered = self._unanswered.get(client_id)
        if unanswered:
            return unanswered.popleft()
        if unanswered is not None:  # the id is the message's, and every call with it has its answer
            raise InvalidRequestError(f"'{param}': tool call {client_id!r} is answered more than once", param=param)
        raise InvalidRequestError(
            f"'{param}': {client_id!r} is not a tool call of the assistant message just before it "
            "(tool messages must directly follow the assistant message whose tool_calls they answer)",
            param=param,
        )

    def _tool_calls(self, raw: Any, param: str) -> List[_ToolCall]:
        if raw is None:
            return []
        return [self._tool_call(call, f"{param}[{index}]") for index, call in enumerate(expect_list(raw, param))]

    def _tool_call(self, raw: Any, param: str) -> _ToolCall:
        call = expect_object(raw, param)
        if call.get("type") not in (None, "function"):
            raise UnsupportedFeatureError(
                f"'{param}.type': only 'function' tool calls can be sent to an Anthropic backend",
                param=f"{param}.type",
            )
        client_id = expect_str(call.get("id"), f"{param}.id")
        function = expect_object(call.get("function"), f"{param}.function")
        name = expect_str(function.get("name"), f"{param}.function.name", non_empty=True)
        arguments = self._arguments(function.get("arguments"), f"{param}.function.arguments")
        return _ToolCall(client_id, self._tool_ids.allocate(client_id), name, arguments)

    def _arguments(self, raw: Any, param: str) -> Dict[str, Any]:
        """``input`` must be an object: JSON text is decoded; "" (a no-argument call, P6) is ``{}``."""
        if raw is None or raw == "":
            return {}
        if isinstance(raw, dict):  # not the spec'd shape (a JSON string), but unambiguous
            return raw
        decoded = decode_json_object(expect_str(raw, param), self._json_budget, param)
        if decoded is None:
            add_note(self._notes, "replaced tool call arguments that are not a JSON object with {}")
            return {}
        return decoded

    def _note_dropped_reasoning(self, message: Dict[str, Any]) -> None:
        # P13: a thinking block needs a genuine Anthropic signature, which OpenAI clients never keep.
        for key in _REASONING_FIELDS:
            if message.get(key):
                note = f"dropped '{key}' on assistant messages: replayed thinking needs an Anthropic signature"
                add_note(self._notes, note)

    def _flush_tool_results(self) -> None:
        if self._pending:
            self._append("user", [call.result_block(self._notes) for call in self._pending])
            self._pending, self._unanswered = [], {}
        if self._system_after_tool_results:
            self._append("system", self._system_after_tool_results)
            self._system_after_tool_results = []

    def _append(self, role: str, blocks: List[Block]) -> None:
        """Add a message, merged into the previous one when the role repeats
        (docs/protocol-rules.md#consecutive-roles)."""
        if not blocks:
            add_note(self._notes, "dropped messages left without content (Anthropic rejects empty text blocks)")
            return
        if self._messages and self._messages[-1]["role"] == role:
            self._messages[-1]["content"].extend(blocks)
        else:
            self._messages.append({"role": role, "content": blocks})


# A message's role → how the builder takes it, as functions of the class: a table of an instance's
# bound methods would make every builder a reference cycle (docs/proxy-limits.md#no-cycles-per-call).
_ROLE_HANDLERS: Dict[str, Callable[[_ConversationBuilder, Dict[str, Any], str], None]] = {
    "system": _ConversationBuilder._add_system,
    "developer": _ConversationBuilder._add_system,
    "user": _ConversationBuilder._add_user,
    "assistant": _ConversationBuilder._add_assistant,
    "tool": _ConversationBuilder._add_tool,
}


def _strip_prefill_trailing_whitespace(messages: List[Block]) -> None:
    """A final assistant message is a prefill, and Anthropic answers 400 "final assistant content
    cannot end with trailing whitespace" to one that does."""
    if not messages or messages[-1]["role"] != "assistant":
        return
    last = messages[-1]["content"][-1]
    if last["type"] == "text":
        last["text"] = last["text"].rstrip()
