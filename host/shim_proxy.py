"""The HTTP proxy ``router shim`` runs for the child's lifetime, on an ephemeral loopback port.

The tree's processes that are not Python reach the router only through it (``OPENAI_BASE_URL`` /
``ANTHROPIC_BASE_URL`` point at it for every process); Python ones route in-process and use it only
for the aiohttp hand-off (``ROUTER_SHIM_PROXY_URL``; docs/shim-process-tree.md). The listening socket is
bound at once (stdlib, a millisecond) so its URL can go into the child's environment. uvicorn and
the app (~0.3 s of imports) are loaded on a daemon thread only when the first connection arrives,
which waits in the listen backlog meanwhile: most Python children never use the proxy, and then
it costs nothing, neither at start nor at exit.

Each call the proxy serves is passed to ``on_event`` (the run's telemetry collector), so the
summary and ``-v`` cover proxied calls as well, named after the process that made them where the
kernel says (``host/peer_process.py``). The run's configuration follower hands it every new
configuration (:meth:`BackgroundProxy.adopt_config`), which it serves from the next call on.
"""

import os
import select
import socket
import threading
from typing import Any, Callable, Optional

from shim.config import RouterConfig
from shim.telemetry import CallEvent

from .tcp_listener import tcp_socket

__all__ = ["BackgroundProxy"]

_LOOPBACK = "127.0.0.1"
_BACKLOG = 2048
_STOP_SECONDS = 3.0


class BackgroundProxy:
    """``start()`` → :attr:`url` is usable; ``stop()`` shuts the server down (bounded wait)."""

    def __init__(self, config: RouterConfig, on_event: Callable[[CallEvent], None], fingerprint: str = "",
                 log_bodies: bool = False) -> None:
        self._config = config
        self._log_bodies = log_bodies  # router shim -vv
        self._fingerprint = fingerprint
        self._app: Optional[Any] = None  # the ProxyApp, once the thread has built it
        self._on_event = on_event
        self._socket = tcp_socket(socket.AF_INET)
        self._socket.bind((_LOOPBACK, 0))
        self._socket.listen(_BACKLOG)
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://{_LOOPBACK}:{self.port}"
        self._server: Optional[Any] = None  # uvicorn.Server, once the thread has built it
        self._lock = threading.Lock()
        self._stopping = False
        self._wake_reader, self._wake_writer = socket.socketpair()  # stop() wakes the idle thread
        self._thread = threading.Thread(target=self._serve, name="router-shim-proxy", daemon=True)
        self.failure: Optional[str] = None  # why the proxy could not run (reported at exit)

    def start(self) -> "BackgroundProxy":
        self._thread.start()
        return self

    def adopt_config(self, config: RouterConfig, fingerprint: str) -> None:
        """From any thread: calls the proxy starts from now on use ``config`` (also when it is
        started later, or never)."""
        with self._lock:
            self._config, self._fingerprint = config, fingerprint
            app = self._app
        if app is not None:
            app.adopt_config(config, fingerprint)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            if self._server is not None:
                self._server.should_exit = True
        self._wake_writer.send(b"x")
        self._thread.join(_STOP_SECONDS)
        for sock in (self._socket, self._wake_reader, self._wake_writer):
            sock.close()

    def _serve(self) -> None:
        readable, _, _ = select.select([self._socket, self._wake_reader], [], [])
        if self._wake_reader in readable:
            return  # stopped before anyone connected: uvicorn was never needed
        try:
            server = self._build_server()
            with self._lock:
                if self._stopping:
                    return
                self._server = server
            server.run(sockets=[self._socket])
        except Exception as exc:  # the child must run even when the proxy cannot
            self.failure = f"{type(exc).__name__}: {exc}"

    def _build_server(self) -> Any:
        from .peer_process import PeerFinder
        from .proxy.app import ProxyApp
        from .proxy.listener import DrainingServer  # uvicorn, heavy: imported here, on the thread
        from .proxy.server import defer_accept, uvicorn_config
        from .proxy.settings import ProxySettings
        from .proxy.stats import ProxyStats

        on_event = self._on_event

        class ReportingStats(ProxyStats):
            """The proxy's own counters, plus every call event handed to the run's collector."""

            def record(self, event: CallEvent) -> None:
                super().record(event)
                on_event(event)

        with self._lock:  # adopt_config from here on goes to the app
            settings = ProxySettings(host=_LOOPBACK, port=0, shim_callers=True, shutdown_timeout=1,
                                     log_bodies=self._log_bodies)
            app = ProxyApp(self._config, settings, fingerprint=self._fingerprint)
            self._app = app
        app.state.stats = ReportingStats()
        app.state.peers = PeerFinder(os.getpid())  # its clients are this process's descendants
        # The same server settings as router proxy's, connection limits included (docs/proxy-limits.md);
        # deferred accept from the second connection on (the first is what woke this thread).
        defer_accept(self._socket, settings.idle_timeout)
        return DrainingServer(uvicorn_config(app, settings))
