"""Names shared by every module: the two wire protocols and the endpoints each one serves.

A *protocol* is what a client speaks or a backend answers in (and how it authenticates and shapes
its errors); an *endpoint* is one API operation. The three generation endpoints — Chat Completions
(``chat``), Messages (``messages``) and Responses (``responses``) — are also the three *formats*
translation is keyed by (docs/responses-api.md#endpoints-and-formats): Chat and Responses are
both OpenAI-protocol endpoints, with different bodies and streams.

Paths are relative to a backend's base URL, following each SDK's convention
(docs/protocol-rules.md#endpoints): OpenAI base URLs end in ``/v1`` and the SDK appends
``/chat/completions`` or ``/responses``; Anthropic base URLs are the host root and the SDK appends
``/v1/messages``.
"""

from typing import Dict, Optional, Tuple

__all__ = [
    "ANTHROPIC",
    "CHAT",
    "COUNT_TOKENS",
    "EMBEDDINGS",
    "ENDPOINT_PROTOCOL",
    "GENERATION_ENDPOINTS",
    "MESSAGES",
    "MODELS",
    "OPENAI",
    "PROTOCOLS",
    "RESPONSES",
    "endpoint_for_path",
    "upstream_path",
]

OPENAI = "openai"
ANTHROPIC = "anthropic"
PROTOCOLS = (OPENAI, ANTHROPIC)

# Endpoints. Each belongs to the protocol whose clients call it.
CHAT = "chat"  # POST /v1/chat/completions
MESSAGES = "messages"  # POST /v1/messages
RESPONSES = "responses"  # POST /v1/responses
COUNT_TOKENS = "count_tokens"  # POST /v1/messages/count_tokens
EMBEDDINGS = "embeddings"  # POST /v1/embeddings
MODELS = "models"  # GET /v1/models (both protocols)

# The endpoints that generate: the formats a call is translated between.
GENERATION_ENDPOINTS = (CHAT, MESSAGES, RESPONSES)

ENDPOINT_PROTOCOL: Dict[str, str] = {
    CHAT: OPENAI,
    RESPONSES: OPENAI,
    EMBEDDINGS: OPENAI,
    MESSAGES: ANTHROPIC,
    COUNT_TOKENS: ANTHROPIC,
}

# Path appended to a backend's base URL, per (backend protocol, endpoint).
_UPSTREAM_PATHS: Dict[Tuple[str, str], str] = {
    (OPENAI, CHAT): "/chat/completions",
    (OPENAI, RESPONSES): "/responses",
    (OPENAI, EMBEDDINGS): "/embeddings",
    (OPENAI, MODELS): "/models",
    (ANTHROPIC, MESSAGES): "/v1/messages",
    (ANTHROPIC, COUNT_TOKENS): "/v1/messages/count_tokens",
    (ANTHROPIC, MODELS): "/v1/models",
}

# Client-facing paths (as a client puts them after the host) → endpoint. Matched on the path's
# tail so that ``/v1/messages``, ``/anthropic/v1/messages`` and ``/openai/v1/chat/completions``
# all work; query strings such as Claude Code's ``?beta=true`` must be stripped by the caller.
_CLIENT_PATH_SUFFIXES: Tuple[Tuple[str, str], ...] = (
    ("/messages/count_tokens", COUNT_TOKENS),
    ("/messages", MESSAGES),
    ("/chat/completions", CHAT),
    ("/responses", RESPONSES),
    ("/embeddings", EMBEDDINGS),
    ("/models", MODELS),
)


def upstream_path(backend_protocol: str, endpoint: str) -> Optional[str]:
    """The path to append to a backend base URL, or None when that backend has no such endpoint."""
    return _UPSTREAM_PATHS.get((backend_protocol, endpoint))


def endpoint_for_path(path: str) -> Optional[str]:
    """Which endpoint a client path names (query already removed), or None."""
    trimmed = path.rstrip("/")
    for suffix, endpoint in _CLIENT_PATH_SUFFIXES:
        if trimmed.endswith(suffix):
            return endpoint
    return None
