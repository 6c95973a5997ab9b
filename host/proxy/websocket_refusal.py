"""WebSocket upgrade requests: refused at once, in a shape clients read as "not offered here".

The proxy serves HTTP only. Codex CLI opens ``GET /v1/responses`` as a WebSocket first (the
Responses API's WebSocket mode) and falls back to ``POST /v1/responses`` for the rest of its session
as soon as the handshake is answered ``426 Upgrade Required``; any other failure makes it retry the
handshake several times with back-off first (docs/clients/codex.md#websocket-fallback). So an upgrade
to a Responses path gets 426 with an OpenAI-shaped error body, and one to any other path 404 in the
protocol its path names (docs/proxy-limits.md#upgrades).

The proxy's server runs without a WebSocket library (``ws="none"``), so a handshake reaches the app
as a plain ``http`` request carrying ``Upgrade: websocket``: :func:`is_websocket_upgrade` tells it
and :func:`upgrade_refusal` answers it — whatever the handshake's other headers (a WebSocket
library would answer a malformed handshake itself, in plain text). :func:`refuse_websocket` answers
a ``websocket`` scope, for a server that has a WebSocket library after all: with the ASGI "WebSocket
Denial Response" extension it can send an ordinary HTTP response; without, only 403.
"""

from typing import Mapping, Optional, Tuple

from shim.errors import AuthenticationError, InvalidRequestError, NotFoundError, RouterError
from shim.plan import ClientResponse

from .asgi_io import Receive, Scope, Send, request_headers
from .auth import is_authorized
from .error_shape import client_protocol

__all__ = ["UPGRADE_REQUIRED", "is_websocket_upgrade", "refuse_websocket", "upgrade_refusal"]

UPGRADE_REQUIRED = 426
_DENIAL_EXTENSION = "websocket.http.response"


async def refuse_websocket(scope: Scope, receive: Receive, send: Send, api_key: Optional[str]) -> None:
    """Answer one ``websocket`` scope with an HTTP error instead of a handshake."""
    message = await receive()
    if message.get("type") != "websocket.connect":
        return  # the client went away before the handshake reached us
    if _DENIAL_EXTENSION not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 1008})  # the server answers 403
        return
    answer = upgrade_refusal(scope["path"], request_headers(scope), api_key)
    headers = {**answer.headers, "content-length": str(len(answer.body))}
    await send({
        "type": "websocket.http.response.start",
        "status": answer.status,
        "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()],
    })
    await send({"type": "websocket.http.response.body", "body": answer.body})


def is_websocket_upgrade(headers: Mapping[str, str]) -> bool:
    """A WebSocket handshake (RFC 6455 section 4.1: ``Upgrade: websocket``), however malformed otherwise."""
    return "websocket" in headers.get("upgrade", "").lower()


def upgrade_refusal(path: str, headers: Mapping[str, str], api_key: Optional[str]) -> ClientResponse:
    """The answer to a WebSocket handshake for ``path``, in the protocol the path names."""
    protocol = client_protocol(path, headers)
    status, error = _refusal(path, headers, api_key, protocol)
    response_headers = error.headers_for(protocol)
    if status == UPGRADE_REQUIRED:
        response_headers["upgrade"] = "HTTP/1.1"  # RFC 9110 section 15.5.22: name the protocol this endpoint speaks
    return ClientResponse(status, response_headers, error.render(protocol))


def _refusal(path: str, headers: Mapping[str, str], api_key: Optional[str], protocol: str) -> Tuple[int, RouterError]:
    """The status and the error for an upgrade to ``path``."""
    if not is_authorized(headers, api_key):
        denied = AuthenticationError("missing or wrong router key: send the value of ROUTER_API_KEY as a bearer token")
        return denied.status_for(protocol), denied
    if path.rstrip("/").endswith("/responses"):
        return UPGRADE_REQUIRED, InvalidRequestError(
            "this router serves the Responses API over HTTP only: send POST /v1/responses",
            code="websocket_not_supported",
        )
    missing = NotFoundError(f"no WebSocket endpoint at {path}")
    return missing.status_for(protocol), missing
