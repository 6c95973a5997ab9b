"""What of a client's request goes upstream on a same-protocol route, besides the body.

An allowlist, not a denylist (docs/protocol-rules.md#forwarded-headers): a same-protocol call goes
out with the *router's* key, so any header the client adds is said in the router's name. Forwarded
are the headers the protocol defines and the ones its official SDKs and the coding agents built on
them send (checked against real captures: tests/golden/claude_code, tests/clients); everything
else stays behind — cookies, ``X-Forwarded-*``/``Forwarded``, and the OpenAI organization and
project selectors, with which a client of a shared proxy could choose whose account is billed.

Credentials are never in the list (the driver adds the backend's own), nor hop-by-hop or framing
headers (the driver's HTTP client writes its own).
"""

from typing import Dict, FrozenSet, Mapping, Tuple

from .protocols import ANTHROPIC, OPENAI

__all__ = ["FORWARDED_QUERY_PARAMETERS", "forwarded_headers", "forwarded_query", "is_forwarded_header"]

# Sent by every official SDK (Stainless-generated: x-stainless-lang, -os, -arch, -runtime,
# -package-version, -retry-count, -timeout …) and by any HTTP client.
_COMMON = frozenset({"accept", "user-agent", "idempotency-key"})
_COMMON_PREFIXES: Tuple[str, ...] = ("x-stainless-",)

_BY_PROTOCOL: Dict[str, FrozenSet[str]] = {
    ANTHROPIC: frozenset({
        "anthropic-version",  # required: which request validation the client expects
        "anthropic-beta",  # the features the request uses (Claude Code sends eight)
        "anthropic-dangerous-direct-browser-access",  # the TypeScript SDK, Claude Code
        "x-app",  # Claude Code: "cli"
        "x-claude-code-session-id",  # Claude Code: one id per session
    }),
    OPENAI: frozenset({
        "openai-beta",  # opt-ins such as Assistants v2, Responses over WebSocket
        "x-client-request-id",  # a client-chosen request id the API echoes back
        # Codex CLI's identity and session headers (codex-rs: originator, session and thread ids)
        "originator", "version", "session_id", "session-id", "conversation_id", "thread-id",
        # OpenRouter's documented app attribution (an OpenAI-compatible backend preset)
        "http-referer", "x-title",
    }),
}
_PREFIXES_BY_PROTOCOL: Dict[str, Tuple[str, ...]] = {
    ANTHROPIC: _COMMON_PREFIXES,
    OPENAI: (*_COMMON_PREFIXES, "x-codex-"),  # x-codex-turn-metadata, -window-id, -beta-features
}

# Query parameters a same-protocol call keeps: Anthropic's SDKs mark beta calls ``?beta=true``
# (``client.beta.messages.create``; Claude Code on every call). OpenAI's POST endpoints define none.
FORWARDED_QUERY_PARAMETERS: Dict[str, FrozenSet[str]] = {ANTHROPIC: frozenset({"beta"}), OPENAI: frozenset()}


def is_forwarded_header(protocol: str, name: str) -> bool:
    """Does a client header ``name`` (lower case) go upstream on a ``protocol`` same-protocol call?"""
    if name in _COMMON or name in _BY_PROTOCOL.get(protocol, ()):
        return True
    return name.startswith(_PREFIXES_BY_PROTOCOL.get(protocol, _COMMON_PREFIXES))


def forwarded_headers(protocol: str, headers: Mapping[str, str]) -> Dict[str, str]:
    """The client's headers (names already lower case) that go upstream, unchanged."""
    return {name: value for name, value in headers.items() if is_forwarded_header(protocol, name)}


def forwarded_query(protocol: str, query: str) -> str:
    """The part of the client's query string (without ``?``) that goes upstream, bytes unchanged and
    in order; empty when nothing does."""
    if not query:
        return ""
    allowed = FORWARDED_QUERY_PARAMETERS.get(protocol, frozenset())
    kept = [part for part in query.split("&") if part.partition("=")[0] in allowed]
    return "&".join(kept)
