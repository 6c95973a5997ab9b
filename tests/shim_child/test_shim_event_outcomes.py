"""What a shimmed call's event says when its backend fails or the program leaves, in the words the
proxy's events use (docs/routing.md#telemetry): a backend that cannot be reached, or cuts a stream,
is ``bad_gateway`` (``timeout`` for silence), not the program's library's exception class; a program
that leaves a stream before its end is status 499, ``client_disconnected``. The program still gets
its library's own exception, as it would without the router. The proxy's side:
tests/proxy/test_stream_control.py and tests/proxy/test_proxy_errors.py."""

import socket
from typing import Any, Dict

import httpx
import httpx2
import pytest
import requests
from fakes import FakeProvider
from shim_child_support import PLACEHOLDER_KEY, ShimSession, only, snapshot_config

OPENAI_CHAT = "https://api.openai.com/v1/chat/completions"
AUTH = {"authorization": f"Bearer {PLACEHOLDER_KEY}"}
PROMPT = [{"role": "user", "content": "hi"}]
LIBS = {"httpx": httpx, "httpx2": httpx2, "requests": requests}
CONNECT_ERRORS = {"httpx": httpx.ConnectError, "httpx2": httpx2.ConnectError,
                  "requests": requests.exceptions.ConnectionError}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def shim_config(provider: FakeProvider) -> Dict[str, Any]:
    """conftest.py's, with ``dead``: a backend nothing listens for, the only target of ``dead-*``."""
    config = snapshot_config(provider.root_url)
    config["backends"]["dead"] = {"protocol": "openai", "base_url": f"http://127.0.0.1:{_closed_port()}/v1",
                                  "models": ["dead-*"]}
    return config


def _post(lib: str, body: Dict[str, Any]) -> bytes:
    """``body`` to OpenAI's Chat URL with ``lib``, the answer read to its end as it arrives."""
    if lib == "requests":
        with requests.post(OPENAI_CHAT, json=body, headers=AUTH, stream=True, timeout=10) as response:
            return b"".join(response.iter_content(None))
    with LIBS[lib].Client(timeout=10) as client:
        with client.stream("POST", OPENAI_CHAT, json=body, headers=AUTH) as response:
            return b"".join(response.iter_bytes())


@pytest.mark.parametrize("lib", sorted(LIBS))
def test_a_backend_that_cannot_be_reached_is_a_bad_gateway(shim: ShimSession, lib: str) -> None:
    with pytest.raises(CONNECT_ERRORS[lib]):  # the library's own error, as without the router
        _post(lib, {"model": "dead-1", "messages": PROMPT})
    event = only(shim.telemetry.calls(), "call event")
    assert (event["backend"], event["status"], event["error"]) == ("dead", 0, "bad_gateway")


@pytest.mark.parametrize("lib", sorted(LIBS))
def test_a_stream_the_backend_cuts_is_a_bad_gateway(shim: ShimSession, chunking: str, lib: str) -> None:
    """Same protocol: the program reads the backend's stream, and its library raises at the cut."""
    shim.provider.reply(text="cut short by the backend", truncate_after_events=2, drop_connection=True)
    with pytest.raises(Exception) as raised:
        _post(lib, {"model": "gpt-5.1", "messages": PROMPT, "stream": True})
    assert type(raised.value).__module__.split(".")[0] in (lib, "urllib3")
    event = only(shim.telemetry.calls(), "call event")
    assert (event["backend"], event["stream"], event["status"], event["error"]) == ("openai", True, 200, "bad_gateway")


@pytest.mark.parametrize("lib", ["httpx", "httpx2"])
def test_a_translated_stream_gone_silent_is_a_timeout(shim: ShimSession, lib: str) -> None:
    """The program's read timeout is the shim's: the silence ends the translated stream with an
    in-band ``timeout``, the proxy's kind for it, and the event says so (before: ``bad_gateway``)."""
    shim.provider.reply(text="then silence", hold_after_events=3)
    body = {"model": "claude-sonnet-4-6", "messages": PROMPT, "stream": True}
    try:
        with LIBS[lib].Client(timeout=LIBS[lib].Timeout(10, read=0.5)) as client:
            with client.stream("POST", OPENAI_CHAT, json=body, headers=AUTH) as response:
                streamed = b"".join(response.iter_bytes())
    finally:
        shim.provider.release.set()
    assert b'"error"' in streamed and b"timed out" in streamed
    event = only(shim.telemetry.calls(), "call event")
    assert (event["stream"], event["status"], event["error"]) == (True, 200, "timeout")
