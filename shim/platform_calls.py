"""OpenAI platform calls that are not LLM calls, made by a shimmed program that has no OpenAI key.

Under ``router shim`` a program without an ``OPENAI_API_KEY`` of its own gets a placeholder, so
that SDK constructors start; its LLM calls are routed and carry the backends' real keys. Some
libraries also call OpenAI's platform for something else: the OpenAI Agents SDK exports every run's
trace to ``POST https://api.openai.com/v1/traces/ingest`` with that key, which OpenAI refuses (401),
and the SDK prints ``[non-fatal] Tracing …`` errors on every run (docs/platform-calls.md).

What the user expects: the traces go to OpenAI when they configured an OpenAI key, and nothing is
printed when they did not. So a trace upload carrying the placeholder (or no key) is

* sent to the backend named ``openai`` (the one ``gpt-*`` models route to) with its key, at the same
  path under its base URL, when that backend exists and has a key;
* otherwise answered in the program's process with ``204 No Content`` (the exporter only checks for
  a 2xx) and counted, so ``router shim`` says once, in its summary, how many it answered.

A program that has a key of its own keeps full control: its trace uploads are left untouched. Only
trace uploads are answered locally: they are write-only telemetry, whose answer nothing reads.
Any other platform call (files, vector stores …) is not an LLM call and is never touched.
"""

import os

from .env_names import PLACEHOLDER_API_KEY
from .lifecycle_events import local_answer_datagram
from .protocols import OPENAI
from .telemetry_sender import process_sender

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Mapping, Optional

    from .config import Backend, RouterConfig

__all__ = [
    "OPENAI_PLATFORM_HOST",
    "PLATFORM_ENDPOINTS",
    "TRACE_INGEST",
    "backend_url",
    "forwarded_headers",
    "has_no_key_of_its_own",
    "platform_endpoint",
    "report_local_answer",
    "trace_backend",
]

OPENAI_PLATFORM_HOST = "api.openai.com"
TRACE_INGEST = "openai_trace_ingest"  # POST /v1/traces/ingest (the OpenAI Agents SDK's exporter)
PLATFORM_ENDPOINTS = frozenset({TRACE_INGEST})
TRACE_BACKEND = "openai"  # the backend the built-in gpt-* family routes to
_PATHS = {"/v1/traces/ingest": TRACE_INGEST}
_BACKEND_PATHS = {TRACE_INGEST: "/traces/ingest"}  # under an OpenAI base URL, which ends in /v1

# Not forwarded: the program's credentials (replaced by the backend's) and what describes the
# program's connection; the transports write Host and Content-Length for the upstream request.
_DROPPED = frozenset({"authorization", "api-key", "host", "content-length", "connection", "keep-alive",
                      "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization", "proxy-connection"})


def platform_endpoint(host: str, path: str) -> "Optional[str]":
    """The platform endpoint ``host`` + ``path`` names (already lower-cased host), or None."""
    if host != OPENAI_PLATFORM_HOST:
        return None
    return _PATHS.get(path.rstrip("/"))


def has_no_key_of_its_own(headers: "Mapping[str, str]") -> bool:
    """The request carries the shim's placeholder key, or no key at all (lower-case header names)."""
    credential = headers.get("authorization", "").strip()
    if not credential:
        return True
    scheme, _, token = credential.partition(" ")
    return scheme.lower() == "bearer" and token.strip() == PLACEHOLDER_API_KEY


def trace_backend(config: "RouterConfig") -> "Optional[Backend]":
    """The backend a keyless trace upload goes to: ``openai``, when it speaks OpenAI and has a key."""
    backend = config.backends.get(TRACE_BACKEND)
    if backend is None or backend.protocol != OPENAI or not backend.api_key:
        return None
    return backend


def backend_url(backend: "Backend", endpoint: str) -> str:
    return backend.url_for(_BACKEND_PATHS[endpoint])


def forwarded_headers(headers: "Mapping[str, str]") -> "Dict[str, str]":
    """The program's headers (lower-case names) without its credentials and connection headers."""
    return {name: value for name, value in headers.items() if name not in _DROPPED}


def report_local_answer(endpoint: str) -> None:
    """Tell the host that this process answered one ``endpoint`` call itself. Never raises."""
    try:
        process_sender().send(local_answer_datagram(os.getpid(), endpoint))
    except Exception:
        pass
