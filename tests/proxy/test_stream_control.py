"""Streams flow as they arrive, and a client that leaves cancels its upstream request at once."""

import time
from typing import Any, Dict

import httpx
import pytest
from fakes import FakeProvider
from proxy_clients import USER
from proxy_process import ProxyProcess


def _served(proxy: ProxyProcess) -> int:
    return int(httpx.get(proxy.url + "/stats").json()["requests_served"])


def _next_event(proxy: ProxyProcess, served_before: int) -> Dict[str, Any]:
    """The first call event recorded after ``served_before`` calls (it is recorded just after the
    upstream connection is closed, so a /stats read may come a moment before it)."""
    deadline = time.monotonic() + 10
    while True:
        stats = httpx.get(proxy.url + "/stats").json()
        if stats["requests_served"] > served_before:
            return stats["recent"][served_before - stats["requests_served"]]
        assert time.monotonic() < deadline, "the call was never recorded"
        time.sleep(0.01)


def _stream_body(model: str) -> dict:
    return {"model": model, "max_tokens": 32, "messages": USER, "stream": True}


@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "gpt-5.1"])
def test_events_reach_the_client_before_the_upstream_finishes(proxy: ProxyProcess, provider: FakeProvider,
                                                              chunking: str, model: str) -> None:
    provider.reply(text="first part, then more", hold_after_events=2)
    try:
        with httpx.stream("POST", proxy.url + "/v1/messages", json=_stream_body(model),
                          headers={"anthropic-version": "2023-06-01"}, timeout=5) as response:
            received = b""
            chunks = response.iter_raw()
            while b"message_start" not in received:
                received += next(chunks)  # arrives while the upstream is still holding the rest
            assert not provider.release.is_set()
            provider.release.set()
            received += b"".join(chunks)
    finally:
        provider.release.set()
    assert received.rstrip().endswith(b'data: {"type":"message_stop"}')


@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "gpt-5.1"])
def test_client_disconnect_cancels_upstream_at_once(proxy: ProxyProcess, provider: FakeProvider, chunking: str,
                                                    model: str) -> None:
    served_before = _served(proxy)
    provider.reply(text="an answer nobody will read", hold_after_events=2)
    try:
        with httpx.stream("POST", proxy.url + "/v1/chat/completions", json=_stream_body(model), timeout=5) as response:
            chunks = response.iter_raw()
            # Keep the iterator: a discarded one is collected at once, and closing it closes the
            # connection, so the client would leave here instead of at the end of the block.
            next(chunks)  # the stream is live
            assert provider.holding.wait(timeout=10)  # the fake holds the rest until ``release``
        # Leaving the block closed our connection to the proxy mid-stream. The upstream is held open,
        # so only two things can close it: the proxy reacting to the disconnect, or its read timeout
        # (1.5 s in this suite). The fake sees the close; the recorded event tells which it was.
        assert provider.peer_closed.wait(timeout=10), "the proxy kept the upstream connection open"
    finally:
        provider.release.set()
    event = _next_event(proxy, served_before)
    assert event["status"] == 499 and event["error"] == "client_disconnected" and event["stream"] is True


def test_client_leaving_before_any_answer_cancels_the_upstream_call(proxy: ProxyProcess) -> None:
    """A backend that accepts and never answers (``slow-*``): the client gives up after 0.3 s, well
    before the proxy's 1.5 s read timeout. The call must end as the client's disconnect, not run on
    to the timeout. (The disconnect watch starts only after a call has run briefly: this is the
    case it exists for.)"""
    served_before = _served(proxy)
    body = {"model": "slow-model", "max_tokens": 32, "messages": USER}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(proxy.url + "/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"}, timeout=0.3)
    event = _next_event(proxy, served_before)
    assert event["status"] == 499 and event["error"] == "client_disconnected"  # not "timeout"
