"""A :class:`Reply` in the OpenAI Responses wire format (POST /v1/responses).

Shapes follow OpenAI's API reference and streaming-events pages and the openai SDK's types
(``types/responses/``): a stream is ``event: <type>`` + ``data: {"type", "sequence_number", …}``
events numbered from 0 — ``response.created``, ``response.in_progress``, then per output item
``output_item.added``, its parts and deltas, ``output_item.done`` — and ``response.completed``
(``response.incomplete`` when the output limit was hit) carrying the whole Response with its
usage. There is no ``[DONE]``. Items come in the order a model produces them: a ``reasoning`` item
(summary from ``reply.thinking``; ``encrypted_content`` when the request asked for it with
``include``), a ``message`` item, then one ``function_call`` item per tool call. A reply that
fails mid-stream ends with ``response.failed``, as OpenAI reports a generation that broke off.
"""

import json
from typing import Any, Dict, List, Tuple

from .reply import Reply, split_fragments
from .wire_openai import openai_error_body

__all__ = ["ResponsesWire"]

Event = Tuple[str, Dict[str, Any]]
_DEFAULTS: Dict[str, Any] = {
    "instructions": None, "max_output_tokens": None, "parallel_tool_calls": True, "previous_response_id": None,
    "reasoning": {"effort": None, "summary": None}, "store": True, "temperature": 1.0,
    "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [], "top_p": 1.0, "truncation": "disabled",
    "user": None, "metadata": {},
}
CREATED_AT = 1_770_000_000


def _dumps(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"))


# Codes of a failed Response's error (the API reference's ResponseError) for the statuses they stand for.
_FAILED_CODES = {400: "invalid_prompt", 429: "rate_limit_exceeded"}


class ResponsesWire:
    """Renders one reply for one Responses request; ``serial`` makes ids unique per call."""

    protocol = "responses"

    def __init__(self, reply: Reply, model: str, serial: int, request: Dict[str, Any]) -> None:
        self.reply = reply
        self.model = reply.model or model
        self.serial = serial
        self.response_id = reply.response_id or f"resp_Fake{serial:06d}"
        self.request = request
        include = request.get("include")
        self.encrypted = isinstance(include, list) and "reasoning.encrypted_content" in include

    def tool_id(self, position: int) -> str:
        call = self.reply.tool_calls[position]
        return call.id or f"call_Fake{self.serial:04d}x{position}"

    def usage(self) -> Dict[str, Any]:
        usage = self.reply.usage
        return {
            "input_tokens": usage.prompt_tokens,
            "input_tokens_details": {"cached_tokens": usage.cache_read, "cache_write_tokens": usage.cache_write},
            "output_tokens": usage.output,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning},
            "total_tokens": usage.prompt_tokens + usage.output,
        }

    # Whole response --------------------------------------------------------------------------
    def body(self) -> Dict[str, Any]:
        if self.reply.opening_error is not None:
            return self._failed(self.reply.opening_error)
        return self.response(self._status(), self._items(), self.usage())

    def _failed(self, status: int) -> Dict[str, Any]:
        """A failed Response standing for ``status``."""
        code = _FAILED_CODES.get(status, "server_error")  # a Response's error has a code, not a status
        return {**self.response("failed", [], None),
                "error": {"code": code, "message": openai_error_body(status)["error"]["message"]}}

    def response(self, status: str, output: List[Dict[str, Any]], usage: Any) -> Dict[str, Any]:
        echoed = {key: self.request.get(key, default) for key, default in _DEFAULTS.items()}
        incomplete = {"reason": "max_output_tokens"} if status == "incomplete" else None
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": CREATED_AT,
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": incomplete,
            "model": self.model,
            "output": output,
            "service_tier": "default",
            "usage": usage,
            **echoed,
        }

    def _status(self) -> str:
        return "incomplete" if self.reply.stop_kind == "max_tokens" else "completed"

    def _items(self) -> List[Dict[str, Any]]:
        items: List[Dict[str, Any]] = []
        if self.reply.thinking is not None:
            items.append(self._reasoning(self.reply.thinking))
        if self.reply.text:
            items.append(self._message(self.reply.text, "completed"))
        for position in range(len(self.reply.tool_calls)):
            items.append(self._call(position, json.dumps(self.reply.tool_calls[position].arguments), "completed"))
        return items

    def _reasoning(self, text: str) -> Dict[str, Any]:
        item: Dict[str, Any] = {"id": f"rs_Fake{self.serial:06d}", "type": "reasoning",
                                "summary": [{"type": "summary_text", "text": text}] if text else []}
        if self.encrypted:
            item["encrypted_content"] = f"gAAAAABFakeEncryptedReasoning{self.serial:06d}=="
        return item

    def _message(self, text: str, status: str) -> Dict[str, Any]:
        content = [self._text_part(text)] if status == "completed" else []
        return {"id": f"msg_Fake{self.serial:06d}", "type": "message", "status": status, "content": content,
                "role": "assistant"}

    @staticmethod
    def _text_part(text: str) -> Dict[str, Any]:
        return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}

    def _call(self, position: int, arguments: str, status: str) -> Dict[str, Any]:
        call = self.reply.tool_calls[position]
        return {"id": f"fc_Fake{self.serial:04d}x{position}", "type": "function_call", "status": status,
                "arguments": arguments, "call_id": self.tool_id(position), "name": call.name}

    # Streaming -------------------------------------------------------------------------------
    def stream_events(self) -> List[bytes]:
        """Every SSE event as the bytes the provider writes."""
        events = self._events()
        return [f"event: {kind}\ndata: {_dumps({'type': kind, 'sequence_number': n, **fields})}\n\n".encode()
                for n, (kind, fields) in enumerate(events)]

    def _events(self) -> List[Event]:
        started = self.response("in_progress", [], None)
        events: List[Event] = [("response.created", {"response": started}),
                               ("response.in_progress", {"response": started})]
        if self.reply.opening_error is not None:
            return [*events, ("response.failed", {"response": self._failed(self.reply.opening_error)})]
        groups = self._item_groups()
        if self.reply.fail_midstream:  # broken off inside the first item, after its first delta
            failed = {**self.response("failed", [], None),
                      "error": {"code": "server_error", "message": "An error occurred while processing your request."}}
            return events + (groups[0][:3] if groups else []) + [("response.failed", {"response": failed})]
        for group in groups:
            events.extend(group)
        final = self.response(self._status(), self._items(), self.usage())
        terminal = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
        events.append((terminal, {"response": final}))
        return events

    def _item_groups(self) -> List[List[Event]]:
        groups: List[List[Event]] = []
        if self.reply.thinking is not None:
            groups.append(self._reasoning_events(len(groups), self.reply.thinking))
        if self.reply.text:
            groups.append(self._message_events(len(groups), self.reply.text))
        for position in range(len(self.reply.tool_calls)):
            groups.append(self._call_events(len(groups), position))
        return groups

    def _reasoning_events(self, index: int, text: str) -> List[Event]:
        item = self._reasoning(text)
        head = {"item_id": item["id"], "output_index": index, "summary_index": 0}
        added = {**item, "summary": []}
        events: List[Event] = [("response.output_item.added", {"output_index": index, "item": added}),
                               ("response.reasoning_summary_part.added",
                                {**head, "part": {"type": "summary_text", "text": ""}})]
        events += [("response.reasoning_summary_text.delta", {**head, "delta": piece, "obfuscation": "x"})
                   for piece in split_fragments(text)]
        events += [("response.reasoning_summary_text.done", {**head, "text": text}),
                   ("response.reasoning_summary_part.done", {**head, "part": {"type": "summary_text", "text": text}}),
                   ("response.output_item.done", {"output_index": index, "item": item})]
        return events

    def _message_events(self, index: int, text: str) -> List[Event]:
        item_id = f"msg_Fake{self.serial:06d}"
        head = {"item_id": item_id, "output_index": index, "content_index": 0}
        events: List[Event] = [
            ("response.output_item.added", {"output_index": index, "item": self._message(text, "in_progress")}),
            ("response.content_part.added", {**head, "part": self._text_part("")}),
        ]
        events += [("response.output_text.delta", {**head, "delta": piece, "logprobs": [], "obfuscation": "x"})
                   for piece in split_fragments(text)]
        events += [("response.output_text.done", {**head, "text": text, "logprobs": []}),
                   ("response.content_part.done", {**head, "part": self._text_part(text)}),
                   ("response.output_item.done", {"output_index": index, "item": self._message(text, "completed")})]
        return events

    def _call_events(self, index: int, position: int) -> List[Event]:
        arguments = json.dumps(self.reply.tool_calls[position].arguments)
        item_id = f"fc_Fake{self.serial:04d}x{position}"
        head = {"item_id": item_id, "output_index": index}
        events: List[Event] = [("response.output_item.added",
                                {"output_index": index, "item": self._call(position, "", "in_progress")})]
        events += [("response.function_call_arguments.delta", {**head, "delta": piece, "obfuscation": "x"})
                   for piece in split_fragments(arguments)]
        name = self.reply.tool_calls[position].name
        events += [("response.function_call_arguments.done", {**head, "arguments": arguments, "name": name}),
                   ("response.output_item.done", {"output_index": index,
                                                  "item": self._call(position, arguments, "completed")})]
        return events
