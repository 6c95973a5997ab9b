"""``router dashboard`` over plain HTTP: the page and its API, the store's numbers as ``router stats``
counts them, loopback-only without a key, ``ROUTER_API_KEY`` when set, and nothing else served."""

import time
from pathlib import Path

import httpx
import pytest
from dashboard_support import DashboardProcess, stats_json

from host.telemetry_store import TelemetryStore
from shim.telemetry import CallEvent

ROUTER_KEY = "Wq4eR7tY1uI8oP3aS6dF9gH2jK5l"


def record_calls(home: Path, count: int) -> None:
    store = TelemetryStore(home).start()
    for index in range(count):
        failed = index % 4 == 0
        store.submit(CallEvent(time=time.time() - 60 * index, source="shim", pid=100 + index % 2, ppid=1,
                               program="agent.py", client_protocol="openai", endpoint="chat",
                               backend="anthropic", upstream_host="api.anthropic.com",
                               requested_model="claude-sonnet-4-6", upstream_model="claude-sonnet-4-6",
                               stream=bool(index % 2), translated=True, status=529 if failed else 200,
                               error="overloaded" if failed else None, latency_ms=100.0 + index,
                               ttfb_ms=40.0 if index % 2 else None, input_tokens=1000, output_tokens=100 + index),
                     0.01)
    store.close()


def test_the_api_reports_what_router_stats_reports(home: Path) -> None:
    record_calls(home, 12)
    with DashboardProcess(home) as dashboard:
        page = httpx.get(dashboard.url)
        summary = httpx.get(dashboard.url + "dashboard/api/summary?window=1h").json()
        tail = httpx.get(dashboard.url + "dashboard/api/calls").json()
        newer = httpx.get(dashboard.url + f"dashboard/api/calls?after={tail['last']}").json()
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "<script src=\"/dashboard/static/dashboard.js\"" in page.text
    assert summary["total"] == stats_json(home, "1h")["total"]
    assert sum(sum(line["calls"]) for line in summary["series"]["model"]) == 12
    [latency] = summary["latency"]
    assert (latency["backend"], latency["calls"], latency["streams"]) == ("anthropic", 12, 6)
    assert [node["pid"] for node in summary["processes"]] == [101, 100]
    assert len(tail["calls"]) == 12 and newer == {"calls": [], "last": tail["last"]}
    assert sum(call["failed"] for call in tail["calls"]) == 3
    assert all("body" not in name and "key" not in name for name in tail["calls"][0])


def test_only_loopback_names_are_answered_without_a_key(home: Path) -> None:
    with DashboardProcess(home) as dashboard:
        port = dashboard.url.rstrip("/").rsplit(":", 1)[1]
        for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
            assert httpx.get(dashboard.url, headers={"host": host}).status_code == 200
        rebound = httpx.get(dashboard.url + "dashboard/api/summary", headers={"host": f"attacker.example:{port}"})
        assert rebound.status_code == 403


def test_another_pages_requests_are_refused_without_a_key(home: Path) -> None:
    """A page elsewhere may make the browser ask (an image, a no-cors fetch) even if it cannot read
    the answer: each would be a read of the store (docs/secrets.md#web-pages). A link is followed."""
    elsewhere = {"sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors", "sec-fetch-dest": "image"}
    link = {"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate", "sec-fetch-dest": "document"}
    with DashboardProcess(home) as dashboard:
        refused = httpx.get(dashboard.url + "dashboard/api/summary", headers=elsewhere)
        assert refused.status_code == 403 and "cross-site" in refused.json()["error"]
        assert httpx.get(dashboard.url, headers=link).status_code == 200


@pytest.mark.parametrize("path", ["dashboard/static/../site.py", "dashboard/static/index.html", "favicon.ico",
                                  "dashboard/api/nothing"])
def test_nothing_else_is_served(home: Path, path: str) -> None:
    with DashboardProcess(home) as dashboard:
        assert httpx.get(dashboard.url + path).status_code == 404


def test_the_router_key_guards_the_api_not_the_page(home: Path) -> None:
    record_calls(home, 2)
    with DashboardProcess(home, env={"ROUTER_API_KEY": ROUTER_KEY}) as dashboard:
        assert "ROUTER_API_KEY is set" in "".join(dashboard.output)
        assert ROUTER_KEY not in "".join(dashboard.output)
        assert httpx.get(dashboard.url).status_code == 200  # the page holds no data
        assert httpx.get(dashboard.url + "dashboard/api/access").json() == {"key_required": True, "key_ok": False}
        assert httpx.get(dashboard.url + "dashboard/api/summary").status_code == 401
        assert httpx.get(dashboard.url + "dashboard/api/calls", headers={"x-api-key": "wrong"}).status_code == 401
        bearer = {"authorization": f"Bearer {ROUTER_KEY}"}
        assert httpx.get(dashboard.url + "dashboard/api/access", headers=bearer).json()["key_ok"] is True
        assert httpx.get(dashboard.url + "dashboard/api/summary", headers=bearer).json()["total"]["calls"] == 2
        # With the key, a request is answered whatever name it uses (the key is the protection then).
        assert httpx.get(dashboard.url + "dashboard/api/calls", headers={**bearer, "host": "router.internal"}
                         ).status_code == 200
