"""An aiohttp stand-in for the proxy's httpx upstream client, to compare the two by measurement.

The issue asks to choose the upstream client by measurement. The proxy's ``ProxyApp`` takes an
``upstream_factory`` (``HttpxUpstream`` by default) and ``host.proxy.upstream`` defines the small
``UpstreamClient`` protocol it needs, so this module implements that protocol on one pooled
``aiohttp.ClientSession`` and :func:`main` starts the unchanged ``router proxy`` command with it
plugged in. Nothing in the proxy's code is edited; this is a bench-only variant target.

Run (from ``bench/``): ``python -m proxy_support.aiohttp_upstream --port 3456``.
"""

import functools
import sys
from typing import AsyncIterator, Dict, List, Mapping, Optional, Tuple

import aiohttp

from host.proxy.settings import ProxySettings
from host.proxy.upstream import UpstreamFailure

__all__ = ["AiohttpUpstream", "main"]


def _failure(exc: BaseException) -> UpstreamFailure:
    if isinstance(exc, TimeoutError):
        return UpstreamFailure("timeout", "timed out waiting for data")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamFailure("connect", "cannot connect")
    return UpstreamFailure("broken", f"connection lost ({type(exc).__name__})")


class _AiohttpResponse:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _failure(exc) from None
        finally:
            self._response.release()

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _failure(exc) from None

    async def close(self) -> None:
        self._response.release()


class AiohttpUpstream:
    """``UpstreamClient`` on one shared ``aiohttp.ClientSession`` (keep-alive pool, no total cap)."""

    def __init__(self, settings: ProxySettings, backend_count: int) -> None:
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=settings.connect_timeout, sock_read=settings.read_timeout
        )
        self._settings = settings
        self._session: Optional[aiohttp.ClientSession] = None

    def _client(self) -> aiohttp.ClientSession:
        # Created lazily inside the running loop (aiohttp binds a session to the loop it starts in).
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30.0, enable_cleanup_closed=False)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout, auto_decompress=False)
        return self._session

    async def post(self, url: str, headers: Dict[str, str], body: bytes) -> "_AiohttpResponse":
        headers = {**headers, "accept-encoding": "identity"}
        try:
            response = await self._client().post(url, headers=headers, data=body, allow_redirects=False)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _failure(exc) from None
        return _AiohttpResponse(response)

    async def get(self, url: str, headers: Dict[str, str], timeout: float) -> Tuple[int, bytes]:
        try:
            async with self._client().get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
                return resp.status, await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _failure(exc) from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def main(argv: Optional[List[str]] = None) -> None:
    """``router proxy ARGV…`` with :class:`AiohttpUpstream` as the upstream client."""
    from host.cli import main as router_main
    from host.proxy import server
    from host.proxy.app import ProxyApp

    server.ProxyApp = functools.partial(ProxyApp, upstream_factory=AiohttpUpstream)
    sys.argv = ["router", "proxy", *(sys.argv[1:] if argv is None else argv)]
    router_main()


if __name__ == "__main__":
    main()
