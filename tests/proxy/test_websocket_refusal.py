"""WebSocket handshakes are refused at once, with the status that tells each client what to do:
426 on the Responses path (Codex then falls back to ``POST /v1/responses`` without retrying the
handshake), 404 elsewhere, in the protocol the path names. A real client library performs the
handshake; raw sockets send the ones a library would not."""

import json
import socket
from typing import Tuple

import httpx
import pytest
from fakes import FakeProvider
from proxy_process import ProxyProcess
from raw_sockets import address
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


_HANDSHAKE = (b"connection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\n"
              b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n")


def _raw_upgrade(proxy: ProxyProcess, path: str, handshake: bytes = _HANDSHAKE) -> Tuple[bytes, bytes]:
    """The whole answer to a raw upgrade request (the proxy closes after it): status line, body."""
    with socket.create_connection(address(proxy.url), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n".encode() + handshake + b"\r\n")
        data = b""
        while part := sock.recv(65536):
            data += part
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], body


@pytest.mark.parametrize(("path", "status", "shape"), [
    ("/v1/responses", 426, "openai"),
    ("/v1/messages", 404, "anthropic"),
    ("/v1/messages/count_tokens", 404, "anthropic"),
    ("/v1/chat/completions", 404, "openai"),
    ("/v1/models", 404, "openai"),
    ("/", 404, "openai"),
    ("/health", 404, "openai"),
    ("/metrics", 404, "openai"),
    ("/dashboard/api/summary", 404, "openai"),
])
@pytest.mark.parametrize("handshake", [_HANDSHAKE, b"connection: Upgrade\r\nupgrade: websocket\r\n"],
                         ids=["handshake", "malformed-handshake"])
def test_every_path_refuses_an_upgrade_in_its_protocol(proxy: ProxyProcess, path: str, status: int, shape: str,
                                                       handshake: bytes) -> None:
    """Whatever the path, and however incomplete the handshake (a WebSocket library answered a
    malformed one with plain text, and every upgrade in OpenAI's shape)."""
    status_line, body = _raw_upgrade(proxy, path, handshake)
    assert status_line.startswith(b"HTTP/1.1 %d " % status)
    parsed = json.loads(body)
    if shape == "anthropic":
        assert parsed["type"] == "error" and set(parsed["error"]) == {"type", "message"}
    else:
        assert set(parsed["error"]) == {"message", "type", "param", "code"}
