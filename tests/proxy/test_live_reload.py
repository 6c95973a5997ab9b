"""A running ``router proxy`` follows its configuration files (docs/configuration.md#live-reload).

Real processes throughout: the proxy, the ``router`` CLI that edits its configuration, SDK clients,
the fake provider at the network edge. Every wait is on a signal the proxy gives (a log line, the
``/health`` generation, its registry file), with a timeout.
"""

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import anthropic
import httpx
import openai
import pytest
from fakes import FakeProvider
from proxy_clients import USER
from proxy_process import BACKEND_KEYS, CLIENT_KEY, ProxyProcess

_WAIT = 10.0
RELOADED = "router proxy: configuration reloaded: generation "
REFUSED = "router proxy: configuration not reloaded"



@pytest.fixture
def live_proxy(home: Path, provider: FakeProvider) -> Iterator[ProxyProcess]:
    proxy = ProxyProcess(home).wait_ready()
    _health(proxy)  # answered once start-up is complete, so the proxy is registered and watching
    yield proxy
    assert proxy.stop() == 0, proxy.output


def router(home: Path, *args: str) -> "subprocess.CompletedProcess[str]":
    """The real CLI, in its own process, on ``home``."""
    env = {**os.environ, "ROUTER_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "host", *args], env=env, capture_output=True, text=True,
                          timeout=30, check=False)


def _health(proxy: ProxyProcess) -> Dict[str, Any]:
    response = httpx.get(proxy.url + "/health", timeout=_WAIT)
    assert response.status_code == 200
    return dict(response.json())


def _port(proxy: ProxyProcess) -> int:
    return int(proxy.url.rsplit(":", 1)[1])


def wait_until(condition: Callable[[], bool], what: str, timeout: float = _WAIT) -> None:
    """Poll a readiness condition (each poll asks the process under test) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _anthropic(proxy: ProxyProcess) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=proxy.url, api_key=CLIENT_KEY, max_retries=0, timeout=_WAIT)


def test_a_stream_in_flight_finishes_on_the_old_route_and_the_next_call_takes_the_new_one(
    live_proxy: ProxyProcess, home: Path, provider: FakeProvider, chunking: str
) -> None:
    provider.reply(text="from the old route", hold_after_events=3)
    streamed: Dict[str, str] = {}

    def stream() -> None:
        with _anthropic(live_proxy) as client, client.messages.stream(
            model="claude-sonnet-4-6", max_tokens=16, messages=USER  # type: ignore[arg-type]
        ) as events:
            streamed["text"] = events.get_final_text()

    streaming = threading.Thread(target=stream)
    streaming.start()
    assert provider.holding.wait(_WAIT), "the stream never reached the provider"

    edit = router(home, "route", "add", "claude-*", "openai")
    assert edit.returncode == 0, edit.stderr
    assert f"the running proxy on :{_port(live_proxy)} picked this up (configuration generation 2)" in edit.stdout
    live_proxy.wait_for_stderr(lambda line: line.startswith(RELOADED + "2 "))
    assert _health(live_proxy)["config"]["generation"] == 2

    provider.reply(text="from the new route")
    with _anthropic(live_proxy) as client:
        answer = client.messages.create(model="claude-sonnet-4-6", max_tokens=16, messages=USER)  # type: ignore[arg-type]
    assert answer.content[0].text == "from the new route"  # type: ignore[union-attr]
    assert provider.last.request.path.startswith("/v1/chat/completions")  # the openai backend now

    provider.release.set()
    streaming.join(_WAIT)
    assert not streaming.is_alive() and not provider.hold_timed_out
    assert streamed["text"] == "from the old route"
    assert provider.requests[0].path.startswith("/v1/messages")  # planned before the edit: anthropic


@pytest.mark.parametrize(("broken", "named"), [
    ("\n[[routes]]\nmatch = 'claude-*'\nbackend =\n", "is not valid TOML"),
    ("\n[backends.leaky]\nprotocol = 'openai'\nbase_url = 'http://127.0.0.1:9/v1'\napi_key = 'sk-LEAKME-1234'\n",
     "backends.leaky.api_key: keys do not belong in config.toml"),
])
def test_a_broken_edit_keeps_the_old_configuration_serving_with_one_clear_line(
    live_proxy: ProxyProcess, home: Path, provider: FakeProvider, broken: str, named: str
) -> None:
    config = home / "config.toml"
    good = config.read_text()
    config.write_text(good + broken)  # by hand, as with an editor

    line = live_proxy.wait_for_stderr(lambda text: text.startswith(REFUSED))
    assert line == f"{REFUSED}, generation 1 keeps serving: {config}: {line.split(f'{config}: ', 1)[1]}"
    assert named in line
    # The watch goes on looking at the files; the same broken version is not reported again.
    refused_at = _health(live_proxy)["config"]["checked_at"]
    wait_until(lambda: _health(live_proxy)["config"]["checked_at"] > refused_at, "a later look at the files")

    provider.reply(text="still served")
    with _anthropic(live_proxy) as client:
        answer = client.messages.create(model="claude-sonnet-4-6", max_tokens=16, messages=USER)  # type: ignore[arg-type]
    assert answer.content[0].text == "still served"  # type: ignore[union-attr]
    assert _health(live_proxy)["config"]["generation"] == 1

    config.write_text(good + "\n[[routes]]\nmatch = 'claude-*'\nbackend = 'openai'\n")  # fixed
    live_proxy.wait_for_stderr(lambda text: text.startswith(RELOADED + "2 "))
    assert [text for text in live_proxy.stderr_lines if text.startswith(REFUSED)] == [line]
    assert "Traceback" not in live_proxy.output and "sk-LEAKME" not in live_proxy.output
    assert all(key not in live_proxy.output for key in BACKEND_KEYS.values())


def test_the_model_list_and_health_follow_the_configuration(live_proxy: ProxyProcess, home: Path,
                                                           provider: FakeProvider) -> None:
    def model_ids() -> List[str]:
        response = httpx.get(live_proxy.url + "/v1/models", timeout=_WAIT)
        return [model["id"] for model in response.json()["data"]]

    assert "quick" not in model_ids() and "dead" in _health(live_proxy)["backends"]
    for edit in (("alias", "set", "quick", "groq:llama-3.3-70b"), ("backend", "remove", "dead")):
        done = router(home, *edit)
        assert "picked this up" in done.stdout, done.stdout + done.stderr
    assert "quick" in model_ids()
    assert _health(live_proxy)["backends"] == ["anthropic", "openai", "groq", "blackhole"]


def test_an_edit_with_no_proxy_running_says_so(home: Path) -> None:
    edit = router(home, "alias", "set", "quick", "groq:llama-3.3-70b")
    assert edit.returncode == 0, edit.stderr
    assert edit.stdout.splitlines() == [
        "added alias 'quick' → 'groq:llama-3.3-70b'",
        "no proxy is running; the next `router proxy` or `router shim` uses this configuration",
    ]


def test_a_proxy_registers_while_it_runs_and_a_killed_ones_entry_is_cleaned_by_the_next_command(
    home: Path, provider: FakeProvider
) -> None:
    proxy = ProxyProcess(home).wait_ready()
    _health(proxy)
    registry = home / "proxies"
    entries = list(registry.iterdir())
    assert len(entries) == 1 and entries[0].name.startswith(f"{proxy.process.pid}-")
    assert stat.S_IMODE(registry.stat().st_mode) == 0o700 and stat.S_IMODE(entries[0].stat().st_mode) == 0o600
    record = json.loads(entries[0].read_text())
    assert (record["kind"], record["pid"], record["port"], record["generation"]) == (
        "proxy", proxy.process.pid, _port(proxy), 1)
    assert record["fingerprint"] == _health(proxy)["config"]["fingerprint"]

    assert proxy.stop(signal.SIGKILL) == -signal.SIGKILL
    assert entries[0].exists()  # nobody could remove it
    edit = router(home, "route", "default", "groq")
    assert edit.returncode == 0, edit.stderr
    assert "no proxy is running" in edit.stdout
    assert list(registry.iterdir()) == []


def test_a_proxy_that_stops_removes_its_entry(home: Path, provider: FakeProvider) -> None:
    proxy = ProxyProcess(home).wait_ready()
    _health(proxy)
    assert len(list((home / "proxies").iterdir())) == 1
    assert proxy.stop() == 0
    assert list((home / "proxies").iterdir()) == []


def test_reloads_under_concurrent_load_lose_no_call(live_proxy: ProxyProcess, home: Path,
                                                    provider: FakeProvider) -> None:
    for _ in range(3000):
        provider.reply(text="answered")
    done = threading.Event()
    sent: List[int] = []
    answers: List[str] = []
    failures: List[str] = []

    def keep_calling() -> None:
        count = 0
        with openai.OpenAI(base_url=live_proxy.url + "/v1", api_key=CLIENT_KEY, max_retries=0,
                           timeout=_WAIT) as client:
            while not done.is_set():
                count += 1
                try:
                    reply = client.chat.completions.create(model="claude-sonnet-4-6", messages=USER)  # type: ignore[arg-type]
                    answers.append(reply.choices[0].message.content or "")
                except openai.OpenAIError as error:
                    failures.append(repr(error))
        sent.append(count)

    workers = [threading.Thread(target=keep_calling) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        for generation, backend in enumerate(["openai", "anthropic", "openai", "anthropic"], start=2):
            edit = router(home, "route", "add", "claude-*", backend)
            assert f"picked this up (configuration generation {generation})" in edit.stdout, edit.stdout + edit.stderr
    finally:
        done.set()
        for worker in workers:
            worker.join(_WAIT)
    assert failures == []
    assert len(answers) == sum(sent) and set(answers) == {"answered"}
    paths = {request.path.split("?")[0] for request in provider.requests}
    assert paths == {"/v1/messages", "/v1/chat/completions"}  # calls ran on both routes, across the reloads
