"""What a translation step needs besides the body itself, and what a request translation returns.

Request translation is the only step that sees the whole request, so whatever later steps must
know (the client's model name, a tool-name mapping for names the other side rejects, whether the
client asked for a usage chunk, the request fields a Responses client expects echoed back) travels
from it to the response and stream translators through :class:`ResponseContext`.

A composed translation (two steps through the Chat hub, docs/responses-api.md#composition) returns
the client-side step's result as :attr:`TranslatedRequest.hub`; the plan then builds the context
of the client-side step with the upstream-side step's context as :attr:`ResponseContext.inner`.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from ..json_budget import JsonBudget
from .held_text import MAX_HELD_BYTES
from .system_placement import AUTO

__all__ = ["ClientTool", "RequestOptions", "ResponseContext", "TranslatedRequest"]


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
    # The body goes to another translator (the Chat hub of a composition), not to a backend: keep
    # every field the next step can read instead of only what any Chat server accepts.
    intermediate: bool = False
    # What parsing JSON found inside the body's strings may still cost (tool-call arguments).
    json_budget: JsonBudget = field(default_factory=JsonBudget.for_request, compare=False)


@dataclass(frozen=True)
class ClientTool:
    """A Responses client's tool as the client named it, for a backend that knows it under a flat
    function name (docs/responses-api.md#tools): a tool inside a ``namespace`` group, or a
    ``custom`` (free-form input) tool. Calls of it go back to the client in this shape."""

    name: str
    namespace: Optional[str] = None
    custom: bool = False


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
    # Responses clients: backend function name → the client's tool, for every tool whose name or
    # kind changed on the way (namespaced, custom, or renamed).
    client_tools: Dict[str, ClientTool] = field(default_factory=dict)
    # Responses clients: the request fields a Response object echoes (tools, tool_choice…).
    response_echo: Dict[str, Any] = field(default_factory=dict)
    # A composed translation: the client-side step's own result (see the module docstring).
    hub: Optional["TranslatedRequest"] = None


@dataclass(frozen=True)
class ResponseContext:
    """Per-call facts for translating a response or stream back to the client."""

    client_model: str  # responses report the model the client asked for
    created: int  # unix seconds, passed in by the driver (the engine reads no clock)
    call_id: str  # unique per call (driver-generated); seeds ids the backend did not give
    include_usage: bool = False
    tool_names: Mapping[str, str] = field(default_factory=dict)
    client_tools: Mapping[str, ClientTool] = field(default_factory=dict)
    response_echo: Mapping[str, Any] = field(default_factory=dict)
    # The most text a stream translator may keep until its stream ends (held_text.py).
    max_held_bytes: int = MAX_HELD_BYTES
    # What parsing the answer, and JSON inside its strings, may cost (tool-call arguments).
    json_budget: JsonBudget = field(default_factory=JsonBudget.for_answer, compare=False)
    # A composed translation: the context of the upstream-side step (see the module docstring).
    inner: Optional["ResponseContext"] = None
