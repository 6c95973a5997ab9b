"""The TCP sockets the router listens on (``router proxy``, the dashboard, the proxy ``router shim``
runs). Standard library only: the shim's proxy binds one before anything heavy is imported.

Every connection accepted from them must send a small write at once (docs/proxy-limits.md#small-writes).
uvloop turns Nagle's algorithm off on each connection it accepts, whatever the listening socket is;
asyncio's own loops (Windows, or wherever uvloop is not installed) do so only when the listening
socket names its protocol, ``IPPROTO_TCP`` — and ``socket.socket()`` leaves it at 0.
"""

import socket

__all__ = ["tcp_socket"]


def tcp_socket(family: int) -> socket.socket:
    """A stream socket of ``family`` (``AF_INET``/``AF_INET6``) whose protocol is named, so that
    connections accepted from it have ``TCP_NODELAY`` on every event loop."""
    return socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
