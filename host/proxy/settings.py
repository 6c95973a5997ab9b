"""The proxy's tunables, fixed at start-up (the CLI fills them from its options)."""

from dataclasses import dataclass
from typing import Optional, Tuple

from shim.plan import MAX_BODY_BYTES
from shim.upstream_failures import MAX_ANSWER_BYTES

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "MAX_BODIES_BYTES",
    "MAX_CONNECTIONS",
    "MAX_HEADER_BYTES",
    "MAX_RESPONSE_BYTES",
    "UPSTREAM_CLIENTS",
    "ProxySettings",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3456
UPSTREAM_CLIENTS = ("httptools", "aiohttp", "httpx")  # the first is the default (measured fastest: bench/proxy.py)
# The limits below and why they are what they are: docs/proxy-limits.md.
MAX_RESPONSE_BYTES = MAX_ANSWER_BYTES
MAX_BODIES_BYTES = 256 * 1024 * 1024
MAX_HEADER_BYTES = 32 * 1024
MAX_CONNECTIONS = 1024


@dataclass(frozen=True)
class ProxySettings:
    """How the proxy listens, limits and times out. ``api_key`` is the router's own key
    (``ROUTER_API_KEY``): ``repr`` never shows it."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    verbose: bool = False
    log_bodies: bool = False  # -vv: each call's bodies too, redacted (docs/operator-switches.md#bodies)
    max_body_bytes: int = MAX_BODY_BYTES
    # Every request body held at once, from its first byte to its call's end (body_budget.py).
    max_bodies_bytes: int = MAX_BODIES_BYTES
    # A backend's answer read whole (not a stream) stops here, decoded: 502 to the client.
    max_response_bytes: int = MAX_RESPONSE_BYTES
    # Client connections (host/proxy/connections.py): the request line and headers together; the
    # time from a request's first byte to the end of its headers; how long a connection may stay
    # open with no request (new, or kept alive between requests); how many may be open at once.
    max_header_bytes: int = MAX_HEADER_BYTES
    header_timeout: float = 10.0
    body_timeout: float = 10.0  # the longest pause between two pieces of a request body
    idle_timeout: float = 30.0
    send_timeout: float = 60.0  # the longest a client may take none of an answer the proxy holds for it
    max_connections: int = MAX_CONNECTIONS
    # Upstream requests in flight per backend; more wait up to ``queue_timeout`` seconds, then 429.
    max_concurrency: int = 64
    queue_timeout: float = 30.0
    connect_timeout: float = 10.0
    # Longest silence between two upstream reads (before the first byte or mid-stream).
    read_timeout: float = 600.0
    shutdown_timeout: int = 3  # seconds in-flight calls get to finish after SIGINT/SIGTERM
    api_key: Optional[str] = None
    upstream_client: str = UPSTREAM_CLIENTS[0]  # the HTTP library for backend calls
    # The proxy ``router shim`` runs for its children: calls carrying CALLER_HEADER are reported as
    # that process's (the standalone proxy ignores the header: any local client could send it).
    shim_callers: bool = False
    # --model: every call to this target, kept across reloads (docs/operator-switches.md#model-override).
    model_override: Optional[str] = None
    # --cors-origin: origins whose pages may call the proxy (docs/operator-switches.md#cors); (): none.
    cors_origins: Tuple[str, ...] = ()

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.__dict__.items() if k != "api_key"}
        shown["api_key"] = "set" if self.api_key else None
        return f"ProxySettings({shown})"
