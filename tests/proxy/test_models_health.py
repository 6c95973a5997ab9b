"""``GET /v1/models`` in both shapes (parsed by each SDK), ``GET /health`` and the root (``GET``/``HEAD /``)."""

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anthropic
import httpx
import openai
from fakes import FakeProvider
from proxy_process import CLIENT_KEY, ProxyProcess

# the fake lists these for every backend; the config adds the plain glob and the alias
FAKE_MODELS = ("claude-sonnet-4-6", "gpt-5.1", "llama-3.3-70b")


def test_openai_shape_lists_backends_aliases_and_shortcuts(oai: openai.OpenAI, provider: FakeProvider) -> None:
    models = {model.id: model.owned_by for model in oai.models.list()}
    assert models["llama-3.3-70b"] == "groq"  # a plain name among groq's globs, and in its own list
    assert "llama-*" not in models  # globs are not model names
    assert models["claude-sonnet-4-6"] == "anthropic" and models["gpt-5.1"] == "openai"
    assert models["groq:gpt-5.1"] == "groq"  # would route to `openai` unprefixed: listed so it reaches groq
    assert models["fast"] == "groq" and models["sonnet"] == "anthropic"
    assert not any(model.startswith("dead:") for model in models)  # dead backend: listed without its /models
    # backends were asked with their own key, in their own protocol
    asked = {r.header("authorization") or r.header("x-api-key") for r in provider.requests if r.method == "GET"}
    assert len(asked) == 3


def test_anthropic_shape(ant: anthropic.Anthropic) -> None:
    page = ant.models.list()
    ids = [model.id for model in page.data]
    assert {"claude-sonnet-4-6", "gpt-5.1", "fast", "opus"} <= set(ids)
    assert page.first_id == ids[0] and page.last_id == ids[-1] and page.has_more is False
    assert all(model.type == "model" and model.display_name == model.id for model in page.data)


def test_health(proxy: ProxyProcess) -> None:
    health = httpx.get(proxy.url + "/health").json()
    assert health["status"] == "ok" and health["version"]
    assert health["backends"] == ["anthropic", "openai", "groq", "dead", "blackhole"]
    before = health["requests_served"]
    httpx.post(proxy.url + "/v1/chat/completions", json={"model": "mystery", "messages": []})
    assert httpx.get(proxy.url + "/health").json()["requests_served"] == before + 1


def test_the_root_answers_200_to_head_and_get(proxy: ProxyProcess) -> None:
    """Claude Code sends ``HEAD /`` before its first call and expects a gateway to answer 200."""
    head = httpx.head(proxy.url + "/")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == "application/json"
    got = httpx.get(proxy.url + "/")
    assert got.status_code == 200 and b"\n" not in got.content.strip()
    version = httpx.get(proxy.url + "/health").json()["version"]
    assert got.json() == {"status": "ok", "service": "router proxy", "version": version}
    assert httpx.post(proxy.url + "/").status_code == 404  # only the probe methods


def test_clients_asking_at_once_cost_each_backend_one_listing(proxy_home: Path, provider: FakeProvider) -> None:
    """Twenty clients ask a proxy with nothing cached for its model list at once: each backend is
    asked for its own list once, not once per client (a local flood of /v1/models was a flood of
    requests to every provider behind the proxy)."""
    fresh = ProxyProcess(proxy_home).wait_ready()  # its own: nothing cached yet
    try:
        start = threading.Barrier(20)

        def ask(_: int) -> int:
            start.wait(10)
            return httpx.get(fresh.url + "/v1/models", headers={"authorization": f"Bearer {CLIENT_KEY}"},
                             timeout=30).status_code

        with ThreadPoolExecutor(20) as pool:
            assert set(pool.map(ask, range(20))) == {200}
    finally:
        fresh.stop()
    listings = [request for request in provider.requests if request.path.split("?")[0].endswith("/models")]
    backends = {request.header("authorization") or request.header("x-api-key") for request in listings}
    assert len(listings) == len(backends), [(r.path, r.header("authorization")) for r in listings]
