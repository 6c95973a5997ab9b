"""Connections the router accepts send small writes at once, on uvloop and on asyncio's own loop
(Windows, or wherever uvloop is not installed): Nagle's algorithm is off (docs/proxy-limits.md#small-writes).

With it on, uvicorn's two writes of an answer (its head, then its body) met the client's delayed
acknowledgement: every call through a proxy on asyncio's loop took 44 ms more on Linux. The
symptom is a time, and tests do not assert times, so the test reads the cause: the option on the
proxy's end of a real connection, found among this process's descriptors."""

import os
import socket
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from in_thread_server import Served, serve_in_thread
from raw_sockets import data_segments_sent

from host.proxy.app import ProxyApp
from host.proxy.settings import ProxySettings
from host.shim_proxy import BackgroundProxy
from shim.config import RouterConfig

READ_SECONDS = 10.0


def _router_proxy() -> Served:
    """``router proxy``'s way: its listening socket, its uvicorn settings, its app."""
    return serve_in_thread(ProxyApp(RouterConfig(), ProxySettings()))


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
    """``TCP_NODELAY`` of the server's end of ``client``'s connection."""
    return int(_accepted_end(client, lambda end: end.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)))


def _accepted_end(client: socket.socket, read: Callable[[socket.socket], Any]) -> Any:
    """``read`` of the server's end of ``client``'s connection (the server is in this process: its
    socket is the one whose peer is ``client``)."""
    wanted = client.getsockname()
    directory = Path("/proc/self/fd") if Path("/proc/self/fd").is_dir() else Path("/dev/fd")
    for name in os.listdir(directory):
        try:
            duplicate = os.dup(int(name))
        except OSError:  # gone since the listing
            continue
        try:
            candidate = socket.socket(fileno=duplicate)
        except OSError:  # not a socket: the duplicate is closed here, or every look leaks one
            os.close(duplicate)
            continue
        with candidate:
            try:
                if candidate.type == socket.SOCK_STREAM and candidate.getpeername() == wanted:
                    return read(candidate)
            except OSError:  # not connected
                continue
    raise AssertionError(f"no socket in this process is connected to {wanted}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="TCP_INFO is Linux's")
@pytest.mark.parametrize("serve", [_router_proxy, _shim_proxy], ids=["router proxy", "router shim"])
def test_a_whole_answer_leaves_in_one_send(serve: Callable[[], Served], event_loop_kind: str) -> None:
    """uvicorn writes an answer's head and body apart; the proxy sends them as one, a system call and
    a segment fewer per answer (host/proxy/turn_writes.py). The kernel counts the data segments the
    proxy's end sent (``tcpi_data_segs_out``): one answer of a few hundred bytes is one."""
    port, stop = serve()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=READ_SECONDS) as client:
            client.sendall(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
            assert _whole_answer(client).startswith(b"HTTP/1.1 200")
            assert _accepted_end(client, data_segments_sent) == 1
    finally:
        stop()


def _whole_answer(client: socket.socket) -> bytes:
    """One answer with a content-length, read to its end."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += _recv_some(client)
    head, _, body = received.partition(b"\r\n\r\n")
    fields = dict(line.lower().split(b":", 1) for line in head.split(b"\r\n")[1:])
    while len(body) < int(fields[b"content-length"]):
        body += _recv_some(client)
    return head + b"\r\n\r\n" + body


def _recv_some(client: socket.socket) -> bytes:
    chunk = client.recv(65536)
    assert chunk, "the connection closed before the answer was whole"
    return chunk
