"""Fire-and-forget messages from a shimmed process to the host's collector (docs/shim.md#telemetry-socket).

``AF_UNIX``, non-blocking, connected lazily and again whenever the PID changes (a forked child must
not share its parent's socket object). ``SOCK_SEQPACKET`` where the host listens with it (Linux):
this process gets its own queue in the kernel, as deep as its send buffer (raised to
:data:`SEND_BUFFER`: ~800 events), instead of the 10 datagrams every sender shares on a
``SOCK_DGRAM`` receiver; ``MSG_NOSIGNAL`` so a vanished host is ``EPIPE``, never ``SIGPIPE``. When the
host's socket is a datagram one (``EPROTOTYPE``; macOS) the same connect is made with
``SOCK_DGRAM``. A full queue (``EAGAIN``) drops the message and counts it (the count travels in the
next call event as ``dropped_before``); a missing, stale or closed socket (``ENOENT``,
``ECONNREFUSED``, ``EPIPE``, ``ECONNRESET``: the host is gone) backs off for 5 s; nothing ever
raises. ``_socket`` is used rather than ``socket``: the Python wrapper pulls in ``selectors``,
``math``, ``array``… (3 ms) while the hello is sent during start-up.
"""

import os
import time

try:
    import _socket
except ImportError:  # pragma: no cover - a Python built without sockets
    _socket = None  # type: ignore[assignment]

from .env_names import TELEMETRY_SOCKET

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~20 modules on 3.9 and this module loads during start-up
    from typing import Callable, Optional

__all__ = ["BACKOFF_SECONDS", "SEND_BUFFER", "TelemetrySender", "process_sender"]

BACKOFF_SECONDS = 5.0
SEND_BUFFER = 1 << 20  # the kernel caps it at net.core.wmem_max (and doubles it for its bookkeeping)
_HOST_GONE = (FileNotFoundError, ConnectionRefusedError, BrokenPipeError, ConnectionResetError)
_NO_SIGNAL = getattr(_socket, "MSG_NOSIGNAL", 0) if _socket is not None else 0


class TelemetrySender:
    """Sends datagrams to ``path``; see the module docstring."""

    def __init__(self, path: "Optional[str]", clock: "Callable[[], float]" = time.monotonic) -> None:
        self.path = path
        self.dropped = 0  # datagrams lost since the last delivered call event
        self.sent = 0
        self._clock = clock
        self._sock: Optional[object] = None
        self._sock_generation = -1  # _forks.count when the socket was connected
        self._retry_at = 0.0

    def send(self, data: bytes, carries_drop_count: bool = False) -> bool:
        """Deliver ``data`` or drop it; True when the kernel took it. Never raises.

        ``carries_drop_count``: ``data`` reported :attr:`dropped`, so the count restarts at zero."""
        try:
            delivered = self._send(data)
        except Exception:
            delivered = False
        if not delivered:
            self.dropped += 1
        elif carries_drop_count:
            self.dropped = 0
        return delivered

    def send_final(self, data: bytes, attempts: int = 10, pause: float = 0.005) -> bool:
        """At exit: like :meth:`send`, but a full queue is waited on (up to ``attempts`` × ``pause``,
        50 ms) rather than dropped, since nothing will come after it. Never raises."""
        for _ in range(attempts):
            try:
                if self._send(data):
                    return True
            except Exception:
                return False
            if self._retry_at:  # the host is gone: no point waiting
                return False
            time.sleep(pause)
        return False

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()  # type: ignore[attr-defined]
            except Exception:
                pass

    def _send(self, data: bytes) -> bool:
        if not self.path or _socket is None:
            return False
        if self._retry_at:  # backing off (the clock is read only then)
            if self._clock() < self._retry_at:
                return False
            self._retry_at = 0.0
        try:
            self._socket(self.path).send(data, _NO_SIGNAL)  # type: ignore[attr-defined]
        except BlockingIOError:
            return False  # the host's queue is full (or its accept backlog): drop, never wait
        except _HOST_GONE:
            self._retry_at = self._clock() + BACKOFF_SECONDS  # the host is gone (or not there yet)
            self.close()  # reconnect after the back-off: a restarted host has a new socket
            return False
        self.sent += 1
        return True

    def _socket(self, path: str) -> object:
        if self._sock is None or self._sock_generation != _forks.count:
            self.close()  # after a fork: the child's copy of the parent's descriptor
            self._sock = _connect(path)
            self._sock_generation = _forks.count
        return self._sock


class _forks:
    """How many times this process has been forked into (counted in the child): a socket connected
    before the last fork is the parent's. Cheaper than comparing PIDs per message (``getpid`` is a
    system call); ``os.fork`` and ``multiprocessing``'s fork both run the hook."""

    count = 0


def _count_fork() -> None:
    _forks.count += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_count_fork)


def _connect(path: str) -> object:
    """A connected non-blocking socket: ``SOCK_SEQPACKET`` when the host listens with it, else datagram."""
    seqpacket = getattr(_socket, "SOCK_SEQPACKET", None)
    if seqpacket is not None:
        try:
            return _connected(path, seqpacket)
        except (FileNotFoundError, BlockingIOError):
            raise  # no host (the caller backs off), or its accept backlog is full (the caller drops)
        except OSError:
            pass  # EPROTOTYPE: a datagram host; EPROTONOSUPPORT: no AF_UNIX SOCK_SEQPACKET here; a stale
            # socket refuses the datagram connect below as well, and the caller backs off
    return _connected(path, _socket.SOCK_DGRAM)


def _connected(path: str, kind: int) -> object:
    sock = _socket.socket(_socket.AF_UNIX, kind)
    try:
        sock.setblocking(False)
        if kind != _socket.SOCK_DGRAM:
            _raise_send_buffer(sock)
        sock.connect(path)  # once: a connected send skips the path lookup per message
    except BaseException:
        sock.close()
        raise
    return sock


def _raise_send_buffer(sock: object) -> None:
    try:
        sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_SNDBUF, SEND_BUFFER)  # type: ignore[attr-defined]
    except OSError:
        pass  # the default (~160 events) still works


_process_sender: "Optional[TelemetrySender]" = None
_process_sender_key = (0, "")


def process_sender() -> TelemetrySender:
    """This process's sender for the socket the host named (a new one after a fork)."""
    global _process_sender, _process_sender_key
    key = (os.getpid(), os.environ.get(TELEMETRY_SOCKET, ""))
    if _process_sender is None or _process_sender_key != key:
        _process_sender = TelemetrySender(key[1] or None)
        _process_sender_key = key
    return _process_sender
