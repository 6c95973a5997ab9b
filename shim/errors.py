"""The engine's one error hierarchy, rendered in either client protocol.

Tree::

    RouterError                      (abstract: never raised itself)
    ├── InvalidRequestError          400  the client's request is malformed or cannot be translated
    │   └── UnsupportedFeatureError  400  valid, but has no counterpart upstream (n>1, input_audio…)
    ├── AuthenticationError          401  the router's own key check failed (proxy)
    ├── NotFoundError                404  unknown path, or a model with no route where one is required
    ├── RequestTooLargeError         413  body over the configured limit
    ├── HeadersTooLargeError         431  request line or headers over the proxy's limit
    ├── UpstreamError                any  the backend answered with an error (translated once, here)
    ├── UpstreamProtocolError        500  the backend answered something that is not its protocol,
    │                                     or a stream ended before it was complete
    ├── UpstreamTransportError       502  no (whole) answer: refused, TLS, cut, not HTTP, too large
    │                                504  ... or a timeout (shim/upstream_failures.py says which)
    ├── OverloadedError          529/503  the proxy holds all the request bodies it may; retry shortly
    └── ShuttingDownError            503  the proxy is stopping; retrying reaches another (or the next) one

Every error has a *kind* (``invalid_request``, ``rate_limit``, ``overloaded`` …) and renders
itself as the body and status each protocol uses for that kind. The status and type pairs follow
docs/protocol-rules.md#error-kinds (e.g. Anthropic 529 ``overloaded_error`` ⇄ OpenAI 503
``service_unavailable_error``/``server_is_overloaded``, Anthropic 402 ``billing_error`` ⇄ OpenAI
429 ``insufficient_quota``). Only this hierarchy may escape the engine.
"""

import json
from typing import Any, Dict, Mapping, NamedTuple, Optional, TypeVar

from .protocols import ANTHROPIC

__all__ = [
    "KINDS",
    "NOT_A_JSON_NUMBER",
    "AuthenticationError",
    "ErrorKind",
    "HeadersTooLargeError",
    "InvalidRequestError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "RequestTooLargeError",
    "RouterError",
    "ShuttingDownError",
    "UnsupportedFeatureError",
    "UpstreamError",
    "UpstreamProtocolError",
    "UpstreamTransportError",
    "error_from_stream_payload",
    "error_from_upstream",
    "kept",
    "nested_too_deeply",
]

_Error = TypeVar("_Error", bound=BaseException)


# What is wrong with a float Python parsed from ``1e999`` (infinity) or a NaN: JSON has no way to
# write it (docs/protocol-rules.md#numbers).
NOT_A_JSON_NUMBER = "holds a number JSON cannot carry (NaN, Infinity, or one too large for a double, as 1e999)"


def nested_too_deeply() -> "InvalidRequestError":
    """Input nested deeper than Python's recursion limit lets a translator or an encoder go: the
    caller's fault, not a translator's bug, so a RouterError like any other bad input. JSON that
    parsed can still fail here: translating adds levels (docs/proxy-limits.md#translation-work)."""
    return InvalidRequestError("the JSON is nested too deeply to translate")


def kept(error: _Error) -> _Error:
    """``error`` as a value to keep (a call's refusal, the failure its attempts ended on), without the
    tracebacks of its raise and of the errors it was raised from. A traceback holds the frames it
    went through; they hold the call that caught the error, and so whatever keeps it (a plan, the
    connection it happened on, the future it came through): kept whole, that is a reference cycle,
    alive with all it reaches until a full collection (docs/proxy-limits.md#no-cycles-per-call). An
    error kept as a value says what happened by its class and message; nothing reads where it was
    raised."""
    link: Optional[BaseException] = error
    seen = set()  # a chain made by hand can loop
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        link.__traceback__ = None
        link = link.__cause__ or link.__context__
    return error


class ErrorKind(NamedTuple):
    """How one kind of failure looks in each protocol."""

    anthropic_status: int
    anthropic_type: str
    openai_status: int
    openai_type: str
    openai_code: Optional[str]
    retryable: bool


# docs/protocol-rules.md#error-kinds. "retryable" is what both SDKs would decide from the status (408, 409, 429,
# >=500 are retried); we state it explicitly so synthesized errors can carry x-should-retry.
KINDS: Dict[str, ErrorKind] = {
    "invalid_request": ErrorKind(400, "invalid_request_error", 400, "invalid_request_error", None, False),
    "authentication": ErrorKind(401, "authentication_error", 401, "invalid_request_error", "invalid_api_key", False),
    "billing": ErrorKind(402, "billing_error", 429, "insufficient_quota", "insufficient_quota", False),
    "permission": ErrorKind(403, "permission_error", 403, "permission_error", None, False),
    "not_found": ErrorKind(404, "not_found_error", 404, "invalid_request_error", None, False),
    "conflict": ErrorKind(409, "conflict_error", 409, "conflict_error", None, True),
    "request_too_large": ErrorKind(413, "request_too_large", 413, "invalid_request_error", "request_too_large", False),
    "headers_too_large": ErrorKind(
        431, "request_too_large", 431, "invalid_request_error", "request_header_fields_too_large", False),
    "rate_limit": ErrorKind(429, "rate_limit_error", 429, "rate_limit_error", "rate_limit_exceeded", True),
    "api_error": ErrorKind(500, "api_error", 500, "server_error", "server_error", True),
    "bad_gateway": ErrorKind(502, "api_error", 502, "server_error", "bad_gateway", True),
    "unavailable": ErrorKind(503, "api_error", 503, "service_unavailable_error", "service_unavailable", True),
    "timeout": ErrorKind(504, "timeout_error", 504, "timeout", "timeout", True),
    "overloaded": ErrorKind(529, "overloaded_error", 503, "service_unavailable_error", "server_is_overloaded", True),
}

# The first kind with a type names it: "api_error" is api_error, not the gateway kinds that share it.
_KIND_BY_ANTHROPIC_TYPE: Dict[str, str] = {}
for _name, _kind in KINDS.items():
    _KIND_BY_ANTHROPIC_TYPE.setdefault(_kind.anthropic_type, _name)


class RouterError(Exception):
    """Base of every error the engine raises. Subclasses fix ``kind``; instances carry a message."""

    kind_name = "api_error"

    def __init__(
        self,
        message: str,
        *,
        param: Optional[str] = None,
        code: Optional[str] = None,
        kind_name: Optional[str] = None,
        retry_after: Optional[str] = None,
        should_retry: Optional[bool] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.retry_after = retry_after
        # An explicit retry decision (the upstream's own ``x-should-retry``) beats the kind's default.
        self.should_retry = should_retry
        if kind_name is not None:
            self.kind_name = kind_name

    @property
    def kind(self) -> ErrorKind:
        return KINDS[self.kind_name]

    def status_for(self, protocol: str) -> int:
        """The HTTP status a client of ``protocol`` should see."""
        return self.kind.anthropic_status if protocol == ANTHROPIC else self.kind.openai_status

    def body_for(self, protocol: str) -> Dict[str, Any]:
        """The JSON error body in ``protocol``'s shape (also used for in-band stream errors)."""
        if protocol == ANTHROPIC:
            return {"type": "error", "error": {"type": self.kind.anthropic_type, "message": self.message}}
        return {
            "error": {
                "message": self.message,
                "type": self.kind.openai_type,
                "param": self.param,
                "code": self.code or self.kind.openai_code,
            }
        }

    def render(self, protocol: str) -> bytes:
        return json.dumps(self.body_for(protocol)).encode()

    def headers_for(self, protocol: str) -> Dict[str, str]:
        """Response headers: JSON content type, the retry hint both SDKs obey, and retry-after."""
        headers = {
            "content-type": "application/json",
            "x-should-retry": "true" if self._retryable() else "false",
        }
        if self.retry_after is not None:
            headers["retry-after"] = self.retry_after
        return headers

    def _retryable(self) -> bool:
        return self.kind.retryable if self.should_retry is None else self.should_retry

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, kind={self.kind_name!r})"


class InvalidRequestError(RouterError):
    kind_name = "invalid_request"


class UnsupportedFeatureError(InvalidRequestError):
    """A valid request using something the other protocol cannot express."""


class AuthenticationError(RouterError):
    kind_name = "authentication"


class PermissionDeniedError(RouterError):
    """The caller may not do this: a web page at a keyless proxy (docs/secrets.md#web-pages)."""

    kind_name = "permission"


class NotFoundError(RouterError):
    kind_name = "not_found"


class RequestTooLargeError(RouterError):
    kind_name = "request_too_large"


class HeadersTooLargeError(RouterError):
    """The request line or the headers are over the proxy's limit (RFC 6585, section 5)."""

    kind_name = "headers_too_large"


class OverloadedError(RouterError):
    """The proxy holds as many request bodies as it may at once (docs/proxy-limits.md#request-bodies):
    this one fits once calls under way end."""

    kind_name = "overloaded"


class ShuttingDownError(RouterError):
    """The proxy stopped while the call was under way, before its answer began."""

    kind_name = "unavailable"


class UpstreamError(RouterError):
    """The backend answered with an error; ``kind_name`` is derived from its status and body."""

    def __init__(self, message: str, *, kind_name: str, upstream_status: int, **extra: Any) -> None:
        super().__init__(message, kind_name=kind_name, **extra)
        self.upstream_status = upstream_status


class UpstreamProtocolError(RouterError):
    """The backend broke its own protocol (unparsable body, truncated stream): an invalid answer from
    the server the router called, a 502 (RFC 9110, section 15.6.3) as docs/architecture.md lists it."""

    kind_name = "bad_gateway"


class UpstreamTransportError(RouterError):
    """No (whole) answer from the backend: what the driver's typed failure
    (``shim/upstream_failures.py``) becomes for the client. ``kind_name``: ``bad_gateway`` (502) or
    ``timeout`` (504), docs/errors.md#upstream-failures."""

    kind_name = "bad_gateway"


def error_from_upstream(
    protocol: str, status: int, body: bytes, headers: Optional[Mapping[str, str]] = None
) -> UpstreamError:
    """Translate a backend's non-2xx answer (in ``protocol``'s shape) into an :class:`UpstreamError`.

    ``retry-after`` and ``x-should-retry`` (looked up case-insensitively) are carried over: both SDKs
    obey them (docs/protocol-rules.md#retry-hints)."""
    return _error_from_parsed(protocol, status, _parse_error_body(body), body, headers)


def error_from_stream_payload(protocol: str, payload: Mapping[str, Any]) -> UpstreamError:
    """An in-band stream error (Anthropic ``event: error`` / OpenAI ``data: {"error": …}``)."""
    return _error_from_parsed(protocol, 200, _error_object(payload), b"", None)


def _error_from_parsed(
    protocol: str, status: int, parsed: Mapping[str, Any], body: bytes, headers: Optional[Mapping[str, str]]
) -> UpstreamError:
    message = _error_message(parsed, body, status)
    retry_after = _header(headers, "retry-after")
    should_retry = _should_retry_header(_header(headers, "x-should-retry"))
    if protocol == ANTHROPIC:
        kind_name = _anthropic_kind(parsed, status)
        code = None
    else:
        code = _openai_code(parsed)
        kind_name = _openai_kind(status, code, parsed.get("type"), _status_code(parsed))
    return UpstreamError(
        message,
        kind_name=kind_name,
        upstream_status=status,
        code=code,
        retry_after=retry_after,
        should_retry=should_retry,
    )


def _header(headers: Optional[Mapping[str, str]], name: str) -> Optional[str]:
    """A header value whatever the case of its name (drivers pass plain dicts as well as httpx's)."""
    if not headers:
        return None
    value = headers.get(name)
    if value is not None:
        return value
    for key, candidate in headers.items():
        if key.lower() == name:
            return candidate
    return None


def _should_retry_header(value: Optional[str]) -> Optional[bool]:
    if value is None:
        return None
    lowered = value.strip().lower()
    return True if lowered == "true" else False if lowered == "false" else None


# Error details are a few hundred bytes; a larger body is not parsed on the proxy's event loop.
_MAX_ERROR_BODY = 1 << 20


def _parse_error_body(body: bytes) -> Dict[str, Any]:
    if len(body) > _MAX_ERROR_BODY:
        return {}  # not an error's details: said by its status alone, unparsed (docs/proxy-limits.md#answers)
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return _error_object(parsed)


def _error_object(parsed: Any) -> Dict[str, Any]:
    """The ``error`` object of an error body. OpenAI-compatible servers vary: Ollama sends
    ``{"error": "text"}``, older vLLM a top-level ``{"object": "error", "message": …}``."""
    if not isinstance(parsed, Mapping):
        return {}
    inner = parsed.get("error")
    if isinstance(inner, Mapping):
        return dict(inner)
    if isinstance(inner, str):
        return {"message": inner}
    message = parsed.get("message")
    return {"message": message} if isinstance(message, str) else {}


def _error_message(error: Mapping[str, Any], body: bytes, status: int) -> str:
    message = error.get("message")
    if isinstance(message, str) and message:
        return message
    text = body[:500].decode("utf-8", "replace").strip()
    if text:
        return text
    return "the upstream stream reported an error" if status == 200 else f"upstream answered HTTP {status}"


def _anthropic_kind(error: Mapping[str, Any], status: int) -> str:
    by_type = _KIND_BY_ANTHROPIC_TYPE.get(str(error.get("type")))
    return by_type or _kind_for_status(status)


def _openai_code(error: Mapping[str, Any]) -> Optional[str]:
    code = error.get("code")
    return code if isinstance(code, str) else None


# OpenAI error codes and types that name a kind (docs/protocol-rules.md#error-kinds). An in-band stream error
# arrives with HTTP 200, so for it they are the only clue; with a real status they refine 429.
_KIND_BY_OPENAI_CODE = {
    "rate_limit_exceeded": "rate_limit",
    "insufficient_quota": "billing",
    "server_is_overloaded": "overloaded",
    "slow_down": "overloaded",
    "invalid_api_key": "authentication",
    "model_not_found": "not_found",
    "request_too_large": "request_too_large",
    # A failed Response's error codes (the Responses API reference, ResponseError): what the request
    # held was refused; a retry elsewhere would be refused too.
    "invalid_prompt": "invalid_request",
    "invalid_image": "invalid_request",
    "invalid_image_format": "invalid_request",
    "invalid_base64_image": "invalid_request",
    "invalid_image_url": "invalid_request",
    "image_too_large": "invalid_request",
    "image_too_small": "invalid_request",
    "image_parse_error": "invalid_request",
    "image_content_policy_violation": "invalid_request",
    "unsupported_image_media_type": "invalid_request",
}
_KIND_BY_OPENAI_TYPE = {
    "insufficient_quota": "billing",
    "rate_limit_error": "rate_limit",
    "service_unavailable_error": "overloaded",
    "invalid_request_error": "invalid_request",
    "authentication_error": "authentication",
    "permission_error": "permission",
}


def _openai_kind(status: int, code: Optional[str], error_type: Any, status_code: Optional[int] = None) -> str:
    named = _KIND_BY_OPENAI_CODE.get(code or "") or _KIND_BY_OPENAI_TYPE.get(str(error_type))
    if status == 429 and named == "billing":
        return "billing"
    if status == 200:  # in-band stream error: only the code or type tells, or the status it carries
        return named or (_kind_for_status(status_code) if status_code is not None else "api_error")
    return _kind_for_status(status)


def _status_code(error: Mapping[str, Any]) -> Optional[int]:
    """The HTTP status an OpenAI-shaped error carries as its ``code`` (OpenRouter, vLLM and other
    servers write ``"code": 429`` in the error a stream ends with: docs/protocol-rules.md#error-kinds)."""
    code = error.get("code")
    if isinstance(code, str) and len(code) == 3 and code.isascii() and code.isdigit():  # not "²", not 5,000 digits
        code = int(code)
    return code if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599 else None


def _kind_for_status(status: int) -> str:
    if status in (400, 422):
        return "invalid_request"
    exact = {
        401: "authentication",
        402: "billing",
        403: "permission",
        404: "not_found",
        408: "timeout",
        409: "conflict",
        413: "request_too_large",
        429: "rate_limit",
        503: "overloaded",
        504: "timeout",
        529: "overloaded",
    }
    if status in exact:
        return exact[status]
    return "invalid_request" if 400 <= status < 500 else "api_error"
