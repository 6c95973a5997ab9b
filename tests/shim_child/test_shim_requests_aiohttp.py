"""requests (routed in-process) and aiohttp (handed to the host's proxy) under the shim."""

import asyncio
import json
import socket
from pathlib import Path
from typing import Any, Iterator, List

import pytest
from fakes import BACKEND_KEYS, EngineServer
from shim_child_support import (
    GZIPPED_COMPLETION,
    PLACEHOLDER_KEY,
    ShimSession,
    answer_bomb,
    only,
    queue_gzipped_completion,
    snapshot_config,
    write_snapshot,
)

from shim import bootstrap
from shim.env_names import CONFIG_SNAPSHOT, PROXY_URL
from shim.runtime import reset_runtime

requests = pytest.importorskip("requests")
aiohttp = pytest.importorskip("aiohttp")

OPENAI_CHAT = "https://api.openai.com/v1/chat/completions"
PROMPT = [{"role": "user", "content": "hi"}]
AUTH = {"authorization": f"Bearer {PLACEHOLDER_KEY}"}


def test_requests_translated_non_stream(shim: ShimSession) -> None:
    shim.provider.reply(text="plain requests")
    response = requests.post(OPENAI_CHAT, json={"model": "claude-sonnet-4-6", "messages": PROMPT}, headers=AUTH)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "plain requests"
    assert shim.provider.last.request.header("x-api-key") == BACKEND_KEYS["anthropic"]
    assert only(shim.telemetry.calls())["input_tokens"] == 37


def test_requests_stream_lines_arrive_before_upstream_finishes(shim: ShimSession, chunking: str) -> None:
    shim.provider.reply(text="streamed through requests", hold_after_events=3)
    body = {"model": "claude-sonnet-4-6", "messages": PROMPT, "stream": True}
    with requests.Session() as session:
        response = session.post(OPENAI_CHAT, json=body, headers=AUTH, stream=True)
        lines: List[str] = []
        for line in response.iter_lines(decode_unicode=True):
            if line and not lines:
                assert not shim.provider.release.is_set()  # the first event came while upstream held the rest
                shim.provider.release.set()
            if line:
                lines.append(line)
    assert lines[-1] == "data: [DONE]"
    text = "".join(
        (json.loads(line[6:])["choices"] or [{}])[0].get("delta", {}).get("content") or ""
        for line in lines[:-1]
    )
    assert text == "streamed through requests"
    assert not shim.provider.hold_timed_out


def test_requests_custom_adapter_is_still_routed(shim: ShimSession) -> None:
    shim.provider.reply(text="mounted adapter")
    with requests.Session() as session:
        session.mount("https://", requests.adapters.HTTPAdapter(max_retries=3))
        response = session.post(OPENAI_CHAT, json={"model": "claude-sonnet-4-6", "messages": PROMPT}, headers=AUTH)
    assert response.json()["choices"][0]["message"]["content"] == "mounted adapter"


@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "gpt-5.1"], ids=["translated", "same-protocol"])
def test_requests_does_not_follow_a_backends_redirect(shim: ShimSession, model: str) -> None:
    """requests follows a redirect by default (``Session.resolve_redirects``), after the adapter
    returns: the backend's 307 took the conversation where it said (docs/proxy-limits.md#answers)."""
    shim.provider.reply(error=(307, {"moved": True}), headers={"location": shim.root + "/steal"})
    response = requests.post(OPENAI_CHAT, json={"model": model, "messages": PROMPT}, headers=AUTH)
    assert response.status_code == 502 and "redirect" in response.json()["error"]["message"], response.text
    upstream_path = "/v1/messages" if model.startswith("claude") else "/v1/chat/completions"
    assert response.history == [] and [request.path for request in shim.provider.requests] == [upstream_path]


@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "gpt-5.1"], ids=["translated", "same-protocol"])
def test_requests_stops_reading_an_answer_at_the_limit(shim: ShimSession, model: str) -> None:
    """As the httpx transports do (docs/proxy-limits.md#answers); ``content`` read it all, 10 KiB at a time."""
    shim.provider.reply(error=(200, answer_bomb()), headers={"content-encoding": "gzip"})
    response = requests.post(OPENAI_CHAT, json={"model": model, "messages": PROMPT}, headers=AUTH)
    assert response.status_code == 502 and "over the limit" in response.json()["error"]["message"]


def test_requests_no_route_and_non_llm_untouched(shim: ShimSession) -> None:
    shim.provider.reply(text="untouched")
    raw = json.dumps({"model": "mystery-model", "messages": PROMPT})
    response = requests.post(shim.root + "/v1/chat/completions", data=raw, headers=AUTH)
    assert response.content == shim.provider.last.sent_body
    assert shim.provider.last.request.raw_body == raw.encode()
    event = only(shim.telemetry.calls())
    assert event["backend"] is None and (event["input_tokens"], event["output_tokens"]) == (37, 18)
    shim.telemetry.clear()
    other = requests.get(shim.root + "/somewhere-else")
    assert other.status_code == 404 and other.content == shim.provider.last.sent_body
    assert shim.telemetry.calls() == []


def test_requests_no_route_stream_is_untouched_and_its_tokens_counted(shim: ShimSession, chunking: str) -> None:
    shim.provider.reply(text="streamed, untouched")
    body = {"model": "mystery-model", "messages": PROMPT, "stream": True, "stream_options": {"include_usage": True}}
    with requests.post(shim.root + "/v1/chat/completions", json=body, headers=AUTH, stream=True) as response:
        received = b"".join(response.iter_content(chunk_size=None))
    assert received == shim.provider.last.sent_body
    event = only(shim.telemetry.calls())
    assert (event["backend"], event["stream"], event["error"]) == (None, True, None)
    assert (event["input_tokens"], event["output_tokens"]) == (37, 18)


def test_requests_no_route_gzip_body_is_decoded_for_the_tokens_only(shim: ShimSession) -> None:
    queue_gzipped_completion(shim.provider)
    response = requests.post(shim.root + "/v1/chat/completions", json={"model": "mystery-model", "messages": PROMPT},
                             headers=AUTH)
    assert response.json() == GZIPPED_COMPLETION and response.headers["content-encoding"] == "gzip"
    assert type(response.raw).__name__ == "HTTPResponse"  # urllib3's own object, only watched
    event = only(shim.telemetry.calls())
    assert (event["input_tokens"], event["output_tokens"]) == (21, 5)


def test_requests_no_route_response_closed_unread_is_still_reported(shim: ShimSession) -> None:
    shim.provider.reply(text="never read")
    body = {"model": "mystery-model", "messages": PROMPT, "stream": True}
    with requests.post(shim.root + "/v1/chat/completions", json=body, headers=AUTH, stream=True) as response:
        assert response.status_code == 200
    event = only(shim.telemetry.calls())
    assert (event["backend"], event["status"], event["error"]) == (None, 499, "client_disconnected")  # left early


async def _aiohttp_post(url: str, body: Any) -> Any:
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body, headers=AUTH) as response:
            return response.status, await response.read()


def test_aiohttp_routed_call_is_handed_to_the_proxy(shim: ShimSession, engine: EngineServer,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The test engine server stands in for the host's proxy (same engine, same paths)."""
    monkeypatch.setenv(PROXY_URL, engine.root_url)
    from shim.runtime import reset_runtime

    reset_runtime()
    shim.provider.reply(text="through the proxy")
    status, body = asyncio.run(_aiohttp_post(OPENAI_CHAT, {"model": "claude-sonnet-4-6", "messages": PROMPT}))
    assert status == 200 and json.loads(body)["choices"][0]["message"]["content"] == "through the proxy"
    assert shim.provider.last.request.path == "/v1/messages"
    assert shim.telemetry.calls() == []  # the proxy reports handed-off calls, not the shim


def test_aiohttp_without_proxy_url_leaves_routed_calls_untouched(shim: ShimSession) -> None:
    shim.provider.reply(text="untouched")
    body = {"model": "claude-sonnet-4-6", "messages": PROMPT}
    status, raw = asyncio.run(_aiohttp_post(shim.root + "/v1/chat/completions", body))
    assert status == 200 and raw == shim.provider.last.sent_body
    assert shim.provider.last.request.header("authorization") == f"Bearer {PLACEHOLDER_KEY}"
    errors = shim.telemetry.of_kind("shim_error")
    assert len(errors) == 1 and "proxy" in errors[0]["message"]


def test_aiohttp_no_route_call_is_reported(shim: ShimSession) -> None:
    shim.provider.reply(text="untouched")
    body = {"model": "mystery", "messages": PROMPT}
    status, raw = asyncio.run(_aiohttp_post(shim.root + "/v1/chat/completions", body))
    assert status == 200 and raw == shim.provider.last.sent_body
    event = only(shim.telemetry.calls())
    assert event["backend"] is None and event["status"] == 200


DEAD_KEY = "sk-dead-backend-key-0123456789"


@pytest.fixture
def dead_route(shim_env: ShimSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ShimSession]:
    """The shim active with one more route, ``dead-*``, to a backend nothing listens for."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = snapshot_config(shim_env.provider.root_url)
    config["backends"]["dead"] = {"protocol": "openai", "base_url": f"http://127.0.0.1:{port}/v1",
                                  "api_key": DEAD_KEY}
    config["routes"] = [{"match": "dead-*", "backend": "dead"}]
    (tmp_path / "dead").mkdir()
    monkeypatch.setenv(CONFIG_SNAPSHOT, str(write_snapshot(tmp_path / "dead", config)))
    reset_runtime()
    assert bootstrap.activate()
    try:
        yield shim_env
    finally:
        bootstrap.deactivate()
        reset_runtime()


def _requests_reached(error: BaseException) -> List[Any]:
    """Every request object ``error`` leads to: its own, its response's, those of the errors it holds."""
    found, seen, todo = [], set(), [error]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        for name in ("request", "response", "__cause__", "__context__"):
            value = getattr(item, name, None)
            if value is not None:
                (found if name == "request" else todo).append(value)
        todo.extend(arg for arg in getattr(item, "args", ()) if isinstance(arg, BaseException))
    return found


@pytest.mark.parametrize("library", ["requests", "httpx"])
def test_a_library_error_raised_again_carries_the_programs_request_not_the_key(dead_route: ShimSession,
                                                                               library: str) -> None:
    """A route with no other try raises the library's own error, as without the router; requests'
    carried the request the shim sent, with the backend's key in its headers, where an error
    reporter that records ``error.request`` would have kept it (docs/secrets.md#what-a-shimmed-program-gets)."""
    import httpx

    body = {"model": "dead-1", "messages": PROMPT}
    with pytest.raises((requests.ConnectionError, httpx.ConnectError)) as raised:
        if library == "requests":
            requests.post(OPENAI_CHAT, json=body, headers=AUTH, timeout=5)
        else:
            httpx.post(OPENAI_CHAT, json=body, headers=AUTH, timeout=5)
    reached = _requests_reached(raised.value)
    assert reached, "the error names a request"
    for request in reached:
        assert str(request.url) == OPENAI_CHAT and DEAD_KEY not in repr(dict(request.headers))
