"""Accepting connections: every connection that waits, each time the loop looks (docs/proxy-limits.md#accepting).

Since libuv 1.45 (what uvloop runs on), a listening socket gives one connection per event-loop
iteration. Under a flood of new connections (an attacker's, or any busy client without keep-alive)
the kernel's accept queue then holds as many connections as the flood keeps opening, and a real
client's new connection waits behind each of them, an iteration apiece: 43 ms at the median under
every attack of ``bench/hostile.py`` at once, while the same proxy answered kept-alive calls in 14.
CPython's own loop takes up to a backlog's worth per readiness. :class:`DrainingListener` does that
on either loop — at most ``batch`` connections each time the socket is readable, so a storm of
connections cannot take a whole iteration either — and :class:`DrainingServer` is uvicorn's server
with its sockets served that way.

A listener is CLOSED until ``start()``, then in one of these states::

    SERVING ──out of descriptors──► PAUSED ──after PAUSE_SECONDS──► SERVING
       │                              │
       └────────────close()───────────┴──────────► CLOSED

PAUSED leaves the waiting connections in the kernel's queue (they are served once descriptors
free up) instead of looping on a socket that is readable and cannot be accepted from.
"""

import asyncio
import errno
import logging
import select
import socket
from typing import Callable, List, Optional, Set

import uvicorn

from .reads import SmallReads

__all__ = ["ACCEPT_BATCH", "CLOSED", "PAUSED", "PAUSE_SECONDS", "SERVING", "DrainingListener", "DrainingServer"]

SERVING = "serving"
PAUSED = "paused"
CLOSED = "closed"

# Connections accepted per readiness: more than any client keeps opening at once, few enough that
# accepting them (a protocol and a task each) stays a small part of an iteration.
ACCEPT_BATCH = 128
# How long to leave the queue alone when the process is out of descriptors (CPython's loop: 1 s).
PAUSE_SECONDS = 0.1

# accept() failures that say "no room now", not "this connection is bad".
_OUT_OF_ROOM = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

_logger = logging.getLogger("router.proxy")


class DrainingListener:
    """One listening socket served by the running loop: each readiness accepts up to ``batch``
    connections and hands each to ``protocol_factory`` through the loop's own transport."""

    def __init__(self, sock: socket.socket, protocol_factory: Callable[[], asyncio.BaseProtocol],
                 batch: int = ACCEPT_BATCH) -> None:
        self._sock = sock
        self._factory = protocol_factory
        self._batch = batch
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._connecting: Set[asyncio.Task[object]] = set()  # a strong reference until each is made
        self._resume: Optional[asyncio.TimerHandle] = None
        self.state = CLOSED
        self.pauses = 0  # times it ran out of descriptors (for tests)
        self._accepted_since_pause = True  # one warning for a shortage, not one every pause

    def start(self, loop: asyncio.AbstractEventLoop) -> "DrainingListener":
        self._loop = loop
        self._sock.setblocking(False)
        self._serve()
        return self

    def close(self) -> None:
        """Stop accepting (the socket is its owner's to close); connections already handed over
        are the server's."""
        if self.state == SERVING and self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
        if self._resume is not None:
            self._resume.cancel()
        self.state = CLOSED

    def _serve(self) -> None:
        assert self._loop is not None
        self._resume = None
        self.state = SERVING
        self._loop.add_reader(self._sock.fileno(), self._accept_waiting)

    def _accept_waiting(self) -> None:
        if self.state != SERVING:
            return  # closed, with this readiness already on its way
        for _ in range(self._batch):
            try:
                connection, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # the queue is empty
            except OSError as exc:
                if exc.errno in _OUT_OF_ROOM:
                    if _connection_waiting(self._sock):
                        self._pause()
                    return
                # The client left before it was accepted (ECONNABORTED), or a network error that
                # accept(2) says to treat as "try again": this connection is lost, not the socket.
                _logger.debug("accept failed: %s", exc.strerror or exc)
                continue
            connection.setblocking(False)
            self._accepted_since_pause = True
            self._hand_over(connection)

    def _hand_over(self, connection: socket.socket) -> None:
        assert self._loop is not None
        task = self._loop.create_task(self._connect(connection))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)

    async def _connect(self, connection: socket.socket) -> None:
        assert self._loop is not None
        try:
            await self._loop.connect_accepted_socket(self._factory, connection)
        except OSError:  # the client reset it in between: nothing to serve
            connection.close()
        except Exception as exc:  # a protocol that could not be made: this connection, not the server
            connection.close()
            _logger.error("a new connection could not be served: %s", type(exc).__name__)

    def _pause(self) -> None:
        assert self._loop is not None
        self._loop.remove_reader(self._sock.fileno())
        self.state = PAUSED
        self.pauses += 1
        if self._accepted_since_pause:
            _logger.warning("out of file descriptors: new connections wait in the queue until some free up")
        self._accepted_since_pause = False
        self._resume = self._loop.call_later(PAUSE_SECONDS, self._serve)


def _connection_waiting(sock: socket.socket) -> bool:
    """Whether a connection waits in ``sock``'s accept queue. Linux's ``accept()`` fails for want of
    a descriptor before it looks at the queue, so taking the last free one makes the next call fail
    with nobody waiting: no reason to pause (the socket is not readable, the loop does not spin)."""
    poll = getattr(select, "poll", None)
    if poll is None:  # no poll(2) (Windows): assume one waits, as before
        return True
    poller = poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class DrainingServer(uvicorn.Server):
    """uvicorn's server, but the sockets it is given are served by :class:`DrainingListener`s
    instead of ``loop.create_server`` (which, on uvloop, accepts one connection an iteration)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._listeners: List[DrainingListener] = []

    async def startup(self, sockets: Optional[List[socket.socket]] = None) -> None:
        if sockets is None:  # uvicorn binds its own socket: the router always hands it one
            await super().startup(None)
            return
        await super().startup(sockets=[])  # the app's start-up, and no server of uvicorn's own
        loop = asyncio.get_running_loop()
        self._listeners = [DrainingListener(sock, self._new_protocol).start(loop) for sock in sockets]

    async def shutdown(self, sockets: Optional[List[socket.socket]] = None) -> None:
        for listener in self._listeners:
            listener.close()
        await super().shutdown(sockets)

    def _new_protocol(self) -> SmallReads:
        """What uvicorn's own ``create_protocol`` makes for each connection (uvicorn 0.55), read in
        pieces of a bounded size (reads.py)."""
        protocol_class = self.config.http_protocol_class
        return SmallReads(protocol_class(config=self.config, server_state=self.server_state,  # type: ignore[call-arg]
                                         app_state=self.lifespan.state))
