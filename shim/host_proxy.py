"""The proxy ``router shim`` runs for the whole process tree, as a shimmed process sees it.

The host points ``OPENAI_BASE_URL`` / ``ANTHROPIC_BASE_URL`` at that proxy so that processes which
are not Python (the ``claude`` CLI that claude-agent-sdk starts, ``codex``, Node tools, ``curl``)
reach the router too. A Python process inherits those variables, so its SDKs aim at the proxy as
well; the shim recognises the proxy's address as an LLM host and routes such a call in-process,
straight to the backend, like any other (no extra hop). This module answers the other question:
where a call aimed at the proxy goes when the router has *no route* for its model. Answer: where it
would have gone without the router — the base URL the user had set before the host replaced it
(``ROUTER_SHIM_USER_OPENAI_BASE_URL`` / ``ROUTER_SHIM_USER_ANTHROPIC_BASE_URL``), else the vendor's
public API, which is what the SDKs call when the variable is unset.
See ``docs/shim-process-tree.md#calls-with-no-route``.
"""

from typing import Dict, Mapping, Optional
from urllib.parse import urlsplit

from .llm_calls import host_port
from .protocols import ANTHROPIC, OPENAI

__all__ = ["PROXY_BASE_PATHS", "VENDOR_BASE_URLS", "HostProxy", "proxy_base_url"]

# What the openai and anthropic SDKs use when OPENAI_BASE_URL / ANTHROPIC_BASE_URL are unset
# (openai: ``base_url = "https://api.openai.com/v1"``; anthropic: ``"https://api.anthropic.com"``).
VENDOR_BASE_URLS: Dict[str, str] = {OPENAI: "https://api.openai.com/v1", ANTHROPIC: "https://api.anthropic.com"}

# The path of each base URL the host sets, after the proxy's root: the SDK conventions of
# ``shim.protocols`` (OpenAI base URLs end in /v1, Anthropic ones are the host root).
PROXY_BASE_PATHS: Dict[str, str] = {OPENAI: "/v1", ANTHROPIC: ""}


def proxy_base_url(proxy_url: str, protocol: str) -> str:
    """The ``*_BASE_URL`` value that points a ``protocol`` client at the proxy at ``proxy_url``."""
    return proxy_url.rstrip("/") + PROXY_BASE_PATHS[protocol]


class HostProxy:
    """The host's proxy (``url``: ``http://127.0.0.1:PORT``) and where unrouted calls to it go.

    ``user_base_urls``: per protocol, the base URL the user had set before the host replaced it
    with the proxy's; a protocol missing (or empty) means the user had none."""

    def __init__(self, url: str, user_base_urls: Mapping[str, str]) -> None:
        self.url = url.rstrip("/")
        self.host_port = host_port(self.url)
        self._unrouted_bases = {
            protocol: (user_base_urls.get(protocol) or vendor).rstrip("/")
            for protocol, vendor in VENDOR_BASE_URLS.items()
        }

    def unrouted_url(self, url: str, protocol: str) -> Optional[str]:
        """Where a ``protocol`` call to ``url`` would have gone without the router, when ``url`` is
        on the proxy (the proxy's base path, then the SDK's path, then any query); else None."""
        base_path = PROXY_BASE_PATHS.get(protocol)
        if base_path is None or host_port(url) != self.host_port:
            return None
        parts = urlsplit(url)
        if not parts.path.startswith(base_path + "/"):
            return None
        rest = parts.path[len(base_path):]
        return self._unrouted_bases[protocol] + rest + (f"?{parts.query}" if parts.query else "")
