"""The error hierarchy (shim/errors.py): statuses and bodies per protocol (docs/protocol-rules.md#errors),
translation of upstream errors, and what the official SDKs make of the rendered errors."""

import json
from typing import Any, Callable, Dict, List, Optional, Tuple

import anthropic
import httpx2
import openai
import pytest

from shim import errors
from shim.errors import (
    KINDS,
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    RequestTooLargeError,
    RouterError,
    UnsupportedFeatureError,
    UpstreamError,
    UpstreamProtocolError,
    error_from_stream_payload,
    error_from_upstream,
    kept,
)
from shim.protocols import ANTHROPIC, OPENAI

# kind → (Anthropic status, type), (OpenAI status, type, code), retried by the SDKs — written out from
# the spec's tables rather than read from KINDS, so that a wrong entry in KINDS fails here.
EXPECTED: Dict[str, Tuple[Tuple[int, str], Tuple[int, str, Optional[str]], bool]] = {
    "invalid_request": ((400, "invalid_request_error"), (400, "invalid_request_error", None), False),
    "authentication": ((401, "authentication_error"), (401, "invalid_request_error", "invalid_api_key"), False),
    "billing": ((402, "billing_error"), (429, "insufficient_quota", "insufficient_quota"), False),
    "permission": ((403, "permission_error"), (403, "permission_error", None), False),
    "not_found": ((404, "not_found_error"), (404, "invalid_request_error", None), False),
    "conflict": ((409, "conflict_error"), (409, "conflict_error", None), True),
    "request_too_large": ((413, "request_too_large"), (413, "invalid_request_error", "request_too_large"), False),
    "headers_too_large": ((431, "request_too_large"),
                          (431, "invalid_request_error", "request_header_fields_too_large"), False),
    "rate_limit": ((429, "rate_limit_error"), (429, "rate_limit_error", "rate_limit_exceeded"), True),
    "api_error": ((500, "api_error"), (500, "server_error", "server_error"), True),
    "bad_gateway": ((502, "api_error"), (502, "server_error", "bad_gateway"), True),
    "unavailable": ((503, "api_error"), (503, "service_unavailable_error", "service_unavailable"), True),
    "timeout": ((504, "timeout_error"), (504, "timeout", "timeout"), True),
    "overloaded": ((529, "overloaded_error"), (503, "service_unavailable_error", "server_is_overloaded"), True),
}

# SDK exception class a client sees for each kind (anthropic 2.12, openai 3.54).
ANTHROPIC_CLASS = {
    "invalid_request": anthropic.BadRequestError,
    "authentication": anthropic.AuthenticationError,
    "billing": anthropic.PaymentRequiredError,
    "permission": anthropic.PermissionDeniedError,
    "not_found": anthropic.NotFoundError,
    "conflict": anthropic.ConflictError,
    "request_too_large": anthropic.RequestTooLargeError,
    "headers_too_large": anthropic.RequestHeaderFieldsTooLargeError,
    "rate_limit": anthropic.RateLimitError,
    "api_error": anthropic.InternalServerError,
    "bad_gateway": anthropic.InternalServerError,
    "unavailable": anthropic.ServiceUnavailableError,
    "timeout": anthropic.GatewayTimeoutError,
    "overloaded": anthropic.OverloadedError,
}
OPENAI_CLASS = {
    "invalid_request": openai.BadRequestError,
    "authentication": openai.AuthenticationError,
    "billing": openai.RateLimitError,
    "permission": openai.PermissionDeniedError,
    "not_found": openai.NotFoundError,
    "conflict": openai.ConflictError,
    "request_too_large": openai.APIStatusError,
    "headers_too_large": openai.APIStatusError,
    "rate_limit": openai.RateLimitError,
    "api_error": openai.InternalServerError,
    "bad_gateway": openai.InternalServerError,
    "unavailable": openai.InternalServerError,
    "timeout": openai.InternalServerError,
    "overloaded": openai.InternalServerError,
}


def test_every_kind_has_an_expectation() -> None:
    assert set(KINDS) == set(EXPECTED)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_anthropic_rendering(kind: str) -> None:
    (status, error_type), _, retryable = EXPECTED[kind]
    error = RouterError("boom", kind_name=kind)
    assert error.status_for(ANTHROPIC) == status
    assert json.loads(error.render(ANTHROPIC)) == {"type": "error", "error": {"type": error_type, "message": "boom"}}
    assert error.headers_for(ANTHROPIC)["x-should-retry"] == ("true" if retryable else "false")
    assert error.headers_for(ANTHROPIC)["content-type"] == "application/json"


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_openai_rendering(kind: str) -> None:
    _, (status, error_type, code), retryable = EXPECTED[kind]
    error = RouterError("boom", kind_name=kind, param="messages")
    assert error.status_for(OPENAI) == status
    body = json.loads(error.render(OPENAI))
    assert body == {"error": {"message": "boom", "type": error_type, "param": "messages", "code": code}}
    assert error.headers_for(OPENAI)["x-should-retry"] == ("true" if retryable else "false")


def test_billing_maps_to_openai_insufficient_quota_that_is_not_retried() -> None:
    error = RouterError("no credit", kind_name="billing")
    assert error.status_for(OPENAI) == 429
    assert json.loads(error.render(OPENAI))["error"]["code"] == "insufficient_quota"
    assert error.headers_for(OPENAI)["x-should-retry"] == "false"


@pytest.mark.parametrize(
    ("cls", "anthropic_status", "openai_status"),
    [
        (InvalidRequestError, 400, 400),
        (UnsupportedFeatureError, 400, 400),
        (AuthenticationError, 401, 401),
        (NotFoundError, 404, 404),
        (RequestTooLargeError, 413, 413),
        (UpstreamProtocolError, 502, 502),  # the backend broke its protocol: a bad gateway (RFC 9110)
    ],
)
def test_subclass_statuses(cls: Callable[[str], RouterError], anthropic_status: int, openai_status: int) -> None:
    error = cls("x")
    assert isinstance(error, RouterError)
    assert (error.status_for(ANTHROPIC), error.status_for(OPENAI)) == (anthropic_status, openai_status)


def test_explicit_code_overrides_the_kind_code() -> None:
    error = InvalidRequestError("bad", param="max_tokens", code="unsupported_parameter")
    assert json.loads(error.render(OPENAI))["error"]["code"] == "unsupported_parameter"
    assert json.loads(error.render(OPENAI))["error"]["param"] == "max_tokens"


def test_retry_after_header_is_rendered() -> None:
    error = RouterError("slow down", kind_name="rate_limit", retry_after="7")
    assert error.headers_for(OPENAI)["retry-after"] == "7"
    assert error.headers_for(ANTHROPIC)["retry-after"] == "7"
    assert "retry-after" not in RouterError("x", kind_name="rate_limit").headers_for(OPENAI)


# error_from_upstream ----------------------------------------------------------------------------


def anthropic_error_body(error_type: str, message: str = "upstream says no") -> bytes:
    return json.dumps({"type": "error", "error": {"type": error_type, "message": message}, "request_id": "r"}).encode()


def openai_error_body(code: Optional[str], message: str = "upstream says no", error_type: str = "x") -> bytes:
    return json.dumps({"error": {"message": message, "type": error_type, "param": None, "code": code}}).encode()


@pytest.mark.parametrize(
    ("status", "error_type", "kind"),
    [
        (400, "invalid_request_error", "invalid_request"),
        (401, "authentication_error", "authentication"),
        (402, "billing_error", "billing"),
        (403, "permission_error", "permission"),
        (404, "not_found_error", "not_found"),
        (409, "conflict_error", "conflict"),
        (413, "request_too_large", "request_too_large"),
        (429, "rate_limit_error", "rate_limit"),
        (500, "api_error", "api_error"),
        (504, "timeout_error", "timeout"),
        (529, "overloaded_error", "overloaded"),
        (500, "overloaded_error", "overloaded"),  # the type wins over the status
    ],
)
def test_from_anthropic_upstream(status: int, error_type: str, kind: str) -> None:
    error = error_from_upstream(ANTHROPIC, status, anthropic_error_body(error_type))
    assert isinstance(error, UpstreamError)
    assert (error.kind_name, error.upstream_status, error.message) == (kind, status, "upstream says no")


def test_anthropic_529_reaches_openai_client_as_503_server_is_overloaded() -> None:
    error = error_from_upstream(ANTHROPIC, 529, anthropic_error_body("overloaded_error", "Overloaded"))
    assert error.status_for(OPENAI) == 503
    assert json.loads(error.render(OPENAI))["error"] == {
        "message": "Overloaded",
        "type": "service_unavailable_error",
        "param": None,
        "code": "server_is_overloaded",
    }


def test_anthropic_402_reaches_openai_client_as_429_insufficient_quota() -> None:
    error = error_from_upstream(ANTHROPIC, 402, anthropic_error_body("billing_error"))
    assert error.status_for(OPENAI) == 429
    assert json.loads(error.render(OPENAI))["error"]["type"] == "insufficient_quota"
    assert error.headers_for(OPENAI)["x-should-retry"] == "false"


@pytest.mark.parametrize(
    ("status", "code", "anthropic_status", "anthropic_type"),
    [
        (400, None, 400, "invalid_request_error"),
        (401, "invalid_api_key", 401, "authentication_error"),
        (403, None, 403, "permission_error"),
        (404, "model_not_found", 404, "not_found_error"),
        (409, None, 409, "conflict_error"),
        (413, None, 413, "request_too_large"),
        (422, None, 400, "invalid_request_error"),
        (429, "rate_limit_exceeded", 429, "rate_limit_error"),
        (429, "insufficient_quota", 402, "billing_error"),
        (500, None, 500, "api_error"),
        (502, None, 500, "api_error"),
        (503, "server_is_overloaded", 529, "overloaded_error"),
        (504, None, 504, "timeout_error"),
        (418, None, 400, "invalid_request_error"),
        (599, None, 500, "api_error"),
    ],
)
def test_from_openai_upstream_to_anthropic_client(
    status: int, code: Optional[str], anthropic_status: int, anthropic_type: str
) -> None:
    error = error_from_upstream(OPENAI, status, openai_error_body(code))
    assert error.status_for(ANTHROPIC) == anthropic_status
    assert json.loads(error.render(ANTHROPIC)) == {
        "type": "error",
        "error": {"type": anthropic_type, "message": "upstream says no"},
    }


def test_openai_upstream_code_is_kept_for_openai_clients() -> None:
    error = error_from_upstream(OPENAI, 400, openai_error_body("unsupported_parameter"))
    assert json.loads(error.render(OPENAI))["error"]["code"] == "unsupported_parameter"


@pytest.mark.parametrize("protocol", [ANTHROPIC, OPENAI])
def test_non_json_body_becomes_the_message(protocol: str) -> None:
    error = error_from_upstream(protocol, 502, b"<html>Bad Gateway</html>\n")
    assert error.message == "<html>Bad Gateway</html>"
    assert error.kind_name == "api_error"


@pytest.mark.parametrize("protocol", [ANTHROPIC, OPENAI])
def test_long_non_json_body_is_truncated(protocol: str) -> None:
    assert len(error_from_upstream(protocol, 500, b"x" * 10_000).message) == 500


@pytest.mark.parametrize("protocol", [ANTHROPIC, OPENAI])
@pytest.mark.parametrize("body", [b"", b"   ", b"{}", b"[]", b"null", b'{"error": 5}'])
def test_empty_or_shapeless_body_still_gives_a_message(protocol: str, body: bytes) -> None:
    error = error_from_upstream(protocol, 503, body)
    assert error.message
    assert error.kind_name == "overloaded"
    json.loads(error.render(protocol))


@pytest.mark.parametrize("protocol", [ANTHROPIC, OPENAI])
def test_invalid_utf8_body(protocol: str) -> None:
    error = error_from_upstream(protocol, 500, b"\xff\xfe oops")
    assert "oops" in error.message


def test_error_as_a_plain_string_ollama_style() -> None:
    error = error_from_upstream(OPENAI, 404, b'{"error": "model \\"llama9\\" not found"}')
    assert error.message == 'model "llama9" not found'
    assert error.kind_name == "not_found"


def test_top_level_message_vllm_style() -> None:
    body = b'{"object": "error", "message": "max_tokens is too large", "type": "BadRequestError", "code": 400}'
    error = error_from_upstream(OPENAI, 400, body)
    assert error.message == "max_tokens is too large"
    assert error.code is None  # an integer code is not an OpenAI error code


def test_deeply_nested_error_body_does_not_escape() -> None:
    error = error_from_upstream(OPENAI, 500, b"[" * 100_000)
    assert error.kind_name == "api_error"


@pytest.mark.parametrize("header_name", ["retry-after", "Retry-After", "RETRY-AFTER"])
def test_retry_after_is_preserved_whatever_its_case(header_name: str) -> None:
    error = error_from_upstream(ANTHROPIC, 429, anthropic_error_body("rate_limit_error"), {header_name: "12"})
    assert error.retry_after == "12"
    assert error.headers_for(OPENAI)["retry-after"] == "12"


def test_retry_after_from_case_insensitive_mapping() -> None:
    headers = httpx2.Headers({"Retry-After": "3"})
    assert error_from_upstream(OPENAI, 429, openai_error_body("rate_limit_exceeded"), headers).retry_after == "3"


@pytest.mark.parametrize(("upstream", "rendered"), [("false", "false"), ("False", "false"), ("true", "true")])
def test_upstream_x_should_retry_is_obeyed(upstream: str, rendered: str) -> None:
    status, body = (500, anthropic_error_body("api_error")) if upstream != "true" else (400, b"{}")
    error = error_from_upstream(ANTHROPIC, status, body, {"X-Should-Retry": upstream})
    assert error.headers_for(OPENAI)["x-should-retry"] == rendered
    assert error.headers_for(ANTHROPIC)["x-should-retry"] == rendered


def test_garbage_x_should_retry_falls_back_to_the_kind() -> None:
    error = error_from_upstream(ANTHROPIC, 529, b"", {"x-should-retry": "maybe"})
    assert error.headers_for(ANTHROPIC)["x-should-retry"] == "true"


def test_in_band_anthropic_stream_error() -> None:
    payload = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    error = error_from_stream_payload(ANTHROPIC, payload)
    assert (error.kind_name, error.message) == ("overloaded", "Overloaded")


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ({"code": "rate_limit_exceeded"}, "rate_limit"),
        ({"type": "service_unavailable_error", "code": "server_is_overloaded"}, "overloaded"),
        ({"type": "service_unavailable_error", "code": None}, "overloaded"),
        ({"code": "slow_down"}, "overloaded"),
        ({"type": "insufficient_quota", "code": "insufficient_quota"}, "billing"),
        ({"type": "invalid_request_error", "code": None}, "invalid_request"),
        ({"type": "server_error", "code": "server_error"}, "api_error"),
        ({"type": ["unhashable"], "code": None}, "api_error"),
        ({}, "api_error"),
    ],
)
def test_in_band_openai_stream_error(error: Dict[str, Any], kind: str) -> None:
    upstream = error_from_stream_payload(OPENAI, {"error": {"message": "m", **error}})
    assert (upstream.kind_name, upstream.message) == (kind, "m")


def test_insufficient_quota_type_without_code_is_billing() -> None:
    body = b'{"error": {"message": "q", "type": "insufficient_quota", "code": null}}'
    assert error_from_upstream(OPENAI, 429, body).kind_name == "billing"
    assert error_from_upstream(OPENAI, 429, openai_error_body(None, error_type="requests")).kind_name == "rate_limit"


@pytest.mark.parametrize("payload", [{}, {"error": None}, {"error": [1]}, {"type": "error"}])
def test_in_band_error_without_details(payload: Dict[str, Any]) -> None:
    error = error_from_stream_payload(ANTHROPIC, payload)
    assert error.kind_name == "api_error"
    assert error.message


def test_repr_names_class_and_kind() -> None:
    assert repr(NotFoundError("nope")) == "NotFoundError('nope', kind='not_found')"


def test_module_exports() -> None:
    for name in errors.__all__:
        assert hasattr(errors, name)


# What the SDKs make of the rendered errors ------------------------------------------------------


def mock_client(protocol: str, error: RouterError, calls: List[httpx2.Request]) -> Any:
    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request)
        return httpx2.Response(
            error.status_for(protocol), headers=error.headers_for(protocol), content=error.render(protocol)
        )

    http_client = httpx2.Client(transport=httpx2.MockTransport(handler))
    if protocol == ANTHROPIC:
        return anthropic.Anthropic(api_key="k", base_url="http://router.test", max_retries=2, http_client=http_client)
    return openai.OpenAI(api_key="k", base_url="http://router.test/v1", max_retries=2, http_client=http_client)


def call(protocol: str, client: Any) -> None:
    messages = [{"role": "user", "content": "hi"}]
    if protocol == ANTHROPIC:
        client.messages.create(model="claude-x", max_tokens=5, messages=messages)
    else:
        client.chat.completions.create(model="gpt-x", messages=messages)


@pytest.mark.parametrize("protocol", [ANTHROPIC, OPENAI])
@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_sdk_raises_the_expected_class_and_obeys_the_retry_hint(protocol: str, kind: str) -> None:
    # A tiny retry-after keeps retried kinds fast while still letting the SDK retry.
    error = RouterError(f"{kind} happened", kind_name=kind, retry_after="0.001")
    calls: List[httpx2.Request] = []
    expected_class = (ANTHROPIC_CLASS if protocol == ANTHROPIC else OPENAI_CLASS)[kind]
    with pytest.raises(expected_class) as caught:
        call(protocol, mock_client(protocol, error, calls))
    assert type(caught.value) is expected_class
    assert caught.value.status_code == error.status_for(protocol)
    assert f"{kind} happened" in str(caught.value)
    retryable = EXPECTED[kind][2]
    assert len(calls) == (3 if retryable else 1)


@pytest.mark.parametrize("protocol", [ANTHROPIC, OPENAI])
def test_sdk_does_not_retry_when_x_should_retry_is_false(protocol: str) -> None:
    error = error_from_upstream(ANTHROPIC, 529, anthropic_error_body("overloaded_error"), {"x-should-retry": "false"})
    calls: List[httpx2.Request] = []
    with pytest.raises((anthropic.OverloadedError, openai.InternalServerError)):
        call(protocol, mock_client(protocol, error, calls))
    assert len(calls) == 1


def test_openai_sdk_sees_type_and_code() -> None:
    error = RouterError("quota", kind_name="billing")
    with pytest.raises(openai.RateLimitError) as caught:
        call(OPENAI, mock_client(OPENAI, error, []))
    assert (caught.value.type, caught.value.code) == ("insufficient_quota", "insufficient_quota")


def test_anthropic_sdk_sees_the_error_body() -> None:
    error = RouterError("slow", kind_name="rate_limit", retry_after="0.001")
    with pytest.raises(anthropic.RateLimitError) as caught:
        call(ANTHROPIC, mock_client(ANTHROPIC, error, []))
    assert caught.value.body == {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}


def _raised_from_a_library_error() -> UpstreamProtocolError:
    try:
        try:
            raise ConnectionRefusedError("refused")
        except OSError as library_error:
            raise UpstreamProtocolError("could not connect") from library_error
    except UpstreamProtocolError as error:
        return error


def test_an_error_kept_holds_no_frames() -> None:
    """docs/proxy-limits.md#no-cycles-per-call: a kept error holds no traceback, nor does the error under it."""
    error = _raised_from_a_library_error()
    cause = error.__cause__
    assert error.__traceback__ is not None and cause is not None and cause.__traceback__ is not None
    assert kept(error) is error
    assert error.__traceback__ is None and cause.__traceback__ is None
    assert (str(error), error.__cause__) == ("could not connect", cause)  # what happened stays


def test_keeping_an_error_whose_chain_loops_ends() -> None:
    first, second = ValueError("first"), ValueError("second")
    first.__cause__, second.__cause__ = second, first
    assert kept(first) is first


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_an_error_body_over_a_megabyte_is_said_by_its_status_unparsed(protocol: str) -> None:
    """Details are a few hundred bytes; parsing a backend's megabytes of lists would hold the proxy's
    loop (docs/proxy-limits.md#answers). The status still says the kind; the message is the body's start."""
    details = {"error": {"message": "slow down", "type": "rate_limit_error", "code": "rate_limit_exceeded"}}
    small = json.dumps({**details, "padding": [[]] * 1000}).encode()
    large = json.dumps({**details, "padding": [[]] * 400_000}).encode()  # 1.6 MB
    assert errors.error_from_upstream(protocol, 429, small).message == "slow down"
    refused = errors.error_from_upstream(protocol, 429, large)
    assert refused.kind_name == "rate_limit" and refused.message.startswith('{"error": {"message": "slow down"')
    assert errors.error_from_upstream(protocol, 503, large).kind_name != "rate_limit"  # from the status alone
