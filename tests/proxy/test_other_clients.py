"""Clients that are not Python: curl and a Node.js ``fetch`` script, through the real proxy."""

import json
import shutil
import subprocess
from pathlib import Path
from typing import List

import pytest
from fakes import FakeProvider
from proxy_clients import USER, assert_forwarded_with_backend_key
from proxy_process import ProxyProcess

NODE_CLIENT = Path(__file__).with_name("node_stream_client.mjs")
TEXT = "Bonjour depuis le proxy"


def _sse_data(text: str) -> List[dict]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_non_stream_translated(proxy: ProxyProcess, provider: FakeProvider) -> None:
    provider.reply(text=TEXT)
    body = json.dumps({"model": "claude-sonnet-4-6", "messages": USER})
    result = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", "-H", "content-type: application/json",
                             "-d", body, proxy.url + "/v1/chat/completions"],
                            capture_output=True, text=True, timeout=20)
    payload, status = result.stdout.rsplit("\n", 1)
    assert status == "200"
    assert json.loads(payload)["choices"][0]["message"]["content"] == TEXT
    assert_forwarded_with_backend_key(provider.last.request, "anthropic", "/v1/messages")


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_stream_translated(proxy: ProxyProcess, provider: FakeProvider, chunking: str) -> None:
    provider.reply(text=TEXT)
    body = json.dumps({"model": "gpt-5.1", "max_tokens": 50, "messages": USER, "stream": True})
    result = subprocess.run(["curl", "-sSN", "-H", "anthropic-version: 2023-06-01", "-d", body,
                             proxy.url + "/v1/messages"], capture_output=True, text=True, timeout=20)
    events = _sse_data(result.stdout)
    assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"
    assert "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta") == TEXT


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize(("path", "model"), [("/v1/chat/completions", "claude-sonnet-4-6"),
                                             ("/v1/chat/completions", "groq:llama-3.3-70b")])
def test_node_fetch_stream(proxy: ProxyProcess, provider: FakeProvider, chunking: str, path: str, model: str) -> None:
    provider.reply(text=TEXT)
    body = json.dumps({"model": model, "messages": USER, "stream": True})
    result = subprocess.run(["node", str(NODE_CLIENT), proxy.url + path, body],
                            capture_output=True, text=True, timeout=30)
    assert "STATUS 200" in result.stderr, result.stderr
    chunks = _sse_data(result.stdout)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == TEXT
    assert result.stdout.rstrip().endswith("data: [DONE]")
