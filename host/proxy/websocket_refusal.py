"""WebSocket upgrade requests: refused at once, in a shape clients read as "not offered here".

The proxy serves HTTP only. Codex CLI opens ``GET /v1/responses`` as a WebSocket first (the
Responses API's WebSocket mode) and falls back to ``POST /v1/responses`` for the rest of its session
as soon as the handshake is answered ``426 Upgrade Required``; any other failure makes it retry the
handshake several times with back-off first (docs/clients/codex.md#websocket-fallback). So an upgrade
to a Responses path gets 426 with an OpenAI-shaped error body, and one to any other path 404.

uvicorn hands upgrade requests to the app as ``websocket`` scopes. The ASGI "WebSocket Denial
Response" extension lets the app answer the handshake with an ordinary HTTP response; a server
without it can only refuse with 403 (``websocket.close`` before accepting).
"""

from typing import Mapping, Optional, Tuple

from shim.errors import AuthenticationError, InvalidRequestError, NotFoundError, RouterError
from shim.protocols import OPENAI

from .asgi_io import Receive, Scope, Send, request_headers
from .auth import is_authorized

__all__ = ["UPGRADE_REQUIRED", "refuse_websocket"]

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
    status, error = _refusal(scope["path"], request_headers(scope), api_key)
    body = error.render(OPENAI)
    headers = {**error.headers_for(OPENAI), "content-length": str(len(body))}
    if status == UPGRADE_REQUIRED:
        headers["upgrade"] = "HTTP/1.1"  # RFC 9110 section 15.5.22: name the protocol this endpoint does speak
    await send({
        "type": "websocket.http.response.start",
        "status": status,
        "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()],
    })
    await send({"type": "websocket.http.response.body", "body": body})


def _refusal(path: str, headers: Mapping[str, str], api_key: Optional[str]) -> Tuple[int, RouterError]:
    """The status and the (OpenAI-shaped) error for an upgrade to ``path``."""
    if not is_authorized(headers, api_key):
        denied = AuthenticationError("missing or wrong router key: send the value of ROUTER_API_KEY as a bearer token")
        return denied.status_for(OPENAI), denied
    if path.rstrip("/").endswith("/responses"):
        return UPGRADE_REQUIRED, InvalidRequestError(
            "this router serves the Responses API over HTTP only: send POST /v1/responses",
            code="websocket_not_supported",
        )
    missing = NotFoundError(f"no WebSocket endpoint at {path}")
    return missing.status_for(OPENAI), missing
