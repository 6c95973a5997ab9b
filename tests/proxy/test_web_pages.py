"""A web page the user happens to visit must not be able to spend the keys of a ``router proxy`` that
has no ``ROUTER_API_KEY`` (docs/secrets.md#web-pages). Two ways a page reaches a loopback server:

* a *cross-origin* request: ``fetch`` in ``no-cors`` mode with a ``text/plain`` body needs no
  preflight, so the browser sends the call and only hides the answer — the call is made, and paid;
* *DNS rebinding*: the page's own host name is made to resolve to 127.0.0.1, and its requests are
  then same-origin, answers included; they carry the page's host name in ``Host``.

So a keyless proxy refuses, before anything else, a ``Host`` that is a domain name other than
``localhost``, and an ``Origin`` that is neither listed with ``--cors-origin`` nor the proxy's own.
Requests are sent as a browser would, headers and all (``tests/dashboard/test_web_pages_browser.py``
has the browser itself). With ``ROUTER_API_KEY`` set the key is the protection, and these rules do
not apply."""

import socket
from pathlib import Path
from typing import Dict, Iterator

import httpx
import pytest
from fakes import FakeProvider
from proxy_process import ProxyProcess
from raw_sockets import address, whole_response

from host.shim_proxy import BackgroundProxy
from shim.config import RouterConfig

_WAIT = 10.0
ROUTER_KEY = "web-pages-test-key-0123456789"
EVIL = "https://evil.example"
# What Chromium sends with fetch(url, {method: "POST", mode: "no-cors", body: "<json>"}) from EVIL.
PAGE_HEADERS = {"origin": EVIL, "content-type": "text/plain;charset=UTF-8", "sec-fetch-site": "cross-site",
                "sec-fetch-mode": "no-cors", "sec-fetch-dest": "empty"}
CALLS = {
    "/v1/chat/completions": {"model": "gpt-5.1", "messages": [{"role": "user", "content": "spend"}]},
    "/v1/messages": {"model": "claude-sonnet-4-6", "max_tokens": 16,
                     "messages": [{"role": "user", "content": "spend"}]},
    "/v1/responses": {"model": "gpt-5.1", "input": "spend"},
}


def _post(proxy: ProxyProcess, path: str, headers: Dict[str, str]) -> httpx.Response:
    return httpx.post(proxy.url + path, json=CALLS[path], headers=headers, timeout=_WAIT)


def _error_type(answer: httpx.Response) -> str:
    body = answer.json()
    return str(body["error"]["type"])


@pytest.mark.parametrize("path", sorted(CALLS))
def test_a_page_elsewhere_is_refused_before_its_call_is_made(proxy: ProxyProcess, provider: FakeProvider,
                                                            path: str) -> None:
    provider.reply(text="paid for by the user")
    answer = _post(proxy, path, PAGE_HEADERS)
    assert answer.status_code == 403
    assert _error_type(answer) == "permission_error"  # in the client's own protocol
    if path == "/v1/messages":
        assert answer.json()["type"] == "error"
    message = answer.json()["error"]["message"]
    assert EVIL in message and "--cors-origin" in message and "ROUTER_API_KEY" in message
    assert provider.requests == []


@pytest.mark.parametrize("origin", ["null", "http://127.0.0.1:1", "http://localhost", "https://127.0.0.1"])
def test_sandboxed_pages_and_other_local_origins_are_pages_elsewhere(proxy: ProxyProcess, provider: FakeProvider,
                                                                     origin: str) -> None:
    answer = _post(proxy, "/v1/chat/completions", {**PAGE_HEADERS, "origin": origin})
    assert answer.status_code == 403
    assert provider.requests == []


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/models", "/stats", "/metrics", "/health", "/",
                                  "/dashboard/api/summary"])
def test_a_rebound_host_name_is_refused(proxy: ProxyProcess, provider: FakeProvider, path: str) -> None:
    port = address(proxy.url)[1]
    headers = {"host": f"rebind.example:{port}", "accept": "text/html"}
    if path in CALLS:
        answer = _post(proxy, path, {**headers, "origin": f"http://rebind.example:{port}"})
    else:
        answer = httpx.get(proxy.url + path, headers=headers, timeout=_WAIT)
    assert answer.status_code == 403
    assert "rebind.example" in answer.text and "DNS rebinding" in answer.text
    assert provider.requests == []


@pytest.mark.parametrize("host", ["127.0.0.1.nip.io", "localhost.evil.example", "x", "host.docker.internal"])
def test_every_other_name_is_one_dns_could_rebind(proxy: ProxyProcess, provider: FakeProvider, host: str) -> None:
    assert httpx.get(proxy.url + "/health", headers={"host": host}, timeout=_WAIT).status_code == 403


def test_a_page_elsewheres_get_without_origin_is_refused(proxy: ProxyProcess, provider: FakeProvider) -> None:
    """``<img src>``, a frame or a ``no-cors`` fetch: no ``Origin``, but ``Sec-Fetch-Site`` says where
    it came from. ``GET /v1/models`` would have asked every backend for its list, on the user's keys."""
    for site in ("cross-site", "same-site"):
        image = {"sec-fetch-site": site, "sec-fetch-mode": "no-cors", "sec-fetch-dest": "image"}
        answer = httpx.get(proxy.url + "/v1/models", headers=image, timeout=_WAIT)
        assert answer.status_code == 403 and site in answer.json()["error"]["message"]
    assert provider.requests == []
    link = {"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate", "sec-fetch-dest": "document",
            "accept": "text/html"}
    assert httpx.get(proxy.url + "/", headers=link, timeout=_WAIT).status_code == 200  # a link to the dashboard
    # A frame, or a link, to an endpoint that makes the proxy work is not a page to follow to.
    frame = {**link, "sec-fetch-dest": "iframe"}
    for path in ("/v1/models", "/stats", "/metrics"):
        assert httpx.get(proxy.url + path, headers=frame, timeout=_WAIT).status_code == 403
    # Speculation rules: Chromium prefetches with Sec-Fetch-Site: none, as for an address typed in.
    prefetch = {"sec-fetch-site": "none", "sec-fetch-mode": "navigate", "sec-purpose": "prefetch;prerender"}
    refused = httpx.get(proxy.url + "/v1/models", headers=prefetch, timeout=_WAIT)
    assert refused.status_code == 403 and "prefetch" in refused.json()["error"]["message"]
    assert provider.requests == []


def test_extensions_and_app_web_views_are_not_pages(proxy: ProxyProcess, provider: FakeProvider) -> None:
    """What Chromium sends from an extension's service worker with host permissions (no preflight)."""
    for origin in ("chrome-extension://mgnjkiniplkjmllnklmhplklcngmmhbi", "app://editor", "vscode-webview://abc"):
        provider.reply(text="installed software")
        extension = {"origin": origin, "sec-fetch-site": "none", "sec-fetch-mode": "cors"}
        assert _post(proxy, "/v1/chat/completions", extension).status_code == 200
    assert len(provider.requests) == 3


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST", "[::1]:{port}",
                                  "127.0.0.2:{port}", "0.0.0.0:{port}", "127.1:{port}", "app.localhost:{port}",
                                  "localhost.:{port}"])
def test_names_no_page_can_rebind_are_served(proxy: ProxyProcess, provider: FakeProvider, host: str) -> None:
    provider.reply(text="served")
    headers = {"host": host.format(port=address(proxy.url)[1])}
    answer = _post(proxy, "/v1/chat/completions", headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "served"


def test_the_proxys_own_pages_are_served(proxy: ProxyProcess, provider: FakeProvider) -> None:
    """Same origin: the dashboard the proxy serves at ``/`` (a browser sends ``Origin`` on its POSTs)."""
    provider.reply(text="same origin")
    port = address(proxy.url)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        same_origin = {"host": host, "origin": f"http://{host}", "sec-fetch-site": "same-origin"}
        assert httpx.get(proxy.url + "/dashboard/api/access", headers=same_origin, timeout=_WAIT).status_code == 200
    answer = _post(proxy, "/v1/chat/completions", {"origin": f"http://127.0.0.1:{port}"})
    assert answer.status_code == 200, answer.text


def test_a_request_without_host_or_origin_is_not_a_page(proxy: ProxyProcess, provider: FakeProvider) -> None:
    """HTTP/1.0 with no ``Host`` (raw scripts): browsers always send one, so it cannot be a page."""
    provider.reply(text="no host")
    body = b'{"model": "gpt-5.1", "messages": [{"role": "user", "content": "hi"}]}'
    with socket.create_connection(address(proxy.url), timeout=_WAIT) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.0\r\ncontent-type: application/json\r\n"
                     b"content-length: %d\r\n\r\n%s" % (len(body), body))
        status, _, answer = whole_response(sock)
    assert status == 200, answer
    assert b"no host" in answer


@pytest.fixture
def listing_proxy(home: Path, provider: FakeProvider) -> Iterator[ProxyProcess]:
    listed = ["--cors-origin", "https://app.example.com:443/", "--cors-origin", "HTTPS://XN--BCHER-KVA.EXAMPLE"]
    proxy = ProxyProcess(home, listed).wait_ready()
    yield proxy
    assert proxy.stop() == 0, proxy.output


def test_a_listed_origin_is_served_by_a_keyless_proxy(listing_proxy: ProxyProcess, provider: FakeProvider) -> None:
    """Listed as a user may write it (a default port, capitals), matched as browsers send it."""
    for origin in ("https://app.example.com", "https://xn--bcher-kva.example"):
        provider.reply(text="for the listed page")
        listed = _post(listing_proxy, "/v1/chat/completions", {**PAGE_HEADERS, "origin": origin})
        assert listed.status_code == 200, listed.text
        assert listed.headers["access-control-allow-origin"] == origin
    refused = _post(listing_proxy, "/v1/chat/completions", PAGE_HEADERS)
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
    assert len(provider.requests) == 2


@pytest.fixture
def keyed_proxy(home: Path, provider: FakeProvider) -> Iterator[ProxyProcess]:
    proxy = ProxyProcess(home, env={"ROUTER_API_KEY": ROUTER_KEY}).wait_ready()
    yield proxy
    assert proxy.stop() == 0, proxy.output


def test_with_a_router_key_the_key_is_the_protection(keyed_proxy: ProxyProcess, provider: FakeProvider) -> None:
    """A keyed proxy may sit behind a reverse proxy with a public name, and a page cannot send the key."""
    provider.reply(text="for the key holder")
    keyed = {"authorization": f"Bearer {ROUTER_KEY}", "host": "router.internal", "origin": EVIL}
    assert _post(keyed_proxy, "/v1/chat/completions", keyed).status_code == 200
    page = _post(keyed_proxy, "/v1/chat/completions", PAGE_HEADERS)
    assert page.status_code == 401
    assert len(provider.requests) == 1


def test_router_shims_own_proxy_refuses_pages_too() -> None:
    """The proxy ``router shim`` runs for a tree's programs that are not Python has no key either."""
    proxy = BackgroundProxy(RouterConfig(), on_event=lambda event: None).start()
    try:
        url = f"http://127.0.0.1:{proxy.port}"
        page = httpx.post(url + "/v1/messages", json=CALLS["/v1/messages"], headers=PAGE_HEADERS, timeout=_WAIT)
        rebound = httpx.get(url + "/health", headers={"host": f"rebind.example:{proxy.port}"}, timeout=_WAIT)
        local = httpx.get(url + "/health", timeout=_WAIT)
    finally:
        proxy.stop()
    assert (page.status_code, page.json()["error"]["type"]) == (403, "permission_error")
    assert rebound.status_code == 403 and local.status_code == 200


def test_every_origin_without_a_key_is_said_at_start(home: Path, provider: FakeProvider) -> None:
    """``--cors-origin '*'`` is the user's choice (a local web app in development), said once."""
    open_proxy = ProxyProcess(home, ["--cors-origin", "*"]).wait_ready()
    try:
        warning = open_proxy.wait_for_stderr(lambda line: "--cors-origin *" in line)
        provider.reply(text="for any page")
        assert _post(open_proxy, "/v1/chat/completions", PAGE_HEADERS).status_code == 200
    finally:
        assert open_proxy.stop() == 0, open_proxy.output
    assert "every web page you visit may call this proxy" in warning
    keyed = ProxyProcess(home, ["--cors-origin", "*"], env={"ROUTER_API_KEY": ROUTER_KEY}).wait_ready()
    assert httpx.get(keyed.url + "/health", timeout=_WAIT).status_code == 200  # started: its warnings are out
    assert keyed.stop() == 0
    assert not any("--cors-origin *" in line for line in keyed.stderr_lines)
