"""What a web page the user visits can make a keyless ``router proxy`` do, in headless Chromium
(docs/secrets.md#web-pages; the same requests without the browser: ``tests/proxy/test_web_pages.py``).

* A page on another origin posts a call with ``fetch(..., {mode: "no-cors"})`` and a ``text/plain``
  body: no preflight, so the browser sends it and only hides the answer; and asks for the model
  list the same way, a ``GET`` without ``Origin`` (the proxy would ask every backend, on its key).
* A page whose host name is rebound to 127.0.0.1 (Chromium's ``--host-resolver-rules`` plays the
  attacker's DNS server) calls the proxy same-origin, and could read the answers.

Either way the fake provider must receive nothing: the user's key is not spent."""

import http.server
import json
import threading
from pathlib import Path
from typing import Iterator

import pytest
from chromium import Chromium
from fakes import FakeProvider
from proxy_process import ProxyProcess, closed_port, write_proxy_config

REBOUND = "rebind.test"  # a name the attacker's DNS answers with 127.0.0.1 once the page has loaded
CALL = json.dumps({"model": "gpt-5.1", "messages": [{"role": "user", "content": "spend the user's key"}]})


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the standard library's name
        body = b"<!doctype html><title>a page elsewhere</title><p>nothing to see"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def page_elsewhere() -> Iterator[str]:
    """A page served from another origin (another port of 127.0.0.1), as any web site would be."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(home: Path, provider: FakeProvider) -> Iterator[ProxyProcess]:
    write_proxy_config(home, provider.root_url, closed_port(), closed_port())
    process = ProxyProcess(home, env={"OTEL_EXPORTER_OTLP_ENDPOINT": ""}).wait_ready()
    yield process
    assert process.stop() == 0, process.output


def test_a_page_elsewhere_cannot_spend_the_keys(browser: Chromium, page_elsewhere: str, proxy: ProxyProcess,
                                               provider: FakeProvider) -> None:
    provider.reply(text="paid for by the user")
    browser.open(page_elsewhere)
    sent = browser.evaluate(
        f"fetch({json.dumps(proxy.url + '/v1/chat/completions')}, {{method: 'POST', mode: 'no-cors', "
        f"body: {json.dumps(CALL)}}}).then(answer => answer.type, error => 'failed: ' + error)")
    listed = browser.evaluate(f"fetch({json.dumps(proxy.url + '/v1/models')}, {{mode: 'no-cors'}})"
                              ".then(answer => answer.type, error => 'failed: ' + error)")
    assert sent == listed == "opaque"  # the proxy answered (the page may not see how)
    assert proxy.url + "/v1/chat/completions" in browser.requests and proxy.url + "/v1/models" in browser.requests
    assert provider.requests == []


def test_a_rebound_page_can_neither_spend_the_keys_nor_read_the_proxy(provider: FakeProvider,
                                                                     proxy: ProxyProcess) -> None:
    provider.reply(text="paid for by the user")
    port = proxy.url.rsplit(":", 1)[1]
    with Chromium(flags=[f"--host-resolver-rules=MAP {REBOUND} 127.0.0.1"]) as browser:
        browser.open(f"http://{REBOUND}:{port}/health")  # the attacker's page, now served from 127.0.0.1
        answers = browser.evaluate(
            "Promise.all([fetch('/v1/chat/completions', {method: 'POST', headers: {'content-type': "
            f"'application/json'}}, body: {json.dumps(CALL)}}}), fetch('/stats'), fetch('/v1/models')])"
            ".then(all => Promise.all(all.map(async answer => [answer.status, await answer.text()])))")
    assert [status for status, _ in answers] == [403, 403, 403]
    assert all("DNS rebinding" in text for _, text in answers)
    assert provider.requests == []
