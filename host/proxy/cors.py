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

from typing import Awaitable, Callable, FrozenSet, List, Optional, Sequence, Tuple

from .asgi_io import Message, Receive, Scope, Send

__all__ = ["ALLOWED_HEADERS", "CorsApp", "CorsOriginRefused", "normalized_origin"]

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
    origin): lower case, no path or trailing slash, no default port (``http://localhost:80`` is sent
    as ``http://localhost``), an international name in its ASCII form (``xn--``, as browsers send it;
    Python's IDNA codec)."""
    origin = value.strip().rstrip("/").lower()
    if origin == "*":
        return origin
    scheme, sep, rest = origin.partition("://")
    if not sep or scheme not in ("http", "https") or not rest or "/" in rest or "?" in rest or "#" in rest:
        raise _not_an_origin(value)
    name, port = _name_and_port(rest)
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise _not_an_origin(value) from None
    if port == _DEFAULT_PORTS[scheme]:
        port = ""
    return f"{scheme}://{name}{':' + port if port else ''}"


_DEFAULT_PORTS = {"http": "80", "https": "443"}


def _name_and_port(rest: str) -> Tuple[str, str]:
    """``host[:port]`` split; an IPv6 address keeps its brackets."""
    if rest.startswith("["):
        end = rest.find("]") + 1
        return rest[:end], rest[end + 1:] if rest[end:end + 1] == ":" else ""
    name, _, port = rest.partition(":")
    return name, port


def _not_an_origin(value: str) -> CorsOriginRefused:
    return CorsOriginRefused(f"--cors-origin {value!r} is not an origin like https://app.example.com[:port]")


class CorsApp:
    """``app`` with the CORS protocol for ``origins`` (``*``: any origin)."""

    def __init__(self, app: App, origins: Sequence[str]) -> None:
        self.app = app
        self._any = "*" in origins
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
        if origin is None or not (self._any or origin.decode("latin-1").lower() in self._origins):
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
