"""An ASGI app served for one test the way the router serves its own — its listening socket, its
server, its uvicorn settings and connection limits (host/proxy/server.py) — in a thread of the test's process,
so that the test can look at the server's end of a connection."""

import threading
from typing import Any, Callable, Tuple

from host.proxy.listener import DrainingServer
from host.proxy.server import bind_socket, uvicorn_config
from host.proxy.settings import ProxySettings

__all__ = ["Served", "serve_in_thread"]

Served = Tuple[int, Callable[[], None]]  # the port, and how to stop the server
_STOP_SECONDS = 10.0


def serve_in_thread(app: Any) -> Served:
    """``app`` on a port of 127.0.0.1 (connections made before it has started wait in the backlog)."""
    settings = ProxySettings()
    sock = bind_socket("127.0.0.1", 0)
    server = DrainingServer(uvicorn_config(app, settings))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()

    def stop() -> None:
        server.should_exit = True
        thread.join(_STOP_SECONDS)
        sock.close()

    return sock.getsockname()[1], stop
