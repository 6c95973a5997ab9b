"""``router proxy --cors-origin ORIGIN``: browser clients of listed origins, and nobody else
(docs/operator-switches.md#cors). curl and raw HTTP, with the router key set, as a page would call."""

import json
import subprocess
from pathlib import Path
from typing import Dict, Iterator, List

import httpx
import pytest
from fakes import FakeProvider
from proxy_clients import USER
from proxy_process import ProxyProcess

from host.proxy.cors import CorsOriginRefused, normalized_origin

_WAIT = 10.0
ROUTER_KEY = "cors-test-key-0123456789abcdef"
PAGE = "https://app.example.com"



def _started(home: Path, args: List[str]) -> ProxyProcess:
    proxy = ProxyProcess(home, args, env={"ROUTER_API_KEY": ROUTER_KEY}).wait_ready()
    assert httpx.get(proxy.url + "/health", timeout=_WAIT).status_code == 200  # start-up complete
    return proxy


@pytest.fixture
def cors_proxy(home: Path, provider: FakeProvider) -> Iterator[ProxyProcess]:
    proxy = _started(home, ["--cors-origin", PAGE + "/", "--cors-origin", "http://localhost:5173"])
    yield proxy
    assert proxy.stop() == 0, proxy.output


def _curl_head(url: str, *args: str) -> Dict[str, str]:
    """The answer's status line and headers, as curl received them (names lower-cased)."""
    done = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-D", "-", "--max-time", str(_WAIT), *args, url],
                          capture_output=True, text=True, timeout=_WAIT * 2, check=True)
    lines = done.stdout.strip().splitlines()
    headers = {"status": lines[0].split()[1]}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


def test_a_preflight_is_answered_before_the_key(cors_proxy: ProxyProcess, provider: FakeProvider) -> None:
    head = _curl_head(cors_proxy.url + "/v1/chat/completions", "-X", "OPTIONS", "-H", f"Origin: {PAGE}",
                      "-H", "Access-Control-Request-Method: POST",
                      "-H", "Access-Control-Request-Headers: Authorization, Content-Type, X-Stainless-OS, X-Evil")
    assert head["status"] == "204"
    assert head["access-control-allow-origin"] == PAGE
    assert set(head["access-control-allow-methods"].split(", ")) >= {"POST", "GET", "DELETE"}
    assert head["access-control-allow-headers"] == "authorization, content-type, x-stainless-os"  # not x-evil
    assert int(head["access-control-max-age"]) > 0 and "Origin" in head["vary"]
    assert provider.requests == []


def test_answers_to_a_listed_origin_carry_cors_headers_errors_and_streams_too(
    cors_proxy: ProxyProcess, provider: FakeProvider
) -> None:
    origin = {"origin": "http://localhost:5173"}
    denied = httpx.post(cors_proxy.url + "/v1/messages", json={}, headers=origin, timeout=_WAIT)
    assert denied.status_code == 401 and denied.json()["type"] == "error"
    assert denied.headers["access-control-allow-origin"] == "http://localhost:5173"
    provider.reply(text="streamed to the page")
    body = {"model": "gpt-5.1", "messages": USER, "stream": True}
    keyed = {**origin, "authorization": f"Bearer {ROUTER_KEY}"}
    with httpx.stream("POST", cors_proxy.url + "/v1/chat/completions", json=body, headers=keyed,
                      timeout=_WAIT) as stream:
        assert stream.status_code == 200
        assert stream.headers["access-control-allow-origin"] == "http://localhost:5173"
        assert "request-id" in stream.headers["access-control-expose-headers"]
        text = "".join(stream.iter_text())
    chunks = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == \
        "streamed to the page"


def test_an_origin_not_listed_gets_no_cors_header(cors_proxy: ProxyProcess, provider: FakeProvider) -> None:
    preflight = _curl_head(cors_proxy.url + "/v1/messages", "-X", "OPTIONS", "-H", "Origin: https://evil.example",
                           "-H", "Access-Control-Request-Method: POST")
    assert preflight["status"] != "204" and "access-control-allow-origin" not in preflight
    provider.reply(text="hi")
    answer = httpx.post(cors_proxy.url + "/v1/messages", timeout=_WAIT,
                        json={"model": "claude-sonnet-4-6", "max_tokens": 8, "messages": USER},
                        headers={"origin": "https://evil.example", "x-api-key": ROUTER_KEY})
    assert answer.status_code == 200  # the call itself is not the browser's business to block here…
    assert "access-control-allow-origin" not in answer.headers  # …the browser hides it from the page
    assert answer.headers["vary"] == "Origin"


def test_without_the_option_there_is_no_cors(home: Path, provider: FakeProvider) -> None:
    proxy = _started(home, [])
    try:
        head = _curl_head(proxy.url + "/v1/messages", "-X", "OPTIONS", "-H", f"Origin: {PAGE}",
                          "-H", "Access-Control-Request-Method: POST")
        assert not any(name.startswith("access-control-") for name in head) and "vary" not in head
    finally:
        assert proxy.stop() == 0, proxy.output


def test_a_malformed_origin_is_refused_at_start(home: Path) -> None:
    proxy = ProxyProcess(home, ["--cors-origin", "app.example.com/path"])
    assert proxy.process.wait(timeout=_WAIT) == 2
    proxy.stop()
    assert "--cors-origin 'app.example.com/path' is not an origin" in proxy.output


@pytest.mark.parametrize("listed, sent", [
    ("http://localhost:80", "http://localhost"), ("https://x.example:0443/", "https://x.example"),
    ("HTTP://LOCALHOST:3000/", "http://localhost:3000"), ("http://[0:0:0:0:0:0:0:1]:8080", "http://[::1]:8080"),
    ("http://[::FFFF:127.0.0.1]", "http://[::ffff:7f00:1]"), ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example"),
])
def test_a_listed_origin_is_kept_as_browsers_send_it(listed: str, sent: str) -> None:
    assert normalized_origin(listed) == sent


@pytest.mark.parametrize("listed", [
    "https://faß.de",  # UTS #46 (browsers) gives xn--fa-hia.de, IDNA 2003 (Python) fass.de: another domain
    "http://127.1", "http://x:99999", "https://x:0", "http://x:abc", "http://user@host", "http://%41.com",
    "http://a b", "http://:80", "https://[::1", "https://[::1]x", "ftp://x", "app.example.com",
])
def test_what_no_browser_sends_is_refused_at_start(listed: str) -> None:
    with pytest.raises(CorsOriginRefused):
        normalized_origin(listed)
