"""A Responses request's ``instructions`` and ``input`` items → Chat Completions ``messages``.

The item list is a conversation in order (docs/responses-api.md, "Translation: Responses client →
Chat backend"); the shape changes, the order does not:

* ``message`` items (``type`` may be omitted) become messages of the same role at the same place —
  a system or developer item in the middle stays in the middle (Chat accepts system messages
  anywhere; ``developer`` is written ``system``, which every Chat server knows);
* ``function_call`` / ``custom_tool_call`` items join the assistant message just before them as
  ``tool_calls`` (or start one), under the flat names the tools got (:class:`ToolFlattener`);
* ``function_call_output`` / ``custom_tool_call_output`` become ``tool`` messages; images and
  files in an output move to a ``user`` message after the run of tool messages, since Chat tool
  messages carry text only;
* ``reasoning`` items: their summary becomes the next assistant message's ``reasoning_content``
  when the backend takes reasoning back; ``encrypted_content`` belongs to the backend family that
  made it and is dropped with a note;
* calls of OpenAI's built-in tools in the history are dropped with a note (they ran at OpenAI; the
  answer that followed stays); ``item_reference`` and unknown types are a 400 naming the type.
"""

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List

from ..errors import InvalidRequestError, UnsupportedFeatureError
from .request_checks import add_note, describe, expect_list, expect_object, expect_str
from .responses_tools_to_chat import CUSTOM_INPUT, ToolFlattener, is_builtin_tool

__all__ = ["TEXT_JOINER", "responses_input_to_chat"]

Message = Dict[str, Any]
Part = Dict[str, Any]

TEXT_JOINER = "\n"
_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
ENCRYPTED_NOTE = "dropped reasoning encrypted_content: it can only go back to the backend that produced it"


@dataclass
class _Conversion:
    tools: ToolFlattener
    notes: List[str]
    replay_reasoning: bool
    messages: List[Message] = field(default_factory=list)
    reasoning: List[str] = field(default_factory=list)  # summaries waiting for the next assistant message
    moved: List[Part] = field(default_factory=list)  # tool-output images waiting for the tool run to end
    assistant_open: bool = False  # the last message is an assistant message calls may join

    def note(self, text: str) -> None:
        add_note(self.notes, text)

    def append(self, message: Message) -> None:
        if message.get("role") != "tool":
            self.flush_moved()
        self.messages.append(message)
        self.assistant_open = message.get("role") == "assistant"

    def flush_moved(self) -> None:
        if self.moved:
            parts, self.moved = self.moved, []
            self.messages.append({"role": "user", "content": parts})
            self.assistant_open = False

    def assistant(self) -> Message:
        """The assistant message calls join: the last one if nothing came after it, else a new one."""
        if not self.assistant_open:
            self.append(self._with_reasoning({"role": "assistant", "content": None}))
        return self.messages[-1]

    def _with_reasoning(self, message: Message) -> Message:
        if self.reasoning and self.replay_reasoning:
            message["reasoning_content"] = "\n\n".join(self.reasoning)
        self.reasoning = []
        return message


def responses_input_to_chat(
    instructions: Any, items: List[Any], tools: ToolFlattener, notes: List[str], replay_reasoning: bool
) -> List[Message]:
    """Chat messages for ``instructions`` and the (already expanded) input ``items``."""
    conversion = _Conversion(tools, notes, replay_reasoning)
    if instructions is not None and expect_str(instructions, "instructions"):
        conversion.append({"role": "system", "content": instructions})
    for index, item in enumerate(items):
        param = f"input[{index}]"
        _ITEMS.get(_item_type(item, param), _other_item)(item, param, conversion)
    conversion.flush_moved()
    return conversion.messages


def _item_type(item: Any, param: str) -> str:
    expect_object(item, param)
    kind = item.get("type")
    if kind is None and "role" in item:
        return "message"  # an easy input message: {"role": …, "content": …}
    return expect_str(kind, f"{param}.type", non_empty=True)


# --- messages ------------------------------------------------------------------------------------

def _message(item: Dict[str, Any], param: str, conversion: _Conversion) -> None:
    role = item.get("role")
    chat_role = _ROLES.get(role) if isinstance(role, str) else None
    if chat_role is None:
        raise InvalidRequestError(
            f"'{param}.role' must be one of user, assistant, system, developer; got {describe(role)}",
            param=f"{param}.role",
        )
    content = _content(item.get("content"), f"{param}.content", chat_role)
    if chat_role == "assistant":
        conversion.append(conversion._with_reasoning({"role": "assistant", "content": content or None}))
    elif content or chat_role == "user":
        conversion.append({"role": chat_role, "content": content})


def _content(raw: Any, param: str, role: str) -> Any:
    """A string, or for user messages with images/files a part list; text parts joined otherwise."""
    if isinstance(raw, str):
        return raw
    parts = [_part(part, f"{param}[{index}]", role) for index, part in enumerate(expect_list(raw, param))]
    if all(part["type"] == "text" for part in parts):
        return TEXT_JOINER.join(part["text"] for part in parts)
    return parts


def _part(part: Any, param: str, role: str) -> Part:
    kind = expect_str(expect_object(part, param).get("type"), f"{param}.type", non_empty=True)
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": expect_str(part.get("text"), f"{param}.text")}
    if kind == "refusal":  # an earlier refusal in the history: its words are text
        return {"type": "text", "text": expect_str(part.get("refusal"), f"{param}.refusal")}
    if role == "user" and kind == "input_image":
        return _image(part, param)
    if role == "user" and kind == "input_file":
        return _file(part, param)
    if kind in ("input_image", "input_file"):
        raise InvalidRequestError(f"'{param}': {role} messages carry text only, not {kind}", param=param)
    raise InvalidRequestError(f"'{param}.type' {describe(kind)} is not a content part type", param=f"{param}.type")


def _image(part: Dict[str, Any], param: str) -> Part:
    url = part.get("image_url")
    if url is None:
        _reject_file_id(part, param, "image")
    image: Dict[str, Any] = {"url": expect_str(url, f"{param}.image_url", non_empty=True)}
    if part.get("detail") is not None:
        image["detail"] = expect_str(part["detail"], f"{param}.detail")
    return {"type": "image_url", "image_url": image}


def _file(part: Dict[str, Any], param: str) -> Part:
    data = part.get("file_data")
    if data is None:
        if part.get("file_url") is not None:
            raise UnsupportedFeatureError(
                f"'{param}.file_url': only OpenAI fetches files by URL; send the file as file_data",
                param=f"{param}.file_url",
            )
        _reject_file_id(part, param, "file")
    file: Dict[str, Any] = {"file_data": expect_str(data, f"{param}.file_data", non_empty=True)}
    if part.get("filename") is not None:
        file["filename"] = expect_str(part["filename"], f"{param}.filename")
    return {"type": "file", "file": file}


def _reject_file_id(part: Dict[str, Any], param: str, what: str) -> None:
    if part.get("file_id") is not None:
        raise UnsupportedFeatureError(
            f"'{param}.file_id': files uploaded to OpenAI exist only there; send the {what} inline",
            param=f"{param}.file_id",
        )
    raise InvalidRequestError(f"'{param}' has no {what} data", param=param)


# --- calls and their outputs ------------------------------------------------------------------------

def _function_call(item: Dict[str, Any], param: str, conversion: _Conversion) -> None:
    arguments = item.get("arguments")
    _add_call(item, param, conversion, "" if arguments is None else expect_str(arguments, f"{param}.arguments"))


def _custom_tool_call(item: Dict[str, Any], param: str, conversion: _Conversion) -> None:
    text = expect_str(item.get("input"), f"{param}.input")
    _add_call(item, param, conversion, json.dumps({CUSTOM_INPUT: text}), custom=True)


def _add_call(item: Dict[str, Any], param: str, conversion: _Conversion, arguments: str, custom: bool = False) -> None:
    call_id = expect_str(item.get("call_id"), f"{param}.call_id", non_empty=True)
    name = expect_str(item.get("name"), f"{param}.name", non_empty=True)
    namespace = item.get("namespace")
    if namespace is not None:
        namespace = expect_str(namespace, f"{param}.namespace")
    flat = conversion.tools.flat(namespace, name, custom)
    call = {"id": call_id, "type": "function", "function": {"name": flat, "arguments": arguments or "{}"}}
    conversion.assistant().setdefault("tool_calls", []).append(call)


def _call_output(item: Dict[str, Any], param: str, conversion: _Conversion) -> None:
    call_id = expect_str(item.get("call_id"), f"{param}.call_id", non_empty=True)
    text = _output_text(item.get("output"), f"{param}.output", call_id, conversion)
    conversion.append({"role": "tool", "tool_call_id": call_id, "content": text})


def _output_text(raw: Any, param: str, call_id: str, conversion: _Conversion) -> str:
    """The text of a tool output; its images and files go to ``conversion.moved`` (introduced by a
    line naming the call, so the model knows where they came from)."""
    if isinstance(raw, str):
        return raw
    texts: List[str] = []
    moved: List[Part] = []
    for index, part in enumerate(expect_list(raw, param)):
        converted = _part(part, f"{param}[{index}]", "user")
        if converted["type"] == "text":
            texts.append(converted["text"])
        else:
            moved.append(converted)
    if moved:
        conversion.moved.append({"type": "text", "text": f"Content returned by tool call {call_id}:"})
        conversion.moved.extend(moved)
    return TEXT_JOINER.join(texts)


def _reasoning(item: Dict[str, Any], param: str, conversion: _Conversion) -> None:
    if item.get("encrypted_content") is not None:
        conversion.note(ENCRYPTED_NOTE)
    summary = item.get("summary")
    texts = []
    for index, part in enumerate([] if summary is None else expect_list(summary, f"{param}.summary")):
        text = expect_object(part, f"{param}.summary[{index}]").get("text")
        texts.append(expect_str(text, f"{param}.summary[{index}].text"))
    joined = "\n\n".join(text for text in texts if text)
    if joined:
        conversion.reasoning.append(joined)


def _other_item(item: Dict[str, Any], param: str, conversion: _Conversion) -> None:
    kind = str(item.get("type"))
    if kind == "item_reference":
        raise UnsupportedFeatureError(
            f"'{param}' is an item_reference: referenced items are kept by OpenAI only; send the item itself",
            param=param,
        )
    if is_builtin_tool(kind):  # web_search_call, mcp_list_tools… (SDK response_input_item_param.py)
        conversion.note(f"dropped {kind} items from the history: that tool runs only on OpenAI's servers")
        return
    if kind == "compaction":  # Codex's server-side compaction: encrypted, readable by OpenAI only
        conversion.note("dropped a compaction item: only OpenAI can read the conversation it stands for")
        return
    raise InvalidRequestError(f"'{param}.type' {describe(kind)} is not an input item type the router knows",
                              param=f"{param}.type")


_ItemHandler = Callable[[Dict[str, Any], str, _Conversion], None]
_ITEMS: Dict[str, _ItemHandler] = {
    "message": _message,
    "function_call": _function_call,
    "custom_tool_call": _custom_tool_call,
    "function_call_output": _call_output,
    "custom_tool_call_output": _call_output,
    "reasoning": _reasoning,
}
