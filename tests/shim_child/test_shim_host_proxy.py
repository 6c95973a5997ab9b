"""Calls a shimmed process aims at the host's proxy, because its SDK read the base URL ``router shim``
set for the whole tree: routed in-process straight to the backend (the proxy sees nothing), and a
call with no route sent where it would have gone without the router — never to the proxy.

The test engine server stands in for the host's proxy (same engine, same paths): a call that reached
it would appear in ``engine.plans``.
"""

import asyncio
import json
from typing import Any, Dict, Iterator, List, Optional, Tuple

import aiohttp
import httpx
import httpx2
import openai
import pytest
import requests
from fakes import BACKEND_KEYS, EngineServer
from shim_child_support import PLACEHOLDER_KEY, ShimSession, answer_bomb, only

from shim.env_names import PROXY_URL, USER_ANTHROPIC_BASE_URL, USER_OPENAI_BASE_URL
from shim.host_proxy import HostProxy
from shim.runtime import reset_runtime

PROMPT = [{"role": "user", "content": "hi"}]
AUTH = {"authorization": f"Bearer {PLACEHOLDER_KEY}"}
LIBRARIES = ("httpx", "httpx2", "requests", "aiohttp")


@pytest.fixture
def proxied(shim: ShimSession, engine: EngineServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[EngineServer]:
    """The environment of a process under ``router shim``: the proxy's URL, and the user's own base
    URLs (kept by the host when it replaced them) on the fake provider, so that an unrouted call's
    destination is observable on loopback."""
    monkeypatch.setenv(PROXY_URL, engine.root_url)
    monkeypatch.setenv(USER_OPENAI_BASE_URL, shim.root + "/v1")
    monkeypatch.setenv(USER_ANTHROPIC_BASE_URL, shim.root)
    reset_runtime()
    engine.plans.clear()
    yield engine
    reset_runtime()


def post(library: str, url: str, body: Dict[str, Any]) -> Tuple[int, bytes]:
    """One POST with ``library``'s plainest client; status and the body as the program reads it."""
    if library == "requests":
        response = requests.post(url, json=body, headers=AUTH, timeout=10)
        return response.status_code, response.content
    if library == "aiohttp":
        async def run() -> Tuple[int, bytes]:
            async with aiohttp.ClientSession() as session:
                async with session.post(url, json=body, headers=AUTH) as response:
                    return response.status, await response.read()

        return asyncio.run(run())
    module = {"httpx": httpx, "httpx2": httpx2}[library]
    with module.Client(timeout=10) as client:
        response = client.post(url, json=body, headers=AUTH)
        return response.status_code, response.content


@pytest.mark.parametrize("library", ["httpx", "httpx2", "requests"])
def test_routed_call_to_the_proxy_url_is_served_in_process(proxied: EngineServer, shim: ShimSession,
                                                           library: str) -> None:
    shim.provider.reply(text="in-process")
    status, body = post(library, proxied.openai_base_url + "/chat/completions",
                        {"model": "claude-sonnet-4-6", "messages": PROMPT})
    assert status == 200 and json.loads(body)["choices"][0]["message"]["content"] == "in-process"
    assert proxied.plans == []  # the proxy never saw it: no extra hop
    assert shim.provider.last.request.path == "/v1/messages"
    assert shim.provider.last.request.header("x-api-key") == BACKEND_KEYS["anthropic"]
    event = only(shim.telemetry.calls())
    assert (event["source"], event["backend"], event["translated"]) == ("shim", "anthropic", True)


def test_routed_aiohttp_call_to_the_proxy_url_is_handed_over_once(proxied: EngineServer, shim: ShimSession) -> None:
    """aiohttp hands routed calls to the proxy anyway; aimed at it already, the hand-off is the same
    URL, one hop: the proxy routes it (one plan), nothing loops back through the shim."""
    shim.provider.reply(text="handed over")
    status, body = post("aiohttp", proxied.openai_base_url + "/chat/completions",
                        {"model": "claude-sonnet-4-6", "messages": PROMPT})
    assert status == 200 and json.loads(body)["choices"][0]["message"]["content"] == "handed over"
    assert len(proxied.plans) == 1 and len(shim.provider.requests) == 1
    assert shim.telemetry.calls() == []  # the proxy reports handed-off calls


@pytest.mark.parametrize("library", LIBRARIES)
def test_unrouted_call_to_the_proxy_url_goes_where_it_would_have_gone(
    proxied: EngineServer, shim: ShimSession, library: str
) -> None:
    shim.provider.reply(text="the user's own server")
    raw_body = {"model": "mystery-model", "messages": PROMPT}
    status, body = post(library, proxied.openai_base_url + "/chat/completions?trace=1", raw_body)
    assert status == 200 and body == shim.provider.last.sent_body  # untouched, byte for byte
    assert proxied.plans == []
    received = shim.provider.last.request
    assert received.path == "/v1/chat/completions?trace=1" and received.json == raw_body
    assert received.header("authorization") == f"Bearer {PLACEHOLDER_KEY}"  # the program's own credentials
    event = only(shim.telemetry.calls())
    assert (event["backend"], event["requested_model"], event["status"]) == (None, "mystery-model", 200)


@pytest.mark.parametrize("library", ["httpx", "httpx2", "requests"])
def test_an_unrouted_call_keeps_its_cookie_its_error_and_its_encoding(proxied: EngineServer, shim: ShimSession,
                                                                      library: str) -> None:
    """What a routed call's answer loses or gains on the way (docs/protocol-rules.md#answer-headers,
    docs/proxy-limits.md#answers) is the router's own business: a call with no route goes as it
    would without the router — the program's server's cookie, its error byte for byte, the
    program's own accept-encoding (not the router's identity beside it)."""
    shim.provider.reply(error=(401, {"error": {"message": "who are you?"}}), headers={"set-cookie": "lb=abc; Path=/"})
    url = proxied.openai_base_url + "/chat/completions"
    body = {"model": "mystery-model", "messages": PROMPT}
    headers = {**AUTH, "accept-encoding": "gzip"}
    if library == "requests":
        with requests.Session() as session:
            response = session.post(url, json=body, headers=headers, timeout=10)
            status, content, cookies = response.status_code, response.content, dict(session.cookies)
    else:
        with {"httpx": httpx, "httpx2": httpx2}[library].Client(timeout=10) as client:
            response = client.post(url, json=body, headers=headers)
            status, content, cookies = response.status_code, response.content, dict(client.cookies)
    assert status == 401 and content == shim.provider.last.sent_body and proxied.plans == []
    assert shim.provider.last.request.header("accept-encoding") == "gzip"
    if library != "requests":  # requests fills its jar from the urllib3 response, which the shim rebuilds
        assert cookies == {"lb": "abc"}


def test_an_unrouted_answer_is_not_held_to_the_routed_limit(proxied: EngineServer, shim: ShimSession) -> None:
    """The 128 MiB a routed answer is read to (docs/proxy-limits.md#answers) is not the program's
    limit: an unrouted answer past it ended in an AssertionError inside the shim."""
    shim.provider.reply(error=(200, answer_bomb()), headers={"content-encoding": "gzip"})
    status, body = post("httpx", proxied.openai_base_url + "/chat/completions",
                        {"model": "mystery-model", "messages": PROMPT})
    assert status == 200 and len(body) == (129 << 20) + 2 and body.endswith(b"{}")
    assert only(shim.telemetry.calls())["status"] == 200


@pytest.mark.parametrize("library", ["httpx", "httpx2", "requests"])
def test_unrouted_stream_to_the_proxy_url_arrives_untouched_with_its_tokens(
    proxied: EngineServer, shim: ShimSession, library: str, chunking: str
) -> None:
    shim.provider.reply(text="streamed elsewhere")
    body = {"model": "mystery-model", "messages": PROMPT, "stream": True, "stream_options": {"include_usage": True}}
    url = proxied.openai_base_url + "/chat/completions"
    received = _stream(library, url, body)
    assert received == shim.provider.last.sent_body
    assert proxied.plans == []
    event = only(shim.telemetry.calls())
    assert (event["backend"], event["stream"], event["error"]) == (None, True, None)
    assert (event["input_tokens"], event["output_tokens"]) == (37, 18)


def _stream(library: str, url: str, body: Dict[str, Any]) -> bytes:
    if library == "requests":
        with requests.post(url, json=body, headers=AUTH, stream=True, timeout=10) as response:
            return b"".join(response.iter_content(chunk_size=None))
    module = {"httpx": httpx, "httpx2": httpx2}[library]
    with module.Client(timeout=10) as client, client.stream("POST", url, json=body, headers=AUTH) as response:
        return b"".join(response.iter_bytes())


def test_openai_sdk_with_the_base_url_from_the_environment(
    proxied: EngineServer, shim: ShimSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a Python grandchild does: the SDK reads OPENAI_BASE_URL (the proxy) by itself."""
    monkeypatch.setenv("OPENAI_BASE_URL", proxied.openai_base_url)
    shim.provider.reply(text="via the environment")
    client = openai.OpenAI(api_key=PLACEHOLDER_KEY, max_retries=0)
    reply = client.chat.completions.create(model="gpt-5.1", messages=PROMPT)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "via the environment"
    assert proxied.plans == []
    assert shim.provider.last.request.header("authorization") == f"Bearer {BACKEND_KEYS['openai']}"
    assert only(shim.telemetry.calls())["backend"] == "openai"


VENDOR_CASES: List[Tuple[str, str, Dict[str, str], Optional[str]]] = [
    ("http://127.0.0.1:7000/v1/chat/completions", "openai", {}, "https://api.openai.com/v1/chat/completions"),
    ("http://127.0.0.1:7000/v1/messages?beta=true", "anthropic", {}, "https://api.anthropic.com/v1/messages?beta=true"),
    ("http://127.0.0.1:7000/v1/messages/count_tokens", "anthropic", {"anthropic": "https://gw.example/anthropic/"},
     "https://gw.example/anthropic/v1/messages/count_tokens"),
    ("http://127.0.0.1:7000/v1/embeddings", "openai", {"openai": "http://localhost:8000/v1"},
     "http://localhost:8000/v1/embeddings"),
    ("http://localhost:7000/v1/chat/completions", "openai", {}, None),  # another host: not the proxy
    ("http://127.0.0.1:7001/v1/chat/completions", "openai", {}, None),  # another port
    ("http://127.0.0.1:7000/chat/completions", "openai", {}, None),  # not under the base path the host set
]


@pytest.mark.parametrize(("url", "protocol", "user", "expected"), VENDOR_CASES)
def test_host_proxy_unrouted_url(url: str, protocol: str, user: Dict[str, str], expected: Optional[str]) -> None:
    assert HostProxy("http://127.0.0.1:7000/", user).unrouted_url(url, protocol) == expected
