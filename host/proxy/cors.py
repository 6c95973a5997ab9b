"""CORS for browser clients of ``router proxy`` (``--cors-origin ORIGIN``, repeatable; off by default).

A page at another origin may call the proxy only when the proxy says so (the Fetch standard's CORS
protocol, https://fetch.spec.whatwg.org/#http-cors-protocol). Two parts (docs/operator-switches.md#cors):

* a *preflight* — ``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method`` — is answered
  here, 204, before authentication: a browser sends a preflight without the request's headers, so
  without the router key; it learns only which methods and headers the proxy accepts;
* every other answer to a listed origin (errors and streams included) carries
  ``Access-Control-Allow-Origin`` with that origin, and every answer ``Vary: Origin``, so that a
  cache never serves one origin's answer to another.

An origin not listed gets no CORS header at all, so the browser refuses the page the answer. No
credentials mode (``Access-Control-Allow-Credentials``): clients authenticate with a header the page
sets, never with cookies. Without ``--cors-origin`` the proxy is not wrapped, and costs nothing.
"""

import ipaddress
from typing import Awaitable, Callable, FrozenSet, List, Optional, Sequence, Tuple

from .asgi_io import Message, Receive, Scope, Send

__all__ = ["ALLOWED_HEADERS", "CorsApp", "CorsOriginRefused", "is_listed_origin", "normalized_origin"]

# The request headers a page may send: what the official SDKs and their browser modes set (the
# ``x-stainless-*`` family is matched by prefix) and the router's own key headers.
ALLOWED_HEADERS: FrozenSet[str] = frozenset({
    "authorization", "content-type", "x-api-key", "anthropic-version", "anthropic-beta",
    "anthropic-dangerous-direct-browser-access", "openai-beta", "idempotency-key", "x-claude-code-session-id",
})
_ALLOWED_PREFIXES = ("x-stainless-",)
App = Callable[[Scope, Receive, Send], Awaitable[None]]  # an ASGI application
_METHODS = b"GET, POST, DELETE, OPTIONS"
_MAX_AGE = b"600"  # seconds a browser may keep a preflight's answer (Chromium caps it at 7200)
# Headers a page may read from an answer: the request ids and the retry hints the SDKs look at.
_EXPOSED = b"request-id, x-request-id, retry-after, x-should-retry"


class CorsOriginRefused(ValueError):
    """A ``--cors-origin`` value is not an origin (``scheme://host[:port]``, or ``*``)."""


def normalized_origin(value: str) -> str:
    """``value`` as a browser writes an ``Origin`` header (the HTML standard's serialisation of an
    origin), or :class:`CorsOriginRefused` for what a browser could never send: lower case, no path
    or trailing slash, no default port (``http://localhost:80`` is sent as ``http://localhost``), a
    port as a plain number, an IP address in its canonical form. An international name must be
    given in its ASCII (``xn--``) form: browsers encode with UTS #46, Python's codec with IDNA 2003,
    and the two differ (``faß.de``), so a name converted here could match another domain."""
    origin = value.strip().rstrip("/").lower()
    if origin == "*":
        return origin
    scheme, sep, rest = origin.partition("://")
    if not sep or scheme not in _DEFAULT_PORTS or not rest or any(char in rest for char in _NOT_IN_A_HOST):
        raise _not_an_origin(value, "")
    if not rest.isascii():
        raise _not_an_origin(value, "; write an international name in its ASCII form (xn--…), as browsers send it")
    name, port = _name_and_port(rest, value)
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise _not_an_origin(value, f"; {port!r} is not a port")
    shown_port = "" if port is None or int(port) == _DEFAULT_PORTS[scheme] else f":{int(port)}"
    return f"{scheme}://{name}{shown_port}"


_DEFAULT_PORTS = {"http": 80, "https": 443}
_NOT_IN_A_HOST = frozenset("/?#@% \t")


def _name_and_port(rest: str, value: str) -> Tuple[str, Optional[str]]:
    """``host[:port]``: the host (an IP address canonical, an IPv6 one in brackets) and the port as
    written (None: none)."""
    if rest.startswith("["):
        end = rest.find("]")
        after = rest[end + 1:]
        if end < 0 or (after and not after.startswith(":")):
            raise _not_an_origin(value, "")
        name, port = rest[1:end], after[1:] if after else None
        try:
            return f"[{ipaddress.IPv6Address(name).compressed}]", port
        except ValueError:
            raise _not_an_origin(value, "") from None
    name, colon, port_text = rest.partition(":")
    if not name:
        raise _not_an_origin(value, "")
    if name.strip("0123456789.") == "":  # an IPv4 address: browsers send its four parts in decimal
        try:
            name = str(ipaddress.IPv4Address(name))
        except ValueError:
            raise _not_an_origin(value, "; write the address in full (127.0.0.1), as browsers send it") from None
    return name, port_text if colon else None


def is_listed_origin(origin: str, origins: FrozenSet[str]) -> bool:
    """``origin`` (an ``Origin`` header's value, as a browser writes it) is one of ``origins``
    (:func:`normalized_origin`'s), or they hold ``*``: whose answers carry CORS headers here, and
    which pages a keyless proxy serves (``web_pages.py``)."""
    return "*" in origins or origin.lower() in origins


def _not_an_origin(value: str, why: str) -> CorsOriginRefused:
    return CorsOriginRefused(f"--cors-origin {value!r} is not an origin like https://app.example.com[:port]{why}")


class CorsApp:
    """``app`` with the CORS protocol for ``origins`` (``*``: any origin)."""

    def __init__(self, app: App, origins: Sequence[str]) -> None:
        self.app = app
        self._origins = frozenset(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = self._listed_origin(scope)
        if origin is not None and scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method"):
            await _preflight(scope, send, origin)
            return
        extra: List[Tuple[bytes, bytes]] = [(b"vary", b"Origin")]
        if origin is not None:
            extra += [(b"access-control-allow-origin", origin), (b"access-control-expose-headers", _EXPOSED)]

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _listed_origin(self, scope: Scope) -> Optional[bytes]:
        """The request's ``Origin`` when it is one of ours, else None."""
        origin = _header(scope, b"origin")
        if origin is None or not is_listed_origin(origin.decode("latin-1"), self._origins):
            return None
        return origin


async def _preflight(scope: Scope, send: Send, origin: bytes) -> None:
    asked = _header(scope, b"access-control-request-headers") or b""
    granted = [name for name in (part.strip().lower() for part in asked.decode("latin-1").split(",")) if
               name and (name in ALLOWED_HEADERS or name.startswith(_ALLOWED_PREFIXES))]
    headers = [
        (b"access-control-allow-origin", origin),
        (b"access-control-allow-methods", _METHODS),
        (b"access-control-max-age", _MAX_AGE),
        (b"vary", b"Origin, Access-Control-Request-Headers"),
        (b"content-length", b"0"),
    ]
    if granted:
        headers.append((b"access-control-allow-headers", ", ".join(granted).encode("latin-1")))
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def _header(scope: Scope, name: bytes) -> Optional[bytes]:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None
