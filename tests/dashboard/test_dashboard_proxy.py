"""The dashboard ``router proxy`` serves at ``/``, in headless Chromium, while the official SDKs make real
calls through the proxy (the fake provider behind it): no console error, no request leaving the
proxy's address, the totals shown are ``router stats --json``'s, a new call is in the live tail within
one second, failures are marked, and with ``ROUTER_API_KEY`` set the page asks for the key first.

``ROUTER_DASHBOARD_SCREENSHOT=docs/dashboard.png`` makes the first test save the README's screenshot."""

import os
import time
from pathlib import Path
from typing import Iterator, List, Optional

import anthropic
import openai
import pytest
from chromium import Chromium
from dashboard_support import expected_totals, shown_totals, stats_json
from fakes import FakeProvider, UsageSpec
from proxy_process import ProxyProcess, closed_port, write_proxy_config

ROUTER_KEY = "Tz5xC8vB2nM6qW9eR3tY7uI1oP4a"
TAIL_ROWS = "document.querySelectorAll('#tail tbody tr[data-call-id]').length"
NEW_CALL_SECONDS = 1.0


def start_proxy(home: Path, provider: FakeProvider, router_key: Optional[str] = None) -> ProxyProcess:
    write_proxy_config(home, provider.root_url, closed_port(), closed_port())
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "", **({"ROUTER_API_KEY": router_key} if router_key else {})}
    return ProxyProcess(home, env=env).wait_ready()


@pytest.fixture
def proxy(home: Path, provider: FakeProvider) -> Iterator[ProxyProcess]:
    process = start_proxy(home, provider)
    yield process
    process.stop()


def sdk_calls(url: str, provider: FakeProvider, key: str = "unused") -> int:
    """Translated and same-protocol calls, whole and streamed, from both SDKs, and one that fails; how many."""
    usage = UsageSpec(input=1200, output=80, cache_read=300)
    for _ in range(4):
        provider.reply(text="hello from the fake", usage=usage)
    messages: List[dict] = [{"role": "user", "content": "hi"}]
    with openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=10) as oai:
        oai.chat.completions.create(model="claude-sonnet-4-6", messages=messages)  # translated
        for _ in oai.chat.completions.create(model="gpt-5.1", messages=messages, stream=True,
                                             stream_options={"include_usage": True}):
            pass
        with pytest.raises(openai.APIStatusError):
            oai.chat.completions.create(model="dead-model", messages=messages)  # nothing listens there
    with anthropic.Anthropic(base_url=url, api_key=key, max_retries=0, timeout=10) as ant:
        ant.messages.create(model="claude-sonnet-4-6", max_tokens=50, messages=messages)
        with ant.messages.stream(model="gpt-5.1", max_tokens=50, messages=messages) as stream:
            stream.until_done()
    return 5


def one_more_call(url: str, provider: FakeProvider, key: str = "unused") -> None:
    provider.reply(text="the newest call", usage=UsageSpec(input=10, output=5))
    with openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=10) as oai:
        oai.chat.completions.create(model="claude-sonnet-4-6", messages=[{"role": "user", "content": "again"}])


def assert_page_stayed_local(browser: Chromium, url: str) -> None:
    assert browser.errors == [], browser.errors
    assert browser.requests and all(request.startswith(url + "/") for request in browser.requests), browser.requests


def test_the_proxy_serves_the_live_dashboard(proxy: ProxyProcess, provider: FakeProvider, home: Path,
                                             browser: Chromium) -> None:
    calls = sdk_calls(proxy.url, provider)
    browser.open(proxy.url + "/")
    browser.wait_for(f"{TAIL_ROWS} === {calls} && document.querySelector('[data-total=calls]').textContent === "
                     f"'{calls}'", 10)
    assert shown_totals(browser) == expected_totals(stats_json(home, "1h"))
    failed = browser.evaluate("[...document.querySelectorAll('#tail tr.failed')].map((row) => row.innerText)")
    assert len(failed) == 1 and "dead/dead-model" in failed[0]  # nothing listens behind the dead backend
    backends = browser.evaluate("[...document.querySelectorAll('#latency tr[data-backend]')]"
                                ".map((row) => row.dataset.backend)")
    assert sorted(backends) == ["anthropic", "dead", "openai"]
    assert "fast" in browser.evaluate("document.getElementById('routing').innerText")

    one_more_call(proxy.url, provider)
    answered = time.monotonic()
    browser.wait_for(f"{TAIL_ROWS} === {calls + 1}", NEW_CALL_SECONDS)
    assert time.monotonic() - answered <= NEW_CALL_SECONDS
    newest = browser.evaluate("document.querySelector('#tail tbody tr').innerText")
    assert "anthropic/claude-sonnet-4-6" in newest and "10 / 5" in newest
    browser.wait_for(f"document.querySelector('[data-total=calls]').textContent === '{calls + 1}'", 10)
    assert shown_totals(browser) == expected_totals(stats_json(home, "1h"))
    screenshot = os.environ.get("ROUTER_DASHBOARD_SCREENSHOT")
    if screenshot:
        Path(screenshot).write_bytes(browser.screenshot())
    assert_page_stayed_local(browser, proxy.url)  # while the proxy still runs: the page keeps polling it


def test_with_a_router_key_the_page_asks_for_it(home: Path, provider: FakeProvider, browser: Chromium) -> None:
    process = start_proxy(home, provider, ROUTER_KEY)
    try:
        calls = sdk_calls(process.url, provider, key=ROUTER_KEY)
        browser.open(process.url + "/")
        browser.wait_for("!document.getElementById('key-form').hidden", 10)
        assert browser.evaluate("document.getElementById('main').hidden") is True
        submit = ("document.getElementById('key-input').value = {key!r};"
                  "document.getElementById('key-form').requestSubmit(); true")
        browser.evaluate(submit.format(key="not-the-key"))
        browser.wait_for("!document.getElementById('key-error').hidden", 10)
        browser.evaluate(submit.format(key=ROUTER_KEY))
        browser.wait_for(f"{TAIL_ROWS} === {calls}", 10)
        browser.wait_for(f"document.querySelector('[data-total=calls]').textContent === '{calls}'", 10)
        assert shown_totals(browser) == expected_totals(stats_json(home, "1h"))
        one_more_call(process.url, provider, key=ROUTER_KEY)
        answered = time.monotonic()
        browser.wait_for(f"{TAIL_ROWS} === {calls + 1}", NEW_CALL_SECONDS)
        assert time.monotonic() - answered <= NEW_CALL_SECONDS
        assert ROUTER_KEY not in browser.evaluate("document.body.innerText")
        assert_page_stayed_local(browser, process.url)
    finally:
        process.stop()
