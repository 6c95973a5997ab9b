"""Streams flow as they arrive, and a client that leaves cancels its upstream request at once."""

import time
from pathlib import Path
from typing import Set

import httpx
import pytest
from fakes import FakeProvider
from proxy_clients import USER
from proxy_process import ProxyProcess

_PROC_TCP = Path("/proc/net/tcp")
_CLOSE_WAIT = "08"  # the peer closed; the fake's side is still open (it is blocked in its hold)


def _close_wait_sockets(port: int) -> Set[str]:
    """Local sockets of the fake provider (``port``) whose peer, the proxy, has closed the connection."""
    found = set()
    for line in _PROC_TCP.read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state = fields[1], fields[2], fields[3]
        if int(local.split(":")[1], 16) == port and state == _CLOSE_WAIT:
            found.add(remote)
    return found


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


@pytest.mark.skipif(not _PROC_TCP.exists(), reason="needs Linux /proc/net/tcp")
@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "gpt-5.1"])
def test_client_disconnect_cancels_upstream_at_once(proxy: ProxyProcess, provider: FakeProvider, chunking: str,
                                                    model: str) -> None:
    port = int(provider.root_url.rsplit(":", 1)[1])
    before = _close_wait_sockets(port)
    provider.reply(text="an answer nobody will read", hold_after_events=2)
    try:
        with httpx.stream("POST", proxy.url + "/v1/chat/completions", json=_stream_body(model), timeout=5) as response:
            next(response.iter_raw())  # the stream is live
            # Leave only once the fake is parked at its hold: had we left while it was still writing
            # (byte by byte), its write would fail and it would close at once, with no CLOSE_WAIT.
            assert provider.holding.wait(timeout=10)
        # Leaving the block closed our connection to the proxy mid-stream. No timing is asserted:
        # the upstream is held open, so only two things can close it — the proxy reacting to the
        # disconnect, or its read timeout. The recorded event below tells which one it was.
        deadline = time.monotonic() + 10
        while not (_close_wait_sockets(port) - before) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _close_wait_sockets(port) - before, "the proxy kept the upstream connection open"
    finally:
        provider.release.set()
    stats = httpx.get(proxy.url + "/stats").json()
    event = stats["recent"][-1]
    assert event["status"] == 499 and event["error"] == "client_disconnected" and event["stream"] is True
