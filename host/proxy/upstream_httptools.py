"""The proxy's default upstream client: HTTP/1.1 keep-alive connections on the event loop's own
transports, every response parsed by httptools (llhttp, the parser uvicorn serves with).

Why not a general-purpose client: at concurrency 1 a relay's time is mostly per-request overhead,
and aiohttp's client spends ~0.1 ms of it per call on things the proxy never uses (request and
response objects built for every feature, cookie and trace hooks, timer contexts, a stream reader
per response). Measured with ``bench/proxy.py`` (the floor relay, on aiohttp and on this client,
same run). This client does only what a call to a backend needs and
keeps every behaviour of :class:`~.upstream_aiohttp.AiohttpUpstream` the proxy relies on:

- bodies stream chunk by chunk as they arrive (what arrived together is handed over together),
  decoded if a backend compresses with gzip or deflate although we ask for ``identity``;
- ``connect_timeout`` bounds connecting (and the TLS handshake), ``read_timeout`` the wait for the
  answer and every silence between two reads; every failure is one of ``shim/upstream_failures.py``'s
  classes, as with the other clients;
- a body read whole stops at ``max_response_bytes`` decoded bytes, and a compressed body is
  inflated at most 1 MiB at a time (a small body that inflates to gigabytes never sits in memory);
- a response closed before its end (the client left, an error never read, shutdown) closes its
  connection instead of returning it to the pool; a fully read one is reused;
- a backend reached through ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` (``NO_PROXY`` honoured, read
  once) is called through aiohttp, which speaks to proxies (CONNECT, SOCKS is not supported there either);
- TLS verifies with the default context (``SSL_CERT_FILE``/``SSL_CERT_DIR`` apply), ALPN ``http/1.1``;
- no redirects, no cookies; the only headers added to the plan's are Host, Content-Length,
  ``Accept-Encoding: identity`` and, when the plan has none, ``User-Agent`` and ``Accept: */*``.
  A header name or value holding a line break is refused (it would split the request).
- A reused connection the backend closed before answering is retried once on a new connection
  for a GET, never for a POST (it may have been acted on): aiohttp's rule.

Per-backend concurrency stays with :class:`~.upstream.BackendLimiter`; idle connections are kept
30 s per origin, as many as were busy at once.
"""

import asyncio
import ssl
import time
import zlib
from collections import deque
from typing import Any, AsyncIterator, Callable, Deque, Dict, Iterator, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

import httptools

from shim.transports.library_failures import connect_failure
from shim.upstream_failures import (
    AnswerTimeout,
    AnswerTooLarge,
    ConnectFailed,
    ConnectionCut,
    ConnectTimeout,
    ProtocolBroken,
    ReadTimeout,
    UpstreamFailure,
    undecodable_encoding,
)

from .settings import ProxySettings
from .upstream import UpstreamClient, UpstreamResponse, read_whole
from .upstream_aiohttp import AiohttpUpstream, EnvProxies

__all__ = ["HttptoolsUpstream"]

KEEPALIVE_SECONDS = 30.0
# Reading from a backend pauses while this much of its body waits for a slow client, and resumes
# once the client has taken it: a stream never piles up in the proxy's memory.
_PAUSE_AT = 1 << 20
_USER_AGENT = "router-proxy"
_MAX_HEADER_BYTES = 256 * 1024
_INFLATE_PIECE = 1 << 20  # most bytes one call to zlib may produce


class _Origin:
    """Where a URL's connections go, read once per URL (they come from the configuration)."""

    __slots__ = ("host", "key", "netloc", "port", "target", "tls")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConnectFailed(f"unsupported backend URL scheme {parts.scheme!r}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.netloc = parts.netloc.rpartition("@")[2]  # never userinfo in Host
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.key = (parts.scheme, self.host, self.port)


class _Connection(asyncio.Protocol):
    """One keep-alive connection and the one exchange it carries at a time.

    The parser's callbacks fill the exchange's state; :meth:`wait` parks the reading task until
    the next callback (or the read timeout)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, read_timeout: float) -> None:
        self._loop = loop
        self._read_timeout = read_timeout
        # The parser holds this connection's bound methods (its callbacks), a reference cycle: it lives
        # only while the connection does, from connection_made to connection_lost (a connection never
        # made has none), so no cycle outlives it (docs/proxy-limits.md#no-cycles-per-call).
        self._parser: Optional[httptools.HttpResponseParser] = None
        self._waiter: Optional[asyncio.Future[None]] = None
        self._paused = False
        self.transport: Optional[asyncio.Transport] = None
        self.lost = False
        self.idle_since = 0.0
        self.reused = False
        self.active = False  # an exchange is under way (set by send, cleared when pooled)
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.raw_headers: List[Tuple[bytes, bytes]] = []
        self._header_bytes = 0
        self._head_received = 0  # bytes read before the head was complete (1xx heads included)
        self.head_done = False  # status and headers complete
        self.complete = False  # the whole message has arrived
        self.keep_alive = False  # ...and the backend lets the connection be reused
        self.body: Deque[bytes] = deque()
        self.buffered = 0
        self.error: Optional[UpstreamFailure] = None
        self._informational = False

    # asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._parser = httptools.HttpResponseParser(self)

    def data_received(self, data: bytes) -> None:
        if not self.active:  # bytes on an idle connection answer nothing we asked: never reuse it
            self.close()
            return
        parser = self._parser
        if self.error is not None or parser is None:  # failed already (and closing), or lost: not read
            return
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ProtocolBroken("the backend switched protocols"))
        except httptools.HttpParserError:
            if not self.lost:  # else a callback stopped the parser, the connection closed and why kept
                self._fail(ProtocolBroken())
            return
        if not self.head_done and self.error is None:
            # Counted by the read, not by the complete header: httptools holds a header's pieces until
            # its line ends, so one that never ends grew without bound, and joining each read's piece
            # onto it held the loop for seconds (docs/proxy-limits.md#answers).
            self._head_received += len(data)
            if self._head_received > _MAX_HEADER_BYTES:
                self._fail(AnswerTooLarge("the backend's answer headers are too large"))

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.lost = True
        if self.head_done and not self.complete and self._ends_at_close():
            self.complete = True  # a body without length or chunks ends where the connection does
        elif not self.complete and self.error is None:
            self.error = ConnectionCut()
        self._parser = None  # nothing more can arrive; freed now, not by the cycle collector
        self._wake()

    # httptools callbacks ------------------------------------------------------------------
    # A callback that fails the exchange raises _Stopped: llhttp would otherwise go on with the same
    # read, and the exchange would carry on past its failure (the head completed over a refused header).
    def on_message_begin(self) -> None:
        if self.complete:  # a second answer to one request: what follows it belongs to nothing asked
            self.close()  # the answer before it stands; the connection is never reused
            raise _Stopped()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > _MAX_HEADER_BYTES:  # llhttp sets no limit; aiohttp stops at 8 KiB a line
            self._fail(AnswerTooLarge("the backend's answer headers are too large"))
            raise _Stopped()

    def on_headers_complete(self) -> None:
        assert self._parser is not None  # callbacks run inside feed_data
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # 100 Continue and friends: the real answer follows
            self._informational = True
            self.raw_headers = []
            return
        self.status = status
        self.head_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.buffered += len(body)
        if self.buffered >= _PAUSE_AT and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        self.complete = True
        assert self._parser is not None  # callbacks run inside feed_data
        self.keep_alive = self._parser.should_keep_alive()  # only true inside this callback
        self._wake()

    # The exchange -------------------------------------------------------------------------
    def send(self, request: bytes) -> None:
        assert self.transport is not None
        self._reset()
        self.active = True
        self.transport.write(request)

    def take(self) -> bytes:
        """Every body byte that has arrived and not been taken (b"" when none)."""
        body = self.body
        if not body:
            return b""
        data = body.popleft() if len(body) == 1 else b"".join(body)
        body.clear()
        self.buffered = 0
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    async def wait(self) -> None:
        """Until the parser has something new, the connection is lost, or the read timeout."""
        waiter = self._waiter = self._loop.create_future()
        timer = self._loop.call_later(self._read_timeout, _expire, waiter, self.head_done)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def reusable(self) -> bool:
        return self.complete and self.keep_alive and not self.lost and self.error is None

    def close(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.close()

    def _ends_at_close(self) -> bool:
        return not any(name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self.raw_headers)

    def _fail(self, failure: UpstreamFailure) -> None:
        if self.error is None:  # the first failure is the one to tell
            self.error = failure
        self.close()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class _Stopped(Exception):
    """Raised in a parser callback to stop llhttp; the connection is closed and the reason kept."""


def _expire(waiter: "asyncio.Future[None]", answered: bool) -> None:
    if not waiter.done():
        waiter.set_exception(ReadTimeout() if answered else AnswerTimeout())


class _Response:
    """:class:`~.upstream.UpstreamResponse` over a connection whose status and headers have arrived."""

    def __init__(self, connection: _Connection, release: Callable[[_Connection], None], limit: int) -> None:
        self._connection = connection
        self._release: Optional[Callable[[_Connection], None]] = release
        self._limit = limit
        self.status = connection.status
        self.headers: Mapping[str, str] = _header_dict(connection.raw_headers)
        self._decoder = _decoder_for(self.headers.get("content-encoding", "identity"))

    async def read(self, on_piece: Optional[Callable[[bytes], None]] = None) -> bytes:
        return await read_whole(self.chunks(), self._limit, on_piece)

    async def chunks(self) -> AsyncIterator[bytes]:
        connection, decoder = self._connection, self._decoder
        while True:
            data = connection.take()
            if data:
                if decoder is None:
                    yield data
                else:
                    for piece in decoder.pieces(data):  # none until a whole compressed block is in
                        yield piece
            elif connection.complete:
                tail = b"" if decoder is None else decoder.finish()
                if tail:
                    yield tail
                return
            elif connection.error is not None:
                raise connection.error
            else:
                await connection.wait()

    def ended(self) -> bool:
        connection = self._connection
        return connection.complete and not connection.body

    async def close(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release(self._connection)


def _stale(connection: _Connection, now: float) -> bool:
    """Closed by the backend, or idle :data:`KEEPALIVE_SECONDS` by ``now``: not to be used again."""
    return connection.lost or now - connection.idle_since >= KEEPALIVE_SECONDS


class _Pool:
    """Idle keep-alive connections per origin, the most recently used first, each closed once it has
    been idle :data:`KEEPALIVE_SECONDS`. A timer closes them too: expiring them only when their
    origin is used again kept every connection to a backend nobody calls any more open for good (a
    flood's 24 connections were still held after the hostile bench's attacks; docs/proxy-limits.md#connections)."""

    def __init__(self) -> None:
        self._idle: Dict[Tuple[str, str, int], List[_Connection]] = {}
        self._expiry: Optional[asyncio.TimerHandle] = None  # armed while any connection is idle

    def take(self, key: Tuple[str, str, int]) -> Optional[_Connection]:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not _stale(connection, now):
                return connection
            connection.close()
        return None

    def give_back(self, key: Tuple[str, str, int], connection: _Connection) -> None:
        idle = self._idle.setdefault(key, [])
        connection.idle_since = time.monotonic()
        connection.reused = True
        connection.active = False
        idle.append(connection)
        while idle and _stale(idle[0], connection.idle_since):
            idle.pop(0).close()  # the oldest ones, closed by the backend or expired
        if self._expiry is None:
            self._expiry = asyncio.get_running_loop().call_later(KEEPALIVE_SECONDS, self._expire)

    def _expire(self) -> None:
        """Close what has been idle too long, in every origin; again when the oldest left expires."""
        self._expiry = None
        now, oldest = time.monotonic(), None
        for key in list(self._idle):
            kept = []
            for connection in self._idle[key]:
                if _stale(connection, now):
                    connection.close()
                else:
                    kept.append(connection)
                    oldest = connection.idle_since if oldest is None else min(oldest, connection.idle_since)
            if kept:
                self._idle[key] = kept
            else:
                del self._idle[key]
        if oldest is not None:
            self._expiry = asyncio.get_running_loop().call_later(oldest + KEEPALIVE_SECONDS - now, self._expire)

    def close(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()


class HttptoolsUpstream:
    """:class:`~.upstream.UpstreamClient` on pooled asyncio connections; see the module docstring."""

    def __init__(self, settings: ProxySettings, backend_count: int) -> None:
        self._settings, self._backend_count = settings, backend_count  # the latter for the proxied client
        self._pool = _Pool()
        self._origins: Dict[str, _Origin] = {}
        self._proxies = EnvProxies()
        self._proxied: Optional[UpstreamClient] = None
        self._tls: Optional[ssl.SSLContext] = None

    async def post(self, url: str, headers: Dict[str, str], body: bytes) -> UpstreamResponse:
        if self._proxies.for_url(url) is not None:
            return await self._through_proxy().post(url, headers, body)
        return await self._exchange("POST", self._origin(url), headers, body)

    async def get(self, url: str, headers: Dict[str, str], timeout: float) -> Tuple[int, bytes]:
        if self._proxies.for_url(url) is not None:
            return await self._through_proxy().get(url, headers, timeout)
        try:
            return await asyncio.wait_for(self._get(self._origin(url), headers), timeout)
        except asyncio.TimeoutError:
            raise AnswerTimeout() from None

    async def aclose(self) -> None:
        self._pool.close()
        if self._proxied is not None:
            await self._proxied.aclose()

    async def _get(self, origin: _Origin, headers: Dict[str, str]) -> Tuple[int, bytes]:
        response = await self._exchange("GET", origin, headers, b"")
        try:
            return response.status, await response.read()
        finally:
            await response.close()

    async def _exchange(self, method: str, origin: _Origin, headers: Dict[str, str], body: bytes) -> _Response:
        request = _request_bytes(method, origin, headers, body)
        connection = self._pool.take(origin.key)
        if connection is None:
            connection = await self._connect(origin)
        try:
            await self._send(connection, request)
        except ConnectionCut:
            if not (connection.reused and method == "GET"):
                raise
            connection = await self._connect(origin)  # the backend had closed it while idle: once more
            await self._send(connection, request)
        try:
            return _Response(connection, lambda done: self._release(origin, done), self._settings.max_response_bytes)
        except UpstreamFailure:  # an encoding we cannot decode: the body will never be read
            connection.close()
            raise

    async def _send(self, connection: _Connection, request: bytes) -> None:
        """Write the request and wait for the answer's head; on any failure the connection is closed."""
        try:
            connection.send(request)
            while not connection.head_done:
                if connection.error is not None:
                    raise connection.error
                await connection.wait()
        except BaseException:  # a failure, or the call cancelled (the client left): never reuse it
            connection.close()
            raise

    async def _connect(self, origin: _Origin) -> _Connection:
        loop = asyncio.get_running_loop()
        tls = self._tls_context() if origin.tls else None
        opening = loop.create_connection(
            lambda: _Connection(loop, self._settings.read_timeout), origin.host, origin.port,
            ssl=tls, server_hostname=origin.host if tls else None,
        )
        try:
            _, connection = await asyncio.wait_for(opening, self._settings.connect_timeout)
        except asyncio.TimeoutError:
            raise ConnectTimeout() from None
        except OSError as exc:  # refused, unreachable, DNS (gaierror), TLS (SSLError)
            raise connect_failure(exc) from None
        return connection

    def _release(self, origin: _Origin, connection: _Connection) -> None:
        if connection.reusable():
            self._pool.give_back(origin.key, connection)
        else:
            connection.close()

    def _origin(self, url: str) -> _Origin:
        origin = self._origins.get(url)
        if origin is None:
            if len(self._origins) >= 256:  # URLs come from the configuration: never reached in practice
                self._origins.clear()
            origin = self._origins[url] = _Origin(url)
        return origin

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
            self._tls.set_alpn_protocols(["http/1.1"])
        return self._tls

    def _through_proxy(self) -> UpstreamClient:
        if self._proxied is None:
            self._proxied = AiohttpUpstream(self._settings, self._backend_count)
        return self._proxied


def _request_bytes(method: str, origin: _Origin, headers: Mapping[str, str], body: bytes) -> bytes:
    """The request's bytes. Header text is latin-1 both ways (the proxy reads client headers with
    it), so a client's bytes reach the backend unchanged; anything beyond latin-1 goes as UTF-8."""
    lines = [f"{method} {origin.target} HTTP/1.1", f"Host: {origin.netloc}"]
    names = {name.lower() for name in headers}
    lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() not in _FRAMING]
    if "user-agent" not in names:
        lines.append(f"User-Agent: {_USER_AGENT}")
    if "accept" not in names:
        lines.append("Accept: */*")
    lines.append("Accept-Encoding: identity")
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    head = "\r\n".join(lines)
    if head.count("\n") != len(lines) - 1 or head.count("\r") != len(lines) - 1:
        raise ConnectFailed("a request header holds a line break")
    try:
        encoded = head.encode("latin-1")
    except UnicodeEncodeError:
        encoded = head.encode("utf-8")
    return encoded + b"\r\n\r\n" + body


# Set here from the request itself, never taken from the plan's headers.
_FRAMING = frozenset(("host", "content-length", "transfer-encoding", "accept-encoding", "connection"))


def _header_dict(raw: List[Tuple[bytes, bytes]]) -> Dict[str, str]:
    """Lower-case names (every reader here looks names up in lower case); a repeated header's
    values joined with ", ", as httpx's and aiohttp's mappings give them."""
    headers: Dict[str, str] = {}
    for raw_name, raw_value in raw:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = value if name not in headers else f"{headers[name]}, {value}"
    return headers


def _decoder_for(encoding: str) -> Optional["_Decoder"]:
    """A decoder for a body the backend compressed although we asked for identity; None for identity."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    broken = undecodable_encoding(encoding)
    if broken is not None:
        raise broken
    return _Decoder(gzip=encoding != "deflate")


class _Decoder:
    """gzip, or ``deflate`` as servers send it: zlib-wrapped per the RFC, or raw (a common mistake;
    the first two bytes tell, and they may come one at a time). A body that is corrupt, or that
    ends before its compressed stream does, is a broken answer."""

    def __init__(self, gzip: bool) -> None:
        self._inner: Optional[Any] = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
        self._start = b""
        self._fed = False

    def pieces(self, data: bytes) -> Iterator[bytes]:
        """The bytes ``data`` inflates to, at most :data:`_INFLATE_PIECE` at a time (none until a
        whole compressed block is in)."""
        self._fed = True
        try:
            if self._inner is None:
                self._start += data
                if len(self._start) < 2:
                    return
                data, self._start = self._start, b""
                wrapped = (data[0] & 0x0F) == 8 and ((data[0] << 8) | data[1]) % 31 == 0
                self._inner = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
            inner = self._inner
            while True:
                out = inner.decompress(data, _INFLATE_PIECE)
                if out:
                    yield bytes(out)
                data = inner.unconsumed_tail
                if not data and len(out) < _INFLATE_PIECE:
                    return
        except zlib.error:
            raise _corrupt() from None

    def finish(self) -> bytes:
        """The last bytes, once the whole body has been fed."""
        if not self._fed:
            return b""  # an empty body (an error answer, say) that claims an encoding
        if self._inner is None:
            raise _corrupt()  # a single byte
        try:
            tail = bytes(self._inner.flush())
        except zlib.error:
            raise _corrupt() from None
        if not self._inner.eof:
            raise _corrupt()
        return tail


def _corrupt() -> UpstreamFailure:
    return ProtocolBroken("the backend's compressed body is corrupt")
