"""httpx and httpx2, sync and async, under the shim: routed, translated, untouched, streamed."""

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import anthropic
import httpx
import httpx2
import openai
import pytest
from fakes import BACKEND_KEYS
from pydantic import TypeAdapter
from shim_child_support import (
    GZIPPED_COMPLETION,
    PLACEHOLDER_KEY,
    ShimSession,
    answer_bomb,
    only,
    queue_gzipped_completion,
)

LIBS = {"httpx": httpx, "httpx2": httpx2}
MODES = ("sync", "async")
OPENAI_CHAT = "https://api.openai.com/v1/chat/completions"
ANTHROPIC_MESSAGES = "https://api.anthropic.com/v1/messages"
PROMPT = [{"role": "user", "content": "hi"}]


@dataclass
class Result:
    status: int
    headers: Dict[str, str]
    body: bytes
    chunks: List[bytes] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)


def send(lib: str, mode: str, url: str, body: Optional[Dict[str, Any]] = None, *, method: str = "POST",
         headers: Optional[Dict[str, str]] = None, **client_kwargs: Any) -> Result:
    """One request through a fresh ``lib`` client; the body read chunk by chunk as it arrives."""
    mod = LIBS[lib]
    headers = {"authorization": f"Bearer {PLACEHOLDER_KEY}", **(headers or {})}
    content = json.dumps(body).encode() if body is not None else None
    if mode == "sync":
        with mod.Client(timeout=10, **client_kwargs) as client:
            with client.stream(method, url, content=content, headers=headers) as response:
                chunks = list(response.iter_bytes())
                return Result(response.status_code, dict(response.headers), b"".join(chunks), chunks)

    async def run() -> Result:
        async with mod.AsyncClient(timeout=10, **client_kwargs) as client:
            async with client.stream(method, url, content=content, headers=headers) as response:
                chunks = [chunk async for chunk in response.aiter_bytes()]
                return Result(response.status_code, dict(response.headers), b"".join(chunks), chunks)

    return asyncio.run(run())


def sse_events(body: bytes) -> List[Dict[str, Any]]:
    events = []
    for block in body.decode().replace("\r\n", "\n").split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in lines:
            events.append({"event": lines.get("event"), "data": lines["data"]})
    return events


@pytest.fixture(params=sorted(LIBS))
def lib(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_openai_call_to_claude_is_translated_and_reported(shim: ShimSession, lib: str, mode: str) -> None:
    shim.provider.reply(text="Hello there")
    result = send(lib, mode, OPENAI_CHAT, {"model": "claude-sonnet-4-6", "messages": PROMPT})
    assert result.status == 200, result.body
    completion = openai.types.chat.ChatCompletion.model_validate(result.json())
    assert completion.choices[0].message.content == "Hello there"
    assert completion.model == "claude-sonnet-4-6"
    upstream = only(shim.provider.requests, "upstream request")  # the shim's own request was not re-routed
    assert upstream.path == "/v1/messages"
    assert upstream.header("x-api-key") == BACKEND_KEYS["anthropic"]
    assert upstream.header("authorization") is None  # the placeholder never leaves the process
    event = only(shim.telemetry.calls(), "call event")
    assert event["source"] == "shim" and event["backend"] == "anthropic" and event["translated"] is True
    assert (event["status"], event["input_tokens"], event["output_tokens"]) == (200, 37, 18)
    assert event["client_protocol"] == "openai" and event["endpoint"] == "chat"


def test_anthropic_stream_from_openai_backend_is_translated(shim: ShimSession, lib: str, mode: str,
                                                            chunking: str) -> None:
    shim.provider.reply(text="Streaming words arrive")
    body = {"model": "gpt-5.1", "max_tokens": 50, "stream": True, "messages": PROMPT}
    result = send(lib, mode, ANTHROPIC_MESSAGES, body, headers={"anthropic-version": "2023-06-01"})
    assert result.status == 200
    assert result.headers["content-type"].startswith("text/event-stream")
    assert "content-length" not in result.headers and "content-encoding" not in result.headers
    events = sse_events(result.body)
    adapter: TypeAdapter[Any] = TypeAdapter(anthropic.types.RawMessageStreamEvent)
    for event in events:
        adapter.validate_python(json.loads(event["data"]))
    names = [event["event"] for event in events]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    deltas = [json.loads(e["data"])["delta"] for e in events if e["event"] == "content_block_delta"]
    text = "".join(delta.get("text", "") for delta in deltas)
    assert text == "Streaming words arrive"
    assert shim.provider.last.request.path == "/v1/chat/completions"
    event = only(shim.telemetry.calls(), "call event")
    assert (event["backend"], event["stream"]) == ("openai", True)
    assert (event["input_tokens"], event["output_tokens"]) == (37, 18)


def test_upstream_request_is_framed_as_httpx_frames_it(shim: ShimSession, lib: str, mode: str) -> None:
    """The shim builds the upstream request from raw headers: Host and Content-Length must be what
    ``Request(content=...)`` would have set, for the backend's URL, and no client header leaks. It
    asks for an unencoded answer, as the proxy does (docs/proxy-limits.md#answers): without the
    field a server may pick any encoding, and the program's own ``gzip`` is not the router's to ask."""
    shim.provider.reply(text="framed")
    body = {"model": "gpt-5.1", "messages": PROMPT}
    result = send(lib, mode, OPENAI_CHAT, body, headers={"x-api-key": "client-secret", "accept-encoding": "gzip"})
    assert result.status == 200, result.body
    request = shim.provider.last.request
    assert request.header("host") == shim.provider.root_url.split("://", 1)[1].rstrip("/")
    assert request.header("content-length") == str(len(request.raw_body))
    assert json.loads(request.raw_body) == body
    assert request.header("x-api-key") is None and request.header("accept-encoding") == "identity"
    assert request.header("authorization") == f"Bearer {BACKEND_KEYS['openai']}"


def test_client_header_bytes_reach_the_backend_unchanged(shim: ShimSession, lib: str, mode: str) -> None:
    """Of the headers a same-protocol call forwards (docs/protocol-rules.md#forwarded-headers), the
    bytes as the client gave them, a repeated one joined."""
    shim.provider.reply(text="bytes")
    title = "Café ☕ agent".encode()  # not ASCII: httpx sends the bytes as given
    result = send(lib, mode, OPENAI_CHAT, {"model": "gpt-5.1", "messages": PROMPT},
                  headers={"x-title": title, "X-Stainless-Trace": "a", "x-stainless-trace": "b",  # type: ignore[dict-item]
                           "X-Trace": "not forwarded"})
    assert result.status == 200, result.body
    request = shim.provider.last.request
    assert request.header("x-title") == title.decode("latin-1")  # http.server reads header bytes as latin-1
    assert request.header("x-stainless-trace") == "a, b"
    assert request.header("x-trace") is None


def test_same_protocol_call_through_a_transport_that_answers_read_bodies_is_reported(
    shim: ShimSession, lib: str, mode: str
) -> None:
    """Mock and caching transports (``MockTransport``, respx, hishel) return responses built with
    ``content=``: already read and closed, so the body observer would never run. The call must still
    be reported, with the tokens of the body the transport gave."""
    mod = LIBS[lib]
    body = {"id": "chatcmpl-9", "object": "chat.completion", "created": 1, "model": "gpt-5.1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "cached"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}}
    seen: List[Any] = []

    def answer(request: Any) -> Any:
        seen.append(request)
        return mod.Response(200, headers={"x-request-id": "req_mock"}, json=body)

    payload = {"model": "gpt-5.1", "messages": PROMPT}
    headers = {"authorization": f"Bearer {PLACEHOLDER_KEY}"}
    if mode == "sync":
        with mod.Client(transport=mod.MockTransport(answer)) as client:
            response = client.post(OPENAI_CHAT, json=payload, headers=headers)
    else:
        async def run() -> Any:
            async with mod.AsyncClient(transport=mod.MockTransport(answer)) as client:
                return await client.post(OPENAI_CHAT, json=payload, headers=headers)
        response = asyncio.run(run())
    assert response.json() == body
    assert only(seen).headers["authorization"] == f"Bearer {BACKEND_KEYS['openai']}"  # routed, through the mock
    assert response.request.headers["authorization"] == f"Bearer {PLACEHOLDER_KEY}"  # the backend's key stays out
    event = only(shim.telemetry.calls(), "call event")
    assert (event["backend"], event["status"], event["translated"]) == ("openai", 200, False)
    assert (event["input_tokens"], event["output_tokens"], event["request_id"]) == (11, 4, "req_mock")


def test_same_protocol_stream_is_forwarded_byte_for_byte(shim: ShimSession, lib: str, mode: str,
                                                         chunking: str) -> None:
    shim.provider.reply(text="same protocol")
    body = {"model": "gpt-5.1", "stream": True, "messages": PROMPT, "stream_options": {"include_usage": True}}
    result = send(lib, mode, OPENAI_CHAT, body)
    exchange = shim.provider.last
    assert result.body == exchange.sent_body
    assert exchange.request.header("authorization") == f"Bearer {BACKEND_KEYS['openai']}"
    event = only(shim.telemetry.calls(), "call event")
    assert (event["translated"], event["input_tokens"], event["output_tokens"]) == (False, 37, 18)
    assert event["request_id"] == "req_fake_0001"


def test_call_with_no_route_goes_where_it_was_going_untouched(shim: ShimSession, lib: str, mode: str) -> None:
    shim.provider.reply(text="untouched")
    raw = {"model": "mystery-model", "messages": PROMPT}
    result = send(lib, mode, shim.root + "/v1/chat/completions", raw)
    exchange = shim.provider.last
    assert exchange.request.raw_body == json.dumps(raw).encode()
    assert exchange.request.header("authorization") == f"Bearer {PLACEHOLDER_KEY}"
    assert result.body == exchange.sent_body
    event = only(shim.telemetry.calls(), "call event")
    assert event["backend"] is None and event["requested_model"] == "mystery-model" and event["status"] == 200
    assert (event["input_tokens"], event["output_tokens"]) == (37, 18)  # observed on the way, not changed


def test_stream_with_no_route_is_untouched_and_its_tokens_counted(shim: ShimSession, lib: str, mode: str,
                                                                  chunking: str) -> None:
    shim.provider.reply(text="streamed, untouched")
    raw = {"model": "mystery-model", "messages": PROMPT, "stream": True, "stream_options": {"include_usage": True}}
    result = send(lib, mode, shim.root + "/v1/chat/completions", raw)
    exchange = shim.provider.last
    assert exchange.request.raw_body == json.dumps(raw).encode()
    assert result.body == exchange.sent_body
    event = only(shim.telemetry.calls(), "call event")
    assert (event["backend"], event["stream"], event["status"], event["error"]) == (None, True, 200, None)
    assert (event["input_tokens"], event["output_tokens"]) == (37, 18)


def test_gzip_body_with_no_route_is_untouched_and_its_tokens_counted(shim: ShimSession, lib: str,
                                                                     mode: str) -> None:
    queue_gzipped_completion(shim.provider)
    result = send(lib, mode, shim.root + "/v1/chat/completions", {"model": "mystery-model", "messages": PROMPT})
    assert result.json() == GZIPPED_COMPLETION  # the library decoded its own copy of the untouched bytes
    event = only(shim.telemetry.calls(), "call event")
    assert (event["backend"], event["input_tokens"], event["output_tokens"]) == (None, 21, 5)


@pytest.mark.parametrize("where", ["other_path", "other_host"])
def test_non_llm_requests_are_byte_identical(shim: ShimSession, lib: str, mode: str, where: str) -> None:
    raw = {"model": "claude-sonnet-4-6", "messages": PROMPT}
    port = shim.root.rsplit(":", 1)[1]
    url = shim.root + "/v2/not-an-llm" if where == "other_path" else f"http://localhost:{port}/v1/chat/completions"
    result = send(lib, mode, url, raw)
    exchange = shim.provider.last
    assert exchange.request.raw_body == json.dumps(raw).encode()
    assert exchange.request.header("authorization") == f"Bearer {PLACEHOLDER_KEY}"
    assert result.body == exchange.sent_body
    assert shim.telemetry.calls() == []


def test_llm_and_other_urls_on_one_host_keep_their_own_answers(shim: ShimSession, lib: str, mode: str) -> None:
    """The shim remembers which URLs are LLM calls: asking again, in any order, on one host (a
    backend's, so both kinds reach the fake), gives the same answers."""
    body = {"model": "claude-sonnet-4-6", "messages": PROMPT}
    llm_url, other_url = shim.root + "/v1/chat/completions", shim.root + "/v1/not-an-llm"
    for url, routed in ((llm_url, True), (other_url, False), (llm_url, True), (other_url, False)):
        if routed:
            shim.provider.reply(text="routed")
            assert send(lib, mode, url, body).json()["choices"][0]["message"]["content"] == "routed"
            assert shim.provider.last.request.path == "/v1/messages"  # translated for the anthropic backend
        else:
            send(lib, mode, url, body)
            assert shim.provider.last.request.raw_body == json.dumps(body).encode()  # untouched
    assert [call["backend"] for call in shim.telemetry.calls()] == ["anthropic", "anthropic"]


def test_prefixed_model_is_routed_once(shim: ShimSession, lib: str, mode: str) -> None:
    """groq:llama… reaches the backend as llama…, which has no route: re-routing the shim's own
    request would show as a second event or a second upstream request."""
    shim.provider.reply(text="from groq")
    result = send(lib, mode, OPENAI_CHAT, {"model": "groq:llama-3.3-70b", "messages": PROMPT})
    assert result.json()["choices"][0]["message"]["content"] == "from groq"
    upstream = only(shim.provider.requests, "upstream request")
    assert upstream.json["model"] == "llama-3.3-70b"
    assert upstream.header("authorization") == f"Bearer {BACKEND_KEYS['groq']}"
    assert only(shim.telemetry.calls())["backend"] == "groq"


def test_routed_call_uses_the_clients_own_transport(shim: ShimSession, lib: str) -> None:
    mod = LIBS[lib]
    seen: List[str] = []

    class CountingTransport(mod.HTTPTransport):  # type: ignore[misc, name-defined]
        def handle_request(self, request: Any) -> Any:
            seen.append(str(request.url))
            return super().handle_request(request)

    shim.provider.reply(text="via custom transport")
    result = send(lib, "sync", OPENAI_CHAT, {"model": "claude-sonnet-4-6", "messages": PROMPT},
                  transport=CountingTransport())
    assert result.json()["choices"][0]["message"]["content"] == "via custom transport"
    assert seen == [shim.root + "/v1/messages"]


def test_mount_for_the_original_host_does_not_swallow_routed_calls(shim: ShimSession, lib: str, mode: str) -> None:
    mod = LIBS[lib]
    dead = mod.AsyncHTTPTransport if mode == "async" else mod.HTTPTransport
    mounts = {"https://api.openai.com": dead(proxy="http://127.0.0.1:9")}
    shim.provider.reply(text="mounted")
    result = send(lib, mode, OPENAI_CHAT, {"model": "claude-sonnet-4-6", "messages": PROMPT}, mounts=mounts)
    assert result.json()["choices"][0]["message"]["content"] == "mounted"


def test_stream_arrives_as_it_is_written_and_closing_early_closes_upstream(shim: ShimSession, lib: str) -> None:
    shim.provider.reply(text="first then held", hold_after_events=3)
    body = {"model": "claude-sonnet-4-6", "stream": True, "messages": PROMPT}
    with LIBS[lib].Client(timeout=10) as client:
        with client.stream("POST", OPENAI_CHAT, json=body) as response:
            first = next(response.iter_bytes())
            assert b"chat.completion.chunk" in first
            assert not shim.provider.release.is_set()  # got bytes while upstream still holds the rest
    event = only(shim.telemetry.calls(), "call event")
    assert (event["status"], event["error"]) == (499, "client_disconnected")  # as the proxy records it
    shim.provider.release.set()


def test_untranslatable_request_is_a_terminal_protocol_error(shim: ShimSession, lib: str, mode: str) -> None:
    result = send(lib, mode, OPENAI_CHAT, {"model": "claude-sonnet-4-6", "messages": PROMPT, "n": 2})
    assert result.status == 400
    assert result.headers["x-should-retry"] == "false"
    assert result.json()["error"]["type"] == "invalid_request_error"
    assert shim.provider.requests == []
    event = only(shim.telemetry.calls())
    assert event["error"] == "invalid_request" and event["status"] == 400
    # refused before anything was sent, the call keeps its identity: model, route, backend
    assert (event["requested_model"], event["backend"], event["upstream_model"]) == (
        "claude-sonnet-4-6", "anthropic", "claude-sonnet-4-6")
    assert event["translated"] is True and event["upstream_host"] == ""


def test_untranslatable_upstream_answer_is_a_terminal_protocol_error(shim: ShimSession, lib: str, mode: str) -> None:
    shim.provider.reply(error=(200, b"this is not json"))
    result = send(lib, mode, OPENAI_CHAT, {"model": "claude-sonnet-4-6", "messages": PROMPT})
    assert result.status >= 500
    assert result.headers["x-should-retry"] == "false"
    assert "error" in result.json()


def test_upstream_error_is_rendered_in_the_clients_protocol(shim: ShimSession, lib: str, mode: str) -> None:
    shim.provider.reply(error=(429, None), headers={"retry-after": "7"})
    result = send(lib, mode, OPENAI_CHAT, {"model": "claude-sonnet-4-6", "messages": PROMPT})
    assert result.status == 429
    assert result.json()["error"]["type"] == "rate_limit_error"
    assert result.headers["retry-after"] == "7"
    assert only(shim.telemetry.calls())["error"] == "rate_limit"


def test_models_listing_passes_through_without_an_event(shim: ShimSession, lib: str, mode: str) -> None:
    result = send(lib, mode, shim.root + "/v1/models", method="GET")
    assert result.status == 200 and result.json()["object"] == "list"
    assert shim.telemetry.calls() == []


@pytest.mark.parametrize(("status", "said"), [(307, "redirect"), (302, "redirect"), (204, "no content"),
                                              (200, "content-encoding 'snappy'")],
                         ids=["307", "302", "204", "unknown-encoding"])
@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "gpt-5.1"], ids=["translated", "same-protocol"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_an_answer_a_program_cannot_be_given_is_a_502(shim: ShimSession, lib: str, mode: str, model: str,
                                                      stream: bool, status: int, said: str) -> None:
    """The proxy's rule in the program's own process (docs/proxy-limits.md#answers): a backend's
    redirect reached the program's client, which follows it (the SDKs do), sending the conversation
    where the backend said, past the router; a 204 was a 500 or an empty answer; a body in an
    encoding httpx does not know went to the program as if it were the body, a 200 of garbage."""
    steal = shim.root + "/steal"
    headers = {"location": steal} if status != 200 else {"content-encoding": "snappy"}
    shim.provider.reply(error=(status, {"moved": True}), headers=headers)
    body = {"model": model, "messages": PROMPT, "stream": stream}
    result = send(lib, mode, OPENAI_CHAT, body, follow_redirects=True)
    assert result.status == 502, result.body
    error = result.json()["error"]
    assert (error["type"], error["code"]) == ("server_error", "bad_gateway") and said in error["message"], error
    assert "location" not in result.headers and "steal" not in result.body.decode()
    assert [request.path for request in shim.provider.requests] != [] and all(
        "steal" not in request.path for request in shim.provider.requests)
    assert only(shim.telemetry.calls())["status"] == 502


def test_a_same_protocol_error_quoting_the_backends_key_reaches_the_program_without_it(shim: ShimSession, lib: str,
                                                                                         mode: str) -> None:
    """Some backends echo the key they refused. A same-protocol answer went to the program as it came
    (the kept-body path), so the key was in the SDK's exception message
    (docs/secrets.md#what-a-shimmed-program-gets)."""
    key = BACKEND_KEYS["openai"]
    shim.provider.reply(error=(401, {"error": {"message": f"Incorrect API key provided: {key}",
                                               "type": "invalid_request_error", "code": "invalid_api_key"}}))
    result = send(lib, mode, OPENAI_CHAT, {"model": "gpt-5.1", "messages": PROMPT})
    assert result.status == 401 and key not in result.body.decode()
    assert result.json()["error"]["message"] == "Incorrect API key provided: [the backend's key]"
    assert only(shim.telemetry.calls())["status"] == 401


def test_a_backends_cookie_does_not_reach_the_programs_client(shim: ShimSession, lib: str, mode: str) -> None:
    """The program's client keeps a cookie for the host *it* called (api.openai.com), not the backend's,
    and would send it there on its next call, routed or not (docs/protocol-rules.md#answer-headers)."""
    shim.provider.reply(text="fine", headers={"set-cookie": "backend_session=s3cr3t; Path=/"})
    body = {"model": "gpt-5.1", "messages": PROMPT}
    mod, headers = LIBS[lib], {"authorization": f"Bearer {PLACEHOLDER_KEY}"}

    async def run_async() -> Any:
        async with mod.AsyncClient(timeout=10) as client:
            response = await client.post(OPENAI_CHAT, json=body, headers=headers)
            return response, dict(client.cookies)

    if mode == "sync":
        with mod.Client(timeout=10) as client:
            response = client.post(OPENAI_CHAT, json=body, headers=headers)
            cookies = dict(client.cookies)
    else:
        response, cookies = asyncio.run(run_async())
    assert response.status_code == 200 and response.json()["choices"][0]["message"]["content"] == "fine"
    assert "set-cookie" not in response.headers and cookies == {}



@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "gpt-5.1"], ids=["translated", "same-protocol"])
def test_an_answer_over_the_limit_is_a_502_not_the_programs_memory(shim: ShimSession, lib: str, mode: str,
                                                                    model: str) -> None:
    """The proxy stops reading an answer at 128 MiB decoded (docs/proxy-limits.md#answers); under the
    shim the program read all of it: this one took its memory from 28 MiB to 2 GiB."""
    shim.provider.reply(error=(200, answer_bomb()), headers={"content-encoding": "gzip"})
    result = send(lib, mode, OPENAI_CHAT, {"model": model, "messages": PROMPT})
    assert result.status == 502, result.body[:200]
    assert "over the limit of 134217728 bytes" in result.json()["error"]["message"]
    assert only(shim.telemetry.calls())["status"] == 502
