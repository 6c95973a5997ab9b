"""``router dashboard`` on its own keeps ``router proxy``'s connection limits: any local process can
reach 127.0.0.1 (docs/proxy-limits.md#connections). Raw sockets, as in tests/proxy/test_client_limits.py,
which tests each limit in depth; here, that the dashboard's server has them."""

import json
import socket
from pathlib import Path

import httpx
from dashboard_support import DashboardProcess
from raw_sockets import DEADLINE, address, closed_by_server, endless_header

_OPEN_FILES = 256  # the dashboard then holds (256 - 64) / 2 = 96 connections (docs/proxy-limits.md#connections)


def test_an_endless_header_is_refused_before_it_ends(home: Path) -> None:
    """Before, uvicorn read a 64 MiB header to its end (5 s) and answered 200."""
    with DashboardProcess(home) as dashboard, \
            socket.create_connection(address(dashboard.url), timeout=DEADLINE) as sock:
        status, _, body, sent = endless_header(sock, b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nx-endless: ")
    assert status == 431 and "32768 bytes" in json.loads(body)["error"]["message"]
    assert sent < 64 * 1024 * 1024


def test_idle_connections_beyond_the_descriptor_limit_do_not_lock_out_the_page(home: Path) -> None:
    """Twice as many connections as the process has descriptors, each sending a line break (no
    request): the longest-idle are closed to make room, and the page is served. Before, every one was
    held open for good, and once descriptors ran out the next connection was taken and closed."""
    with DashboardProcess(home, max_open_files=_OPEN_FILES) as dashboard:
        flood = []
        try:
            for _ in range(2 * _OPEN_FILES):
                flood.append(socket.create_connection(address(dashboard.url), timeout=DEADLINE))
                flood[-1].sendall(b"\r\n")
            page = httpx.get(dashboard.url, timeout=DEADLINE)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert all(closed_by_server(sock) for sock in flood[:100])  # the oldest made room for the rest
        finally:
            for sock in flood:
                sock.close()
