"""A checker for OpenAI Responses SSE streams, as a client would receive them.

docs/responses-api.md#stream-grammar gives the grammar and what the openai SDK's
``responses.stream()`` helper needs. :func:`check_responses_stream` asserts all of it — and more
than the SDK checks (it does not look at sequence numbers, nor at an item's events after its
``done``) — and returns the parsed stream::

    stream = check_responses_stream(raw)
    assert stream.final["status"] == "completed"
"""

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

__all__ = ["ResponsesStream", "check_responses_stream"]

TERMINALS = ("response.completed", "response.incomplete", "response.failed")
LIFECYCLE = ("response.created", "response.in_progress", "response.queued")
_ERROR_KEYS = {"type", "sequence_number", "code", "message", "param"}
# Content events, the item type they belong to, and whether they name a content/summary index.
_CONTENT_EVENTS = {
    "response.content_part.added": ("message", "content_index"),
    "response.content_part.done": ("message", "content_index"),
    "response.output_text.delta": ("message", "content_index"),
    "response.output_text.done": ("message", "content_index"),
    "response.refusal.delta": ("message", "content_index"),
    "response.refusal.done": ("message", "content_index"),
    "response.function_call_arguments.delta": ("function_call", None),
    "response.function_call_arguments.done": ("function_call", None),
    "response.custom_tool_call_input.delta": ("custom_tool_call", None),
    "response.custom_tool_call_input.done": ("custom_tool_call", None),
    "response.reasoning_summary_part.added": ("reasoning", "summary_index"),
    "response.reasoning_summary_part.done": ("reasoning", "summary_index"),
    "response.reasoning_summary_text.delta": ("reasoning", "summary_index"),
    "response.reasoning_summary_text.done": ("reasoning", "summary_index"),
}


@dataclass
class ResponsesStream:
    """The parsed stream: every event in order, how it ended, and the final Response."""

    events: List[Dict[str, Any]] = field(default_factory=list)
    final: Optional[Dict[str, Any]] = None  # the Response of the terminal event
    terminal: Optional[str] = None  # its type
    error: Optional[Dict[str, Any]] = None  # the in-band error event, if the stream ended so

    @property
    def types(self) -> List[str]:
        return [event["type"] for event in self.events]

    @property
    def text(self) -> str:
        return "".join(event["delta"] for event in self.events if event["type"] == "response.output_text.delta")


@dataclass
class _Item:
    type: str
    id: Optional[str]
    call_id: Optional[str]
    parts_open: Set[int] = field(default_factory=set)
    parts_done: Set[int] = field(default_factory=set)
    texts: Dict[int, str] = field(default_factory=dict)
    arguments: str = ""
    done: bool = False


def split_events(raw: bytes) -> List[Tuple[str, Dict[str, Any]]]:
    """(``event:`` name, parsed ``data:``) of each event; every event has both lines, in that order."""
    text = raw.decode("utf-8")
    assert text == "" or text.endswith("\n\n"), "every event must end with a blank line"
    parsed = []
    for block in (block for block in text.split("\n\n") if block):
        lines = block.split("\n")
        assert len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        parsed.append((lines[0][len("event: "):], json.loads(lines[1][len("data: "):])))
    return parsed


def check_responses_stream(raw: bytes) -> ResponsesStream:
    """Parse ``raw`` and assert the Responses stream grammar (module docstring)."""
    stream = ResponsesStream()
    parsed = split_events(raw)
    assert parsed, "an empty client stream: the SDK would see no response.created"
    for position, (name, event) in enumerate(parsed):
        assert event.get("type") == name, f"event: line {name!r} differs from the data's type {event.get('type')!r}"
        assert event.get("sequence_number") == position, f"sequence_number {event.get('sequence_number')} at {position}"
        stream.events.append(event)
    _check_order(stream)
    return stream


def _check_order(stream: ResponsesStream) -> None:
    events = stream.events
    assert events[0]["type"] == "response.created" or events[0]["type"] == "error", "response.created comes first"
    items: Dict[int, _Item] = {}
    response_id = None
    for position, event in enumerate(events):
        kind = event["type"]
        last = position == len(events) - 1
        if kind == "error":
            assert last, "an in-band error ends the stream: nothing may follow it"
            assert set(event) == _ERROR_KEYS, event
            assert isinstance(event["message"], str) and event["message"], event
            stream.error = event
        elif kind in LIFECYCLE or kind in TERMINALS:
            response_id = _check_lifecycle(event, response_id, items, last, stream)
        elif kind == "response.output_item.added":
            _item_added(event, items)
        elif kind == "response.output_item.done":
            _item_done(event, items)
        elif kind in _CONTENT_EVENTS:
            _content_event(event, items)
    if stream.error is None:
        assert stream.terminal is not None, "a stream that did not fail ends with a terminal response event"


def _check_lifecycle(
    event: Dict[str, Any], response_id: Optional[str], items: Dict[int, _Item], last: bool, stream: ResponsesStream
) -> str:
    response = event["response"]
    assert response["object"] == "response" and isinstance(response["id"], str) and response["id"]
    assert response_id is None or response["id"] == response_id, "the response id changed mid-stream"
    if event["type"] in LIFECYCLE:
        assert response["status"] in ("in_progress", "queued"), response["status"]
        return str(response["id"])
    assert last, f"{event['type']} must be the last event"
    stream.terminal, stream.final = event["type"], response
    expected = {"response.completed": "completed", "response.incomplete": "incomplete", "response.failed": "failed"}
    assert response["status"] == expected[event["type"]], response["status"]
    if event["type"] != "response.failed":  # a failed response may break off inside an item
        assert all(item.done for item in items.values()), "the response ended with an output item still open"
        _check_final_output(response["output"], items)
    return str(response["id"])


def _check_final_output(output: List[Dict[str, Any]], items: Dict[int, _Item]) -> None:
    """The terminal Response lists every item, in output order, with the ids the events used."""
    assert isinstance(output, list), "the final response carries its whole output"
    assert len(output) == len(items), f"{len(output)} final items for {len(items)} streamed ones"
    for index, final in enumerate(output):
        item = items[index]
        assert final["type"] == item.type and final.get("id") == item.id, f"output[{index}] identity changed"
        assert final.get("call_id") == item.call_id, f"output[{index}] call_id changed"
        if item.type == "function_call":
            assert final["arguments"] == item.arguments or not item.arguments, "arguments differ from the deltas"
        if item.type == "message":
            texts = [part.get("text", part.get("refusal")) for part in final["content"]]
            assert texts == [item.texts[i] for i in sorted(item.texts)], "message text differs from the deltas"


def _item_added(event: Dict[str, Any], items: Dict[int, _Item]) -> None:
    index = event["output_index"]
    assert index == len(items), f"output_index {index} is not the next one ({len(items)})"
    assert all(item.done for item in items.values()), "an item opened while another is still open"
    item = event["item"]
    assert isinstance(item.get("id"), str) and item["id"], item
    items[index] = _Item(item["type"], item.get("id"), item.get("call_id"))
    if item["type"] in ("function_call", "custom_tool_call"):
        assert isinstance(item["call_id"], str) and item["call_id"] and isinstance(item["name"], str) and item["name"]


def _item_done(event: Dict[str, Any], items: Dict[int, _Item]) -> None:
    index = event["output_index"]
    assert index in items and not items[index].done, f"output_item.done for {index} without its added"
    item, done = items[index], event["item"]
    assert done["type"] == item.type and done.get("id") == item.id and done.get("call_id") == item.call_id
    assert item.parts_open == item.parts_done, "an item ended with a content part still open"
    if item.type == "function_call":
        item.arguments = done["arguments"]
    item.done = True


def _content_event(event: Dict[str, Any], items: Dict[int, _Item]) -> None:
    kind = event["type"]
    index = event["output_index"]
    assert index in items and not items[index].done, f"{kind} for output {index}, which is not open"
    item = items[index]
    item_type, part_key = _CONTENT_EVENTS[kind]
    assert item.type == item_type, f"{kind} inside a {item.type} item"
    assert event["item_id"] == item.id, f"{kind} names item {event['item_id']!r}, not {item.id!r}"
    if part_key is None:
        _call_content(event, item)
        return
    part = event[part_key]
    if kind.endswith("part.added"):
        assert part not in item.parts_open and part == len(item.parts_open), f"part {part} added out of order"
        item.parts_open.add(part)
        item.texts[part] = ""
        return
    assert part in item.parts_open and part not in item.parts_done, f"{kind} for part {part}, which is not open"
    if kind.endswith(".delta"):
        item.texts[part] += event["delta"]
    elif kind.endswith("part.done"):
        item.parts_done.add(part)
    else:  # text.done / refusal.done / summary_text.done: the whole text
        whole = event.get("text", event.get("refusal"))
        assert whole == item.texts[part], f"{kind} text differs from its deltas"


def _call_content(event: Dict[str, Any], item: _Item) -> None:
    if event["type"].endswith(".delta"):
        item.arguments += event["delta"]
        return
    whole = event.get("arguments", event.get("input"))
    assert whole == item.arguments or item.type == "custom_tool_call", "arguments.done differs from its deltas"
