"""Is this request an LLM API call? Only those are ever touched by the shim.

A request qualifies when its host is a configured backend's host (host *and* port) or a well-known
provider's host, and its path ends in one of the provider paths. Matching the path's tail lets
``https://api.groq.com/openai/v1/chat/completions`` qualify; the query string is not part of it.
Everything else is left byte-identical: the shim touches LLM API calls only (docs/architecture.md#drivers).
"""

from typing import Dict, FrozenSet, Hashable, Iterable, Optional, Tuple
from urllib.parse import urlsplit

from .platform_calls import platform_endpoint
from .protocols import CHAT, COUNT_TOKENS, EMBEDDINGS, MESSAGES, MODELS, RESPONSES
from .response_lookup import STORED_RESPONSE, stored_response_id

__all__ = ["PROVIDER_PATHS", "WELL_KNOWN_HOSTS", "HostPort", "LLMHosts", "host_port", "split_url"]

WELL_KNOWN_HOSTS: FrozenSet[str] = frozenset(
    {
        "api.openai.com",
        "api.anthropic.com",
        "api.groq.com",
        "openrouter.ai",
        "api.deepseek.com",
        "api.mistral.ai",
        "api.together.xyz",
        "api.together.ai",
        "api.fireworks.ai",
        "api.x.ai",
        "api.cerebras.ai",
        "api.perplexity.ai",
        "api.moonshot.ai",
        "api.sambanova.ai",
    }
)

# Longest first: "/v1/messages/count_tokens" must win over "/v1/messages".
PROVIDER_PATHS: Tuple[Tuple[str, str], ...] = (
    ("/v1/messages/count_tokens", COUNT_TOKENS),
    ("/v1/messages", MESSAGES),
    ("/v1/chat/completions", CHAT),
    ("/v1/responses", RESPONSES),
    ("/v1/embeddings", EMBEDDINGS),
    ("/v1/models", MODELS),
)

_DEFAULT_PORTS = {"http": 80, "https": 443}
_KNOWN_LIMIT = 1024  # distinct URLs remembered; past it, start again (a program that builds URLs per call)
HostPort = Tuple[str, int]


class LLMHosts:
    """The hosts whose provider paths count as LLM calls."""

    def __init__(self, backend_urls: Iterable[str] = (), well_known: FrozenSet[str] = WELL_KNOWN_HOSTS) -> None:
        self.well_known = well_known
        self.backends: FrozenSet[HostPort] = frozenset(host_port(url) for url in backend_urls)
        # Answers of endpoint() by a library's raw URL parts: a program calls few URLs, many times,
        # and taking them apart (decoding the host and path) costs more than the lookup.
        self.known: Dict[Hashable, Optional[str]] = {}

    def remember(self, key: Hashable, endpoint: Optional[str]) -> Optional[str]:
        """Note ``endpoint`` as the answer for ``key`` (see :attr:`known`); return it."""
        if len(self.known) >= _KNOWN_LIMIT:
            self.known.clear()
        self.known[key] = endpoint
        return endpoint

    def endpoint(self, scheme: str, host: str, port: Optional[int], path: str) -> Optional[str]:
        """The endpoint (``chat``, ``messages`` …) this request calls, or None when it is not an LLM call.

        Two more are named, which are not LLM calls but need the same seam: ``stored_response``
        (``…/v1/responses/{id}``: a response the shim may hold itself) and a trace upload to OpenAI
        (docs/platform-calls.md)."""
        host = host.lower().rstrip(".")
        if host not in self.well_known and (host, port or _DEFAULT_PORTS.get(scheme, 0)) not in self.backends:
            return None
        return _endpoint_for(path) or platform_endpoint(host, path)

    def endpoint_for_url(self, url: str) -> Optional[str]:
        scheme, host, port, path = split_url(url)
        return self.endpoint(scheme, host, port, path)


def split_url(url: str) -> Tuple[str, str, Optional[int], str]:
    """(scheme, host, port or None, path) of an absolute URL; host "" when it has none."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.scheme.lower(), (parts.hostname or ""), port, parts.path


def _endpoint_for(path: str) -> Optional[str]:
    trimmed = path.rstrip("/")
    for suffix, endpoint in PROVIDER_PATHS:
        if trimmed.endswith(suffix):
            return endpoint
    return STORED_RESPONSE if stored_response_id(trimmed) is not None else None


def host_port(url: str) -> HostPort:
    """(host, port) of ``url`` as :meth:`LLMHosts.endpoint` compares them: lower case, default port filled in."""
    scheme, host, port, _ = split_url(url)
    return host.lower().rstrip("."), port or _DEFAULT_PORTS.get(scheme, 0)
