"""The aiohttp upstream client honours *_PROXY / NO_PROXY as httpx's trust_env does (read once)."""

from typing import Dict, Optional

import pytest

from host.proxy.upstream_aiohttp import EnvProxies

PROXIES = {"https": "http://corp-proxy:3128", "http": "http://plain-proxy:3128", "no": "localhost,.internal"}


@pytest.mark.parametrize(("proxies", "url", "expected"), [
    (PROXIES, "https://api.openai.com/v1/chat/completions", "http://corp-proxy:3128"),
    (PROXIES, "http://gpu-box:8000/v1/chat/completions", "http://plain-proxy:3128"),
    (PROXIES, "https://llm.internal/v1/messages", None),
    (PROXIES, "http://localhost:11434/v1", None),
    ({"all": "socks5://all:1080"}, "https://api.anthropic.com/v1/messages", "socks5://all:1080"),
    ({}, "https://api.anthropic.com/v1/messages", None),
])
def test_proxy_for_backend_url(proxies: Dict[str, str], url: str, expected: Optional[str]) -> None:
    assert EnvProxies(proxies).for_url(url) == expected


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://from-env:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    proxies = EnvProxies()
    assert proxies.for_url("https://api.groq.com/openai/v1") == "http://from-env:3128"
    assert proxies.for_url("https://127.0.0.1:9/v1") is None
