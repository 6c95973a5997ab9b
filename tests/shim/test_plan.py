"""plan_call and Plan (shim/plan.py), and the same-protocol PassthroughStream."""

import json
from typing import Any, Dict, List, Mapping, Optional

import pytest

from shim.config import ConfigError, RouterConfig
from shim.errors import (
    InvalidRequestError,
    RequestTooLargeError,
    RouterError,
    UnsupportedFeatureError,
    UpstreamProtocolError,
)
from shim.model_key import replace_model
from shim.plan import (
    ANSWER_LOCALLY,
    FORWARD,
    REFUSED,
    UNTOUCHED,
    ClientCall,
    Plan,
    plan_call,
    render_error,
)
from shim.protocols import ANTHROPIC, CHAT, COUNT_TOKENS, EMBEDDINGS, MESSAGES, MODELS, OPENAI, RESPONSES
from shim.translate import directions, stream_passthrough
from shim.translate.compose import Translation
from shim.translate.context import RequestOptions, TranslatedRequest
from shim.translate.stream_passthrough import PassthroughStream
from shim.usage import Usage

SSE_HEADERS = {"content-type": "text/event-stream"}  # a 2xx answer that streams

CONFIG = RouterConfig.from_dict(
    {
        "backends": {
            "anthropic": {"protocol": "anthropic", "base_url": "https://api.anthropic.com", "api_key": "sk-ant-REAL"},
            "openai": {"protocol": "openai", "base_url": "https://api.openai.com/v1", "api_key": "sk-REAL"},
            "local": {"protocol": "openai", "base_url": "http://127.0.0.1:8000/v1", "models": ["llama-*"]},
            "freeclaude": {"protocol": "anthropic", "base_url": "http://127.0.0.1:9000", "models": ["free-*"]},
        },
        "aliases": {"big": "openai:gpt-4.1", "smart": "anthropic:claude-opus-4-7"},
    }
)
PLACEHOLDER = "sk-client-PLACEHOLDER"
OPENAI_HEADERS = {
    "Authorization": f"Bearer {PLACEHOLDER}",
    "Content-Type": "application/json",
    "User-Agent": "OpenAI/Python",
}
ANTHROPIC_HEADERS = {
    "X-Api-Key": PLACEHOLDER,
    "anthropic-version": "2026-10-21",
    "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
    "content-type": "application/json",
}


def plan_for(endpoint: str, body: Any, headers: Optional[Mapping[str, str]] = None, **kwargs: Any) -> Plan:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    default_headers = ANTHROPIC_HEADERS if endpoint in (MESSAGES, COUNT_TOKENS) else OPENAI_HEADERS
    call = ClientCall(endpoint, dict(default_headers if headers is None else headers), raw)
    return plan_call(CONFIG, call, now=1_700_000_000.5, call_id="call-1", **kwargs)


def chat(model: str, **extra: Any) -> Dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}


def messages(model: str, **extra: Any) -> Dict[str, Any]:
    return {"model": model, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], **extra}


# Same protocol: body ------------------------------------------------------------------------------


def test_same_protocol_body_is_byte_identical_when_the_model_is_unchanged() -> None:
    raw = b'{ "messages" : [{"role":"user","content":"h\\u00e9 \xc3\xa9"}],\n  "model":"gpt-4o", "x": 1.50 }'
    plan = plan_for(CHAT, raw)
    assert plan.routed and not plan.translated
    assert plan.upstream_body is raw or plan.upstream_body == raw
    assert plan.upstream_url == "https://api.openai.com/v1/chat/completions"


def test_same_protocol_splice_keeps_every_other_byte() -> None:
    raw = (
        b'{"temperature": 0.70,\n "model" :  "local:llama-3",\t"messages":[{"role":"user","content":"\\ud83d\\ude00"}]}'
    )
    plan = plan_for(CHAT, raw)
    assert plan.upstream_body == raw.replace(b"local:llama-3", b"llama-3")
    assert plan.upstream_url == "http://127.0.0.1:8000/v1/chat/completions"


def test_same_protocol_alias_to_anthropic() -> None:
    raw = json.dumps(messages("smart")).encode()
    plan = plan_for(MESSAGES, raw)
    assert plan.upstream_body == raw.replace(b'"smart"', b'"claude-opus-4-7"')
    assert plan.upstream_url == "https://api.anthropic.com/v1/messages"
    assert plan.requested_model == "smart"


def test_new_model_with_characters_that_need_escaping() -> None:
    body = chat("x")
    raw = json.dumps(body).encode()
    out = replace_model(raw, body, 'we"ird\\mödel')
    assert json.loads(out) == {**body, "model": 'we"ird\\mödel'}


@pytest.mark.parametrize(
    "body",
    [
        chat("local:llama-3", metadata={"model": "local:llama-3"}),
        chat("local:llama-3", metadata={"model": "other"}),
        chat(
            "local:llama-3",
            tools=[
                {
                    "type": "function",
                    "function": {"name": "f", "parameters": {"properties": {"model": {"type": "string"}}}},
                }
            ],
        ),
        chat("local:llama-3", messages=[{"role": "user", "content": "model"}]),
    ],
    ids=["nested-same-value", "nested-other-value", "tool-schema", "model-as-a-string-value"],
)
def test_nested_model_keys_fall_back_to_a_correct_re_encode(body: Dict[str, Any]) -> None:
    plan = plan_for(CHAT, body)
    assert json.loads(plan.upstream_body) == {**body, "model": "llama-3"}


def test_nested_model_with_non_string_value_still_splices() -> None:
    raw = b'{"model": "local:llama-3", "metadata": {"model": 5}, "messages": []}'
    assert plan_for(CHAT, raw).upstream_body == raw.replace(b"local:llama-3", b"llama-3")


def test_model_key_spelled_with_escapes_is_the_top_level_key() -> None:
    # "mod\u0065l" IS the key "model": a splice into the nested plain "model" would leave the real one.
    raw = b'{"mod\\u0065l": "local:llama-3", "metadata": {"model": "local:llama-3"}, "messages": []}'
    body = json.loads(raw)
    assert json.loads(plan_for(CHAT, raw).upstream_body) == {**body, "model": "llama-3"}
    raw_alone = b'{"\\u006Dodel": "local:llama-3", "messages": []}'
    assert plan_for(CHAT, raw_alone).upstream_body == raw_alone.replace(b"local:llama-3", b"llama-3")


def test_model_value_with_escapes_is_spliced() -> None:
    raw = b'{"model": "local:llama\\u002d3", "messages": []}'
    assert plan_for(CHAT, raw).upstream_body == b'{"model": "llama-3", "messages": []}'


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model": "local:a", "model": "local:llama-3", "messages": []}',  # routed on the last, alias
        b'{"model": "gpt-4o", "messages": [], "model": "gpt-4o"}',  # the same value twice
        b'{"model": "gpt-3.5-turbo", "messages": [], "mod\\u0065l": "gpt-4o"}',  # spelled with an escape
        b'{"model": 5, "messages": [], "model": "gpt-4o"}',  # a first one of another type
    ],
    ids=["alias", "same-value", "escaped-key", "non-string-first"],
)
def test_a_body_with_two_top_level_model_keys_is_refused(raw: bytes) -> None:
    """Routed on the last, forwarded with both: a backend reading the first would run another model
    on the router's key. Refused before any route is chosen, in the client's shape."""
    with pytest.raises(InvalidRequestError) as refused:
        plan_for(CHAT, raw)
    assert refused.value.param == "model" and "2 top-level 'model' keys" in str(refused.value)
    assert refused.value.status_for(OPENAI) == 400


@pytest.mark.parametrize(
    "body",
    [
        chat("gpt-4o", tools=[{"type": "function", "function": {"name": "agent", "parameters": {
            "type": "object", "properties": {"model": {"type": "string", "enum": ["sonnet", "opus"]}}}}}]),
        chat("gpt-4o", messages=[{"role": "user", "content": 'say "model" twice: "model"'}]),
        chat("gpt-4o", metadata={"model": "a", "inner": {"model": "b"}}, user="m\u00e9"),
    ],
    ids=["tool-schema-property", "in-text", "nested-keys-and-escapes"],
)
def test_model_keys_below_the_top_level_are_not_duplicates(body: Dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    assert plan_for(CHAT, raw).upstream_body == raw


# Same protocol: headers ---------------------------------------------------------------------------


def header_values(plan: Plan) -> str:
    return " ".join(plan.upstream_headers.values())


def test_openai_credentials_are_replaced() -> None:
    plan = plan_for(CHAT, chat("gpt-4o"))
    assert plan.upstream_headers["authorization"] == "Bearer sk-REAL"
    assert "x-api-key" not in plan.upstream_headers
    assert PLACEHOLDER not in header_values(plan)
    assert plan.upstream_headers["user-agent"] == "OpenAI/Python"
    assert plan.upstream_headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "auth",
    [
        {"x-api-key": PLACEHOLDER},
        {"Authorization": f"Bearer {PLACEHOLDER}"},
        {"X-API-KEY": PLACEHOLDER, "authorization": "Bearer x"},
    ],
    ids=["x-api-key", "bearer", "both"],
)
def test_p21_anthropic_clients_with_either_auth_header_work(auth: Dict[str, str]) -> None:
    headers = {"anthropic-version": "2023-06-01", **auth}
    plan = plan_for(MESSAGES, messages("claude-sonnet-4-6"), headers)
    assert plan.upstream_headers["x-api-key"] == "sk-ant-REAL"
    assert "authorization" not in plan.upstream_headers
    assert PLACEHOLDER not in header_values(plan)


def test_anthropic_version_and_beta_are_forwarded_on_same_protocol() -> None:
    plan = plan_for(MESSAGES, messages("claude-sonnet-4-6"))
    assert plan.upstream_headers["anthropic-version"] == "2026-10-21"
    assert plan.upstream_headers["anthropic-beta"] == "claude-code-20250219,interleaved-thinking-2025-05-14"


def test_missing_anthropic_version_gets_a_default() -> None:
    plan = plan_for(MESSAGES, messages("claude-sonnet-4-6"), {"x-api-key": PLACEHOLDER})
    assert plan.upstream_headers["anthropic-version"] == "2023-06-01"


def test_hop_by_hop_and_framing_headers_are_dropped() -> None:
    hop = {
        "Connection": "keep-alive, Upgrade",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Trailer": "x",
        "Upgrade": "h2c",
        "Transfer-Encoding": "chunked",
        "Proxy-Authorization": "Basic xyz",
        "Proxy-Connection": "keep-alive",
        "Host": "api.openai.com",
        "Content-Length": "123",
        "Accept-Encoding": "gzip",
        "api-key": PLACEHOLDER,
    }
    plan = plan_for(CHAT, chat("gpt-4o"), {**OPENAI_HEADERS, **hop})
    assert not {name.lower() for name in hop} & set(plan.upstream_headers)
    assert PLACEHOLDER not in header_values(plan)


# What the official SDKs and the agents send (tests/clients captures Claude Code's live; Codex's from
# codex-rs), and what a client of a shared proxy must not choose for the router's key.
SDK_HEADERS = {
    "Accept": "application/json",
    "User-Agent": "claude-cli/2.1.332 (external, sdk-cli)",
    "Idempotency-Key": "stainless-python-retry-1",
    "X-Stainless-Lang": "js",
    "X-Stainless-Retry-Count": "0",
    "X-Stainless-Timeout": "600",
}
ANTHROPIC_CLIENT_HEADERS = {
    "anthropic-version": "2023-06-01",
    "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
    "anthropic-dangerous-direct-browser-access": "true",
    "x-app": "cli",
    "X-Claude-Code-Session-Id": "ca5e4a0f-dd78-4904-b9f0-478ffad10f13",
}
OPENAI_CLIENT_HEADERS = {
    "OpenAI-Beta": "responses_websockets=2026-02-06",
    "X-Client-Request-Id": "req-1",
    "originator": "codex_exec",
    "version": "0.171.0",
    "session_id": "s-1",
    "x-codex-turn-metadata": '{"turn_id":"t"}',
    "x-codex-window-id": "s-1:0",
    "HTTP-Referer": "https://example.org",
    "X-Title": "my app",
}
NOT_FORWARDED = {
    "Cookie": "session=abc",
    "X-Forwarded-For": "203.0.113.9",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "https",
    "Forwarded": "for=203.0.113.9",
    "X-Real-IP": "203.0.113.9",
    "OpenAI-Organization": "org-someone-else",
    "OpenAI-Project": "proj-someone-else",
    "X-Custom": "anything",
    "X-Router-Caller": '{"pid": 1, "ppid": 0, "program": "x"}',
}


@pytest.mark.parametrize(
    ("endpoint", "body", "client_headers"),
    [
        (MESSAGES, messages("claude-sonnet-4-6"), ANTHROPIC_CLIENT_HEADERS),
        (CHAT, chat("gpt-4o"), OPENAI_CLIENT_HEADERS),
    ],
    ids=["anthropic", "openai"],
)
def test_same_protocol_forwards_what_sdks_and_agents_send_and_nothing_else(
    endpoint: str, body: Dict[str, Any], client_headers: Dict[str, str]
) -> None:
    sent = {**SDK_HEADERS, **client_headers, **NOT_FORWARDED, "Authorization": f"Bearer {PLACEHOLDER}"}
    plan = plan_for(endpoint, body, sent)
    expected = {name.lower(): value for name, value in {**SDK_HEADERS, **client_headers}.items()}
    credential = "x-api-key" if endpoint == MESSAGES else "authorization"
    assert plan.upstream_headers == {**expected, "content-type": "application/json",
                                     credential: plan.upstream_headers[credential]}
    assert PLACEHOLDER not in header_values(plan)


def test_one_protocol_s_headers_are_not_forwarded_on_the_other_s_routes() -> None:
    plan = plan_for(CHAT, chat("gpt-4o"), {**ANTHROPIC_CLIENT_HEADERS, "x-codex-window-id": "w"})
    assert set(plan.upstream_headers) == {"content-type", "authorization", "x-codex-window-id"}
    anthropic_route = {**OPENAI_CLIENT_HEADERS, "anthropic-version": "2023-06-01"}
    plan = plan_for(MESSAGES, messages("claude-sonnet-4-6"), anthropic_route)
    assert set(plan.upstream_headers) == {"content-type", "x-api-key", "anthropic-version"}


@pytest.mark.parametrize(
    ("endpoint", "model", "query", "url"),
    [
        (MESSAGES, "claude-sonnet-4-6", "beta=true", "https://api.anthropic.com/v1/messages?beta=true"),
        (COUNT_TOKENS, "claude-sonnet-4-6", "beta=true", "https://api.anthropic.com/v1/messages/count_tokens?beta=true"),
        (MESSAGES, "claude-sonnet-4-6", "x=1&beta=true&api_key=k", "https://api.anthropic.com/v1/messages?beta=true"),
        (MESSAGES, "claude-sonnet-4-6", "organization=o", "https://api.anthropic.com/v1/messages"),
        (CHAT, "gpt-4o", "beta=true&api-version=1", "https://api.openai.com/v1/chat/completions"),
    ],
    ids=["claude-code", "count-tokens", "others-dropped", "nothing-kept", "openai-defines-none"],
)
def test_same_protocol_keeps_the_query_parameters_the_protocol_defines(
    endpoint: str, model: str, query: str, url: str
) -> None:
    body = chat(model) if endpoint == CHAT else messages(model)
    default_headers = OPENAI_HEADERS if endpoint == CHAT else ANTHROPIC_HEADERS
    call = ClientCall(endpoint, default_headers, json.dumps(body).encode(), query)
    assert plan_call(CONFIG, call, now=0.0, call_id="c").upstream_url == url


def test_translated_calls_forward_no_query() -> None:
    call = ClientCall(MESSAGES, ANTHROPIC_HEADERS, json.dumps(messages("gpt-4o")).encode(), "beta=true")
    assert plan_call(CONFIG, call, now=0.0, call_id="c").upstream_url == "https://api.openai.com/v1/chat/completions"


@pytest.mark.parametrize(("endpoint", "model"), [(CHAT, "llama-3"), (MESSAGES, "free-1")])
def test_keyless_backends_get_no_auth_header(endpoint: str, model: str) -> None:
    body = chat(model) if endpoint == CHAT else messages(model)
    plan = plan_for(endpoint, body)
    assert plan.routed
    assert "authorization" not in plan.upstream_headers
    assert "x-api-key" not in plan.upstream_headers
    assert PLACEHOLDER not in header_values(plan)


# Endpoints and routing outcomes -----------------------------------------------------------------


def test_count_tokens_on_an_openai_backend_is_answered_locally() -> None:
    body = {"model": "llama-3", "system": "s" * 40, "messages": [{"role": "user", "content": "x" * 400}]}
    plan = plan_for(COUNT_TOKENS, body)
    assert plan.local_response is not None
    assert plan.local_response.status == 200
    answer = json.loads(plan.local_response.body)
    assert answer == {"input_tokens": (40 + 4 + 400) // 4}  # ~4 characters per token, the role included
    assert plan.upstream_url is None
    assert plan.notes


def test_count_tokens_on_an_anthropic_backend_is_forwarded() -> None:
    plan = plan_for(COUNT_TOKENS, {"model": "claude-opus-4-7", "messages": []})
    assert plan.local_response is None
    assert plan.upstream_url == "https://api.anthropic.com/v1/messages/count_tokens"


def test_count_tokens_estimate_survives_deep_nesting() -> None:
    nested: Any = "x"
    for _ in range(900):
        nested = [nested]
    plan = plan_for(COUNT_TOKENS, {"model": "llama-3", "messages": nested})
    assert plan.local_response is not None


def test_embeddings_to_an_anthropic_backend_is_a_400_refusal_that_keeps_its_route() -> None:
    plan = plan_for(EMBEDDINGS, {"model": "claude-opus-4-7", "input": "x"})
    assert plan.disposition == REFUSED and isinstance(plan.refusal, UnsupportedFeatureError)
    assert plan.route is not None and plan.route.backend.name == "anthropic"
    response = plan.refusal_response()
    assert response.status == 400 and response.headers["x-should-retry"] == "false"
    assert plan.upstream_url is None and plan.upstream_body == b""


def test_embeddings_to_an_openai_backend() -> None:
    plan = plan_for(EMBEDDINGS, {"model": "text-embedding-3-small", "input": "x"})
    assert plan.upstream_url == "https://api.openai.com/v1/embeddings"


@pytest.mark.parametrize(("endpoint", "body"), [(CHAT, chat("mistral-large")), (MESSAGES, messages("llama3:8b"))])
def test_no_route_leaves_the_call_alone(endpoint: str, body: Dict[str, Any]) -> None:
    plan = plan_for(endpoint, body)
    assert not plan.routed
    assert plan.upstream_url is None
    assert plan.upstream_protocol == plan.client_protocol
    assert isinstance(plan.stream_translator(SSE_HEADERS), PassthroughStream)


@pytest.mark.parametrize(("value", "stream"), [(True, True), (False, False), ("true", False), (1, False)])
def test_stream_flag(value: Any, stream: bool) -> None:
    assert plan_for(CHAT, chat("gpt-4o", stream=value)).stream is stream


# Bad input ------------------------------------------------------------------------------------------


BAD_BODIES = {
    "malformed": b'{"model": "gpt-4o",',
    "not-utf8": b'{"model": "\xff"}',
    "list": b'[{"model": "gpt-4o"}]',
    "string": b'"hello"',
    "missing-model": b'{"messages": []}',
    "empty-model": b'{"model": ""}',
    "number-model": b'{"model": 4}',
    "null-model": b'{"model": null}',
    "nan": b'{"model": "gpt-4o", "temperature": NaN}',
    "infinity": b'{"model": "gpt-4o", "temperature": -Infinity}',
    "deep": b'{"model": "gpt-4o", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "empty": b"",
}


@pytest.mark.parametrize("endpoint", [CHAT, MESSAGES])
@pytest.mark.parametrize("name", sorted(BAD_BODIES))
def test_bad_input_is_a_400_in_the_clients_shape(endpoint: str, name: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        plan_for(endpoint, BAD_BODIES[name])
    protocol = OPENAI if endpoint == CHAT else ANTHROPIC
    response = render_error(protocol, caught.value)
    assert response.status == 400
    body = json.loads(response.body)
    if protocol == ANTHROPIC:
        assert body["type"] == "error"
        assert body["error"]["type"] == "invalid_request_error"
    else:
        assert body["error"]["type"] == "invalid_request_error"
    assert response.headers["x-should-retry"] == "false"


@pytest.mark.parametrize("name", ["missing-model", "empty-model", "number-model"])
def test_model_errors_name_the_param(name: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        plan_for(CHAT, BAD_BODIES[name])
    assert caught.value.param == "model"
    assert json.loads(caught.value.render(OPENAI))["error"]["param"] == "model"


@pytest.mark.parametrize(("endpoint", "protocol", "status"), [(CHAT, OPENAI, 413), (MESSAGES, ANTHROPIC, 413)])
def test_oversize_body_is_a_413(endpoint: str, protocol: str, status: int) -> None:
    with pytest.raises(RequestTooLargeError) as caught:
        plan_for(endpoint, b"{" + b" " * 100 + b"}", max_body_bytes=100)
    assert render_error(protocol, caught.value).status == status


def test_body_at_the_limit_is_accepted() -> None:
    raw = json.dumps(chat("gpt-4o")).encode()
    assert plan_for(CHAT, raw, max_body_bytes=len(raw)).routed


def test_unplanned_endpoint_is_a_router_error() -> None:
    with pytest.raises(RouterError):
        plan_for(MODELS, b"{}")


# Responses on the same-protocol path -----------------------------------------------------------------


def test_same_protocol_response_passes_through_minus_framing_headers() -> None:
    plan = plan_for(CHAT, chat("gpt-4o"))
    body = b'{"id": "chatcmpl-1", "choices": []}'
    response = plan.translate_response(
        200, {"Content-Length": "5", "Content-Encoding": "gzip", "X-Request-Id": "r1"}, body
    )
    assert (response.status, response.body) == (200, body)
    assert response.headers == {"x-request-id": "r1"}


def test_same_protocol_error_passes_through_unchanged() -> None:
    plan = plan_for(MESSAGES, messages("claude-opus-4-7"))
    body = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    response = plan.translate_response(529, {"retry-after": "3", "Transfer-Encoding": "chunked"}, body)
    assert (response.status, response.body, response.headers) == (529, body, {"retry-after": "3"})


def test_stream_headers_same_protocol() -> None:
    plan = plan_for(CHAT, chat("gpt-4o", stream=True))
    headers = plan.stream_headers({"Content-Type": "text/event-stream", "Connection": "keep-alive"})
    assert headers == {"content-type": "text/event-stream"}


def test_error_response_uses_the_client_protocol() -> None:
    plan = plan_for(MESSAGES, messages("llama-3"))
    response = plan.error_response(RouterError("upstream down", kind_name="overloaded"))
    assert response.status == 529
    assert json.loads(response.body)["error"]["type"] == "overloaded_error"


@pytest.mark.parametrize(
    ("endpoint", "body", "usage"),
    [
        (
            MESSAGES,
            {"usage": {"input_tokens": 5, "output_tokens": 7, "cache_read_input_tokens": 2}},
            Usage(input_tokens=5, output_tokens=7, cache_read_tokens=2),
        ),
        (
            CHAT,
            {"usage": {"prompt_tokens": 9, "completion_tokens": 4, "prompt_tokens_details": {"cached_tokens": 3}}},
            Usage(input_tokens=6, output_tokens=4, cache_read_tokens=3),
        ),
    ],
)
def test_usage_from_response(endpoint: str, body: Dict[str, Any], usage: Usage) -> None:
    model = "claude-opus-4-7" if endpoint == MESSAGES else "gpt-4o"
    plan = plan_for(endpoint, {"model": model, "messages": []})
    assert plan.usage_from_response(json.dumps(body).encode()) == usage


@pytest.mark.parametrize("body", [b"", b"[]", b"{}", b'{"usage": 3}', b"\xff", b"[" * 100_000])
def test_usage_from_response_tolerates_garbage(body: bytes) -> None:
    assert plan_for(CHAT, chat("gpt-4o")).usage_from_response(body) is None


# Translated routes: the plan's own part (translators replaced by fakes) -------------------------------


def fake_request_translator(body: Dict[str, Any], options: RequestOptions) -> TranslatedRequest:
    return TranslatedRequest(
        body={"model": options.upstream_model, "translated": True},
        stream=body.get("stream") is True,
        include_usage=True,
        tool_names={"short": "original"},
        notes=["dropped x"],
        headers={"anthropic-beta": "fake-beta"},
    )


@pytest.fixture
def fake_translators(monkeypatch: pytest.MonkeyPatch) -> List[Any]:
    seen: List[Any] = []

    def response(body: Dict[str, Any], context: Any) -> Dict[str, Any]:
        seen.append(context)
        return {"echo": body}

    table = {
        key: Translation(fake_request_translator, response, value.stream)
        for key, value in directions.TRANSLATIONS.items()
    }
    monkeypatch.setattr(directions, "TRANSLATIONS", table)
    return seen


def test_translated_openai_client_to_anthropic_backend(fake_translators: List[Any]) -> None:
    plan = plan_for(CHAT, chat("claude-opus-4-7", stream=True))
    assert plan.translated
    assert plan.upstream_url == "https://api.anthropic.com/v1/messages"
    assert json.loads(plan.upstream_body) == {"model": "claude-opus-4-7", "translated": True}
    assert plan.upstream_headers == {
        "content-type": "application/json",
        "user-agent": "OpenAI/Python",
        "accept": "text/event-stream",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "fake-beta",
        "x-api-key": "sk-ant-REAL",
    }
    assert plan.notes == ["dropped x"]
    assert plan.context is not None
    assert (plan.context.client_model, plan.context.created, plan.context.call_id) == (
        "claude-opus-4-7",
        1_700_000_000,
        "call-1",
    )
    assert plan.context.include_usage is True
    assert dict(plan.context.tool_names) == {"short": "original"}


def test_translated_anthropic_client_to_openai_backend_drops_anthropic_headers(fake_translators: List[Any]) -> None:
    plan = plan_for(MESSAGES, messages("gpt-4o"))
    assert plan.upstream_url == "https://api.openai.com/v1/chat/completions"
    assert plan.upstream_headers["authorization"] == "Bearer sk-REAL"
    assert plan.upstream_headers["anthropic-beta"] == "fake-beta"  # only what the translator asked for
    assert "anthropic-version" not in plan.upstream_headers
    assert "accept" not in plan.upstream_headers
    assert PLACEHOLDER not in header_values(plan)


def test_translated_response_and_error(fake_translators: List[Any]) -> None:
    plan = plan_for(MESSAGES, messages("gpt-4o"))
    ok = plan.translate_response(200, {"x-request-id": "r", "content-length": "2", "set-cookie": "a"}, b'{"a": 1}')
    assert json.loads(ok.body) == {"echo": {"a": 1}}
    assert ok.headers == {"x-request-id": "r", "content-type": "application/json"}
    error = plan.translate_response(
        429, {"Retry-After": "9"}, b'{"error": {"code": "insufficient_quota", "message": "q"}}'
    )
    assert error.status == 402
    assert json.loads(error.body) == {"type": "error", "error": {"type": "billing_error", "message": "q"}}
    assert error.headers["retry-after"] == "9"
    assert error.headers["x-should-retry"] == "false"


@pytest.mark.parametrize("body", [b"not json", b"[1]", b"\xff"])
def test_translated_response_that_is_not_a_json_object_is_an_upstream_protocol_error(
    fake_translators: List[Any], body: bytes
) -> None:
    plan = plan_for(CHAT, chat("claude-opus-4-7"))
    with pytest.raises(RouterError) as caught:
        plan.translate_response(200, {}, body)
    assert caught.value.status_for(OPENAI) == 502


def test_translator_recursion_is_a_400(monkeypatch: pytest.MonkeyPatch) -> None:
    def recursing(body: Dict[str, Any], options: RequestOptions) -> TranslatedRequest:
        raise RecursionError

    table = {
        key: Translation(recursing, value.response, value.stream) for key, value in directions.TRANSLATIONS.items()
    }
    monkeypatch.setattr(directions, "TRANSLATIONS", table)
    plan = plan_for(CHAT, chat("claude-opus-4-7"))
    assert isinstance(plan.refusal, InvalidRequestError)


@pytest.mark.parametrize(
    ("endpoint", "body", "backend", "upstream_model"),
    [
        (MESSAGES, messages("gpt-4o", tool_choice="auto"), "openai", "gpt-4o"),  # tool_choice must be an object
        (CHAT, chat("claude-opus-4-7", n=3), "anthropic", "claude-opus-4-7"),  # n > 1 cannot be served
        (CHAT, chat("opus", messages=[{"role": "user", "content": 5}]), "anthropic", "claude-opus-4-7"),
    ],
)
def test_a_routed_call_that_cannot_be_translated_is_refused_with_its_route(
    endpoint: str, body: Dict[str, Any], backend: str, upstream_model: str
) -> None:
    plan = plan_for(endpoint, body)
    assert plan.disposition == REFUSED
    assert plan.requested_model == body["model"]
    assert plan.route is not None and (plan.route.backend.name, plan.route.upstream_model) == (backend, upstream_model)
    assert plan.translated and plan.upstream_url is None and plan.context is None
    protocol = OPENAI if endpoint == CHAT else ANTHROPIC
    assert plan.refusal_response().status == 400
    assert json.loads(plan.refusal_response().body)["error"]["type"] == "invalid_request_error"
    assert plan.client_protocol == protocol


def test_dispositions_of_the_other_plans() -> None:
    assert plan_for(CHAT, chat("mistral-large")).disposition == UNTOUCHED
    assert plan_for(CHAT, chat("gpt-4o")).disposition == FORWARD
    assert plan_for(COUNT_TOKENS, {"model": "llama-3", "messages": []}).disposition == ANSWER_LOCALLY


# PassthroughStream --------------------------------------------------------------------------------------

ANTHROPIC_SSE = [
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",'
    b'"model":"claude-x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":43,'
    b'"cache_creation_input_tokens":3,"cache_read_input_tokens":20,"output_tokens":1}}}\n\n',
    b'event: ping\ndata: {"type": "ping"}\n\n',
    b"event: content_block_start\n"
    b'data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi \\"usage\\""}}\n\n',
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},'
    b'"usage":{"input_tokens":61,"output_tokens":15}}\n\n',
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
]
OPENAI_SSE = [
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
    b'"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}\n\n',
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
    b'"delta":{"content":"Hi"},"finish_reason":"stop"}],"usage":null}\n\n',
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],'
    b'"usage":{"prompt_tokens":30,"completion_tokens":5,"total_tokens":35,"prompt_tokens_details":{"cached_tokens":10},'
    b'"completion_tokens_details":{"reasoning_tokens":2}}}\n\n',
    b"data: [DONE]\n\n",
]
STREAM_USAGE = {
    ANTHROPIC: Usage(input_tokens=61, output_tokens=15, cache_read_tokens=20, cache_write_tokens=3),
    OPENAI: Usage(input_tokens=20, output_tokens=5, cache_read_tokens=10, reasoning_tokens=2),
}


def chunked(events: List[bytes], mode: str) -> List[bytes]:
    whole = b"".join(events)
    if mode == "whole":
        return [whole]
    if mode == "per-event":
        return list(events)
    return [whole[i : i + 1] for i in range(len(whole))]


CHUNKINGS = ["whole", "per-event", "bytewise"]


@pytest.mark.parametrize("mode", CHUNKINGS)
@pytest.mark.parametrize(("protocol", "events"), [(ANTHROPIC, ANTHROPIC_SSE), (OPENAI, OPENAI_SSE)])
def test_passthrough_forwards_bytes_unchanged_and_reads_usage(protocol: str, events: List[bytes], mode: str) -> None:
    stream = PassthroughStream(protocol)
    out = b"".join(stream.feed(chunk) for chunk in chunked(events, mode)) + stream.close()
    assert out == b"".join(events)
    assert stream.usage == STREAM_USAGE[protocol]
    assert stream.error is None
    assert stream.finished
    assert stream.feed(b"data: late\n\n") == b""


@pytest.mark.parametrize("mode", CHUNKINGS)
@pytest.mark.parametrize(("protocol", "events"), [(ANTHROPIC, ANTHROPIC_SSE), (OPENAI, OPENAI_SSE)])
def test_passthrough_is_complete_at_the_end_marker_before_eof(protocol: str, events: List[bytes], mode: str) -> None:
    # SDKs stop reading at the end marker and close before EOF: that call is complete. For Anthropic
    # the marker is the final message_delta (stop reason + cumulative usage); for OpenAI, [DONE].
    marker = len(events) - (2 if protocol == ANTHROPIC else 1)
    stream = PassthroughStream(protocol)
    for chunk in chunked(events[:marker], mode):
        stream.feed(chunk)
    assert not stream.complete
    for chunk in chunked(events[marker : marker + 1], mode):
        stream.feed(chunk)
    assert stream.complete and not stream.finished  # complete, yet still forwarding any trailing bytes
    assert stream.usage == STREAM_USAGE[protocol]


@pytest.mark.parametrize("mode", CHUNKINGS)
def test_passthrough_anthropic_usage_without_trailing_blank_line(mode: str) -> None:
    events = [*ANTHROPIC_SSE[:-2], ANTHROPIC_SSE[-2].rstrip(b"\n")]
    stream = PassthroughStream(ANTHROPIC)
    for chunk in chunked(events, mode):
        stream.feed(chunk)
    assert stream.usage == Usage(input_tokens=43, output_tokens=1, cache_read_tokens=20, cache_write_tokens=3)
    stream.close()
    assert stream.usage == STREAM_USAGE[ANTHROPIC]


@pytest.mark.parametrize(
    ("protocol", "event", "kind"),
    [
        (
            ANTHROPIC,
            b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n',
            "overloaded",
        ),
        (OPENAI, b'data: {"error":{"message":"slow","type":"x","code":"rate_limit_exceeded"}}\n\n', "rate_limit"),
    ],
)
def test_passthrough_notices_in_band_errors(protocol: str, event: bytes, kind: str) -> None:
    stream = PassthroughStream(protocol)
    assert stream.feed(event) == event
    stream.close()
    assert stream.error is not None
    assert stream.error.kind_name == kind


@pytest.mark.parametrize("protocol", [ANTHROPIC, OPENAI])
@pytest.mark.parametrize(
    "garbage",
    [
        b"\xff\xfe\x00garbage\r\n\r\n",
        b"event: message_start\ndata: {not json\n\n",
        b'event: message_delta\ndata: {"usage": [1]}\n\n',
        b'data: {"usage": "x", "error": 0}\n\n',
        b"data: [" + b"[" * 50_000 + b"\n\n",
        b'event: message_start\ndata: {"message": {"usage": {"input_tokens": "many"}}}\n\n',
    ],
)
def test_passthrough_forwards_garbage_without_raising(protocol: str, garbage: bytes) -> None:
    stream = PassthroughStream(protocol)
    assert stream.feed(garbage) == garbage
    assert stream.close() == b""


RESPONSES_SSE = [
    b'event: response.created\ndata: {"type":"response.created","sequence_number":0,'
    b'"response":{"id":"resp_1","status":"in_progress","error":null}}\n\n',
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":1,'
    b'"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hi"}\n\n',
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":2,'
    b'"item_id":"msg_1","output_index":0,"content_index":0,"delta":" there"}\n\n',
]


@pytest.mark.parametrize("mode", CHUNKINGS)
@pytest.mark.parametrize(("protocol", "events"), [(ANTHROPIC, ANTHROPIC_SSE), (OPENAI, OPENAI_SSE),
                                                  (RESPONSES, RESPONSES_SSE)])
def test_a_passthrough_error_after_a_cut_event_starts_an_event_of_its_own(protocol: str, events: List[bytes],
                                                                         mode: str) -> None:
    """The stream is cut halfway through an event and the router adds its error (the proxy on a lost
    connection; a Responses stream at its end): written after that half, the client read the two as
    one event (docs/protocol-rules.md#same-protocol)."""
    whole, cut = b"".join(events[:2]), events[2][: len(events[2]) // 2]
    stream = PassthroughStream(protocol)
    out = b"".join(stream.feed(chunk) for chunk in chunked([whole, cut], mode))
    out += stream.abort(UpstreamProtocolError("connection lost")) if protocol != RESPONSES else stream.close()
    added = out[len(whole):]
    assert out.startswith(whole) and not added.startswith(cut[:16]), added  # the half event is dropped
    blocks = [block for block in added.split(b"\n\n") if block]
    assert len(blocks) == 1 and blocks[0].startswith((b"event: error\n", b"data: {")), added
    error = json.loads(blocks[0].split(b"data: ", 1)[1])
    assert ("error" in error) if protocol != RESPONSES else (error["type"], error["sequence_number"]) == ("error", 2)


def test_passthrough_keeps_forwarding_past_the_event_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_passthrough, "MAX_EVENT_BYTES", 16)
    stream = PassthroughStream(OPENAI)
    big = b"data: " + b"x" * 64
    assert stream.feed(big) == big  # never ended: not held any longer
    assert stream.feed(b"\n\n") == b"\n\n"
    assert stream.feed(OPENAI_SSE[2]) == OPENAI_SSE[2]  # the events after it are watched again
    assert stream.usage == STREAM_USAGE[OPENAI]


@pytest.mark.parametrize("mode", CHUNKINGS)
@pytest.mark.parametrize("line_end", ["\r\n", "\r"])
@pytest.mark.parametrize(("protocol", "events"), [(ANTHROPIC, ANTHROPIC_SSE), (OPENAI, OPENAI_SSE)])
def test_passthrough_reads_usage_and_the_end_with_any_line_ending(
    protocol: str, events: List[bytes], line_end: str, mode: str
) -> None:
    """Events are cut at blank lines before they are decoded: CRLF and CR streams cut the same way."""
    events = [event.replace(b"\n", line_end.encode()) for event in events]
    marker = len(events) - (2 if protocol == ANTHROPIC else 1)
    stream = PassthroughStream(protocol)
    out = b"".join(stream.feed(chunk) for chunk in chunked(events[: marker + 1], mode))
    assert stream.complete and stream.usage == STREAM_USAGE[protocol]
    out += b"".join(stream.feed(chunk) for chunk in chunked(events[marker + 1 :], mode)) + stream.close()
    assert out == b"".join(events)


@pytest.mark.parametrize("mode", CHUNKINGS)
def test_passthrough_reads_usage_written_with_spaces(mode: str) -> None:
    """Servers that write JSON with spaces (``"usage": null`` in every chunk, then the real one)."""
    events = [event.replace(b'":', b'": ').replace(b'",', b'", ') for event in OPENAI_SSE]
    stream = PassthroughStream(OPENAI)
    for chunk in chunked(events, mode):
        stream.feed(chunk)
    assert stream.complete and stream.usage == STREAM_USAGE[OPENAI]


@pytest.mark.parametrize("protocol", [ANTHROPIC, OPENAI])
def test_passthrough_decodes_only_events_that_can_matter(protocol: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Text deltas (most of a stream) are forwarded without being decoded; usage and the end are."""
    decoded: List[bytes] = []
    real_feed = stream_passthrough.SSEDecoder.feed

    def recording_feed(decoder: Any, data: bytes) -> Any:
        decoded.append(data)
        return real_feed(decoder, data)

    monkeypatch.setattr(stream_passthrough.SSEDecoder, "feed", recording_feed)
    events = ANTHROPIC_SSE if protocol == ANTHROPIC else OPENAI_SSE
    stream = PassthroughStream(protocol)
    for event in events:
        stream.feed(event)
    stream.close()
    assert stream.usage == STREAM_USAGE[protocol]
    watched = {events[0], events[-2], events[-1]} if protocol == ANTHROPIC else {events[-2], events[-1]}
    assert set(decoded) == watched


def test_translated_response_nested_too_deeply_is_an_upstream_protocol_error(fake_translators: List[Any]) -> None:
    plan = plan_for(CHAT, chat("claude-opus-4-7"))
    with pytest.raises(UpstreamProtocolError):
        plan.translate_response(200, {}, b"[" * 100_000)


# Upstream endpoint choice (docs/responses-api.md#upstream-endpoint-choice) -------------------------

ENDPOINT_CONFIG = RouterConfig.from_dict({"backends": {
    "openai": {"protocol": "openai", "base_url": "https://api.openai.com/v1", "responses_api": True,
               "responses_only_models": ["*-pro", "*codex*"]},
    "vllm": {"protocol": "openai", "base_url": "http://127.0.0.1:8000/v1", "models": ["qwen*"]},
    "anthropic": {"protocol": "anthropic", "base_url": "https://api.anthropic.com"},
}})


@pytest.mark.parametrize(("endpoint", "model", "upstream"), [
    (RESPONSES, "gpt-5.1", RESPONSES),  # a native Responses backend: the fast path
    (CHAT, "gpt-5.1", CHAT),
    (MESSAGES, "gpt-5.1", CHAT),
    (CHAT, "gpt-5-pro", RESPONSES),  # served only on /responses: every client is translated there
    (MESSAGES, "openai:gpt-5.1-codex", RESPONSES),
    (RESPONSES, "qwen3", CHAT),  # a backend without /responses
    (RESPONSES, "claude-sonnet-4-6", MESSAGES),
])
def test_upstream_endpoint_choice(endpoint: str, model: str, upstream: str) -> None:
    body = {"model": model, "input": "hi"} if endpoint == RESPONSES else (
        chat(model) if endpoint == CHAT else messages(model))
    call = ClientCall(endpoint, {}, json.dumps(body).encode())
    plan = plan_call(ENDPOINT_CONFIG, call, now=1.0, call_id="c")
    assert plan.upstream_endpoint == upstream
    assert plan.translated is (endpoint != upstream)
    assert plan.upstream_url is not None and plan.upstream_url.endswith(
        {CHAT: "/chat/completions", MESSAGES: "/v1/messages", RESPONSES: "/responses"}[upstream])


@pytest.mark.parametrize(("table", "message"), [
    ({"protocol": "anthropic", "base_url": "https://x", "responses_api": True}, "OpenAI-protocol"),
    ({"protocol": "anthropic", "base_url": "https://x", "responses_only_models": ["*"]}, "OpenAI-protocol"),
    ({"protocol": "openai", "base_url": "https://x/v1", "responses_api": "yes"}, "responses_api"),
    ({"protocol": "openai", "base_url": "https://x/v1", "responses_only_models": "*-pro"}, "responses_only_models"),
])
def test_responses_settings_are_validated(table: Dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RouterConfig.from_dict({"backends": {"x": table}})


_TOO_LARGE_SCHEMA = b'{"type": "object", "properties": {"n": {"type": "number", "maximum": 1e999}}}'


@pytest.mark.parametrize(("endpoint", "raw"), [
    (MESSAGES, b'{"model": "gpt-4o", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}], '
               b'"tools": [{"name": "f", "input_schema": ' + _TOO_LARGE_SCHEMA + b"}]}"),
    (MESSAGES, b'{"model": "gpt-4o", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}, '
               b'{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", '
               b'"input": {"n": -1e999}}]}, '
               b'{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]}]}'),
    (CHAT, b'{"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", '
           b'"tool_calls": [{"id": "c", "type": "function", '
           b'"function": {"name": "f", "arguments": "{\\"n\\": NaN}"}}]}, '
           b'{"role": "tool", "tool_call_id": "c", "content": "ok"}]}'),
    (RESPONSES, b'{"model": "claude-sonnet-4-6", "input": "hi", "store": false, '
                b'"tools": [{"type": "function", "name": "f", "parameters": ' + _TOO_LARGE_SCHEMA + b"}]}"),
], ids=["messages-schema", "messages-tool-input", "chat-arguments-nan", "responses-schema"])
def test_a_number_json_cannot_carry_is_refused_not_written(endpoint: str, raw: bytes) -> None:
    """1e999 parses to infinity, and arguments (JSON inside a string) may hold NaN: translated, they
    went upstream as the bare Infinity/NaN no JSON parser takes (docs/protocol-rules.md#numbers)."""
    plan = plan_for(endpoint, raw)
    assert plan.disposition == REFUSED and plan.refusal is not None
    assert "JSON cannot carry" in str(plan.refusal) and plan.refusal.status_for(plan.client_protocol) == 400


_TOOL_USE_ANSWER = (b'{"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-6", '
                    b'"content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"n": 1e999}}], '
                    b'"stop_reason": "tool_use", "usage": {"input_tokens": 3, "output_tokens": 2}}')
_ARGUMENTS_OBJECT_ANSWER = (b'{"id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4o", "choices": [{'
                            b'"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", '
                            b'"content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": '
                            b'{"name": "f", "arguments": {"n": 1e999}}}]}}], '
                            b'"usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}')


@pytest.mark.parametrize(("endpoint", "model", "answer"), [
    (CHAT, "claude-sonnet-4-6", _TOOL_USE_ANSWER),
    (RESPONSES, "gpt-4o", _ARGUMENTS_OBJECT_ANSWER),
], ids=["tool-use-input-to-chat", "arguments-object-to-responses"])
def test_an_answer_whose_tool_arguments_json_cannot_carry_is_a_502(endpoint: str, model: str, answer: bytes) -> None:
    """The arguments the client gets are a string of JSON the router writes: 1e999 in a tool_use's
    input went to the client as ``{"n": Infinity}``, which a JavaScript or Rust client cannot parse
    (docs/protocol-rules.md#numbers)."""
    body = chat(model) if endpoint == CHAT else {"model": model, "input": "hi", "store": False}
    plan = plan_for(endpoint, body)
    assert plan.disposition == FORWARD and plan.translated
    with pytest.raises(UpstreamProtocolError, match="JSON cannot carry"):
        plan.translate_response(200, {}, answer)


def test_a_same_protocol_call_keeps_its_numbers_as_they_came() -> None:
    raw = (b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], '
           b'"tools": [{"type": "function", "function": {"name": "f", "parameters": ' + _TOO_LARGE_SCHEMA + b"}}]}")
    plan = plan_for(CHAT, raw)
    assert plan.disposition == FORWARD and plan.upstream_body == raw


@pytest.mark.parametrize("flag", ['"true"', "1", '"yes"', "{}"])
@pytest.mark.parametrize(("endpoint", "model"),
                         [(CHAT, "gpt-4o"), (MESSAGES, "claude-sonnet-4-6"), (RESPONSES, "gpt-4o")])
def test_a_stream_flag_that_is_not_a_boolean_is_refused_on_same_protocol_routes(endpoint: str, model: str,
                                                                                 flag: str) -> None:
    """It went on byte for byte: the router read a whole answer, a lenient backend a stream (translated
    routes refused it already)."""
    body = {"model": model, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    if endpoint == RESPONSES:
        body = {"model": model, "input": "hi"}
    raw = json.dumps(body)[:-1].encode() + b', "stream": ' + flag.encode() + b"}"
    plan = plan_for(endpoint, raw)
    assert plan.disposition == REFUSED and plan.refusal is not None and plan.refusal.param == "stream"


@pytest.mark.parametrize(("key", "redacted"), [("sk-proj-" + "a" * 40, True), ("EMPTY", False), ("1", False)])
def test_an_error_quoting_the_backends_key_is_redacted_unless_the_key_is_a_placeholder(key: str,
                                                                                       redacted: bool) -> None:
    """docs/protocol-rules.md#answer-headers: a placeholder is not a secret, and replacing "1" broke "401"."""
    config = RouterConfig.from_dict({"backends": {"openai": {
        "protocol": "openai", "base_url": "http://127.0.0.1:8000/v1", "api_key": key, "models": ["gpt-*"]}}})
    call = ClientCall(CHAT, dict(OPENAI_HEADERS), json.dumps(chat("gpt-4o")).encode())
    plan = plan_call(config, call, now=1.0, call_id="c")
    error = json.dumps({"error": {"message": f"Incorrect API key provided: {key}", "code": 401}}).encode()
    answer = plan.translate_response(401, {}, error)
    assert json.loads(answer.body)["error"]["code"] == 401
    assert (key not in json.loads(answer.body)["error"]["message"]) is redacted
