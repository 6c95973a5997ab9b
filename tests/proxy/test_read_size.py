"""The proxy takes what a client sends in reads of at most ``READ_SIZE`` (host/proxy/reads.py),
on uvloop and on asyncio's own loop (docs/proxy-limits.md#reads).

Both loops read up to 256 KiB at once, and every read is copied and counted before the loop goes
on: with many clients sending big bodies, each loop turn held every other client for as long as
reading ~256 KiB from each of them took. What the app receives shows the reads: uvicorn hands it
what was read since it last asked, and stops reading once that is over 64 KiB."""

import asyncio
import socket
import threading
from typing import Any, Dict, List, Optional

from in_thread_server import serve_in_thread

from host.proxy.reads import READ_SIZE, SmallReads

READ_SECONDS = 10.0
BODY = bytes(range(256)) * (8 * 4096)  # 8 MiB, every byte placed


class _BodyPieces:
    """An ASGI app that reads each request's body and answers with its length; the pieces' sizes kept."""

    def __init__(self) -> None:
        self.pieces: List[int] = []
        self.received = bytearray()
        self.done = threading.Event()

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            self.pieces.append(len(message.get("body", b"")))
            self.received += message.get("body", b"")
            more = message.get("more_body", False)
        self.done.set()
        answer = str(len(self.received)).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})


def _send(port: int, app: _BodyPieces, body: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=READ_SECONDS) as client:
        head = f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {len(body)}\r\n\r\n"
        client.sendall(head.encode() + body)
        assert app.done.wait(READ_SECONDS)
        assert client.recv(65536).endswith(str(len(body)).encode())


def test_a_big_body_is_read_in_pieces_of_at_most_two_reads(event_loop_kind: str) -> None:
    app = _BodyPieces()
    port, stop = serve_in_thread(app)
    try:
        _send(port, app, BODY)
    finally:
        stop()
    assert bytes(app.received) == BODY  # every byte, in order, through the buffer the reads share
    # uvicorn stops reading once it holds over 64 KiB the app has not taken: two reads at most.
    assert max(app.pieces) <= 2 * READ_SIZE, sorted(app.pieces)[-5:]


def test_loops_in_two_threads_read_into_buffers_of_their_own(event_loop_kind: str) -> None:
    """Both loops read with the interpreter lock released: two loops of one process (router shim's
    proxy runs in a thread of the host) reading into one buffer would mix their clients' bytes."""
    bodies = [BODY, bytes(reversed(BODY))]
    apps = [_BodyPieces() for _ in bodies]
    served = [serve_in_thread(app) for app in apps]
    try:
        senders = [threading.Thread(target=_send, args=(port, app, body))
                   for (port, _), app, body in zip(served, apps, bodies, strict=True)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(READ_SECONDS)
    finally:
        for _, stop in served:
            stop()
    for app, body in zip(apps, bodies, strict=True):
        assert bytes(app.received) == body


class _Recorder(asyncio.Protocol):
    def __init__(self) -> None:
        self.calls: List[Any] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.calls.append(("made", transport))

    def data_received(self, data: bytes) -> None:
        self.calls.append(("data", data))

    def eof_received(self) -> Optional[bool]:
        self.calls.append(("eof",))
        return True  # keep the transport open: the wrapper must say so too

    def pause_writing(self) -> None:
        self.calls.append(("pause",))

    def resume_writing(self) -> None:
        self.calls.append(("resume",))

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.calls.append(("lost", exc))


def test_every_callback_reaches_the_protocol_behind() -> None:
    """What the loops call on the wrapper, uvicorn's protocol gets: a read as the bytes written into
    the lent buffer (not a view of it, which the next read overwrites), and eof_received's answer."""
    inner, transport, error = _Recorder(), object(), OSError("gone")
    reads = SmallReads(inner)
    reads.connection_made(transport)  # type: ignore[arg-type]
    buffer = reads.get_buffer(-1)
    assert len(buffer) == READ_SIZE
    buffer[:5] = b"hello"
    reads.buffer_updated(5)
    buffer[:5] = b"XXXXX"  # the next read reuses the buffer
    reads.pause_writing()
    reads.resume_writing()
    assert reads.eof_received() is True
    reads.connection_lost(error)
    assert inner.calls == [("made", transport), ("data", b"hello"), ("pause",), ("resume",), ("eof",),
                           ("lost", error)]
    assert type(inner.calls[1][1]) is bytes
