"""``router proxy``: serve every configured backend on one local HTTP endpoint.

Exit codes: 0 after a clean shutdown (SIGINT/SIGTERM); 2 when the configuration cannot be loaded,
the address cannot be bound, a non-loopback address is asked for without ``ROUTER_API_KEY``, or
``ROUTER_API_KEY`` is too weak to be a key (docs/proxy-limits.md#the-router-key).
"""

import os
from typing import Optional, Tuple

import click

from shim import env_names

from .cli_support import example, load
from .config_source import current_fingerprint
from .model_override import ModelOverrideRefused, with_model_override
from .router_key import RouterKeyRefused, router_key

__all__ = ["proxy"]

ROUTER_API_KEY_ENV = env_names.ROUTER_API_KEY
_MIB = 1024 * 1024
_KIB = 1024


class ProxyStartProblem(click.ClickException):
    """The proxy cannot start (address refused or busy). Exit 2."""

    exit_code = 2


@click.command(epilog=example(
    "router proxy                                  # http://127.0.0.1:3456",
    "ANTHROPIC_BASE_URL=http://127.0.0.1:3456 claude",
    "OPENAI_API_BASE=http://127.0.0.1:3456/v1 aider --model openai/claude-sonnet-4-6",
    "ROUTER_API_KEY=$(openssl rand -hex 16) router proxy --host 0.0.0.0",
    "router proxy --model openai:gpt-5.1              # every call, whatever its model"))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; non-loopback needs ROUTER_API_KEY.")
@click.option("--port", default=3456, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port; the banner says which).")
@click.option("-v", "--verbose", count=True,
              help="One line per call on stderr (no keys, no bodies); -vv adds the bodies, cut at 8 KB, keys redacted.")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              help="Let pages from ORIGIN (https://app.example.com) call the proxy from a browser (repeatable).")
@click.option("--model", "model_override", metavar="TARGET",
              help="Send every call to this target (backend or backend:model), whatever model it asks for.")
@click.option("--max-concurrency", default=64, show_default=True, type=click.IntRange(min=1),
              help="Upstream requests in flight per backend; more wait in a queue.")
@click.option("--queue-timeout", default=30.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds a call waits for a free slot before it gets 429.")
@click.option("--connect-timeout", default=10.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds to connect to a backend.")
@click.option("--read-timeout", default=600.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Longest silence from a backend, before or during its answer, in seconds.")
@click.option("--max-body-mib", default=32, show_default=True, type=click.IntRange(min=1),
              help="Largest request body accepted (413 above).")
@click.option("--max-bodies-mib", default=256, show_default=True, type=click.IntRange(min=1),
              help="Request bodies held at once, across calls (bodies still arriving make room; "
                   "past calls being served, a call is told to retry).")
@click.option("--max-response-mib", default=128, show_default=True, type=click.IntRange(min=1),
              help="Largest backend answer read whole, decoded, or kept by a translated stream "
                   "until its end (502 above; a stream's length is not capped).")
@click.option("--max-header-kib", default=32, show_default=True, type=click.IntRange(min=1),
              help="Largest request line and headers together (431 above).")
@click.option("--header-timeout", default=10.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds a client gets to send a request's headers; then the connection is closed.")
@click.option("--body-timeout", default=10.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Longest pause, in seconds, between two pieces of a request body; then the connection is closed.")
@click.option("--idle-timeout", default=30.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds a client connection may stay open with no request under way.")
@click.option("--send-timeout", default=60.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds a client may take none of an answer the proxy holds for it; then the connection is closed.")
@click.option("--max-connections", default=1024, show_default=True, type=click.IntRange(min=1),
              help="Client connections open at once; at the limit the longest-idle one is closed first.")
# host.proxy.settings.UPSTREAM_CLIENTS spelled out (importing host.proxy loads uvicorn and aiohttp;
# a test keeps the two equal)
@click.option("--upstream-client", type=click.Choice(["httptools", "aiohttp", "httpx"]), default="httptools",
              hidden=True, help="HTTP client for backend calls (advanced; the default measured fastest).")
def proxy(host: str, port: int, verbose: int, cors_origins: Tuple[str, ...], model_override: Optional[str],
          max_body_mib: int, max_bodies_mib: int,
          max_response_mib: int, max_header_kib: int, upstream_client: str, **limits: float) -> None:
    """One local HTTP endpoint for every backend.

    For clients in any language: point ANTHROPIC_BASE_URL or OPENAI_BASE_URL at it."""
    try:
        api_key = router_key(os.environ.get(ROUTER_API_KEY_ENV))
    except RouterKeyRefused as problem:
        raise ProxyStartProblem(str(problem)) from None
    from .proxy import BindRefused, ProxySettings, run_proxy  # uvicorn/aiohttp load only for this command
    from .proxy.cors import CorsOriginRefused, normalized_origin

    # The fingerprint first: a write landing between the two makes the first reload check load it again.
    fingerprint = current_fingerprint()
    try:
        loaded = with_model_override(load(), model_override)
        origins = tuple(dict.fromkeys(normalized_origin(origin) for origin in cors_origins))
    except (ModelOverrideRefused, CorsOriginRefused) as problem:
        raise ProxyStartProblem(str(problem)) from None
    settings = ProxySettings(
        host=host,
        port=port,
        verbose=verbose >= 1,
        log_bodies=verbose >= 2,
        max_body_bytes=max_body_mib * _MIB,
        max_bodies_bytes=max_bodies_mib * _MIB,
        max_response_bytes=max_response_mib * _MIB,
        max_header_bytes=max_header_kib * _KIB,
        header_timeout=limits["header_timeout"],
        body_timeout=limits["body_timeout"],
        idle_timeout=limits["idle_timeout"],
        send_timeout=limits["send_timeout"],
        max_connections=int(limits["max_connections"]),
        max_concurrency=int(limits["max_concurrency"]),
        queue_timeout=limits["queue_timeout"],
        connect_timeout=limits["connect_timeout"],
        read_timeout=limits["read_timeout"],
        api_key=api_key,
        upstream_client=upstream_client,
        model_override=model_override,
        cors_origins=origins,
    )
    try:
        run_proxy(loaded.config, settings, fingerprint)
    except BindRefused as exc:
        raise ProxyStartProblem(str(exc)) from None
