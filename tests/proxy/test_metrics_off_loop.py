"""``GET /metrics`` is rendered off the event loop: while a render runs, other clients are answered
(docs/telemetry-bounds.md#metrics). Order of completion, not time: the render waits until the test
has seen ``/health`` answered."""

import asyncio
import threading
from typing import Any, Dict, List

from host.proxy.app import ProxyApp
from host.proxy.metrics import ProxyMetrics
from host.proxy.settings import ProxySettings
from shim.config import RouterConfig

SAFETY_SECONDS = 10.0  # a render on the loop would hold /health this long, then the order shows it


class SlowRender(ProxyMetrics):
    def __init__(self, release: threading.Event) -> None:
        super().__init__()
        self.release = release

    def render(self) -> bytes:
        self.release.wait(SAFETY_SECONDS)
        return super().render()


async def _get(app: ProxyApp, path: str) -> Dict[str, Any]:
    scope = {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b""}
    sent: List[Dict[str, Any]] = []

    async def receive() -> Dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return {"status": sent[0]["status"], "body": b"".join(m.get("body", b"") for m in sent[1:])}


def test_health_is_answered_while_metrics_render() -> None:
    release = threading.Event()
    app = ProxyApp(RouterConfig(), ProxySettings())
    app.state.metrics = SlowRender(release)
    finished: List[str] = []

    async def scenario() -> None:
        async def metrics() -> None:
            answer = await _get(app, "/metrics")
            assert answer["status"] == 200
            finished.append("metrics")

        async def health() -> None:
            answer = await _get(app, "/health")
            assert answer["status"] == 200
            finished.append("health")
            release.set()

        rendering = asyncio.ensure_future(metrics())
        await asyncio.sleep(0)  # the render starts first
        await asyncio.gather(health(), rendering)

    asyncio.run(scenario())
    assert finished == ["health", "metrics"]
