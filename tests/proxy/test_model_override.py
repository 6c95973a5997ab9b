"""``router proxy --model TARGET``: every call goes to one target whatever model it asks for, through
the official SDKs and curl, and the override outlives configuration reloads
(docs/operator-switches.md#model-override)."""

import json
import subprocess
from pathlib import Path
from typing import Iterator

import anthropic
import httpx
import openai
import pytest
from fakes import FakeProvider
from proxy_clients import USER
from proxy_process import BACKEND_KEYS, CLIENT_KEY, ProxyProcess

_WAIT = 10.0
RELOADED = "router proxy: configuration reloaded: generation "



@pytest.fixture
def overridden(home: Path, provider: FakeProvider) -> Iterator[ProxyProcess]:
    proxy = ProxyProcess(home, ["--model", "anthropic:claude-x"]).wait_ready()
    assert httpx.get(proxy.url + "/health", timeout=_WAIT).status_code == 200  # start-up complete
    yield proxy
    assert proxy.stop() == 0, proxy.output


def test_the_banner_says_where_every_call_goes(overridden: ProxyProcess) -> None:
    assert "  every call goes to anthropic:claude-x (--model)\n" in overridden.stdout_lines


def test_sdks_and_curl_all_reach_the_override(overridden: ProxyProcess, provider: FakeProvider) -> None:
    for text in ("openai sdk", "anthropic sdk", "curl"):
        provider.reply(text=text)
    with openai.OpenAI(base_url=overridden.url + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=_WAIT) as client:
        chat = client.chat.completions.create(model="gpt-5.1", messages=USER)  # type: ignore[arg-type]
    with anthropic.Anthropic(base_url=overridden.url, api_key=CLIENT_KEY, max_retries=0, timeout=_WAIT) as client:
        message = client.messages.create(model="llama-3.3-70b", max_tokens=16, messages=USER)  # type: ignore[arg-type]
    body = json.dumps({"model": "fast", "messages": USER})
    curled = subprocess.run(
        ["curl", "-sS", "--max-time", str(_WAIT), "-H", "content-type: application/json", "-d", body,
         overridden.url + "/v1/chat/completions"], capture_output=True, text=True, timeout=_WAIT * 2, check=True)
    assert chat.choices[0].message.content == "openai sdk"
    assert message.content[0].text == "anthropic sdk"  # type: ignore[union-attr]
    assert json.loads(curled.stdout)["choices"][0]["message"]["content"] == "curl"
    # gpt-5.1 (the openai backend's family), llama-* (groq's models) and an alias: all to the override.
    assert [(r.path, r.json["model"], r.header("x-api-key")) for r in provider.requests] == [
        ("/v1/messages", "claude-x", BACKEND_KEYS["anthropic"])] * 3


def test_a_reload_keeps_the_override(overridden: ProxyProcess, home: Path, provider: FakeProvider) -> None:
    config = home / "config.toml"
    config.write_text(config.read_text() + "\n[[routes]]\nmatch = 'gpt-*'\nbackend = 'groq'\n")
    overridden.wait_for_stderr(lambda text: text.startswith(RELOADED + "2 "))
    provider.reply(text="still the override")
    with openai.OpenAI(base_url=overridden.url + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=_WAIT) as client:
        chat = client.chat.completions.create(model="gpt-5.1", messages=USER)  # type: ignore[arg-type]
    assert chat.choices[0].message.content == "still the override"
    assert provider.last.request.path == "/v1/messages" and provider.last.request.json["model"] == "claude-x"


@pytest.mark.parametrize("target, problem", [
    ("nosuch", "--model 'nosuch': no backend named 'nosuch' (configured: anthropic, blackhole, dead, groq, openai)"),
    ("openai:", "--model: 'openai:' is not 'backend' or 'backend:model'"),
])
def test_a_bad_target_is_refused_at_start(home: Path, target: str, problem: str) -> None:
    proxy = ProxyProcess(home, ["--model", target])
    assert proxy.process.wait(timeout=_WAIT) == 2
    proxy.stop()
    assert problem in proxy.output, proxy.output
