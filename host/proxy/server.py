"""Start the proxy: bind checks, the listening socket, the banner, uvicorn, signals.

The socket is bound here, before uvicorn starts, so that a busy port is one clear line (exit 2)
and ``--port 0`` can print the port the kernel chose; connections that arrive before the app's
start-up completes wait in the listen backlog.
"""

import contextlib
import ipaddress
import signal
import socket
import sys
import threading
from typing import Generator, TextIO

import uvicorn

from shim.config import RouterConfig

from ..event_sink import open_sink
from ..paths import router_home
from .app import ProxyApp
from .metrics import ProxyMetrics
from .response_store import SQLiteResponseStore, open_response_store
from .settings import ProxySettings

__all__ = ["BindRefused", "bind_socket", "check_bind_allowed", "is_loopback", "print_banner", "run_proxy"]

_BACKLOG = 2048


class BindRefused(Exception):
    """The address cannot or must not be bound; ``str()`` is one line for the user."""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; a wildcard or any other address is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind_allowed(host: str, api_key: object) -> None:
    """Refuse to expose the backends' keys to a network without the router's own key."""
    if not is_loopback(host) and not api_key:
        raise BindRefused(
            f"refusing to listen on {host}: it is not a loopback address, and anyone who can reach it could "
            f"spend your provider keys. Set ROUTER_API_KEY (clients then send it as their API key) or bind 127.0.0.1"
        )


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port)."""
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise BindRefused(f"cannot listen on {host}: {exc.strerror}") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(_BACKLOG)
    except OSError as exc:
        sock.close()
        raise BindRefused(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def print_banner(sock: socket.socket, config: RouterConfig, out: TextIO) -> None:
    """The URLs clients should use and the backends served. The first line is stable
    (``router proxy listening on http://HOST:PORT``): scripts and tests parse it."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    root = f"http://{shown}:{port}"
    lines = [
        f"router proxy listening on {root}",
        f"  Anthropic clients: ANTHROPIC_BASE_URL={root}",
        f"  OpenAI clients:    OPENAI_BASE_URL={root}/v1",
        "  backends: " + (", ".join(f"{b.name} ({b.protocol})" for b in config.backends.values()) or "none"),
        "  Ctrl-C to stop",
    ]
    out.write("\n".join(lines) + "\n")
    out.flush()


class _ProxyServer(uvicorn.Server):
    """uvicorn's server, but a SIGINT/SIGTERM shutdown ends the process normally (exit 0) instead
    of re-raising the signal after the graceful shutdown as uvicorn does."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def run_proxy(config: RouterConfig, settings: ProxySettings) -> None:
    """Bind, print the banner, serve until SIGINT/SIGTERM. Raises :class:`BindRefused`."""
    check_bind_allowed(settings.host, settings.api_key)
    sock = bind_socket(settings.host, settings.port)
    print_banner(sock, config, sys.stdout)
    app = ProxyApp(config, settings)
    app.state.metrics = ProxyMetrics()
    app.state.sink = open_sink([app.state.metrics])  # every call: store in $ROUTER_HOME, /metrics, OTel
    app.state.responses = responses = open_response_store(router_home())
    try:
        _ProxyServer(_uvicorn_config(app, settings)).run(sockets=[sock])
    finally:
        app.state.sink.close()  # what is still queued is stored before the process ends
        if isinstance(responses, SQLiteResponseStore):
            responses.close()


def _uvicorn_config(app: ProxyApp, settings: ProxySettings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        loop=_fastest("uvloop", "asyncio"),
        http=_fastest("httptools", "h11"),
        lifespan="on",
        access_log=False,  # -v prints our own line (no query strings, no client addresses)
        log_level="warning",
        server_header=False,
        # No X-Forwarded-* rewriting: nothing here reads the client's address, and the middleware
        # wrapped every request (2 % of the proxy's time under load).
        proxy_headers=False,
        timeout_graceful_shutdown=settings.shutdown_timeout,
        timeout_keep_alive=30,
    )


def _fastest(preferred: str, fallback: str) -> str:
    try:
        __import__(preferred)
    except ImportError:
        return fallback
    return preferred

