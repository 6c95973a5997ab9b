"""``router dashboard``: the dashboard on its own, for shim-only users (no proxy running).

A raw ASGI wrapper around :class:`~.site.DashboardSite` on uvicorn, bound to 127.0.0.1 before the
server starts (an ephemeral port unless one is asked for), so the printed URL is the one that
answers. Store reads run on a worker thread, never on the event loop.

Any local process can reach 127.0.0.1, so the dashboard's connections have ``router proxy``'s limits
and defaults — head size, header and idle timeouts, the connection cap, deferred accept, every
waiting connection taken each look (docs/proxy-limits.md#connections): served by uvicorn alone, one
64 MiB header held it for 5 s and a connection that sent a line break stayed open for good.
"""

import asyncio
import sys
import time
from typing import Optional, TextIO

from ..proxy.asgi_io import Receive, ResponseWriter, Scope, Send, request_headers
from ..proxy.listener import DrainingServer
from ..proxy.server import bind_socket, defer_accept, uvicorn_config
from ..proxy.settings import ProxySettings
from .site import DashboardSite

__all__ = ["DASHBOARD_HOST", "DashboardApp", "run_dashboard"]

DASHBOARD_HOST = "127.0.0.1"


class DashboardApp:
    """ASGI: every HTTP request goes to the site; lifespan has nothing to set up."""

    def __init__(self, site: DashboardSite) -> None:
        self.site = site

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        if scope["type"] != "http":
            return
        response = await asyncio.to_thread(self.site.answer, scope["method"], scope["path"],
                                           scope.get("query_string", b""), request_headers(scope))
        await ResponseWriter(send, time.perf_counter).whole(response)


def run_dashboard(port: int, api_key: Optional[str], out: TextIO = sys.stdout) -> None:
    """Bind, print the URL, serve until SIGINT/SIGTERM. Raises ``BindRefused`` for a busy port."""
    settings = ProxySettings(host=DASHBOARD_HOST, port=port, shutdown_timeout=1)
    sock = bind_socket(DASHBOARD_HOST, port)
    defer_accept(sock, settings.idle_timeout)
    url = f"http://{DASHBOARD_HOST}:{sock.getsockname()[1]}/"
    out.write(f"router dashboard on {url}\n" + ("  ROUTER_API_KEY is set: the page asks for it\n" if api_key else "")
              + "  Ctrl-C to stop\n")
    out.flush()
    DrainingServer(uvicorn_config(DashboardApp(DashboardSite(api_key=api_key)), settings)).run(sockets=[sock])
