"""Reading a server's side of a raw-socket exchange: whether it closed the connection, its whole
answer, what it does with a header that never ends, and how many segments it sent (for the
router's servers, whose connection limits HTTP clients would hide: docs/proxy-limits.md#connections)."""

import fcntl
import socket
import struct
import sys
import termios
import threading
import time
from typing import Dict, List, Optional, Tuple
from urllib.parse import urlsplit

__all__ = ["DEADLINE", "address", "all_read_by_server", "closed_by_server", "data_segments_sent", "endless_header",
           "read_until_closed", "whole_response"]

DEADLINE = 10.0  # the longest a test waits for the server to act
# struct tcp_info (linux/tcp.h, Linux only): tcpi_data_segs_out, a __u32 at this offset since Linux 4.6.
_DATA_SEGS_OUT = 156
_TCP_INFO_SIZE = 256


def address(url: str) -> Tuple[str, int]:
    """The host and port a server's URL names (``http://127.0.0.1:PORT``, with or without a path)."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None, url
    return parts.hostname, parts.port


def closed_by_server(sock: socket.socket, poke: Optional[bytes] = None) -> bool:
    """Read until the server closes the connection (True) or the deadline passes (False). ``poke``: bytes
    sent every 0.1 s meanwhile (a client trickling a request, or stray line breaks)."""
    deadline = time.monotonic() + DEADLINE
    sock.settimeout(0.1 if poke else DEADLINE)
    while time.monotonic() < deadline:
        try:
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            try:
                sock.sendall(poke or b"")
            except OSError:
                return True
        except OSError:  # reset: closed as well
            return True
    return False


def all_read_by_server(sock: socket.socket) -> bool:
    """Whether the server has read every byte sent on ``sock``: none waiting in ``sock``'s send
    queue (``TIOCOUTQ``) nor in the server's receive queue (``/proc/net/tcp``, IPv4 loopback, Linux
    only), the connection still open. A test waits on it where the server gives no other sign."""
    unsent = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]
    if unsent:
        return False
    # The server's end, found by its ports as host/peer_process.py finds a client's.
    client_port, server_port = sock.getsockname()[1], sock.getpeername()[1]
    local, remote = f":{server_port:04X}", f":{client_port:04X}"
    with open("/proc/net/tcp") as table:
        for line in table:
            fields = line.split()  # sl local rem st tx_queue:rx_queue …
            if fields[1].endswith(local) and fields[2].endswith(remote):
                return fields[3] == _ESTABLISHED and int(fields[4].split(":")[1], 16) == 0
    return False


_ESTABLISHED = "01"  # a connection's state in /proc/net/tcp (include/net/tcp_states.h)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a reset ends it too)."""
    sock.settimeout(DEADLINE)
    data = b""
    while True:
        try:
            part = sock.recv(65536)
        except ConnectionResetError:
            break
        if not part:
            break
        data += part
    return data


def whole_response(sock: socket.socket) -> Tuple[int, Dict[str, str], bytes]:
    """One whole response (content-length framed, as every refusal is), read until the server closes."""
    head, _, body = read_until_closed(sock).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def endless_header(sock: socket.socket, head: bytes,
                   piece: bytes = b"a" * 65536) -> Tuple[int, Dict[str, str], bytes, int]:
    """``head`` (a request line and headers, the last one left open), then 64 MiB of that header, sent
    as fast as the server reads on a thread of its own: the server's answer, and the bytes of the
    header sent before the server closed the connection. ``piece``: what is sent 1,024 times (other
    endless parts of a request: a chunk extension, trailer lines)."""
    sent: List[int] = [0]
    sock.sendall(head)

    def flood() -> None:
        try:
            for _ in range(1024):
                sock.sendall(piece)
                sent[0] += len(piece)
        except OSError:
            pass  # the server closed: what a test of the limit expects

    sender = threading.Thread(target=flood, daemon=True)
    sender.start()
    status, headers, body = whole_response(sock)
    sender.join(DEADLINE)
    return status, headers, body, sent[0]


def data_segments_sent(sock: socket.socket) -> int:
    """The segments with data that ``sock`` has sent, as the kernel counts them (``TCP_INFO``)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_SIZE)
    return int.from_bytes(info[_DATA_SEGS_OUT:_DATA_SEGS_OUT + 4], sys.byteorder)
