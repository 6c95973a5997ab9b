"""A client connection's writes of one event-loop turn, sent to the socket as one (docs/proxy-limits.md#small-writes).

uvicorn writes an answer's head when the app starts it and its body when the app sends it, and both
uvloop and asyncio's own loop send each write to the socket at once: two system calls for every
whole answer, where one would do. On loopback a send is the TCP path's work, the receiver's
included, and under a flood of small calls the proxy's loop spent about a third of its time in
those sends. :class:`TurnWrites` stands between uvicorn and the transport: small writes are kept
until the loop runs the callbacks made ready in the turn they were made in (by the next turn at the
latest), and what was kept goes out in one write. The app sends a whole answer's head and body in
one turn, so they leave together; a stream's events go out as they come.

Nothing large is kept: a write of :data:`FLUSH_AT` bytes or more sends what is kept and then itself
at once, uncopied, and so does one that takes what is kept that far — so the transport's own flow
control (its high-water mark, uvicorn's pause of the app) sees big answers as before. A close sends
what is kept first and an abort drops it; the transport closing itself (the client's half-close)
goes past this wrapper, so the protocol sends what is kept when the end of the client's data
arrives (``connections.py``).
"""

import asyncio
from typing import Any, Callable, Iterable, List, Optional

__all__ = ["FLUSH_AT", "TurnWrites"]

# What is kept before it goes out anyway: below the transports' high-water mark (64 KiB), so flow
# control is unchanged, and far above an answer's head or a small answer.
FLUSH_AT = 16 * 1024


class TurnWrites:
    """``transport`` with its writes of one loop turn sent as one; everything else is the transport's."""

    __slots__ = ("_ended", "_instead_of_close", "_kept", "_kept_bytes", "_loop", "_scheduled", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._kept: List[bytes] = []
        self._kept_bytes = 0
        self._scheduled: Optional[asyncio.Handle] = None
        self._ended = False  # write_eof was called: nothing more can be sent (the transport would raise)
        self._instead_of_close: Optional[Callable[[], None]] = None  # see instead_of_close

    def write(self, data: bytes) -> None:
        if not data or self._ended:
            return
        if len(data) >= FLUSH_AT:
            self.flush()
            self._transport.write(data)  # as uvicorn would have: no copy into what is kept
            return
        self._kept.append(data)
        self._kept_bytes += len(data)
        if self._kept_bytes >= FLUSH_AT:
            self.flush()
        elif self._scheduled is None:
            self._scheduled = self._loop.call_soon(self._turn_ended)

    def writelines(self, chunks: Iterable[bytes]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def write_eof(self) -> None:
        """Send what is kept and end the proxy's side; a write after this is dropped: the connection
        was answered already (a refusal) and only reads what its client still sends."""
        self.flush()
        self._ended = True
        self._transport.write_eof()

    def flush(self) -> None:
        """Send what is kept now."""
        self._unschedule()
        self._send_kept()

    def _turn_ended(self) -> None:
        self._scheduled = None
        self._send_kept()

    def _send_kept(self) -> None:
        kept = self._kept
        if not kept:
            return
        self._kept, self._kept_bytes = [], 0
        if not self._transport.is_closing():  # closed meanwhile (the client left): nothing to send to
            self._transport.write(kept[0] if len(kept) == 1 else b"".join(kept))

    def is_closing(self) -> bool:  # asked several times a request: not through __getattr__
        return self._transport.is_closing()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._kept_bytes

    def instead_of_close(self, closer: Optional[Callable[[], None]]) -> None:
        """The next :meth:`close` calls ``closer`` instead (once): uvicorn closes a connection as soon
        as its last answer is written, and the protocol may want to end it otherwise (a lingering
        close, ``connections.py``). None: close as usual again."""
        self._instead_of_close = closer

    def close(self) -> None:
        closer, self._instead_of_close = self._instead_of_close, None
        if closer is not None:
            closer()
            return
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._unschedule()
        self._kept, self._kept_bytes = [], 0
        self._transport.abort()

    def _unschedule(self) -> None:
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)  # pause_reading, get_extra_info, …
