"""What of a client's request reaches a backend on a same-protocol route, through the real proxy
(docs/protocol-rules.md#forwarded-headers): the headers and query the protocol and its clients need,
never cookies, forwarding headers or an organization/project chosen by the client; and a body that
names its model twice is refused, not forwarded."""

import httpx
from fakes import FakeProvider
from proxy_clients import USER
from proxy_process import BACKEND_KEYS, CLIENT_KEY, ProxyProcess

CHOSEN_BY_THE_CLIENT = {
    "Cookie": "session=someone-else",
    "X-Forwarded-For": "203.0.113.9",
    "X-Forwarded-Host": "billing.example",
    "Forwarded": "for=203.0.113.9;host=billing.example",
    "OpenAI-Organization": "org-someone-else",
    "OpenAI-Project": "proj-someone-else",
}
SDK_HEADERS = {"X-Stainless-Lang": "python", "X-Stainless-Retry-Count": "0", "Idempotency-Key": "retry-1",
               "User-Agent": "OpenAI/Python 3.1.0"}


def test_organization_project_cookies_and_forwarding_headers_stay_behind(
    proxy: ProxyProcess, provider: FakeProvider
) -> None:
    provider.reply(text="ok")
    headers = {**CHOSEN_BY_THE_CLIENT, **SDK_HEADERS, "authorization": f"Bearer {CLIENT_KEY}"}
    answer = httpx.post(f"{proxy.url}/v1/chat/completions", json={"model": "gpt-5.1", "messages": USER},
                        headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    received = provider.last.request
    assert {name: received.header(name) for name in CHOSEN_BY_THE_CLIENT} == dict.fromkeys(CHOSEN_BY_THE_CLIENT)
    assert {name: received.header(name) for name in SDK_HEADERS} == SDK_HEADERS
    assert received.header("authorization") == f"Bearer {BACKEND_KEYS['openai']}"


def test_claude_codes_beta_query_reaches_an_anthropic_backend(proxy: ProxyProcess, provider: FakeProvider) -> None:
    provider.reply(text="ok")
    body = {"model": "claude-sonnet-4-6", "max_tokens": 16, "messages": USER}
    answer = httpx.post(f"{proxy.url}/v1/messages?beta=true&organization=o", json=body, timeout=10,
                        headers={"anthropic-version": "2023-06-01", "x-api-key": CLIENT_KEY})
    assert answer.status_code == 200, answer.text
    assert provider.last.request.path == "/v1/messages?beta=true"


def test_a_body_with_two_model_keys_is_refused_before_it_goes_anywhere(
    proxy: ProxyProcess, provider: FakeProvider
) -> None:
    raw = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "model": "gpt-5.1"}'
    answer = httpx.post(f"{proxy.url}/v1/chat/completions", content=raw, timeout=10,
                        headers={"content-type": "application/json", "authorization": f"Bearer {CLIENT_KEY}"})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == "model" and "2 top-level 'model' keys" in error["message"]
    assert provider.requests == []


def _post_in_small_chunks(proxy: ProxyProcess, raw: bytes) -> httpx.Response:
    """``raw`` as a chunked body of a few bytes per chunk, so that the proxy receives it in pieces."""
    chunks = (raw[i:i + 5] for i in range(0, len(raw), 5))
    return httpx.post(f"{proxy.url}/v1/chat/completions", content=chunks, timeout=10,
                      headers={"content-type": "application/json", "authorization": f"Bearer {CLIENT_KEY}"})


def test_a_body_received_in_pieces_has_its_model_spliced_every_other_byte_kept(
    proxy: ProxyProcess, provider: FakeProvider
) -> None:
    """The proxy looks for the model key as the body arrives (docs/protocol-rules.md#one-model-per-request):
    what it found must lead the splice to the key, or the body would be re-encoded (its spacing lost)."""
    provider.reply(text="ok")
    raw = b'{"messages" : [{"role":"user","content":"hi"}],\n  "model" :  "fast" , "temperature": 0.50}'
    answer = _post_in_small_chunks(proxy, raw)
    assert answer.status_code == 200, answer.text
    assert provider.last.request.raw_body == raw.replace(b'"fast"', b'"llama-3.1-8b-instant"')


def test_a_body_received_in_pieces_with_two_model_keys_is_refused(proxy: ProxyProcess, provider: FakeProvider) -> None:
    raw = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "model": "gpt-5.1"}'
    answer = _post_in_small_chunks(proxy, raw)
    assert answer.status_code == 400, answer.text
    assert "2 top-level 'model' keys" in answer.json()["error"]["message"]
    assert provider.requests == []
