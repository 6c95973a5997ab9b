"""A strict checker for Anthropic Messages SSE streams (docs/protocol-rules.md#anthropic-stream,
docs/protocol-rules.md#sdk-conformance; P-numbers: docs/pitfalls.md).

The official SDK's accumulator is not an order validator (it raises only when the index
arithmetic breaks), so tests of anything that *emits* Anthropic streams run this too::

    from anthropic_stream_grammar import check_anthropic_stream
    summary = check_anthropic_stream(raw_bytes)       # AssertionError on any violation
    assert summary.error is None and summary.stop_reason == "end_turn"

Checked: SSE framing (every event is ``event:`` + one ``data:`` line + a blank line, including the
last one; ``event`` == ``data.type``, P1); the first non-ping event is the single ``message_start``
(P2); block indexes 0..n-1 in emission order, each start → deltas → stop, no interleaving, a delta
type matching its block, at most one ``signature_delta`` per thinking block and only right before
its stop; at least one ``message_delta`` with a non-null ``stop_reason`` and ``usage.output_tokens``;
the last event is ``message_stop``. An ``error`` event may end the stream at any point (then no
``message_stop`` follows, and the events before it must be a valid prefix).
"""

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

__all__ = ["StreamSummary", "check_anthropic_stream", "parse_anthropic_sse"]

# Delta types allowed in each block type (docs/protocol-rules.md#anthropic-stream).
_DELTAS_FOR_BLOCK = {
    "text": {"text_delta", "citations_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
    "tool_use": {"input_json_delta"},
    "server_tool_use": {"input_json_delta"},
    "redacted_thinking": set(),
}


@dataclass
class StreamSummary:
    """What a valid stream said, for the test's own assertions."""

    events: List[Dict[str, Any]] = field(default_factory=list)  # every data object, pings included
    block_types: List[str] = field(default_factory=list)
    stop_reason: Optional[str] = None
    error: Optional[Dict[str, Any]] = None  # the error event's data, when the stream ended in one


def parse_anthropic_sse(raw: bytes) -> List[Tuple[str, Dict[str, Any]]]:
    """Split strictly-framed SSE into ``(event name, data object)`` pairs."""
    text = raw.decode("utf-8")
    assert text.endswith("\n\n"), f"last event not terminated by a blank line: {text[-80:]!r}"
    pairs = []
    for block in text[:-2].split("\n\n"):
        lines = block.split("\n")
        assert len(lines) == 2, f"event must be exactly `event:` + `data:` lines: {block!r}"
        assert lines[0].startswith("event: "), f"missing `event:` line (P1): {block!r}"
        assert lines[1].startswith("data: "), f"missing `data:` line: {block!r}"
        name, data = lines[0][len("event: "):], json.loads(lines[1][len("data: "):])
        assert isinstance(data, dict), f"data is not an object: {block!r}"
        assert data.get("type") == name, f"event name {name!r} != data.type {data.get('type')!r} (P1)"
        pairs.append((name, data))
    return pairs


def check_anthropic_stream(raw: bytes) -> StreamSummary:
    """Assert ``raw`` follows the grammar of docs/protocol-rules.md#anthropic-stream; return what it said."""
    checker = _GrammarChecker()
    for _, data in parse_anthropic_sse(raw):
        checker.take(data)
    return checker.finish()


class _GrammarChecker:
    def __init__(self) -> None:
        self.summary = StreamSummary()
        self.started = False
        self.open_index: Optional[int] = None
        self.open_deltas: List[str] = []
        self.message_deltas = 0
        self.stopped = False

    def take(self, data: Dict[str, Any]) -> None:
        kind = data["type"]
        assert not self.stopped, f"{kind} after message_stop"
        assert self.summary.error is None, f"{kind} after an error event"
        self.summary.events.append(data)
        if kind == "ping":
            return
        if kind == "error":
            assert isinstance(data.get("error"), dict) and isinstance(data["error"].get("type"), str), data
            self.summary.error = data
            return
        handler = getattr(self, "_on_" + kind, None)
        assert handler is not None, f"unknown event type {kind!r}"
        handler(data)

    def _on_message_start(self, data: Dict[str, Any]) -> None:
        assert not self.started, "more than one message_start (P2)"
        self.started = True
        message = data["message"]
        assert message["content"] == [] and message["stop_reason"] is None, message
        assert "stop_sequence" in message and message["stop_sequence"] is None, message
        assert isinstance(message["usage"]["input_tokens"], int), message
        assert isinstance(message["usage"]["output_tokens"], int), message

    def _on_content_block_start(self, data: Dict[str, Any]) -> None:
        self._require_body_phase(data)
        assert self.open_index is None, f"block {data['index']} starts while block {self.open_index} is open"
        expected = len(self.summary.block_types)
        assert data["index"] == expected, f"block index {data['index']}, expected {expected} (P2)"
        self.summary.block_types.append(data["content_block"]["type"])
        self.open_index, self.open_deltas = data["index"], []

    def _on_content_block_delta(self, data: Dict[str, Any]) -> None:
        self._require_body_phase(data)
        assert data["index"] == self.open_index, f"delta for block {data['index']}, open is {self.open_index}"
        block_type = self.summary.block_types[data["index"]]
        delta_type = data["delta"]["type"]
        allowed = _DELTAS_FOR_BLOCK.get(block_type, set())
        assert delta_type in allowed, f"{delta_type} in a {block_type} block"
        assert "signature_delta" not in self.open_deltas, "delta after signature_delta"
        self.open_deltas.append(delta_type)

    def _on_content_block_stop(self, data: Dict[str, Any]) -> None:
        self._require_body_phase(data)
        assert data["index"] == self.open_index, f"stop for block {data['index']}, open is {self.open_index}"
        self.open_index = None

    def _on_message_delta(self, data: Dict[str, Any]) -> None:
        assert self.started, "message_delta before message_start"
        assert self.open_index is None, f"message_delta while block {self.open_index} is open"
        assert data["delta"].get("stop_reason") is not None, f"message_delta without stop_reason: {data}"
        assert isinstance(data["usage"]["output_tokens"], int), f"message_delta without usage: {data}"
        self.summary.stop_reason = data["delta"]["stop_reason"]
        self.message_deltas += 1

    def _on_message_stop(self, data: Dict[str, Any]) -> None:
        assert self.message_deltas >= 1, "message_stop without a message_delta"
        self.stopped = True

    def _require_body_phase(self, data: Dict[str, Any]) -> None:
        assert self.started, f"{data['type']} before message_start"
        assert self.message_deltas == 0, f"{data['type']} after message_delta"

    def finish(self) -> StreamSummary:
        if self.summary.error is None:
            assert self.stopped, "stream does not end with message_stop"
        return self.summary
