"""Same-protocol streams: forward the upstream bytes unchanged, only watching them for usage.

DESIGN.md "same-protocol fast path": when client and backend speak the same protocol the bytes
go through untouched. The scan decodes SSE beside the forwarding, and parses an event's JSON only
when it can carry usage or an error, so the hot path stays a dictionary-free byte copy.
"""

import json
from typing import Any, Dict, Optional

from ..errors import RouterError, error_from_stream_payload
from ..protocols import ANTHROPIC
from ..sse import SSEEvent
from ..usage import usage_from_anthropic, usage_from_openai
from .stream_base import StreamTranslator, render_stream_error

__all__ = ["PassthroughStream"]

_ANTHROPIC_USAGE_EVENTS = ("message_start", "message_delta", "error")


class PassthroughStream(StreamTranslator):
    def __init__(self, protocol: str) -> None:
        super().__init__()
        self._protocol = protocol

    def feed(self, chunk: bytes) -> bytes:
        if self.finished:
            return b""
        try:
            for event in self._decoder.feed(chunk):
                self._on_event(event)
        except RouterError:
            pass  # observation only: the client still gets the upstream bytes as they are
        return chunk

    def close(self) -> bytes:
        if not self.finished:
            try:
                for event in self._decoder.close():
                    self._on_event(event)
            except RouterError:
                pass
        self.finished = True
        return b""

    def _on_event(self, event: SSEEvent) -> bytes:
        if self._protocol == ANTHROPIC:
            self._watch_anthropic(event)
        else:
            self._watch_openai(event)
        return b""

    def _watch_anthropic(self, event: SSEEvent) -> None:
        if event.event == "message_stop":
            self._end_seen = True
            return
        if event.event not in _ANTHROPIC_USAGE_EVENTS:
            return
        payload = _loads(event.data)
        if payload is None:
            return
        if event.event == "error":
            self.error = error_from_stream_payload(ANTHROPIC, payload)
            return
        holder = payload.get("message") if event.event == "message_start" else payload
        usage = holder.get("usage") if isinstance(holder, dict) else None
        if isinstance(usage, dict):
            self.usage = usage_from_anthropic(usage, self.usage)
        if event.event == "message_delta" and _has_stop_reason(payload):
            # The last message_delta carries the final stop reason and cumulative usage; only
            # message_stop follows, and some clients (LiteLLM's async parser) never read it.
            self._end_seen = True

    def _watch_openai(self, event: SSEEvent) -> None:
        data = event.data
        if data.startswith("[DONE]"):  # the OpenAI SDK stops reading here
            self._end_seen = True
            return
        if '"usage"' not in data and '"error"' not in data:
            return
        payload = _loads(data)
        if payload is None:
            return
        if payload.get("error"):
            self.error = error_from_stream_payload(self._protocol, payload)
        usage = payload.get("usage")
        if isinstance(usage, dict):
            self.usage = usage_from_openai(usage)

    def _on_eof(self) -> bytes:
        return b""

    def _render_error(self, error: RouterError) -> bytes:
        return render_stream_error(self._protocol, error)


def _has_stop_reason(payload: Dict[str, Any]) -> bool:
    delta = payload.get("delta")
    return isinstance(delta, dict) and delta.get("stop_reason") is not None


def _loads(data: str) -> Optional[Dict[str, Any]]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
