"""The proxy's way to backends: one pooled async HTTP client, per-backend limits, timeouts.

The rest of the proxy sees only :class:`UpstreamClient` / :class:`UpstreamResponse` and the typed
failures of ``shim/upstream_failures.py`` (every client raises those, and only those, for a backend
that gives no whole answer), so the client library is swappable without touching the driver: the
default is ``upstream_httptools.py`` (chosen by measurement: ``bench/proxy.py``); aiohttp
(``upstream_aiohttp.py``) and the httpx client here stay, as ``router proxy --upstream-client
aiohttp`` or ``httpx``. URLs come only from the plan (configured
backend base URLs); nothing here reads a URL out of a client request.
"""

import asyncio
import http.cookiejar
from typing import AsyncIterator, Callable, Dict, Iterable, Mapping, Optional, Protocol, Tuple

import httpx

from shim.transports.library_failures import httpx_failure
from shim.upstream_failures import WholeAnswer

from .settings import ProxySettings

__all__ = [
    "BackendLimiter",
    "HttpxUpstream",
    "QueueTimeout",
    "UpstreamClient",
    "UpstreamResponse",
    "read_whole",
]


class QueueTimeout(Exception):
    """A backend stayed at its concurrency limit longer than the queue timeout."""


class UpstreamResponse(Protocol):
    """An upstream answer whose status and headers have arrived; the body is read on demand."""

    status: int
    headers: Mapping[str, str]

    async def read(self, on_piece: Optional[Callable[[bytes], None]] = None) -> bytes:
        """The whole (decoded) body; :class:`~shim.upstream_failures.AnswerTooLarge` past the proxy's
        limit. ``on_piece`` sees each piece as it arrives (the answer's JSON count: docs/proxy-limits.md#answers)."""
        ...

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


async def read_whole(chunks: AsyncIterator[bytes], limit: int,
                     on_piece: Optional[Callable[[bytes], None]] = None) -> bytes:
    """A body read whole, as decoded chunks, refused as soon as it grows past ``limit`` bytes (a body
    that decompresses to gigabytes is stopped there, docs/proxy-limits.md#answers); ``on_piece`` is
    given each chunk as it arrives."""
    whole = WholeAnswer(limit)
    async for chunk in chunks:
        if not whole.add(chunk):
            raise whole.too_large()
        if on_piece is not None:
            on_piece(chunk)
    return whole.body()


class _HttpxResponse:
    def __init__(self, response: httpx.Response, limit: int) -> None:
        self._response = response
        self._limit = limit
        self.status = response.status_code
        self.headers: Mapping[str, str] = response.headers

    async def read(self, on_piece: Optional[Callable[[bytes], None]] = None) -> bytes:
        return await read_whole(self.chunks(), self._limit, on_piece)

    async def chunks(self) -> AsyncIterator[bytes]:
        # aiter_bytes, not aiter_raw: we ask for identity encoding, but a server that compresses
        # anyway is decoded here (the plan drops content-encoding from the client's headers).
        try:
            async for chunk in self._response.aiter_bytes():
                yield chunk
        except httpx.HTTPError as exc:
            raise httpx_failure(httpx, exc, answered=True) from None

    def ended(self) -> bool:
        return False  # httpx does not tell before the next read; the end then goes out on its own

    async def close(self) -> None:
        await self._response.aclose()


class HttpxUpstream:
    """:class:`UpstreamClient` on one shared ``httpx.AsyncClient`` (HTTP/1.1 keep-alive pool)."""

    def __init__(self, settings: ProxySettings, backend_count: int) -> None:
        self._limit = settings.max_response_bytes
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
            raise httpx_failure(httpx, exc, answered=False) from None
        return _HttpxResponse(response, self._limit)

    async def get(self, url: str, headers: Dict[str, str], timeout: float) -> Tuple[int, bytes]:
        request = self._client.build_request("GET", url, headers=headers, timeout=timeout)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise httpx_failure(httpx, exc, answered=False) from None
        try:
            return response.status_code, await _HttpxResponse(response, self._limit).read()
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()


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
