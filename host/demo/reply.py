"""What a provider answers: one :class:`Reply` per upstream call, protocol-neutral.

Shared by ``router demo``'s provider and the tests' scripted fake provider (``tests/fakes``): both
render the same replies with the same wire writers, so the demo shows exactly the bytes the tests
check.

A reply says *what* the model produced (text, tool calls, thinking, usage, a stop reason) or how the
call fails (an HTTP error, an in-band error mid-stream, a truncated stream, a dropped connection).
The wire writers (``wire_anthropic`` / ``wire_openai``) render the same reply in either protocol, so a
test scripts one scenario and the path the engine calls decides the format.

Usage is given in Anthropic's canonical terms (``input`` excludes cache reads/writes, ``output``
includes reasoning — docs/protocol-rules.md#usage); the OpenAI writer derives ``prompt_tokens``
from it with the same formulas, so a translated call must give the client exactly these numbers back.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

__all__ = ["ErrorSpec", "Reply", "ToolCall", "UsageSpec", "split_fragments"]

ToolCallLike = Union["ToolCall", Tuple[str, Dict[str, Any]]]
ErrorSpec = Tuple[int, Union[bytes, Mapping[str, Any], None]]


@dataclass(frozen=True)
class UsageSpec:
    """Token counts the provider reports; realistic defaults, every field configurable."""

    input: int = 37
    output: int = 18
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int = 0  # part of ``output`` (thinking tokens)

    @property
    def prompt_tokens(self) -> int:
        """OpenAI ``prompt_tokens``: includes cached reads and writes (docs/protocol-rules.md#usage)."""
        return self.input + self.cache_read + self.cache_write


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: Dict[str, Any]
    id: Optional[str] = None  # default: a provider-style id derived from the call's position


@dataclass(frozen=True)
class Reply:
    """One upstream answer. See the module docstring."""

    text: Optional[str] = None
    tool_calls: Tuple[ToolCall, ...] = ()
    thinking: Optional[str] = None
    signature: str = "EqQBCgIYAhIMfakeSignature=="  # Anthropic thinking signature (opaque)
    usage: UsageSpec = field(default_factory=UsageSpec)
    # Protocol-neutral stop: "end", "max_tokens", "stop_sequence"; tool calls force "tool".
    stop: str = "end"
    # The stop/finish reason written verbatim, whatever the content (backend quirks: "stop" with tool
    # calls, docs/pitfalls.md#p7). None: derived from ``stop`` and the tool calls.
    wire_stop: Optional[str] = None
    error: Optional[ErrorSpec] = None  # HTTP error before the first byte: (status, body or None)
    fail_midstream: bool = False  # in-band error event after the first content delta
    # An in-band error right after the stream's opening events (no content yet), standing for this
    # HTTP status: Anthropic's error event, a Chat error chunk with the status as its numeric code
    # and then [DONE] (as vLLM writes it), Responses' response.failed. A whole answer is then a 200
    # whose body is that error (OpenRouter's, when a model fails once it has begun; a failed Response).
    opening_error: Optional[int] = None
    truncate_after_events: Optional[int] = None  # end the stream (clean EOF) after N SSE events
    drop_connection: bool = False  # with truncate_after_events: close the socket without the last chunk
    reset: bool = False  # read the request, then reset the connection without answering at all
    # Write N events, then wait for ``provider.release`` before the rest: proves the engine forwards
    # what it has without waiting for the end of the upstream stream. 0 holds a whole answer too.
    hold_after_events: Optional[int] = None
    byte_by_byte: Optional[bool] = None  # every stream byte its own HTTP chunk; None: the provider default
    headers: Mapping[str, str] = field(default_factory=dict)  # extra response headers
    model: Optional[str] = None  # model reported in the response; default: the requested one
    response_id: Optional[str] = None  # Responses: the id the answer carries; default: one per call

    @property
    def stop_kind(self) -> str:
        return "tool" if self.tool_calls else self.stop

    @classmethod
    def build(cls, *, tool_calls: Sequence[ToolCallLike] = (), **fields: Any) -> "Reply":
        """Accept ``("name", {...})`` tuples as well as :class:`ToolCall` objects."""
        calls = tuple(call if isinstance(call, ToolCall) else ToolCall(call[0], dict(call[1])) for call in tool_calls)
        return cls(tool_calls=calls, **fields)


def split_fragments(text: str, pieces: int = 3) -> Tuple[str, ...]:
    """``text`` cut into up to ``pieces`` non-empty fragments, as providers stream deltas."""
    if len(text) <= 1 or pieces <= 1:
        return (text,) if text else ()
    size = max(1, -(-len(text) // pieces))
    return tuple(text[start : start + size] for start in range(0, len(text), size))
