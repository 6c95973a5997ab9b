"""What a translation step needs besides the body itself, and what a request translation returns.

Request translation is the only step that sees the whole request, so whatever later steps must
know (the client's model name, a tool-name mapping for names the other side rejects, whether the
client asked for a usage chunk) travels from it to the response and stream translators through
:class:`ResponseContext`.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from .system_placement import AUTO

__all__ = ["RequestOptions", "ResponseContext", "TranslatedRequest"]


@dataclass(frozen=True)
class RequestOptions:
    """Facts about the route that request translation needs."""

    upstream_model: str
    default_max_tokens: int = 4096  # used when the client sent no limit and the backend needs one
    max_output_tokens: Optional[int] = None  # the output limit for this backend and model (model_limits.py)
    max_tokens_field: str = "max_tokens"  # for OpenAI-protocol backends: or "max_completion_tokens"
    replay_reasoning: bool = False  # OpenAI-protocol backends: send history thinking as reasoning_content
    # The backend's setting for mid-conversation system messages; each translator resolves it with
    # system_placement.resolve_placement (docs/system-messages.md).
    mid_conversation_system: str = AUTO


@dataclass
class TranslatedRequest:
    """A request body in the backend's protocol, plus what the response side must know."""

    body: Dict[str, Any]
    stream: bool = False
    include_usage: bool = False  # OpenAI client asked for stream_options.include_usage
    # Backend tool name → the client's original name, for names that had to change (docs/pitfalls.md#p18).
    tool_names: Dict[str, str] = field(default_factory=dict)
    # Human-readable notes: fields dropped for lack of a counterpart, clamps applied.
    notes: List[str] = field(default_factory=list)
    # Headers the backend protocol needs for this body (e.g. anthropic-version).
    headers: Dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ResponseContext:
    """Per-call facts for translating a response or stream back to the client."""

    client_model: str  # responses report the model the client asked for
    created: int  # unix seconds, passed in by the driver (the engine reads no clock)
    call_id: str  # unique per call (driver-generated); seeds ids the backend did not give
    include_usage: bool = False
    tool_names: Mapping[str, str] = field(default_factory=dict)
