"""The proxy's way to backends: one pooled async HTTP client, per-backend limits, timeouts.

The rest of the proxy sees only :class:`UpstreamClient` / :class:`UpstreamResponse` and
:class:`UpstreamFailure`, so the client library is swappable without touching the driver: the
default is ``upstream_httptools.py`` (chosen by measurement: ``bench/proxy.py``); aiohttp
(``upstream_aiohttp.py``) and the httpx client here stay, as ``router proxy --upstream-client
aiohttp`` or ``httpx``. URLs come only from the plan (configured
backend base URLs); nothing here reads a URL out of a client request.
"""

import asyncio
import errno
import http.cookiejar
import socket
import ssl
from typing import AsyncIterator, Dict, Iterable, List, Mapping, Optional, Protocol, Tuple

import httpx

from .settings import ProxySettings

__all__ = [
    "BackendLimiter",
    "HttpxUpstream",
    "QueueTimeout",
    "UpstreamClient",
    "UpstreamFailure",
    "UpstreamResponse",
    "connect_reason",
    "timed_out",
]


class UpstreamFailure(Exception):
    """The backend could not be reached or stopped answering. ``kind``: ``"timeout"``,
    ``"connect"`` (nothing listening, DNS, TLS) or ``"broken"`` (the connection died mid-answer).
    ``reason`` is a short text without URLs or headers (so never a key)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


def timed_out(connecting: bool) -> UpstreamFailure:
    """A timeout, worded alike by every client (the driver tells the two limits apart by it)."""
    return UpstreamFailure("timeout", "timed out connecting" if connecting else "timed out waiting for data")


class QueueTimeout(Exception):
    """A backend stayed at its concurrency limit longer than the queue timeout."""


class UpstreamResponse(Protocol):
    """An upstream answer whose status and headers have arrived; the body is read on demand."""

    status: int
    headers: Mapping[str, str]

    async def read(self) -> bytes: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    def ended(self) -> bool:
        """True when the body is known to be complete: the chunk just yielded is the last one."""
        ...

    async def close(self) -> None: ...


class UpstreamClient(Protocol):
    """What the driver needs from an HTTP client library."""

    async def post(self, url: str, headers: Dict[str, str], body: bytes) -> UpstreamResponse: ...

    async def get(self, url: str, headers: Dict[str, str], timeout: float) -> Tuple[int, bytes]: ...

    async def aclose(self) -> None: ...


class _HttpxResponse:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.headers: Mapping[str, str] = response.headers

    async def read(self) -> bytes:
        try:
            return await self._response.aread()
        except httpx.HTTPError as exc:
            raise _failure(exc) from None

    async def chunks(self) -> AsyncIterator[bytes]:
        # aiter_bytes, not aiter_raw: we ask for identity encoding, but a server that compresses
        # anyway is decoded here (the plan drops content-encoding from the client's headers).
        try:
            async for chunk in self._response.aiter_bytes():
                yield chunk
        except httpx.HTTPError as exc:
            raise _failure(exc) from None

    def ended(self) -> bool:
        return False  # httpx does not tell before the next read; the end then goes out on its own

    async def close(self) -> None:
        await self._response.aclose()


class HttpxUpstream:
    """:class:`UpstreamClient` on one shared ``httpx.AsyncClient`` (HTTP/1.1 keep-alive pool)."""

    def __init__(self, settings: ProxySettings, backend_count: int) -> None:
        timeout = httpx.Timeout(
            connect=settings.connect_timeout, read=settings.read_timeout, write=settings.read_timeout, pool=None
        )
        # Connections are bounded per backend by BackendLimiter, not by the pool; keep as many
        # idle ones as could be busy at once so a burst does not reconnect.
        limits = httpx.Limits(
            max_connections=None,
            max_keepalive_connections=settings.max_concurrency * max(1, backend_count),
            keepalive_expiry=30.0,
        )
        # A jar that accepts no cookie: what one client's call made a backend set must never go out
        # with another client's calls.
        no_cookies = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self._client = httpx.AsyncClient(
            timeout=timeout, limits=limits, follow_redirects=False, cookies=no_cookies
        )

    async def post(self, url: str, headers: Dict[str, str], body: bytes) -> UpstreamResponse:
        # identity: pass bytes through as they come, no decompression cost on the hot path
        headers = {**headers, "accept-encoding": "identity"}
        request = self._client.build_request("POST", url, headers=headers, content=body)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise _failure(exc) from None
        return _HttpxResponse(response)

    async def get(self, url: str, headers: Dict[str, str], timeout: float) -> Tuple[int, bytes]:
        try:
            response = await self._client.get(url, headers=headers, timeout=timeout)
        except httpx.HTTPError as exc:
            raise _failure(exc) from None
        return response.status_code, response.content

    async def aclose(self) -> None:
        await self._client.aclose()


def _failure(exc: httpx.HTTPError) -> UpstreamFailure:
    """httpx's exception → a kind and a reason that names no URL (httpx messages may)."""
    if isinstance(exc, httpx.TimeoutException):
        return timed_out(connecting=isinstance(exc, httpx.ConnectTimeout))
    if isinstance(exc, httpx.ConnectError):
        return UpstreamFailure("connect", connect_reason(exc))
    return UpstreamFailure("broken", f"connection lost ({type(exc).__name__})")


def connect_reason(exc: BaseException) -> str:
    """Why a connection failed, from the innermost OS error (anyio wraps ECONNREFUSED in a generic
    "All connection attempts failed"; aiohttp's happy-eyeballs may give a plain OSError with its errno)."""
    for cause in _causes(exc):
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
            return "connection refused (nothing listening)"
        if isinstance(cause, socket.gaierror):
            return "host name not found"
        if isinstance(cause, ssl.SSLError):
            return "TLS handshake failed"
    return "cannot connect"


def _causes(exc: BaseException) -> List[BaseException]:
    chain: List[BaseException] = []
    current: Optional[BaseException] = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


class BackendLimiter:
    """At most ``limit`` upstream requests in flight per backend; the rest wait their turn for
    up to ``queue_timeout`` seconds (then :class:`QueueTimeout`, which the driver answers 429).

    Each configuration generation has its own limiter (docs/configuration.md#live-reload), built by
    :meth:`for_backends` from the previous one: a backend that stays keeps its very semaphore, so
    calls still running on the old generation count against the same limit as new ones, and a
    removed backend's semaphore goes away with the last call that held it."""

    def __init__(self, limit: int, queue_timeout: float) -> None:
        self._limit = limit
        self._queue_timeout = queue_timeout
        self._semaphores: Dict[str, asyncio.Semaphore] = {}

    def for_backends(self, names: Iterable[str]) -> "BackendLimiter":
        """A limiter for exactly ``names``, sharing this one's semaphores for the names they have in common."""
        successor = BackendLimiter(self._limit, self._queue_timeout)
        for name in names:
            successor._semaphores[name] = self._semaphores.get(name) or asyncio.Semaphore(self._limit)
        return successor

    async def acquire(self, backend: str) -> None:
        semaphore = self._semaphores.get(backend)
        if semaphore is None:
            semaphore = self._semaphores[backend] = asyncio.Semaphore(self._limit)
        if not semaphore.locked():
            await semaphore.acquire()  # free slot: no timer, no extra task
            return
        try:
            await asyncio.wait_for(semaphore.acquire(), self._queue_timeout)
        except asyncio.TimeoutError:
            raise QueueTimeout(backend) from None

    def release(self, backend: str) -> None:
        self._semaphores[backend].release()
