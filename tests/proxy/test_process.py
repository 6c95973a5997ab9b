"""Proxies started on purpose: auth on, non-loopback bind refused, bad config, signals, -v output."""

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator

import anthropic
import httpx
import openai
import pytest
from fakes import FakeProvider
from proxy_clients import USER
from proxy_process import BACKEND_KEYS, ProxyProcess, closed_port, write_proxy_config

from host.proxy.settings import UPSTREAM_CLIENTS

ROUTER_KEY = "rk-PROXYTEST-router-key"


@pytest.fixture
def home(tmp_path: Path, _fake_provider_session: FakeProvider) -> Path:
    write_proxy_config(tmp_path, _fake_provider_session.root_url, closed_port(), closed_port())
    return tmp_path


@pytest.fixture(scope="module")
def _guarded_module(tmp_path_factory: pytest.TempPathFactory,
                    _fake_provider_session: FakeProvider) -> Iterator[ProxyProcess]:
    home = tmp_path_factory.mktemp("guarded")
    write_proxy_config(home, _fake_provider_session.root_url, closed_port(), closed_port())
    proxy = ProxyProcess(home, env={"ROUTER_API_KEY": ROUTER_KEY}).wait_ready()
    yield proxy
    assert proxy.stop() == 0


@pytest.fixture
def guarded(_guarded_module: ProxyProcess, provider: FakeProvider) -> ProxyProcess:
    """A proxy that requires ROUTER_API_KEY (shared by this module's tests)."""
    return _guarded_module


@pytest.mark.parametrize(("path", "headers", "anthropic_shape"), [
    ("/v1/messages", {"anthropic-version": "2023-06-01"}, True),
    ("/v1/chat/completions", {}, False),
    ("/v1/models", {"anthropic-version": "2023-06-01"}, True),
    ("/v1/models", {}, False),
])
@pytest.mark.parametrize("presented", [None, "x-api-key", "bearer"])
def test_wrong_or_missing_router_key_is_401_in_client_shape(guarded: ProxyProcess, path: str, headers: dict,
                                                            anthropic_shape: bool, presented: str) -> None:
    if presented == "x-api-key":
        headers = {**headers, "x-api-key": "wrong"}
    elif presented == "bearer":
        headers = {**headers, "authorization": "Bearer wrong"}
    method = "GET" if path == "/v1/models" else "POST"
    response = httpx.request(method, guarded.url + path, json={"model": "gpt-5.1"}, headers=headers)
    assert response.status_code == 401
    body = response.json()
    if anthropic_shape:
        assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
    else:
        assert body["error"]["code"] == "invalid_api_key"


def test_right_router_key_works_and_is_not_forwarded(guarded: ProxyProcess, provider: FakeProvider) -> None:
    provider.reply(text="one")
    provider.reply(text="two")
    with anthropic.Anthropic(base_url=guarded.url, api_key=ROUTER_KEY, max_retries=0) as ant:
        assert ant.messages.create(model="gpt-5.1", max_tokens=8, messages=USER).content[0].text == "one"  # type: ignore[union-attr]
    with openai.OpenAI(base_url=guarded.url + "/v1", api_key=ROUTER_KEY, max_retries=0) as oai:
        assert oai.chat.completions.create(model="claude-sonnet-4-6", messages=USER).choices[0].message.content == "two"
    for request in provider.requests:
        assert all(ROUTER_KEY not in value for value in request.headers.values())
    health = httpx.get(guarded.url + "/health", headers={"x-api-key": ROUTER_KEY})
    assert health.status_code == 200 and health.json()["requests_served"] >= 2
    assert httpx.head(guarded.url + "/").status_code == 200  # open like /health's liveness: it says no more


def test_health_without_the_key_says_only_that_the_proxy_lives(guarded: ProxyProcess) -> None:
    """Liveness (and the version ``router doctor`` reads) for anyone; which backends stand behind the
    proxy, and how its configuration changed, only for clients that hold the key."""
    anonymous = httpx.get(guarded.url + "/health")
    assert anonymous.status_code == 200 and anonymous.json() == {"status": "ok", "version": anonymous.json()["version"]}
    wrong = httpx.get(guarded.url + "/health", headers={"authorization": "Bearer not-the-router-key"}).json()
    assert set(wrong) == {"status", "version"}
    for path in ("/", "/dashboard/api/access"):  # the other open paths say no more
        text = httpx.get(guarded.url + path, headers={"accept": "application/json"}).text
        assert all(name not in text for name in ("anthropic", "openai", "groq", "blackhole", str(guarded.home)))
    stats = httpx.get(guarded.url + "/stats", headers={"x-api-key": ROUTER_KEY})
    assert stats.status_code == 200 and "store" not in stats.json() and str(guarded.home) not in stats.text


def test_health_and_logs_never_show_keys(guarded: ProxyProcess, provider: FakeProvider) -> None:
    provider.reply(error=(401, None))
    httpx.post(guarded.url + "/v1/chat/completions", headers={"x-api-key": ROUTER_KEY},
               json={"model": "gpt-5.1", "messages": USER})
    httpx.post(guarded.url + "/v1/chat/completions", headers={"x-api-key": ROUTER_KEY},
               json={"model": "dead-1", "messages": USER})
    health = httpx.get(guarded.url + "/health", headers={"x-api-key": ROUTER_KEY}).json()
    assert set(health) == {"status", "version", "backends", "requests_served", "config"} and health["status"] == "ok"
    assert set(health["config"]) == {"generation", "fingerprint", "checked_at"}
    assert health["backends"] == ["anthropic", "openai", "groq", "dead", "blackhole"]
    stats = httpx.get(guarded.url + "/stats", headers={"x-api-key": ROUTER_KEY}).text
    deadline = time.monotonic() + 2
    while not any("dead-1" in line for line in guarded.stderr_lines) and time.monotonic() < deadline:
        time.sleep(0.02)
    lines = [line for line in guarded.stderr_lines if "→" in line]
    assert any(line.startswith("POST /v1/chat/completions gpt-5.1 → openai 401 ") for line in lines), lines
    assert lines[-1].startswith("POST /v1/chat/completions dead-1 → dead 502 ")
    for text in (guarded.output, json.dumps(health), stats):
        assert ROUTER_KEY not in text and all(key not in text for key in BACKEND_KEYS.values())


def test_non_loopback_bind_is_refused_without_router_key(home: Path) -> None:
    proxy = ProxyProcess(home, ["--host", "0.0.0.0"])
    assert proxy.finish(timeout=15) == 2
    assert "ROUTER_API_KEY" in proxy.output and "Traceback" not in proxy.output
    assert [line for line in proxy.stderr_lines if line.strip()][-1].startswith("Error: refusing to listen on 0.0.0.0")


def test_busy_port_is_one_line_exit_2(home: Path) -> None:
    first = ProxyProcess(home).wait_ready()
    port = first.url.rsplit(":", 1)[1]
    second = subprocess.run([sys.executable, "-m", "host", "proxy", "--port", port], capture_output=True, text=True,
                            env={"ROUTER_HOME": str(home), "PATH": ""}, timeout=15)
    first.stop()
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in second.stderr


def test_invalid_config_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[backends.x\n")
    proxy = ProxyProcess(tmp_path)
    assert proxy.finish(timeout=15) == 2
    [line] = [line for line in proxy.stderr_lines if line.strip()]
    assert "config.toml" in line and "Traceback" not in proxy.output


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_shuts_down_cleanly_and_cuts_open_streams(home: Path, provider: FakeProvider, sig: int) -> None:
    proxy = ProxyProcess(home).wait_ready()
    provider.reply(text="never finished", hold_after_events=2)
    try:
        with httpx.stream("POST", proxy.url + "/v1/chat/completions", timeout=15,
                          json={"model": "gpt-5.1", "messages": USER, "stream": True}) as response:
            chunks = response.iter_raw()
            first = next(chunks)
            proxy.process.send_signal(sig)
            rest = b"".join(chunks)
    finally:
        provider.release.set()
    assert proxy.finish(timeout=10) == 0
    assert b"data:" in first and b"[DONE]" not in rest
    assert b"shutting down" in rest  # cut in-band after the graceful-shutdown timeout, not left hanging


@pytest.mark.parametrize("client", UPSTREAM_CLIENTS)
def test_either_upstream_client_serves_whole_streamed_and_failed_calls(home: Path, provider: FakeProvider,
                                                                       client: str) -> None:
    """``--upstream-client`` (hidden; httptools by default): every client behaves the same to clients."""
    proxy = ProxyProcess(home, ["--upstream-client", client]).wait_ready()
    try:
        provider.reply(text="whole answer")
        whole = httpx.post(proxy.url + "/v1/chat/completions", json={"model": "gpt-5.1", "messages": USER}, timeout=10)
        assert whole.status_code == 200 and whole.json()["choices"][0]["message"]["content"] == "whole answer"
        provider.reply(text="streamed answer")
        body = {"model": "claude-sonnet-4-6", "max_tokens": 32, "messages": USER, "stream": True}
        streamed = httpx.post(proxy.url + "/v1/chat/completions", json=body, timeout=10)
        assert streamed.status_code == 200 and streamed.text.rstrip().endswith("data: [DONE]")
        assert all(request.header("accept-encoding") == "identity" for request in provider.requests)
        dead = httpx.post(proxy.url + "/v1/chat/completions", json={"model": "dead-1", "messages": USER}, timeout=10)
        message = dead.json()["error"]["message"]
        assert dead.status_code >= 500 and "'dead'" in message and "refused" in message
    finally:
        assert proxy.stop() == 0


@pytest.mark.parametrize("client", UPSTREAM_CLIENTS)
def test_a_cookie_a_backend_sets_never_goes_out_with_later_calls(tmp_path: Path, provider: FakeProvider,
                                                                 client: str) -> None:
    """The upstream pool is shared by every client of the proxy: a backend's Set-Cookie answering one
    client must not ride along on the next client's call. (By host name: aiohttp's default jar
    ignores cookies from IP addresses, which would hide the leak.)"""
    write_proxy_config(tmp_path, provider.root_url.replace("127.0.0.1", "localhost"), closed_port(), closed_port())
    proxy = ProxyProcess(tmp_path, ["--upstream-client", client]).wait_ready()
    try:
        provider.reply(text="sets a cookie", headers={"set-cookie": "session=client-a; Path=/"})
        provider.reply(text="another client")
        for _ in range(2):
            answer = httpx.post(proxy.url + "/v1/chat/completions", json={"model": "gpt-5.1", "messages": USER},
                                timeout=10)
            assert answer.status_code == 200, answer.text
        assert provider.requests[-2].header("cookie") is None
        assert provider.last.request.header("cookie") is None
    finally:
        assert proxy.stop() == 0


@pytest.mark.parametrize(("key", "why"), [
    ("   ", "spaces or control characters"),  # accepted before: then no client could ever authenticate
    ("\t", "spaces or control characters"),
    ("rk-PROXY test-key-with-a-space", "spaces or control characters"),
    ("short-key", "9 characters long"),
])
@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_a_key_that_cannot_protect_is_refused_at_start(home: Path, key: str, why: str, host: str) -> None:
    proxy = ProxyProcess(home, ["--host", host], env={"ROUTER_API_KEY": key})
    assert proxy.finish(timeout=15) == 2, proxy.output
    last = [line for line in proxy.stderr_lines if line.strip()][-1]
    assert last.startswith("Error: ROUTER_API_KEY ") and why in last and "openssl rand -hex 16" in last
    assert "Traceback" not in proxy.output and not proxy.stdout_lines  # refused before it listened
    if key.strip():
        assert key not in proxy.output


@pytest.mark.parametrize(("path", "body", "shape"), [
    ("/v1/messages", {"model": "claude-sonnet-4-6", "max_tokens": 32, "messages": USER}, "anthropic"),
    ("/v1/chat/completions", {"model": "gpt-5.1", "messages": USER}, "openai"),
    ("/v1/chat/completions", {"model": "gpt-5.1", "messages": USER, "stream": True}, "openai"),
], ids=["anthropic", "openai", "stream-before-its-first-byte"])
def test_a_call_in_flight_at_shutdown_gets_a_shaped_503(home: Path, provider: FakeProvider, path: str,
                                                        body: Dict[str, Any], shape: str) -> None:
    """SIGTERM while the backend has not answered yet: after the grace period the client gets 503 in
    its protocol with ``x-should-retry: true`` (another proxy, or this one restarted, can take the call),
    not uvicorn's plain-text 500; and the log holds no traceback."""
    proxy = ProxyProcess(home).wait_ready()
    provider.reply(text="too late", hold_after_events=0)
    answer: Dict[str, httpx.Response] = {}

    def call() -> None:
        answer["response"] = httpx.post(proxy.url + path, json=body, timeout=30,
                                        headers={"anthropic-version": "2023-06-01"})

    caller = threading.Thread(target=call)
    caller.start()
    try:
        assert provider.holding.wait(10)  # the call is upstream, unanswered
        proxy.process.send_signal(signal.SIGTERM)
        caller.join(30)
    finally:
        provider.release.set()
    assert proxy.finish(timeout=10) == 0
    response = answer["response"]
    assert response.status_code == 503 and response.headers["x-should-retry"] == "true"
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    if shape == "anthropic":
        assert response.json()["type"] == "error" and error["type"] == "api_error"
    else:
        assert error["type"] == "service_unavailable_error"
    assert "shutting down" in error["message"]
    assert "Traceback" not in proxy.output and "CancelledError" not in proxy.output, proxy.output
