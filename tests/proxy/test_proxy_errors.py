"""Every failure reaches the client as its own protocol's error: a real HTTP status before the
first byte, an in-band error after it — never a hang, never a stream that looks complete."""

import json
from typing import Any, Dict, List

import anthropic
import httpx
import openai
import pytest
from fakes import FakeProvider
from proxy_clients import USER
from proxy_process import BACKEND_KEYS, ProxyProcess

from shim.errors import KINDS

ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01"}
PATHS = {"anthropic": "/v1/messages", "openai": "/v1/chat/completions"}


def _post(proxy: ProxyProcess, protocol: str, body: Any, **kwargs: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(proxy.url + PATHS[protocol], content=content, headers=ANTHROPIC_HEADERS, timeout=10, **kwargs)


def _assert_error_shape(response: httpx.Response, protocol: str, kind: str, exact: bool = True) -> Dict[str, Any]:
    """Status and body shape of ``kind`` in ``protocol`` (``exact=False``: a same-protocol upstream
    error is forwarded as the backend wrote it, so only the status and the envelope are checked)."""
    expected = KINDS[kind]
    body = response.json()
    if protocol == "anthropic":
        assert response.status_code == expected.anthropic_status, body
        assert body["type"] == "error" and (body["error"]["type"] == expected.anthropic_type or not exact)
    else:
        assert response.status_code == expected.openai_status, body
        assert body["error"]["type"] == expected.openai_type or not exact
    return body["error"]  # type: ignore[no-any-return]


def _request(protocol: str, model: str, stream: bool = False) -> Dict[str, Any]:
    return {"model": model, "max_tokens": 32, "messages": USER, "stream": stream}


# (client protocol, model): one same-protocol and one translated route per client protocol
ROUTES = [("anthropic", "claude-sonnet-4-6"), ("anthropic", "gpt-5.1"),
          ("openai", "gpt-5.1"), ("openai", "claude-sonnet-4-6")]


@pytest.mark.parametrize(("status", "kind"), [(429, "rate_limit"), (529, "overloaded"), (500, "api_error")])
@pytest.mark.parametrize(("protocol", "model"), ROUTES)
def test_upstream_error_before_first_byte(proxy: ProxyProcess, provider: FakeProvider, protocol: str, model: str,
                                          status: int, kind: str) -> None:
    backend_protocol = "anthropic" if model.startswith("claude") else "openai"
    if backend_protocol == "openai" and status == 529:
        status = 503  # OpenAI's way of saying "overloaded"
    provider.reply(error=(status, None), headers={"retry-after": "7"})
    response = _post(proxy, protocol, _request(protocol, model, stream=True))
    _assert_error_shape(response, protocol, kind, exact=backend_protocol != protocol)
    assert response.headers["retry-after"] == "7"


def test_upstream_429_reaches_openai_sdk_as_rate_limit(oai: openai.OpenAI, provider: FakeProvider) -> None:
    provider.reply(error=(429, None))
    with pytest.raises(openai.RateLimitError):
        oai.chat.completions.create(model="claude-sonnet-4-6", messages=USER)


def _sse_payloads(raw: bytes) -> List[Dict[str, Any]]:
    lines = raw.decode().splitlines()
    return [json.loads(line[6:]) for line in lines if line.startswith("data: {")]


@pytest.mark.parametrize(("protocol", "model"), ROUTES)
def test_mid_stream_upstream_failure_is_in_band(proxy: ProxyProcess, provider: FakeProvider, chunking: str,
                                                protocol: str, model: str) -> None:
    provider.reply(text="partial answer that fails", fail_midstream=True)
    response = _post(proxy, protocol, _request(protocol, model, stream=True))
    assert response.status_code == 200
    last = _sse_payloads(response.content)[-1]
    assert "error" in last and (last.get("type") == "error") == (protocol == "anthropic")
    assert b"message_stop" not in response.content and b"[DONE]" not in response.content


@pytest.mark.parametrize(("protocol", "model"), ROUTES)
def test_dropped_upstream_connection_mid_stream_is_in_band(proxy: ProxyProcess, provider: FakeProvider,
                                                           chunking: str, protocol: str, model: str) -> None:
    provider.reply(text="cut short", truncate_after_events=3, drop_connection=True)
    response = _post(proxy, protocol, _request(protocol, model, stream=True))
    last = _sse_payloads(response.content)[-1]
    assert "error" in last, response.content


def test_anthropic_sdk_raises_on_in_band_error(ant: anthropic.Anthropic, provider: FakeProvider) -> None:
    provider.reply(text="partial", fail_midstream=True)
    with pytest.raises(anthropic.APIStatusError):
        list(ant.messages.create(model="gpt-5.1", max_tokens=32, messages=USER, stream=True))


@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
def test_dead_backend_is_a_bad_gateway(proxy: ProxyProcess, protocol: str) -> None:
    """Nothing listening at the backend: 502 in the client's protocol (a gateway that could not reach
    its upstream, RFC 9110 section 15.6.3), never 500 (the router's own failure)."""
    response = _post(proxy, protocol, _request(protocol, "dead-model"))
    error = _assert_error_shape(response, protocol, "bad_gateway")
    assert response.status_code == 502 and response.headers["x-should-retry"] == "true"
    assert "'dead'" in error["message"] and "refused" in error["message"]
    assert "http://" not in error["message"] and "/v1" not in error["message"]  # the host, never the URL


@pytest.mark.parametrize(("status", "headers", "said"), [
    (302, {"location": "http://127.0.0.1:9/steal"}, "redirect"),
    (307, {"location": "https://elsewhere.example/v1/chat/completions"}, "redirect"),
    (204, {}, "no content"),
    (999, {}, "does not define"),
], ids=["302", "307", "204", "999"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(("protocol", "model"), ROUTES)
def test_an_answer_a_client_cannot_be_given_is_a_502(proxy: ProxyProcess, provider: FakeProvider, protocol: str,
                                                     model: str, stream: bool, status: int,
                                                     headers: Dict[str, str], said: str) -> None:
    """A redirect was passed on, and the SDKs follow one: the conversation went where the backend said,
    past the router; a translated one was a 500. A 999 ended in a KeyError and no answer at all; a 204
    to a translated stream, in a traceback (docs/proxy-limits.md#answers)."""
    provider.reply(error=(status, {"moved": True}), headers=headers)
    response = _post(proxy, protocol, _request(protocol, model, stream=stream))
    error = _assert_error_shape(response, protocol, "bad_gateway")
    assert said in error["message"] and "location" not in {name.lower() for name in response.headers}
    assert "127.0.0.1:9" not in response.text and "elsewhere" not in response.text


@pytest.mark.parametrize(("protocol", "model"), ROUTES)
def test_a_backend_error_quoting_its_key_reaches_the_client_without_it(proxy: ProxyProcess, provider: FakeProvider,
                                                                        protocol: str, model: str) -> None:
    """Some backends echo the header they refused: the router's key went to its client (docs/secrets.md#the-proxy)."""
    key = BACKEND_KEYS["anthropic" if model.startswith("claude") else "openai"]
    message = f"Incorrect API key provided: {key}. Header was 'authorization: Bearer {key}'"
    anthropic_error = {"type": "error", "error": {"type": "authentication_error", "message": message}}
    openai_error = {"error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key",
                              "param": None}}
    provider.reply(error=(401, anthropic_error if model.startswith("claude") else openai_error))
    response = _post(proxy, protocol, _request(protocol, model))
    assert response.status_code == 401 and key not in response.text
    assert "[the backend's key]" in response.json()["error"]["message"]


@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
def test_hop_by_hop_and_cookie_headers_of_an_answer_stay_behind(proxy: ProxyProcess, provider: FakeProvider,
                                                                 protocol: str) -> None:
    provider.reply(text="fine", headers={"set-cookie": "session=backend", "connection": "keep-alive, x-secret",
                                         "x-secret": "hop", "keep-alive": "timeout=5", "x-kept": "yes"})
    model = "claude-sonnet-4-6" if protocol == "anthropic" else "gpt-5.1"
    response = _post(proxy, protocol, _request(protocol, model))
    assert response.status_code == 200 and response.headers["x-kept"] == "yes"
    assert not {"set-cookie", "x-secret", "keep-alive"} & {name.lower() for name in response.headers}


_DEEP_BODIES = {  # where translating or echoing adds levels to the client's JSON ("@": the nesting)
    "messages to openai, a tool's schema": (
        "/v1/messages", '{"model":"gpt-5.1","max_tokens":5,"stream":%s,"messages":[{"role":"user","content":"q"}],'
                        '"tools":[{"name":"f","input_schema":{"type":"object","x":@}}]}'),
    "responses to anthropic, a tool echoed": (
        "/v1/responses", '{"model":"claude-sonnet-4-6","stream":%s,"input":"q",'
                         '"tools":[{"type":"function","name":"f","parameters":{"type":"object","x":@}}]}'),
    "responses to chat, metadata echoed": (
        "/v1/responses", '{"model":"gpt-5.1","stream":%s,"input":"q","metadata":{"x":@}}'),
}


@pytest.mark.parametrize("stream", ["false", "true"])
@pytest.mark.parametrize("case", list(_DEEP_BODIES))
def test_json_nested_up_to_the_parsers_limit_is_answered_in_the_clients_shape(
    proxy: ProxyProcess, provider: FakeProvider, case: str, stream: str
) -> None:
    """Bodies that parse but whose translation, or the Response echoing them, nests deeper than Python
    recurses: a plain-text 500 and a RecursionError in the log, some after the backend was paid
    (docs/proxy-limits.md#translation-work). Every depth near the parser's limit, so that the test
    does not depend on where that limit falls."""
    path, template = _DEEP_BODIES[case]
    logged_before = len(proxy.output)
    statuses = set()
    for depth in range(920, 1000):
        provider.reply(text="deep")
        body = (template % stream).replace("@", "[" * depth + "]" * depth)
        response = httpx.post(proxy.url + path, content=body.encode(), headers=ANTHROPIC_HEADERS, timeout=10)
        statuses.add(response.status_code)
        assert response.status_code in (200, 400), (depth, response.status_code, response.text[:200])
        assert response.headers["content-type"].startswith(("application/json", "text/event-stream")), depth
        if response.status_code == 400:
            assert "nested too deeply" in response.text, (depth, response.text[:200])
    assert statuses == {200, 400}  # the range crosses the limit
    assert "Traceback" not in proxy.output[logged_before:]


@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
def test_upstream_timeout_before_first_byte(proxy: ProxyProcess, protocol: str) -> None:
    response = _post(proxy, protocol, _request(protocol, "slow-model"))
    error = _assert_error_shape(response, protocol, "timeout")
    assert response.status_code == 504
    assert "'blackhole'" in error["message"] and "timed out waiting for the answer (limit 1.5s)" in error["message"]


@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
def test_upstream_timeout_mid_stream_is_in_band(proxy: ProxyProcess, provider: FakeProvider, protocol: str) -> None:
    provider.reply(text="a slow answer", hold_after_events=2)
    try:
        response = _post(proxy, protocol, _request(protocol, "claude-sonnet-4-6", stream=True))
    finally:
        provider.release.set()
    last = _sse_payloads(response.content)[-1]
    assert "timed out" in json.dumps(last)


@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
@pytest.mark.parametrize(("body", "needle"), [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"messages": []}', "'model' is required"),
])
def test_bad_request_bodies(proxy: ProxyProcess, protocol: str, body: bytes, needle: str) -> None:
    error = _assert_error_shape(_post(proxy, protocol, body), protocol, "invalid_request")
    assert needle in error["message"]


@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
def test_unknown_model_is_404_pointing_to_route_explain(proxy: ProxyProcess, protocol: str) -> None:
    error = _assert_error_shape(_post(proxy, protocol, _request(protocol, "mystery-model")), protocol, "not_found")
    assert "mystery-model" in error["message"] and "router route explain" in error["message"]


@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
def test_oversize_body_is_413_before_reading_it(proxy: ProxyProcess, protocol: str) -> None:
    huge = b'{"model": "gpt-5.1", "pad": "' + b"x" * (33 * 1024 * 1024) + b'"}'
    response = _post(proxy, protocol, huge)
    error = _assert_error_shape(response, protocol, "request_too_large")
    assert "limit" in error["message"]


def test_oversize_chunked_body_is_413(proxy: ProxyProcess) -> None:
    def pieces():  # type: ignore[no-untyped-def]  # no content-length: the proxy counts as it reads
        yield b'{"model": "gpt-5.1", "pad": "'
        for _ in range(34):
            yield b"x" * (1024 * 1024)
        yield b'"}'

    response = httpx.post(proxy.url + "/v1/chat/completions", content=pieces(), timeout=10)
    _assert_error_shape(response, "openai", "request_too_large")


@pytest.mark.parametrize(("path", "headers", "protocol"), [
    ("/v1/nothing", {}, "openai"),
    ("/v1/nothing", ANTHROPIC_HEADERS, "anthropic"),
])
def test_unknown_path_is_404_in_client_shape(proxy: ProxyProcess, path: str, headers: Dict[str, str],
                                             protocol: str) -> None:
    response = httpx.post(proxy.url + path, json={}, headers=headers)
    _assert_error_shape(response, protocol, "not_found")


def test_embeddings_need_an_openai_backend(proxy: ProxyProcess) -> None:
    response = httpx.post(proxy.url + "/v1/embeddings", json={"model": "claude-sonnet-4-6", "input": "hi"})
    error = _assert_error_shape(response, "openai", "invalid_request")
    assert "OpenAI-protocol backend" in error["message"]
