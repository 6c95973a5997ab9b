"""A connection's writes of one loop turn leave as one (host/proxy/turn_writes.py), on a real
connection on 127.0.0.1, on uvloop and on asyncio's own loop: what one turn writes is one send, a
large write is not held back, a close sends what was written first and an abort drops it
(docs/proxy-limits.md#small-writes). The kernel counts what the server's end sent
(``tcpi_data_segs_out``), read between the writes, in the same turn."""

import asyncio
import socket
import sys
from typing import Any, Awaitable, Callable, Dict, Tuple, cast

import pytest
import uvloop
from in_thread_server import serve_in_thread
from raw_sockets import data_segments_sent, read_until_closed

from host.proxy.turn_writes import FLUSH_AT, TurnWrites

READ_SECONDS = 10.0
Served = Callable[[TurnWrites, socket.socket], Awaitable[None]]
LINUX_ONLY = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="TCP_INFO is Linux's")


@pytest.fixture(params=["uvloop", "asyncio"])
def run(request: pytest.FixtureRequest) -> Callable[[Served], bytes]:
    """Runs ``serve`` on the server's end of a fresh connection on the given loop; what the client read."""
    new_loop = uvloop.new_event_loop if request.param == "uvloop" else asyncio.new_event_loop

    def run_on_loop(serve: Served) -> bytes:
        loop = new_loop()
        try:
            return loop.run_until_complete(asyncio.wait_for(_connect_and_serve(serve), READ_SECONDS))
        finally:
            loop.close()

    return run_on_loop


async def _connect_and_serve(serve: Served) -> bytes:
    served: asyncio.Future[Tuple[TurnWrites, socket.socket]] = asyncio.get_running_loop().create_future()

    class Server(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            served.set_result((TurnWrites(cast(asyncio.Transport, transport), asyncio.get_running_loop()), sock))

    server = await asyncio.get_running_loop().create_server(Server, "127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
        writes, end = await served
        await serve(writes, end)
        received = await reader.read()  # to the close
        writer.close()
        return received
    finally:
        server.close()


@LINUX_ONLY
def test_what_one_turn_writes_is_one_send(run: Callable[[Served], bytes]) -> None:
    async def serve(writes: TurnWrites, end: socket.socket) -> None:
        writes.write(b"HTTP/1.1 200 OK\r\n\r\n")
        writes.writelines([b"a", b"", b"b"])
        assert data_segments_sent(end) == 0 and writes.get_write_buffer_size() == 21  # kept until the turn ends
        await asyncio.sleep(0)
        assert data_segments_sent(end) == 1
        writes.write(b"c")  # a later turn: a send of its own
        await asyncio.sleep(0)
        assert data_segments_sent(end) == 2
        writes.close()

    assert run(serve) == b"HTTP/1.1 200 OK\r\n\r\nabc"


@LINUX_ONLY
def test_a_write_that_fills_what_is_kept_goes_out_at_once(run: Callable[[Served], bytes]) -> None:
    async def serve(writes: TurnWrites, end: socket.socket) -> None:
        writes.write(b"head")
        writes.write(b"x" * FLUSH_AT)
        assert data_segments_sent(end) >= 1  # in this turn: flow control sees it as before
        writes.close()

    assert run(serve) == b"head" + b"x" * FLUSH_AT


def test_a_close_sends_what_was_written_first(run: Callable[[Served], bytes]) -> None:
    async def serve(writes: TurnWrites, end: socket.socket) -> None:
        writes.write(b"last words")
        writes.close()

    assert run(serve) == b"last words"


def test_a_write_after_the_end_of_the_proxys_side_is_dropped(run: Callable[[Served], bytes]) -> None:
    """After ``write_eof`` (a refused request, its answer out) a late write goes nowhere; the transport
    itself raised ``RuntimeError``, in a callback of the next turn, for a write kept until then."""
    async def serve(writes: TurnWrites, end: socket.socket) -> None:
        writes.write(b"the answer")
        writes.write_eof()
        writes.write(b"too late")
        await asyncio.sleep(0)  # the turn ends: nothing kept to send
        assert writes.get_write_buffer_size() == 0
        writes.close()

    assert run(serve) == b"the answer"


def test_an_abort_drops_what_was_written(run: Callable[[Served], bytes]) -> None:
    async def serve(writes: TurnWrites, end: socket.socket) -> None:
        writes.write(b"never sent")
        writes.abort()
        await asyncio.sleep(0)  # the turn ends: nothing is sent after the abort either

    assert run(serve) == b""


def test_an_answer_written_as_the_client_half_closes_still_leaves(event_loop_kind: str) -> None:
    """The client's FIN arrives in the turn the app writes its answer: the transport closes itself when
    the proxy's protocol has taken the end of the data, and on uvloop that came before the turn's
    flush, so the answer was dropped (host/proxy/connections.py ``eof_received`` sends it first)."""
    client = socket.socket()

    async def app(scope: Dict[str, Any], receive: Callable[[], Awaitable[Dict[str, Any]]],
                  send: Callable[[Dict[str, Any]], Awaitable[None]]) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await receive()
        client.shutdown(socket.SHUT_WR)  # the FIN is in the proxy's receive queue before the answer is sent
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    port, stop = serve_in_thread(app)
    try:
        client.settimeout(READ_SECONDS)
        client.connect(("127.0.0.1", port))
        client.sendall(b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        received = read_until_closed(client)
        assert received.startswith(b"HTTP/1.1 200") and received.endswith(b"\r\n\r\nok")
    finally:
        client.close()
        stop()
