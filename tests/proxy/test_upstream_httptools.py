"""The proxy's default upstream client (``host/proxy/upstream_httptools.py``) against loopback
backends that answer in exact wire bytes: framing (length, chunked, close-delimited, one byte at a
time), keep-alive reuse, compression, every failure kind, cancellation, proxies and TLS.

The proxy suite as a whole also runs on this client (it is the default); these tests pin what the
suite's fake provider never does (odd framings, stale connections, a backend that misbehaves)."""

import asyncio
import gzip
import socket
import ssl
import tracemalloc
import zlib
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable, Dict, List, Optional, Tuple

import pytest
import trustme

from host.proxy import upstream_httptools
from host.proxy.settings import UPSTREAM_CLIENTS, ProxySettings
from host.proxy.upstream_httptools import HttptoolsUpstream
from shim.upstream_failures import (
    AnswerTimeout,
    AnswerTooLarge,
    ConnectFailed,
    ConnectionCut,
    ConnectTimeout,
    ProtocolBroken,
    ReadTimeout,
    TLSFailed,
    UpstreamFailure,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]
JSON_HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-backend"}


class Backend:
    """A loopback server; ``handler(reader, writer, n)`` answers the first request of its n-th
    connection (from 0), read and recorded already, and any that follow (:meth:`read_request`)."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.connections = 0
        self.requests: List[bytes] = []
        self.url = ""
        self._server: Optional[asyncio.base_events.Server] = None

    async def __aenter__(self) -> "Backend":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/v1/chat/completions"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index, self.connections = self.connections, self.connections + 1
        try:
            await self.read_request(reader)
            await self._handler(reader, writer, index)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        """One request, head and body (by Content-Length), recorded."""
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        request = head + await reader.readexactly(length)
        self.requests.append(request)
        return request


def replying(payload: bytes) -> Handler:
    """A handler that answers a connection's first request with ``payload``, then closes it."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(payload)

    return serve


def client(read_timeout: float = 5.0, connect_timeout: float = 5.0) -> HttptoolsUpstream:
    return HttptoolsUpstream(ProxySettings(read_timeout=read_timeout, connect_timeout=connect_timeout), 1)


@asynccontextmanager
async def upstream(**timeouts: float) -> AsyncIterator[HttptoolsUpstream]:
    the_client = client(**timeouts)
    try:
        yield the_client
    finally:
        await the_client.aclose()


def answer(body: bytes, status: str = "200 OK", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 " + status.encode() + b"\r\ncontent-type: application/json\r\n" + extra + \
        b"content-length: %d\r\n\r\n" % len(body) + body


def chunked(*chunks: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"


STREAM_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


async def _post_read(backend: Backend, the_client: HttptoolsUpstream, body: bytes = b'{"x":1}') -> Tuple[int, bytes]:
    response = await the_client.post(backend.url, dict(JSON_HEADERS), body)
    try:
        return response.status, await response.read()
    finally:
        await response.close()


# Framing and reuse ---------------------------------------------------------------------------
def test_a_whole_answer_and_keep_alive_reuse(run: Callable[..., object]) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        for turn in range(3):
            if turn:
                await backend.read_request(reader)
            writer.write(answer(b'{"turn":%d}' % turn, extra=b"x-request-id: req-1\r\nVary: a\r\nvary: b\r\n"))

    async def main() -> None:
        async with upstream() as the_client:
            for turn in range(3):
                response = await the_client.post(backend.url, dict(JSON_HEADERS), b'{"model":"m"}')
                assert response.status == 200
                assert response.headers["x-request-id"] == "req-1" and response.headers["vary"] == "a, b"
                assert await response.read() == b'{"turn":%d}' % turn and response.ended()
                await response.close()
        assert backend.connections == 1  # one connection for the three calls

    backend = Backend(serve)
    run(_with(backend, main))


def test_the_request_carries_the_plans_headers_and_exact_bytes(run: Callable[..., object]) -> None:
    reply = answer(b"{}")

    async def main() -> None:
        headers = {"content-type": "application/json", "x-api-key": "sk-ant", "anthropic-beta": "caf\xe9",
                   "accept-encoding": "gzip", "host": "evil.example", "content-length": "1"}
        async with upstream() as the_client:
            response = await the_client.post(backend.url + "?beta=true", headers, b'{"model":"m"}')
            await response.read()
            await response.close()
        request = backend.requests[0]
        head, _, body = request.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        assert lines[0] == b"POST /v1/chat/completions?beta=true HTTP/1.1"
        port = backend.url.split(":")[2].split("/")[0]
        assert lines[1] == b"Host: 127.0.0.1:" + port.encode()  # from the URL, never from the headers
        assert b"anthropic-beta: caf\xe9" in lines and b"x-api-key: sk-ant" in lines  # latin-1: the same bytes
        assert b"Accept-Encoding: identity" in lines and b"Content-Length: 13" in lines
        assert b"User-Agent: router-proxy" in lines and b"Accept: */*" in lines
        assert not {b"accept-encoding: gzip", b"host: evil.example", b"content-length: 1"} & set(lines)
        assert body == b'{"model":"m"}'

    backend = Backend(replying(reply))
    run(_with(backend, main))


def test_a_header_with_a_line_break_is_refused_and_nothing_is_sent(run: Callable[..., object]) -> None:
    reply = answer(b"{}")

    async def main() -> None:
        async with upstream() as the_client:
            for value in ("a\r\nx-injected: 1", "a\nb", "a\rb"):
                with pytest.raises(ConnectFailed, match="line break"):
                    await the_client.post(backend.url, {"x-note": value}, b"{}")
        assert backend.requests == []

    backend = Backend(replying(reply))
    run(_with(backend, main))


@pytest.mark.parametrize("byte_by_byte", [False, True], ids=["whole", "byte-by-byte"])
def test_a_chunked_stream_arrives_chunk_by_chunk(run: Callable[..., object], byte_by_byte: bool) -> None:
    """Each chunk reaches the reader before the backend sends the next one (no buffering)."""
    events = [b"data: {\"n\":%d}\n\n" % n for n in range(4)]
    next_one: asyncio.Queue[None] = asyncio.Queue()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await _write(writer, STREAM_HEAD, byte_by_byte)
        for event in events:
            await next_one.get()
            await _write(writer, b"%x\r\n%s\r\n" % (len(event), event), byte_by_byte)
        await _write(writer, b"0\r\n\r\n", byte_by_byte)
        await backend.read_request(reader)  # the connection is reused for a second call
        writer.write(answer(b"{}"))

    async def main() -> None:
        async with upstream() as the_client:
            response = await the_client.post(backend.url, dict(JSON_HEADERS), b"{}")
            assert response.headers["content-type"] == "text/event-stream"
            received = b""
            for event in events:
                next_one.put_nowait(None)
                while not received.endswith(event):
                    received += await anext(response.chunks())
            assert received == b"".join(events)
            assert [chunk async for chunk in response.chunks()] == [] and response.ended()
            await response.close()
            assert await _post_read(backend, the_client) == (200, b"{}")
        assert backend.connections == 1

    backend = Backend(serve)
    run(_with(backend, main))


def test_a_body_written_one_byte_at_a_time(run: Callable[..., object]) -> None:
    body = b'{"choices":[{"message":{"content":"h\xc3\xa9llo"}}]}'

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await _write(writer, answer(body, extra=b"x-request-id: r\r\n"), byte_by_byte=True)

    async def main() -> None:
        async with upstream() as the_client:
            assert await _post_read(backend, the_client) == (200, body)

    backend = Backend(serve)
    run(_with(backend, main))


def test_a_body_without_length_ends_with_the_connection(run: Callable[..., object]) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{\"a\":")
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(b"1}")
        # the handler returns: the connection closes, which ends the body

    async def main() -> None:
        async with upstream() as the_client:
            assert await _post_read(backend, the_client) == (200, b'{"a":1}')
            assert await _post_read(backend, the_client) == (200, b'{"a":1}')
        assert backend.connections == 2  # never reused

    backend = Backend(serve)
    run(_with(backend, main))


def test_informational_answers_are_skipped(run: Callable[..., object]) -> None:
    reply = b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b'{"ok":true}', status="201 Created")
    assert read_reply(run, reply) == (201, b'{"ok":true}')


def test_a_large_body_read_slowly_arrives_whole(run: Callable[..., object]) -> None:
    """Reading pauses while a slow reader has not taken what arrived; nothing is lost or reordered."""
    body = bytes(range(256)) * (12 * 1024)  # 3 MiB, more than the pause threshold

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(answer(body))
        await writer.drain()

    async def main() -> None:
        async with upstream() as the_client:
            response = await the_client.post(backend.url, dict(JSON_HEADERS), b"{}")
            parts = []
            async for part in response.chunks():
                parts.append(part)
                await asyncio.sleep(0.002)
            assert b"".join(parts) == body
            await response.close()

    backend = Backend(serve)
    run(_with(backend, main))


# Compression ---------------------------------------------------------------------------------
def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(("encoding", "encode"), [
    (b"gzip", gzip.compress), (b"deflate", zlib.compress), (b"deflate", _raw_deflate),
], ids=["gzip", "deflate", "raw-deflate"])
def test_a_compressed_body_is_decoded(run: Callable[..., object], encoding: bytes,
                                      encode: Callable[[bytes], bytes]) -> None:
    body = b'{"usage":{"prompt_tokens":3}}' * 50

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        packed = encode(body)
        writer.write(STREAM_HEAD[:-2] + b"content-encoding: " + encoding + b"\r\n\r\n")
        await _write(writer, chunked(packed[:7], packed[7:]), byte_by_byte=True)

    async def main() -> None:
        async with upstream() as the_client:
            assert await _post_read(backend, the_client) == (200, body)

    backend = Backend(serve)
    run(_with(backend, main))


@pytest.mark.parametrize(("encoding", "payload", "reason"), [
    (b"br", b"\x0b\x02\x80", "content-encoding 'br'"),
    (b"gzip", b"not gzip at all", "compressed body is corrupt"),
    (b"gzip", gzip.compress(b'{"a":1}' * 20)[:-9], "compressed body is corrupt"),
    (b"deflate", b"x", "compressed body is corrupt"),
], ids=["unsupported", "corrupt", "truncated", "one-byte-deflate"])
def test_an_undecodable_body_is_a_broken_answer(run: Callable[..., object], encoding: bytes, payload: bytes,
                                                reason: str) -> None:
    reply = answer(payload, extra=b"content-encoding: " + encoding + b"\r\n")

    async def main() -> None:
        async with upstream() as the_client:
            with pytest.raises(ProtocolBroken, match=reason):
                await _post_read(backend, the_client)

    backend = Backend(replying(reply))
    run(_with(backend, main))


def test_an_empty_body_that_claims_an_encoding_is_empty(run: Callable[..., object]) -> None:
    reply = answer(b"", status="500 Internal Server Error", extra=b"content-encoding: gzip\r\n")
    assert read_reply(run, reply) == (500, b"")


# The size of an answer read whole ------------------------------------------------------------
_BOMB_MIB = 256  # of zeros: about 256 KiB gzipped


def _gzip_bomb() -> bytes:
    """256 MiB of zeros, gzipped in 1 MiB pieces (compressing them whole would cost the test seconds)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    return b"".join([*(compressor.compress(zeros) for _ in range(_BOMB_MIB)), compressor.flush()])


def _any_client(name: str, limit: int) -> object:
    settings = ProxySettings(max_response_bytes=limit)
    if name == "aiohttp":
        from host.proxy.upstream_aiohttp import AiohttpUpstream

        return AiohttpUpstream(settings, 1)
    if name == "httpx":
        from host.proxy.upstream import HttpxUpstream

        return HttpxUpstream(settings, 1)
    return HttptoolsUpstream(settings, 1)


@pytest.mark.parametrize("client_name", UPSTREAM_CLIENTS)
def test_a_compressed_answer_stops_at_the_size_limit(run: Callable[..., object], client_name: str) -> None:
    """A backend's small gzip body that inflates to 256 MiB: every client stops reading at the limit
    (4 MiB here) with AnswerTooLarge, and the default client never holds more than the limit plus one
    inflated piece (memory measured as a bound: the allocations traced while it reads)."""
    bomb = _gzip_bomb()
    limit = 4 << 20
    reply = answer(bomb, extra=b"content-encoding: gzip\r\n")

    async def main() -> None:
        the_client = _any_client(client_name, limit)
        try:
            response = await the_client.post(backend.url, dict(JSON_HEADERS), b"{}")  # type: ignore[attr-defined]
            tracemalloc.start()
            try:
                with pytest.raises(AnswerTooLarge, match=f"limit of {limit} bytes"):
                    await response.read()
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
                await response.close()
        finally:
            await the_client.aclose()  # type: ignore[attr-defined]
        if client_name == "httptools":
            assert peak < 3 * limit, peak  # not 256 MiB: one 1 MiB piece past the limit at most

    backend = Backend(replying(reply))
    run(_with(backend, main))


@pytest.mark.parametrize("client_name", UPSTREAM_CLIENTS)
def test_an_answer_at_the_limit_is_read(run: Callable[..., object], client_name: str) -> None:
    body = b'{"pad": "' + b"x" * ((1 << 20) - 11) + b'"}'
    reply = answer(body)

    async def main() -> None:
        the_client = _any_client(client_name, len(body))
        try:
            response = await the_client.post(backend.url, dict(JSON_HEADERS), b"{}")  # type: ignore[attr-defined]
            assert await response.read() == body
            await response.close()
        finally:
            await the_client.aclose()  # type: ignore[attr-defined]

    backend = Backend(replying(reply))
    run(_with(backend, main))


# Failures ------------------------------------------------------------------------------------
def test_nothing_listening_is_a_connect_failure(run: Callable[..., object]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def main() -> None:
        async with upstream() as the_client:
            with pytest.raises(ConnectFailed) as failure:
                await the_client.post(f"http://127.0.0.1:{port}/v1/messages", {}, b"{}")
        assert failure.value.reason == "connection refused (nothing listening)"
        assert not failure.value.may_have_acted

    run(main())


def test_an_unknown_host_name_is_a_connect_failure(run: Callable[..., object]) -> None:
    async def main() -> None:
        async with upstream() as the_client:
            with pytest.raises(ConnectFailed) as failure:
                await the_client.post("http://no-such-host.invalid/v1/messages", {}, b"{}")
        assert failure.value.reason in ("host name not found", "cannot connect")

    run(main())


def test_a_backend_whose_accept_queue_is_full_times_out_connecting(run: Callable[..., object]) -> None:
    """The kernel drops SYNs to a listener whose backlog is full: the connect hangs until our limit."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):  # fill the accept queue (its size is backlog + 1 on Linux)
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)

    async def main() -> None:
        async with upstream(connect_timeout=0.3) as the_client:
            with pytest.raises(ConnectTimeout) as failure:
                await the_client.post(f"http://127.0.0.1:{port}/v1/messages", {}, b"{}")
        assert failure.value.kind_name == "timeout" and not failure.value.may_have_acted

    try:
        run(main())
    finally:
        for sock in [*fillers, listener]:
            sock.close()


@pytest.mark.parametrize("where", ["before the answer", "between chunks"])
def test_a_silent_backend_times_out_reading(run: Callable[..., object], where: str) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        if where == "between chunks":
            writer.write(STREAM_HEAD + b"5\r\nhello\r\n")
        await asyncio.sleep(5)

    async def main() -> None:
        async with upstream(read_timeout=0.2) as the_client:
            with pytest.raises(UpstreamFailure) as failure:
                await _post_read(backend, the_client)
        expected = ReadTimeout if where == "between chunks" else AnswerTimeout
        assert type(failure.value) is expected and failure.value.kind_name == "timeout"

    backend = Backend(serve)
    run(_with(backend, main))


@pytest.mark.parametrize("cut", [b"", b"HTTP/1.1 200 OK\r\ncontent-le", answer(b"0123456789")[:-4],
                                 STREAM_HEAD + b"5\r\nhel"], ids=["nothing", "mid-head", "mid-body", "mid-chunk"])
def test_a_connection_closed_mid_answer_is_broken(run: Callable[..., object], cut: bytes) -> None:
    reply = cut

    async def main() -> None:
        async with upstream() as the_client:
            with pytest.raises(ConnectionCut) as failure:
                await _post_read(backend, the_client)
        assert "connection lost" in failure.value.reason

    backend = Backend(replying(reply))
    run(_with(backend, main))


def test_an_answer_that_is_not_http_is_broken(run: Callable[..., object]) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await asyncio.sleep(1)

    async def main() -> None:
        async with upstream() as the_client:
            with pytest.raises(ProtocolBroken, match=r"not valid HTTP/1\.1"):
                await _post_read(backend, the_client)

    backend = Backend(serve)
    run(_with(backend, main))


def test_endless_headers_are_a_broken_answer(run: Callable[..., object]) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for index in range(100_000):
            writer.write(b"x-filler-%d: %s\r\n" % (index, b"y" * 100))
            if index % 1000 == 0:
                await writer.drain()

    async def main() -> None:
        async with upstream() as the_client:
            with pytest.raises(AnswerTooLarge, match="headers are too large"):
                await _post_read(backend, the_client)

    backend = Backend(serve)
    run(_with(backend, main))


@pytest.mark.parametrize("endless", [b"x-endless: ", b"x-endless-name"], ids=["value", "name"])
def test_a_header_line_that_never_ends_is_refused_as_it_grows(run: Callable[..., object], endless: bytes) -> None:
    """One header line, 64 MiB and never ended: the limit counted only complete headers, so the line
    grew in httptools (four at once took the proxy to 527 MiB) and joining its pieces held the loop
    for seconds (docs/proxy-limits.md#answers). Refused now once the bytes read pass the limit."""
    sent = [0]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\n" + endless)
        for _ in range(1024):
            writer.write(b"y" * 65536)
            sent[0] += 65536
            await writer.drain()

    async def main() -> None:
        async with upstream() as the_client:
            with pytest.raises(AnswerTooLarge, match="headers are too large"):
                await _post_read(backend, the_client)
        assert sent[0] < 16 * 1024 * 1024

    backend = Backend(serve)
    run(_with(backend, main))


def test_a_header_over_the_limit_is_refused_when_it_is_the_last(run: Callable[..., object]) -> None:
    """The limit failed the exchange inside the parser's callback, and the parser went on in the same
    read to the head's end: the answer went to the client with its 1 MiB header."""
    big = answer(b"{}", extra=b"x-big: " + b"y" * (1 << 20) + b"\r\n")

    async def main() -> None:
        async with upstream() as the_client:
            with pytest.raises(AnswerTooLarge, match="headers are too large"):
                await _post_read(backend, the_client)

    backend = Backend(replying(big))
    run(_with(backend, main))


def test_a_second_answer_to_one_request_is_not_read_into_the_first(run: Callable[..., object]) -> None:
    """A backend that writes a whole answer and the head of another in one segment: the second's body
    was added to the first answer's, and the connection went back to the pool mid-answer, where the
    next call on it waited for bytes that never came (docs/proxy-limits.md#answers)."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(answer(b'{"first":1}') + b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nXXXXXXXXXX")
        if n == 0:
            await asyncio.sleep(5)  # the connection stays open: only the client can end it
        else:
            await backend.read_request(reader)

    async def main() -> None:
        async with upstream(read_timeout=2) as the_client:
            assert await _post_read(backend, the_client) == (200, b'{"first":1}')
            assert await _post_read(backend, the_client) == (200, b'{"first":1}')
        assert backend.connections == 2  # the first connection was not reused

    backend = Backend(serve)
    run(_with(backend, main))


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_reused_connection_closed_unanswered(run: Callable[..., object], method: str) -> None:
    """The backend takes the second request on a kept-alive connection and closes without answering
    (its idle timeout raced our reuse): a GET is sent again on a new connection, a POST is not
    (the backend may have acted on it)."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(answer(b'{"data":[]}'))
        if n == 0:
            await backend.read_request(reader)  # ...and close unanswered

    async def main() -> None:
        async with upstream() as the_client:
            assert await the_client.get(backend.url, {}, 5) == (200, b'{"data":[]}')
            if method == "GET":
                assert await the_client.get(backend.url, {}, 5) == (200, b'{"data":[]}')
                assert backend.connections == 2
            else:
                with pytest.raises(ConnectionCut):
                    await _post_read(backend, the_client)
                assert backend.connections == 1

    backend = Backend(serve)
    run(_with(backend, main))


def test_a_connection_the_backend_closed_while_idle_is_not_used(run: Callable[..., object]) -> None:
    reply = answer(b"{}")  # keep-alive advertised, then closed (the handler returns)

    async def main() -> None:
        async with upstream() as the_client:
            assert await _post_read(backend, the_client) == (200, b"{}")
            await asyncio.sleep(0.05)  # the close arrives while the connection is idle in the pool
            assert await _post_read(backend, the_client) == (200, b"{}")
        assert backend.connections == 2

    backend = Backend(replying(reply))
    run(_with(backend, main))


def test_an_idle_connection_to_a_backend_nobody_calls_again_is_closed(run: Callable[..., object],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Idle connections expired only when their origin was used again: one to a backend nobody
    calls any more stayed open for good (the hostile bench's attackers' backend kept 24 of them).
    A timer closes it once it has been idle the keep-alive time (0.2 s here, 30 s in the proxy)."""
    monkeypatch.setattr(upstream_httptools, "KEEPALIVE_SECONDS", 0.2)
    closed = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(answer(b"{}"))  # keep-alive: the connection goes back to the pool
        await reader.read()  # until the client closes it
        closed.set()

    async def main() -> None:
        async with upstream() as the_client:
            assert await _post_read(backend, the_client) == (200, b"{}")
            await asyncio.wait_for(closed.wait(), timeout=10)  # never, before: nothing else is called
        assert backend.connections == 1

    backend = Backend(serve)
    run(_with(backend, main))


def test_a_stream_cancelled_midway_closes_its_connection(run: Callable[..., object]) -> None:
    """The client left: the backend sees the connection close (it stops generating), and the next
    call does not get the half-read connection."""
    closed = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        if n == 0:
            writer.write(STREAM_HEAD + b"5\r\nhello\r\n")
            await reader.read()  # until our side closes
            closed.set()
        else:
            writer.write(answer(b"{}"))

    async def main() -> None:
        async with upstream() as the_client:
            response = await the_client.post(backend.url, dict(JSON_HEADERS), b"{}")

            async def consume() -> None:
                async for _ in response.chunks():
                    pass

            task = asyncio.ensure_future(consume())
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await response.close()
            await asyncio.wait_for(closed.wait(), 5)
            assert await _post_read(backend, the_client) == (200, b"{}")
        assert backend.connections == 2

    backend = Backend(serve)
    run(_with(backend, main))


def test_get_has_a_total_time_limit(run: Callable[..., object]) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(STREAM_HEAD)
        for _ in range(100):  # keeps talking, never finishes: only a total limit ends it
            writer.write(b"1\r\na\r\n")
            await asyncio.sleep(0.02)

    async def main() -> None:
        async with upstream(read_timeout=5) as the_client:
            with pytest.raises(AnswerTimeout):
                await the_client.get(backend.url, {}, 0.2)

    backend = Backend(serve)
    run(_with(backend, main))


# Proxies and TLS -----------------------------------------------------------------------------
def test_a_backend_behind_an_http_proxy_is_called_through_it(run: Callable[..., object],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    reply = answer(b'{"via":"proxy"}')

    async def main() -> None:
        monkeypatch.setenv("HTTP_PROXY", proxy.url.split("/v1")[0])
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with upstream() as the_client:
            response = await the_client.post("http://backend.internal:8000/v1/chat/completions", {}, b"{}")
            assert (response.status, await response.read()) == (200, b'{"via":"proxy"}')
            await response.close()
        assert proxy.requests[0].startswith(b"POST http://backend.internal:8000/v1/chat/completions HTTP/1.1")

    proxy = Backend(replying(reply))
    run(_with(proxy, main))


def test_tls_backends_are_verified(run: Callable[..., object], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A backend whose certificate the trust store holds answers over TLS; one it does not is a
    connect failure naming TLS."""
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_context)
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await _read_head(reader)
        writer.write(answer(b'{"tls":true}'))
        await writer.drain()

    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: serve(r, w, 0), "127.0.0.1", 0, ssl=server_context)
        port = server.sockets[0].getsockname()[1]
        url = f"https://localhost:{port}/v1/messages"
        try:
            async with upstream() as untrusting:
                with pytest.raises(TLSFailed) as failure:
                    await untrusting.post(url, {}, b"{}")
                assert failure.value.reason == "TLS handshake failed" and not failure.value.may_have_acted
            monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
            async with upstream() as trusting:
                response = await trusting.post(url, {}, b"{}")
                assert (response.status, await response.read()) == (200, b'{"tls":true}')
                await response.close()
        finally:
            server.close()

    run(main())


def test_the_cli_offers_every_upstream_client() -> None:
    """``router proxy --upstream-client`` spells the list out (importing it would load the proxy)."""
    from host.cli_proxy import proxy

    option = next(param for param in proxy.params if param.name == "upstream_client")
    assert tuple(option.type.choices) == UPSTREAM_CLIENTS and option.default == UPSTREAM_CLIENTS[0]


# Helpers ---------------------------------------------------------------------------------------
def read_reply(run: Callable[..., object], reply: bytes) -> Tuple[int, bytes]:
    """Status and body the client reads from a backend that answers ``reply``."""
    read: List[Tuple[int, bytes]] = []

    async def main() -> None:
        async with upstream() as the_client:
            read.append(await _post_read(backend, the_client))

    backend = Backend(replying(reply))
    run(_with(backend, main))
    return read[0]


async def _with(backend: Backend, body: Callable[[], Awaitable[None]]) -> None:
    async with backend:
        await body()


async def _write(writer: asyncio.StreamWriter, data: bytes, byte_by_byte: bool) -> None:
    if not byte_by_byte:
        writer.write(data)
        await writer.drain()
        return
    for index in range(len(data)):
        writer.write(data[index:index + 1])
        await writer.drain()
        await asyncio.sleep(0)


async def _read_head(reader: asyncio.StreamReader) -> Dict[str, str]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines if line)}
