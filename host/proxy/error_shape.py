"""Which protocol a request's error is answered in, before any plan exists, and such an error as the
raw bytes of a whole HTTP/1.1 response (for answers the server layer writes itself, without the app)."""

from http import HTTPStatus
from typing import Mapping

from shim.errors import RouterError
from shim.protocols import ANTHROPIC, ENDPOINT_PROTOCOL, OPENAI, endpoint_for_path

__all__ = ["client_protocol", "raw_error_response"]


def client_protocol(path: str, headers: Mapping[str, str]) -> str:
    """The protocol to answer in: the endpoint's when the path names one; else Anthropic for a client
    that says it speaks it (``anthropic-version``, a ``/messages`` path), OpenAI otherwise."""
    endpoint = endpoint_for_path(path)
    if endpoint in ENDPOINT_PROTOCOL:
        return ENDPOINT_PROTOCOL[endpoint]
    return ANTHROPIC if "anthropic-version" in headers or "/messages" in path else OPENAI


def raw_error_response(error: RouterError, protocol: str) -> bytes:
    """``error`` in ``protocol``'s shape as a complete response that closes the connection."""
    status = error.status_for(protocol)
    body = error.render(protocol)
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    lines = [f"HTTP/1.1 {status} {phrase}"]
    lines += [f"{name}: {value}" for name, value in error.headers_for(protocol).items()]
    lines += [f"content-length: {len(body)}", "connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
