"""A client that makes up model names cannot grow the proxy (docs/telemetry-bounds.md).

Measured on the real ``router proxy`` process, as ratios (never times): its resident memory after
20,000 distinct unroutable names against after the first 2,000, ``/metrics`` against its size after
the warm-up, and the telemetry database after megabyte-long names."""

import http.client
import json
import sys
from pathlib import Path
from typing import Iterator, Tuple
from urllib.parse import urlsplit

import pytest
from fakes import FakeProvider
from proxy_process import ProxyProcess, closed_port, write_proxy_config

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/status (Linux)")

WARM_UP, TOTAL = 2_000, 20_000
LONG_NAMES, LONG_NAME_BYTES = 60, 1 << 20


class Client:
    """One keep-alive connection: HTTP clients add nothing here, and reuse keeps 20,000 calls quick."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)

    def call(self, model: str) -> int:
        body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}).encode()
        self.connection.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
        response = self.connection.getresponse()
        response.read()
        return response.status

    def get(self, path: str) -> Tuple[int, bytes]:
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def proxy(tmp_path: Path, _fake_provider_session: FakeProvider) -> Iterator[ProxyProcess]:
    write_proxy_config(tmp_path, _fake_provider_session.root_url, closed_port(), closed_port())
    started = ProxyProcess(tmp_path).wait_ready()
    yield started
    assert started.stop() == 0


def test_twenty_thousand_made_up_names_leave_memory_and_metrics_flat(proxy: ProxyProcess) -> None:
    client = Client(proxy.url)
    try:
        for number in range(TOTAL):
            assert client.call(f"made-up-model-{number:05d}-" + "n" * 100) == 404
            if number + 1 == WARM_UP:
                warm_rss = proxy.resident_bytes()
                warm_metrics = client.get("/metrics")[1]
        status, metrics = client.get("/metrics")
        rss = proxy.resident_bytes()
    finally:
        client.close()
    assert status == 200
    assert len(metrics) / len(warm_metrics) < 1.05, "one series per made-up name"
    assert rss / warm_rss < 1.15, f"RSS {warm_rss >> 20} MiB after {WARM_UP} names, {rss >> 20} MiB after {TOTAL}"


def test_megabyte_model_names_are_cut_wherever_they_are_kept(proxy: ProxyProcess, tmp_path: Path) -> None:
    """Once, 300 names of 1 MB took the proxy to 13.9 GB: every copy it kept (recent events, metric
    labels, the store's queue and rows, the -v line) held the whole name."""
    client = Client(proxy.url)
    try:
        assert client.call("warm-up") == 404
        before = proxy.resident_bytes()
        for number in range(LONG_NAMES):
            assert client.call(f"{number:03d}" + "m" * LONG_NAME_BYTES) == 404
        status, metrics = client.get("/metrics")
        stats_status, _ = client.get("/stats")  # waits for the store to have written what was answered
        after = proxy.resident_bytes()
    finally:
        client.close()
    assert (status, stats_status) == (200, 200)
    assert len(metrics) < 64 * 1024
    assert after / before < 1.5, f"RSS {before >> 20} MiB before, {after >> 20} MiB after"
    database = tmp_path / "telemetry.db"
    stored = database.stat().st_size + sum(p.stat().st_size for p in tmp_path.glob("telemetry.db-*"))
    assert stored < LONG_NAME_BYTES, f"the telemetry store holds {stored} bytes"
    assert max(len(line) for line in proxy.stderr_lines) < 1024, "a -v line holds the whole name"
