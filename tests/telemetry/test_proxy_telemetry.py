"""A real ``router proxy`` process: N calls → N stored events (tokens, cost), /metrics and /stats agree."""

import sqlite3
from pathlib import Path
from typing import Dict, Iterator, Tuple

import httpx
import pytest
from fakes import FakeProvider, UsageSpec
from prometheus_client.parser import text_string_to_metric_families
from proxy_process import CLIENT_KEY, ProxyProcess, closed_port, write_proxy_config

from host.pricing import PriceBook
from host.telemetry_store import DB_FILENAME
from shim.telemetry import CallEvent

USAGE = UsageSpec(input=120, output=30, cache_read=40, cache_write=10)
CALLS_PER_KIND = 3
# (path, backend, model, stream): translated and same-protocol, whole and streamed
KINDS = [
    ("/v1/chat/completions", "anthropic", "claude-sonnet-4-6", False),
    ("/v1/chat/completions", "anthropic", "claude-sonnet-4-6", True),
    ("/v1/messages", "anthropic", "claude-sonnet-4-6", False),
    ("/v1/messages", "anthropic", "claude-sonnet-4-6", True),
    ("/v1/chat/completions", "openai", "gpt-5.1", True),
    ("/v1/responses", "anthropic", "claude-sonnet-4-6", False),
    ("/v1/responses", "anthropic", "claude-sonnet-4-6", True),
]


@pytest.fixture
def proxy(tmp_path: Path, provider: FakeProvider) -> Iterator[Tuple[ProxyProcess, Path]]:
    home = tmp_path / "home"
    write_proxy_config(home, provider.root_url, closed_port(), closed_port())
    process = ProxyProcess(home, env={"OTEL_EXPORTER_OTLP_ENDPOINT": ""}).wait_ready()
    yield process, home
    process.stop()


def _body(path: str, model: str, stream: bool) -> Dict[str, object]:
    if path == "/v1/responses":
        return {"model": model, "max_output_tokens": 50, "input": "hi", "stream": stream}
    body: Dict[str, object] = {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}],
                               "stream": stream}
    if stream and path.endswith("completions"):
        body["stream_options"] = {"include_usage": True}
    return body


def _call(url: str, path: str, model: str, stream: bool) -> None:
    headers = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01", "authorization": f"Bearer {CLIENT_KEY}"}
    response = httpx.post(url + path, json=_body(path, model, stream), headers=headers, timeout=10)
    assert response.status_code == 200, response.text


def test_every_call_is_stored_measured_and_priced(proxy: Tuple[ProxyProcess, Path], provider: FakeProvider) -> None:
    process, home = proxy
    for path, _, model, stream in KINDS:
        for _ in range(CALLS_PER_KIND):
            provider.reply(text="hello there", usage=USAGE)
            _call(process.url, path, model, stream)
    calls = CALLS_PER_KIND * len(KINDS)
    stats = httpx.get(process.url + "/stats?since=1h&by=backend", headers={"x-api-key": CLIENT_KEY}).json()
    by_endpoint = httpx.get(process.url + "/stats?since=1h&by=endpoint", headers={"x-api-key": CLIENT_KEY}).json()
    metrics = httpx.get(process.url + "/metrics", headers={"x-api-key": CLIENT_KEY}).text
    process.stop()
    assert {group["key"]: group["calls"] for group in by_endpoint["groups"]} == {
        "chat": 3 * CALLS_PER_KIND, "messages": 2 * CALLS_PER_KIND, "responses": 2 * CALLS_PER_KIND}

    connection = sqlite3.connect(home / DB_FILENAME)
    connection.row_factory = sqlite3.Row
    rows = connection.execute("SELECT * FROM events ORDER BY id").fetchall()
    connection.close()
    assert len(rows) == calls
    prices = PriceBook()
    for row in rows:
        assert (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"], row["cache_write_tokens"]) == (
            USAGE.input, USAGE.output, USAGE.cache_read, USAGE.cache_write)
        event = CallEvent(**{key: row[key] for key in row.keys() if key not in ("id", "cost_usd")})
        assert row["cost_usd"] is not None and row["cost_usd"] == prices.cost(event)
    assert [(r["endpoint"], r["backend"], r["stream"]) for r in rows] == [
        (path.rsplit("/", 1)[-1].replace("completions", "chat"), backend, int(stream))
        for path, backend, _, stream in KINDS for _ in range(CALLS_PER_KIND)]

    by_backend = {group["key"]: group for group in stats["groups"]}
    assert stats["total"]["calls"] == calls and stats["requests_served"] == calls
    assert by_backend["anthropic"]["calls"] == 6 * CALLS_PER_KIND
    assert stats["total"]["input_tokens"] == calls * USAGE.input
    assert stats["total"]["cost_usd"] == pytest.approx(sum(row["cost_usd"] for row in rows))

    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(metrics) for s in family.samples}
    requests = {labels: value for (name, labels), value in samples.items() if name == "router_requests_total"}
    assert sum(requests.values()) == calls
    assert sum(value for labels, value in requests.items() if ("endpoint", "responses") in labels) == 2 * CALLS_PER_KIND
    tokens = {dict(labels)["kind"]: 0.0 for (name, labels) in samples if name == "router_tokens_total"}
    for (name, labels), value in samples.items():
        if name == "router_tokens_total":
            tokens[dict(labels)["kind"]] += value
    # Every token kind's series exists from a model's first call (Prometheus' advice: no series that
    # appear only later); the fake reports no reasoning tokens.
    assert tokens == {"input": calls * USAGE.input, "output": calls * USAGE.output,
                      "cache_read": calls * USAGE.cache_read, "cache_write": calls * USAGE.cache_write,
                      "reasoning": 0}
    cost = sum(value for (name, _), value in samples.items() if name == "router_cost_usd_total")
    assert cost == pytest.approx(sum(row["cost_usd"] for row in rows))


def test_stats_rejects_an_unknown_window(proxy: Tuple[ProxyProcess, Path]) -> None:
    process, _ = proxy
    response = httpx.get(process.url + "/stats?since=2h", headers={"x-api-key": CLIENT_KEY})
    assert response.status_code == 400 and "since" in response.json()["error"]["message"]


def test_a_refused_call_keeps_its_model_route_and_backend(proxy: Tuple[ProxyProcess, Path],
                                                          provider: FakeProvider) -> None:
    """A routed call the engine cannot translate (here a tool_choice that is not an object) is
    answered 400 before anything is sent; its event, its -v line and /stats still name the
    requested model, the backend and the upstream model (no "-" and no "(no route)")."""
    process, home = proxy
    body = {"model": "gpt-5.1", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}],
            "tool_choice": "auto"}
    headers = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}
    response = httpx.post(process.url + "/v1/messages", json=body, headers=headers, timeout=10)
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"
    assert provider.requests == []
    stats = httpx.get(process.url + "/stats?since=1h&by=backend", headers={"x-api-key": CLIENT_KEY}).json()
    process.stop()  # the -v line and the stored event are complete once the process has ended

    assert [(group["key"], group["calls"], group["errors"]) for group in stats["groups"]] == [("openai", 1, 1)]
    lines = [line for line in process.stderr_lines if "→" in line]
    assert lines and lines[-1].startswith("POST /v1/messages gpt-5.1 → openai 400 "), lines
    connection = sqlite3.connect(home / DB_FILENAME)
    connection.row_factory = sqlite3.Row
    (row,) = connection.execute("SELECT * FROM events").fetchall()
    connection.close()
    assert (row["requested_model"], row["backend"], row["upstream_model"], row["status"], row["error"]) == (
        "gpt-5.1", "openai", "gpt-5.1", 400, "invalid_request")


def test_a_model_name_utf8_cannot_hold_does_not_stop_storage(proxy: Tuple[ProxyProcess, Path],
                                                              provider: FakeProvider) -> None:
    # JSON's "\ud800" is a lone surrogate once decoded: stored as it was, the first such name (one
    # request, before any routing) stopped the store's writer, and no call was recorded after it.
    process, home = proxy
    headers = {"authorization": f"Bearer {CLIENT_KEY}", "content-type": "application/json"}
    raw = b'{"model": "made-up-\\ud800", "messages": [{"role": "user", "content": "hi"}]}'
    refused = httpx.post(process.url + "/v1/chat/completions", content=raw, headers=headers, timeout=10)
    assert refused.status_code == 404 and "made-up-" in refused.json()["error"]["message"]
    provider.reply(text="hello there", usage=USAGE)
    _call(process.url, "/v1/chat/completions", "claude-sonnet-4-6", False)
    process.stop()
    connection = sqlite3.connect(home / DB_FILENAME)
    models = [row[0] for row in connection.execute("SELECT requested_model FROM events ORDER BY id")]
    connection.close()
    assert models == ["made-up-\ufffd", "claude-sonnet-4-6"]
