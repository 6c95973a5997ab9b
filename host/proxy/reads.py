"""Reads of at most :data:`READ_SIZE` from a client's socket (docs/proxy-limits.md#reads).

uvloop reads up to 250 KiB at once and asyncio's own loop up to 256 KiB, and what a read took is
copied and counted (its head's size, its body's JSON values) before the loop goes on. With many
clients sending big bodies at once, one loop turn read that much from each of them, and every other
client waited for all of it: 32 clients sending bodies of spaces held a normal call for up to tens
of milliseconds. Reads of 64 KiB make that turn a quarter as long per client (two reads of a body
at most while uvicorn holds it for the app; the docs say what uvloop reads when nothing pauses).

A loop chooses the size of its reads itself unless the protocol lends the buffer: asyncio's for an
``asyncio.BufferedProtocol``, uvloop's for a protocol with ``get_buffer`` that is not also a plain
``asyncio.Protocol`` — which uvicorn's is. :class:`SmallReads` is a buffered protocol in front of
uvicorn's; each read is handed on as bytes, as the loop would have handed it.
"""

import asyncio
import threading
from typing import Optional

__all__ = ["READ_SIZE", "SmallReads"]

READ_SIZE = 64 * 1024

# One buffer for all the connections of a thread's loop: the loop reads into it and calls
# buffer_updated at once, which copies the read out before the loop reads for another connection
# (uvloop and asyncio alike). Not one for the process: both loops read with the interpreter lock
# released, and a process may run loops in several threads (router shim's proxy, the tests').
_buffers = threading.local()


def _thread_buffer() -> memoryview:
    buffer: Optional[memoryview] = getattr(_buffers, "buffer", None)
    if buffer is None:
        buffer = _buffers.buffer = memoryview(bytearray(READ_SIZE))
    return buffer


class SmallReads(asyncio.BufferedProtocol):
    """``protocol``'s connection, read :data:`READ_SIZE` at most at a time."""

    __slots__ = ("_buffer", "protocol")

    def __init__(self, protocol: asyncio.Protocol) -> None:
        self.protocol = protocol
        self._buffer = _thread_buffer()  # made on the loop's thread, as a server makes its protocols

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.protocol.connection_made(transport)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.protocol.connection_lost(exc)

    def pause_writing(self) -> None:
        self.protocol.pause_writing()

    def resume_writing(self) -> None:
        self.protocol.resume_writing()

    def eof_received(self) -> Optional[bool]:
        return self.protocol.eof_received()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.protocol.data_received(bytes(self._buffer[:nbytes]))
