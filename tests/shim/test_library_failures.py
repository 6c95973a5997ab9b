"""Each HTTP library's real exceptions, raised against loopback servers that fail on purpose, become
the router's typed upstream failures (``shim/transports/library_failures.py``), the same for every
library, and the client's error follows the class: 502, or 504 for a timeout."""

import asyncio
import gzip
import socket
import ssl
import threading
from typing import Callable, Dict, Iterator, Tuple, Type

import aiohttp
import httpx
import httpx2
import pytest
import requests

from shim.protocols import ANTHROPIC, OPENAI
from shim.transports.library_failures import aiohttp_failure, httpx_failure, requests_failure
from shim.upstream_failures import (
    AnswerTimeout,
    ConnectFailed,
    ConnectionCut,
    ConnectTimeout,
    ProtocolBroken,
    ReadTimeout,
    TLSFailed,
    UpstreamFailure,
)

TIMEOUT = 0.5  # what the servers below outwait; every library is given it for connect and read
_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"


class Misbehaving:
    """A loopback TCP server; each connection reads the request head (unless ``read_head`` is False),
    then ``behaviour(conn)``."""

    def __init__(self, behaviour: Callable[[socket.socket], None], read_head: bool = True) -> None:
        self._behaviour = behaviour
        self._read_head = read_head
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self._listener.settimeout(0.05)
        while not self._done.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                head = b"" if self._read_head else b"\r\n\r\n"
                while b"\r\n\r\n" not in head:
                    part = conn.recv(65536)
                    if not part:
                        break
                    head += part
                self._behaviour(conn)

    def close(self) -> None:
        self._done.set()
        self._thread.join(5)
        self._listener.close()


def _hang(conn: socket.socket) -> None:
    conn.settimeout(TIMEOUT * 6)
    try:
        while conn.recv(65536):  # the request's body, then nothing until the client gives up and closes
            pass
    except OSError:
        pass


def _close_at_once(conn: socket.socket) -> None:
    pass


def _head_then_hang(conn: socket.socket) -> None:
    conn.sendall(_HEAD + b"content-length: 100\r\n\r\n{")
    _hang(conn)


def _head_then_close(conn: socket.socket) -> None:
    conn.sendall(_HEAD + b"content-length: 100\r\n\r\n{\"partial")


def _not_http(conn: socket.socket) -> None:
    conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\nnot an HTTP answer at all\r\n\r\n")


def _corrupt_gzip(conn: socket.socket) -> None:
    body = gzip.compress(b'{"a": 1}' * 50)[:20] + b"\x00garbage-that-is-not-deflate" * 4 + b"\x00" * 8
    conn.sendall(_HEAD + b"content-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(body) + body)


SERVERS: Dict[str, Tuple[Callable[[socket.socket], None], Type[UpstreamFailure]]] = {
    "silent before the answer": (_hang, AnswerTimeout),
    "silent mid-answer": (_head_then_hang, ReadTimeout),
    "closed before answering": (_close_at_once, ConnectionCut),
    "closed mid-answer": (_head_then_close, ConnectionCut),
    "corrupt gzip": (_corrupt_gzip, ProtocolBroken),
}


# Each library as a driver calls it: the failure typed with whether the answer had begun.
def _httpx_family(mod: object) -> Callable[[str], UpstreamFailure]:
    def fetch(url: str) -> UpstreamFailure:
        with mod.Client(timeout=TIMEOUT, verify=ssl.create_default_context()) as client:  # type: ignore[attr-defined]
            request = client.build_request("POST", url, content=b"{}")
            try:
                response = client.send(request, stream=True)
            except Exception as error:
                return httpx_failure(mod, error, answered=False)
            try:
                response.read()
            except Exception as error:
                return httpx_failure(mod, error, answered=True)
            finally:
                response.close()
        raise AssertionError("no failure")
    return fetch


def _requests(read: Callable[[requests.Response], object]) -> Callable[[str], UpstreamFailure]:
    def fetch(url: str) -> UpstreamFailure:
        with requests.Session() as session:
            try:
                response = session.post(url, data=b"{}", timeout=TIMEOUT, stream=True)
            except Exception as error:
                return requests_failure(requests, error, answered=False)
            try:
                read(response)
            except Exception as error:
                return requests_failure(requests, error, answered=True)
            finally:
                response.close()
        raise AssertionError("no failure")
    return fetch


def _whole(response: requests.Response) -> object:
    return response.content  # a body the shim reads whole (requests' exceptions)


def _raw_stream(response: requests.Response) -> object:
    return list(response.raw.stream(65536, decode_content=True))  # a stream the shim reads (urllib3's)


def _aiohttp(url: str) -> UpstreamFailure:
    async def fetch() -> UpstreamFailure:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=TIMEOUT, sock_read=TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                response = await session.post(url, data=b"{}")
            except Exception as error:
                return aiohttp_failure(aiohttp, error, answered=False)
            try:
                await response.read()
            except Exception as error:
                return aiohttp_failure(aiohttp, error, answered=True)
            finally:
                response.release()
        raise AssertionError("no failure")
    return asyncio.run(fetch())


LIBRARIES: Dict[str, Callable[[str], UpstreamFailure]] = {
    "httpx": _httpx_family(httpx),
    "httpx2": _httpx_family(httpx2),
    "requests": _requests(_whole),
    "requests-raw": _requests(_raw_stream),
    "aiohttp": _aiohttp,
}


@pytest.fixture(params=sorted(LIBRARIES))
def fetch(request: pytest.FixtureRequest) -> Callable[[str], UpstreamFailure]:
    return LIBRARIES[request.param]


@pytest.fixture(params=sorted(SERVERS))
def misbehaving(request: pytest.FixtureRequest) -> Iterator[Tuple[Misbehaving, Type[UpstreamFailure]]]:
    behaviour, expected = SERVERS[request.param]
    server = Misbehaving(behaviour)
    yield server, expected
    server.close()


def test_a_misbehaving_server(fetch: Callable[[str], UpstreamFailure],
                              misbehaving: Tuple[Misbehaving, Type[UpstreamFailure]]) -> None:
    server, expected = misbehaving
    failure = fetch(f"http://127.0.0.1:{server.port}/v1/messages")
    assert type(failure) is expected, failure
    assert "127.0.0.1" not in failure.reason and "/v1" not in failure.reason


def test_nothing_listening(fetch: Callable[[str], UpstreamFailure]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    failure = fetch(f"http://127.0.0.1:{port}/v1/messages")
    assert type(failure) is ConnectFailed and failure.reason == "connection refused (nothing listening)"
    assert not failure.may_have_acted


def test_tls_to_a_server_that_does_not_speak_it(fetch: Callable[[str], UpstreamFailure]) -> None:
    server = Misbehaving(_not_http, read_head=False)  # answers the ClientHello with plain text
    try:
        failure = fetch(f"https://127.0.0.1:{server.port}/v1/messages")
    finally:
        server.close()
    assert type(failure) is TLSFailed and not failure.may_have_acted


def test_an_answer_that_is_not_http_is_never_taken_for_an_answer(fetch: Callable[[str], UpstreamFailure]) -> None:
    """Depending on the library, a protocol error or a cut connection; never a timeout, never a success."""
    server = Misbehaving(_not_http)
    try:
        failure = fetch(f"http://127.0.0.1:{server.port}/v1/messages")
    finally:
        server.close()
    assert type(failure) in (ProtocolBroken, ConnectionCut) and failure.may_have_acted


def test_a_connect_timeout() -> None:
    """A listener whose accept queue is full drops new SYNs: the connect hangs until the limit."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    try:
        for name, fetch in LIBRARIES.items():
            failure = fetch(f"http://127.0.0.1:{port}/v1/messages")
            assert type(failure) is ConnectTimeout, (name, failure)
    finally:
        for sock in [*fillers, listener]:
            sock.close()


@pytest.mark.parametrize(("failure", "status"), [
    (ConnectFailed(), 502), (TLSFailed(), 502), (ConnectionCut(), 502), (ProtocolBroken(), 502),
    (ConnectTimeout(), 504), (AnswerTimeout(), 504), (ReadTimeout(), 504),
])
@pytest.mark.parametrize("protocol", [ANTHROPIC, OPENAI])
def test_the_client_error_follows_the_class(failure: UpstreamFailure, status: int, protocol: str) -> None:
    error = failure.client_error("backend 'b' (example.test)", limit=2.5 if status == 504 else None)
    assert error.status_for(protocol) == status
    assert error.message.startswith("backend 'b' (example.test): ") and failure.reason in error.message
    assert error.headers_for(protocol)["x-should-retry"] == "true"  # both SDKs retry 502 and 504 anyway
    final = failure.client_error("backend 'b' (example.test)", should_retry=False)
    assert final.headers_for(protocol)["x-should-retry"] == "false"
