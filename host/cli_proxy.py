"""``router proxy``: serve every configured backend on one local HTTP endpoint.

Exit codes: 0 after a clean shutdown (SIGINT/SIGTERM); 2 when the configuration cannot be loaded,
the address cannot be bound, or a non-loopback address is asked for without ``ROUTER_API_KEY``.
"""

import os

import click

from .cli_support import example, load
from .config_source import current_fingerprint

__all__ = ["proxy"]

ROUTER_API_KEY_ENV = "ROUTER_API_KEY"
_MIB = 1024 * 1024


class ProxyStartProblem(click.ClickException):
    """The proxy cannot start (address refused or busy). Exit 2."""

    exit_code = 2


@click.command(epilog=example(
    "router proxy                                  # http://127.0.0.1:3456",
    "ANTHROPIC_BASE_URL=http://127.0.0.1:3456 claude",
    "OPENAI_API_BASE=http://127.0.0.1:3456/v1 aider --model openai/claude-sonnet-4-6",
    "ROUTER_API_KEY=$(openssl rand -hex 16) router proxy --host 0.0.0.0"))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; non-loopback needs ROUTER_API_KEY.")
@click.option("--port", default=3456, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port; the banner says which).")
@click.option("-v", "--verbose", is_flag=True, help="One line per call on stderr (no keys, no bodies).")
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
# host.proxy.settings.UPSTREAM_CLIENTS spelled out (importing host.proxy loads uvicorn and aiohttp;
# a test keeps the two equal)
@click.option("--upstream-client", type=click.Choice(["httptools", "aiohttp", "httpx"]), default="httptools",
              hidden=True, help="HTTP client for backend calls (advanced; the default measured fastest).")
def proxy(host: str, port: int, verbose: bool, max_body_mib: int, upstream_client: str, **limits: float) -> None:
    """One local HTTP endpoint for every backend.

    For clients in any language: point ANTHROPIC_BASE_URL or OPENAI_BASE_URL at it."""
    from .proxy import BindRefused, ProxySettings, run_proxy  # uvicorn/aiohttp load only for this command

    # The fingerprint first: a write landing between the two makes the first reload check load it again.
    fingerprint = current_fingerprint()
    loaded = load()
    settings = ProxySettings(
        host=host,
        port=port,
        verbose=verbose,
        max_body_bytes=max_body_mib * _MIB,
        max_concurrency=int(limits["max_concurrency"]),
        queue_timeout=limits["queue_timeout"],
        connect_timeout=limits["connect_timeout"],
        read_timeout=limits["read_timeout"],
        api_key=os.environ.get(ROUTER_API_KEY_ENV) or None,
        upstream_client=upstream_client,
    )
    try:
        run_proxy(loaded.config, settings, fingerprint)
    except BindRefused as exc:
        raise ProxyStartProblem(str(exc)) from None
