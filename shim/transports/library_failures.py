"""The HTTP libraries' exceptions → the router's typed upstream failures, in one place.

httpx and httpx2 (the shim's transports and the proxy's httpx client), requests and the urllib3
under it (the shim), aiohttp (the proxy's aiohttp client) each say "the backend did not answer"
with their own classes; the router decides from :mod:`shim.upstream_failures` only
(docs/errors.md#upstream-failures). Each function takes the library's module (the shim never
imports a library itself: it is handed the one the program loaded) and ``answered``: whether
the answer's status and headers had arrived, which is what tells a timeout waiting for the answer
from a silence in the middle of it. Unknown exceptions become :class:`ConnectionCut`: the
connection did not deliver an answer, whatever the reason.

What a connection failure was (refused, DNS, unreachable, TLS) is read from the standard library's
own exceptions at the bottom of the library's wrapping (``__cause__``/``__context__``, urllib3's
``reason``, aiohttp's ``os_error``): the libraries agree on those, and their messages name hosts.
"""

import errno
import socket
import ssl
import sys
from typing import Any, List, Optional, Tuple, Type

from ..upstream_failures import (
    AnswerTimeout,
    ConnectFailed,
    ConnectionCut,
    ConnectTimeout,
    ProtocolBroken,
    ReadTimeout,
    TLSFailed,
    UpstreamFailure,
)

__all__ = ["aiohttp_failure", "connect_failure", "httpx_failure", "requests_failure", "waiting_timeout"]

_UNREACHABLE = frozenset({errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN})
_CHAIN_LIMIT = 12


def waiting_timeout(answered: bool) -> UpstreamFailure:
    """A read that timed out: before the answer began, or in the middle of it."""
    return ReadTimeout() if answered else AnswerTimeout()


def connect_failure(error: BaseException) -> UpstreamFailure:
    """Why a connection could not be made, from the innermost standard-library error."""
    for cause in _causes(error):
        if isinstance(cause, ssl.SSLError):
            return TLSFailed()
        if isinstance(cause, socket.gaierror):
            return ConnectFailed("host name not found")
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
            return ConnectFailed("connection refused (nothing listening)")
        if getattr(cause, "errno", None) in _UNREACHABLE:
            return ConnectFailed("host unreachable")
    return ConnectFailed("cannot connect")


def httpx_failure(mod: Any, error: BaseException, answered: bool) -> UpstreamFailure:
    """An exception of ``httpx`` or ``httpx2`` (same tree: ``mod`` is the one that raised)."""
    try:
        if isinstance(error, _classes(mod, "ConnectTimeout", "PoolTimeout")):
            return ConnectTimeout()
        if isinstance(error, _classes(mod, "TimeoutException")):
            return waiting_timeout(answered)
        if isinstance(error, _classes(mod, "ConnectError", "ProxyError", "UnsupportedProtocol")):
            return connect_failure(error)
        if isinstance(error, _classes(mod, "DecodingError")):
            return ProtocolBroken("the backend's compressed body is corrupt")
        return _cut(error)
    except Exception:  # an odd version of the library: never fail while describing a failure
        return _cut(error)


def requests_failure(mod: Any, error: BaseException, answered: bool) -> UpstreamFailure:
    """An exception of ``requests``, or of the urllib3 response it streams from."""
    try:
        exceptions = mod.exceptions
        urllib3 = sys.modules.get("urllib3.exceptions")
        if isinstance(error, exceptions.ConnectTimeout):
            return ConnectTimeout()
        if isinstance(error, exceptions.Timeout) or _read_timed_out(error, urllib3):
            return waiting_timeout(answered)
        if isinstance(error, exceptions.SSLError) or _is(error, urllib3, "SSLError"):
            return TLSFailed()
        if isinstance(error, exceptions.ContentDecodingError) or _is(error, urllib3, "DecodeError"):
            return ProtocolBroken("the backend's compressed body is corrupt")
        if isinstance(error, exceptions.ConnectionError) and not answered and _never_connected(error, urllib3):
            return connect_failure(error)
        return _cut(error)
    except Exception:
        return _cut(error)


def aiohttp_failure(mod: Any, error: BaseException, answered: bool) -> UpstreamFailure:
    """An exception of ``aiohttp`` (or the timeout its reads raise)."""
    try:
        if isinstance(error, _classes(mod, "ConnectionTimeoutError")):
            return ConnectTimeout()
        if isinstance(error, _classes(mod, "ClientSSLError", "ServerFingerprintMismatch")):
            return TLSFailed()
        if isinstance(error, _classes(mod, "ClientConnectorDNSError")):
            return ConnectFailed("host name not found")
        if isinstance(error, _classes(mod, "ClientConnectorError")):
            return connect_failure(getattr(error, "os_error", error))
        if isinstance(error, _timeouts(mod)):
            return waiting_timeout(answered)
        if isinstance(error, _classes(mod, "ClientPayloadError")) and _is_encoding_error(mod, error):
            return ProtocolBroken("the backend's compressed body is corrupt")
        if isinstance(error, _classes(mod, "ClientResponseError")):
            return ProtocolBroken()  # the status line or headers did not parse
        return _cut(error)
    except Exception:
        return _cut(error)


def _cut(error: BaseException) -> UpstreamFailure:
    return ConnectionCut(f"connection lost ({type(error).__name__})")


def _classes(mod: Any, *names: str) -> Tuple[Type[BaseException], ...]:
    """The classes of ``mod`` among ``names`` that this version of the library has."""
    found = (getattr(mod, name, None) for name in names)
    return tuple(cls for cls in found if isinstance(cls, type))


def _timeouts(mod: Any) -> Tuple[Type[BaseException], ...]:
    """aiohttp's read timeouts, and asyncio's (which is not the builtin ``TimeoutError`` before 3.11)."""
    asyncio = sys.modules.get("asyncio")
    return (TimeoutError, *_classes(mod, "ServerTimeoutError"), *_classes(asyncio, "TimeoutError"))


def _is(error: BaseException, mod: Optional[Any], name: str) -> bool:
    return mod is not None and isinstance(error, _classes(mod, name))


def _read_timed_out(error: BaseException, urllib3: Optional[Any]) -> bool:
    """urllib3's read timeout, however requests wrapped it (``iter_content`` raises it as a
    ``ConnectionError``)."""
    return any(_is(cause, urllib3, "ReadTimeoutError") or isinstance(cause, socket.timeout)
               for cause in _causes(error))


def _never_connected(error: BaseException, urllib3: Optional[Any]) -> bool:
    """A requests ``ConnectionError`` from failing to connect (urllib3's ``NewConnectionError`` or a
    refused/unreachable/DNS/TLS error inside), not from a connection that broke after sending."""
    for cause in _causes(error):
        if _is(cause, urllib3, "NewConnectionError") or isinstance(cause, (ssl.SSLError, socket.gaierror)):
            return True
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) in _UNREACHABLE:
            return True
    return False


def _is_encoding_error(mod: Any, error: BaseException) -> bool:
    encoding = getattr(getattr(mod, "http_exceptions", None), "ContentEncodingError", None)
    return isinstance(encoding, type) and any(isinstance(cause, encoding) for cause in _causes(error))


def _causes(error: BaseException) -> List[BaseException]:
    """``error`` and what it wraps: ``__cause__``/``__context__``, urllib3's ``reason``, aiohttp's
    ``os_error``, and an exception passed as the first argument (requests wraps urllib3's that way)."""
    chain: List[BaseException] = []
    pending: List[BaseException] = [error]
    while pending and len(chain) < _CHAIN_LIMIT:
        current = pending.pop(0)
        if any(current is seen for seen in chain):
            continue
        chain.append(current)
        args = getattr(current, "args", ())
        for inner in (current.__cause__, current.__context__, getattr(current, "reason", None),
                      getattr(current, "os_error", None), args[0] if args else None):
            if isinstance(inner, BaseException):
                pending.append(inner)
    return chain
