"""The proxy takes what a client sends in reads of at most ``READ_SIZE`` (host/proxy/reads.py),
on uvloop and on asyncio's own loop (docs/proxy-limits.md#reads).

Both loops read up to 256 KiB at once, and every read is copied and counted before the loop goes
on: with many clients sending big bodies, each loop turn held every other client for as long as
reading ~256 KiB from each of them took. What the app receives shows the reads: uvicorn hands it
what was read since it last asked, and stops reading once that is over 64 KiB."""

import socket
import threading
from typing import Any, Dict, List

from in_thread_server import serve_in_thread

from host.proxy.reads import READ_SIZE

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
