"""Connections the router accepts send small writes at once, on uvloop and on asyncio's own loop
(Windows, or wherever uvloop is not installed): Nagle's algorithm is off (docs/proxy-limits.md#small-writes).

With it on, uvicorn's two writes of an answer (its head, then its body) met the client's delayed
acknowledgement: every call through a proxy on asyncio's loop took 44 ms more on Linux. The
symptom is a time, and tests do not assert times, so the test reads the cause: the option on the
proxy's end of a real connection, found among this process's descriptors."""

import os
import socket
import sys
import threading
from pathlib import Path
from typing import Callable, Iterator, Tuple

import pytest
import uvicorn

from host.proxy.app import ProxyApp
from host.proxy.server import bind_socket, uvicorn_config
from host.proxy.settings import ProxySettings
from host.shim_proxy import BackgroundProxy
from shim.config import RouterConfig

READ_SECONDS = 10.0
Served = Tuple[int, Callable[[], None]]  # the port, and how to stop the server


@pytest.fixture(params=["uvloop", "asyncio"])
def event_loop_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The loop uvicorn serves on: uvloop when it can be imported, asyncio's own when it cannot."""
    if request.param == "asyncio":
        monkeypatch.setitem(sys.modules, "uvloop", None)  # what an install without uvloop looks like
    yield request.param


def _router_proxy() -> Served:
    """``router proxy``'s way: its listening socket, its uvicorn settings, its app."""
    settings = ProxySettings()
    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn_config(ProxyApp(RouterConfig(), settings), settings))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()

    def stop() -> None:
        server.should_exit = True
        thread.join(READ_SECONDS)
        sock.close()

    return sock.getsockname()[1], stop


def _shim_proxy() -> Served:
    """The proxy ``router shim`` runs for a child's tree."""
    proxy = BackgroundProxy(RouterConfig(), on_event=lambda event: None).start()
    return proxy.port, proxy.stop


@pytest.mark.parametrize("serve", [_router_proxy, _shim_proxy], ids=["router proxy", "router shim"])
def test_the_proxys_end_of_a_connection_has_nagle_off(serve: Callable[[], Served], event_loop_kind: str) -> None:
    port, stop = serve()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=READ_SECONDS) as client:
            client.sendall(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
            assert client.recv(65536).startswith(b"HTTP/1.1 200")  # accepted and served
            assert _nodelay_of_accepted_end(client) != 0
    finally:
        stop()


def _nodelay_of_accepted_end(client: socket.socket) -> int:
    """``TCP_NODELAY`` of the server's end of ``client``'s connection (the server is in this
    process: its socket is the one whose peer is ``client``)."""
    wanted = client.getsockname()
    directory = Path("/proc/self/fd") if Path("/proc/self/fd").is_dir() else Path("/dev/fd")
    for name in os.listdir(directory):
        try:
            candidate = socket.socket(fileno=os.dup(int(name)))
        except OSError:  # gone since the listing, or not a socket
            continue
        with candidate:
            try:
                if candidate.type == socket.SOCK_STREAM and candidate.getpeername() == wanted:
                    return candidate.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            except OSError:  # not connected
                continue
    raise AssertionError(f"no socket in this process is connected to {wanted}")
