"""WebSocket handshakes are refused at once, with the status that tells each client what to do:
426 on the Responses path (Codex then falls back to ``POST /v1/responses`` without retrying the
handshake), 404 elsewhere. A real client library performs the handshake."""

import json

import httpx
import pytest
from fakes import FakeProvider
from proxy_process import ProxyProcess
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

_CODEX_BETA = {"openai-beta": "responses_websockets=2026-02-06", "authorization": "Bearer unused"}


def _refused(url: str) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as refused:
        connect(url, additional_headers=_CODEX_BETA, open_timeout=5)
    return refused.value


def test_responses_upgrade_gets_426_in_openai_shape(proxy: ProxyProcess, provider: FakeProvider) -> None:
    response = _refused(proxy.url.replace("http://", "ws://") + "/v1/responses").response
    assert response.status_code == 426
    assert response.headers["upgrade"] == "HTTP/1.1"
    error = json.loads(response.body)["error"]
    assert error["code"] == "websocket_not_supported" and "POST /v1/responses" in error["message"]
    assert provider.requests == []  # nothing went upstream


def test_other_upgrades_get_404(proxy: ProxyProcess) -> None:
    response = _refused(proxy.url.replace("http://", "ws://") + "/v1/chat/completions").response
    assert response.status_code == 404
    assert json.loads(response.body)["error"]["type"] == "invalid_request_error"


def test_refusals_leave_the_proxy_serving(proxy: ProxyProcess) -> None:
    url = proxy.url.replace("http://", "ws://") + "/v1/responses"
    assert [_refused(url).response.status_code for _ in range(3)] == [426, 426, 426]
    assert httpx.get(proxy.url + "/health", timeout=5).json()["status"] == "ok"
