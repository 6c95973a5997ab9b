"""Start the proxy: bind checks, the listening socket, the banner, uvicorn, signals.

The socket is bound here, before uvicorn starts, so that a busy port is one clear line (exit 2)
and ``--port 0`` can print the port the kernel chose; connections that arrive before the app's
start-up completes wait in the listen backlog.
"""

import contextlib
import dataclasses
import ipaddress
import math
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Generator, Optional, TextIO

import uvicorn

from shim.config import RouterConfig

from ..config_source import ConfigWatcher
from ..event_sink import open_sink
from ..model_override import describe_override
from ..paths import config_path, router_home
from ..proxy_registry import Registration, live_records
from ..store_reader import store_reads
from ..store_reads import StoreReads
from ..tcp_listener import tcp_socket
from ..telemetry_store import TelemetryStore
from .app import ProxyApp
from .connections import ConnectionLimits, guarded_protocol
from .cors import App, CorsApp
from .listener import DrainingServer
from .live_config import LiveConfig
from .metrics import ProxyMetrics
from .response_store import ResponseStoreLimits, SQLiteResponseStore, open_response_store
from .settings import ProxySettings

if TYPE_CHECKING:
    from ..dashboard.site import DashboardSite

__all__ = [
    "BindRefused",
    "bind_socket",
    "check_bind_allowed",
    "connection_budget",
    "defer_accept",
    "is_loopback",
    "print_banner",
    "run_proxy",
    "uvicorn_config",
]

# What the CLI sends after an edit: "look at the configuration files now". Not SIGHUP: a proxy in a
# terminal that closes must still end (SIGHUP's default), not reload.
RELOAD_SIGNAL = signal.SIGUSR1 if hasattr(signal, "SIGUSR1") else None

_BACKLOG = 2048
# File descriptors kept for everything but client connections (the listening socket, the stores, logs,
# the interpreter's own; a quarter of a small limit); each client connection counts twice (one
# upstream connection each).
_RESERVED_FDS = 256


# A choice the user may make (a local web app in development), said once at start because of what it
# costs: without a key, nothing else stands between a page and the keys (docs/secrets.md#web-pages).
_OPEN_TO_EVERY_PAGE = ("router proxy: --cors-origin * without ROUTER_API_KEY: every web page you visit may call "
                       "this proxy, on your provider keys, and read its answers\n")


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
    sock = tcp_socket(family)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(_BACKLOG)
    except OSError as exc:
        sock.close()
        raise BindRefused(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def defer_accept(sock: socket.socket, seconds: float) -> None:
    """Have the kernel hand the proxy a connection only once its first bytes arrive, for up to about
    ``seconds`` (Linux's ``TCP_DEFER_ACCEPT``, tcp(7)); nothing where the system has no such option.

    A connection that sends nothing then costs the proxy no descriptor, no memory and no place in
    the accept queue ahead of real clients: the kernel keeps it until it speaks or the time runs out,
    and only then does it reach the proxy, whose idle timeout applies (docs/proxy-limits.md#connections)."""
    option = getattr(socket, "TCP_DEFER_ACCEPT", None)
    if option is not None:
        with contextlib.suppress(OSError):  # refused: connections are accepted as they arrive, as before
            sock.setsockopt(socket.IPPROTO_TCP, option, max(1, math.ceil(seconds)))


def print_banner(sock: socket.socket, config: RouterConfig, out: TextIO, config_file: Optional[Path] = None) -> None:
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
    ]
    override = describe_override(config)
    if override is not None:
        lines.append(f"  {override}")
    if config_file is not None:
        lines.append(f"  follows changes to {config_file} (no restart needed)")
    lines.append("  Ctrl-C to stop")
    out.write("\n".join(lines) + "\n")
    out.flush()


class _ProxyServer(DrainingServer):
    """uvicorn's server, accepting every waiting connection each time (``listener.py``); a
    SIGINT/SIGTERM shutdown ends the process normally (exit 0) instead of re-raising the signal
    after the graceful shutdown as uvicorn does; :data:`RELOAD_SIGNAL` calls ``on_reload_signal``."""

    def __init__(self, config: uvicorn.Config, on_reload_signal: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_reload_signal = on_reload_signal

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        if RELOAD_SIGNAL is not None:
            signal.signal(RELOAD_SIGNAL, lambda number, frame: self._on_reload_signal())
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)
            if RELOAD_SIGNAL is not None:
                # Ignored, not the default (which ends the process): a CLI that found the registry
                # entry just before it was removed may still send one while the process exits.
                signal.signal(RELOAD_SIGNAL, signal.SIG_IGN)


def run_proxy(config: RouterConfig, settings: ProxySettings, fingerprint: str = "") -> None:
    """Bind, print the banner, serve until SIGINT/SIGTERM, following the configuration files
    (``fingerprint``: of the files ``config`` was loaded from). Raises :class:`BindRefused`."""
    check_bind_allowed(settings.host, settings.api_key)
    settings = _within_descriptor_limit(settings)
    sock = bind_socket(settings.host, settings.port)
    defer_accept(sock, settings.idle_timeout)
    print_banner(sock, config, sys.stdout, config_path())
    if "*" in settings.cors_origins and not settings.api_key:
        sys.stderr.write(_OPEN_TO_EVERY_PAGE)
    _clean_registry()
    registration = Registration("proxy", sock.getsockname()[1])
    watcher = ConfigWatcher(os.environ, fingerprint, settings.model_override)
    live = LiveConfig(watcher, registration, reload_signal=RELOAD_SIGNAL is not None)
    app = ProxyApp(config, settings, fingerprint=fingerprint, live=live)
    app.state.metrics = ProxyMetrics(lambda: app.state.generation.config)  # labels follow reloads
    app.state.sink = open_sink([app.state.metrics])  # every call: store in $ROUTER_HOME, /metrics, OTel
    # a stored record is read back only within a request body's limits (docs/proxy-limits.md#continued-conversations)
    read_limit = ResponseStoreLimits(max_read_bytes=settings.max_body_bytes)
    app.state.responses = responses = open_response_store(router_home(), read_limit)
    store = app.state.sink.store
    # /stats and the dashboard read the store in a process of their own
    # (docs/telemetry-bounds.md#reads-in-a-process-of-their-own)
    app.store_reads = reads = store_reads(store.home) if store is not None else None
    app.dashboard = _dashboard_site(settings, store, reads)
    try:
        _ProxyServer(uvicorn_config(app, settings), live.check_soon).run(sockets=[sock])
    finally:
        registration.remove()  # also when start-up failed after registering
        if reads is not None:
            reads.close()
        app.state.sink.close()  # what is still queued is stored before the process ends
        if isinstance(responses, SQLiteResponseStore):
            responses.close()


def _dashboard_site(settings: ProxySettings, store: Optional[TelemetryStore],
                    reads: Optional[StoreReads]) -> "DashboardSite":
    """The dashboard at ``/``, behind the proxy's own key; it reads the store this proxy writes (through
    ``reads``), after the events still on their way to it are written (bounded: a busy store cannot
    hold a page up)."""
    from ..dashboard.site import DashboardSite
    from .stats_view import STORE_FLUSH_SECONDS

    if store is None or reads is None:
        return DashboardSite(api_key=settings.api_key)

    def written() -> None:
        store.flush(STORE_FLUSH_SECONDS)

    return DashboardSite(api_key=settings.api_key, reads=reads, before_read=written)


def _clean_registry() -> None:
    """Entries of proxies that died without removing theirs (SIGKILL, a crash) go now."""
    with contextlib.suppress(OSError):
        live_records()


def uvicorn_config(app: App, settings: ProxySettings) -> uvicorn.Config:
    """How uvicorn serves the proxy, for ``router proxy`` and the proxy ``router shim`` runs alike (and
    the dashboard, on its own): the client-connection limits (``connections.py``,
    docs/proxy-limits.md) on httptools, no WebSocket library (the app answers upgrade requests itself,
    in the client's protocol)."""
    limits = ConnectionLimits(
        max_header_bytes=settings.max_header_bytes,
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
        idle_timeout=settings.idle_timeout,
        max_connections=connection_budget(settings.max_connections),
        send_timeout=settings.send_timeout,
        max_unsent_bytes=2 * settings.max_response_bytes,  # two of the largest answers
    )
    served = CorsApp(app, settings.cors_origins) if settings.cors_origins else app  # not wrapped: no cost
    return uvicorn.Config(
        served,
        loop=_fastest("uvloop", "asyncio"),
        http=guarded_protocol(limits),
        ws="none",
        lifespan="on",
        access_log=False,  # -v prints our own line (no query strings, no client addresses)
        log_level="warning",
        server_header=False,
        # No X-Forwarded-* rewriting: nothing here reads the client's address, and the middleware
        # wrapped every request (2 % of the proxy's time under load).
        proxy_headers=False,
        timeout_graceful_shutdown=settings.shutdown_timeout,
        # The protocol closes idle kept-alive connections itself; uvicorn's own timer agrees with it.
        timeout_keep_alive=max(1, math.ceil(settings.idle_timeout)),
    )


def connection_budget(wanted: int) -> int:
    """``wanted`` client connections, or fewer when this process's file-descriptor limit could not
    hold them with an upstream connection each (docs/proxy-limits.md#connections)."""
    try:
        import resource
    except ImportError:  # not POSIX
        return wanted
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    reserved = min(_RESERVED_FDS, soft // 4)
    return max(1, min(wanted, (soft - reserved) // 2))


def _within_descriptor_limit(settings: ProxySettings) -> ProxySettings:
    """``router proxy`` raises its soft file-descriptor limit (up to the hard one) so that the connections
    it is asked to hold fit; when they still do not, it holds fewer and says so once."""
    needed = 2 * settings.max_connections + _RESERVED_FDS
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and soft < needed:
            raised = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, raised), hard))
    budget = connection_budget(settings.max_connections)
    if budget < settings.max_connections:
        sys.stderr.write(f"router proxy: at most {budget} client connections at once (not "
                         f"{settings.max_connections}): the file-descriptor limit (ulimit -n) holds no more\n")
        return dataclasses.replace(settings, max_connections=budget)
    return settings


def _fastest(preferred: str, fallback: str) -> str:
    try:
        __import__(preferred)
    except ImportError:
        return fallback
    return preferred

