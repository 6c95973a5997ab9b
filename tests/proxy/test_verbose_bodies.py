"""``router proxy -vv``: after each call's ``-v`` line, its request and response bodies, redacted,
cut and escaped (docs/operator-switches.md#bodies), through the official SDKs."""

from pathlib import Path
from typing import Iterator, Tuple

import anthropic
import openai
import pytest
from fakes import FakeProvider
from proxy_process import BACKEND_KEYS, CLIENT_KEY, ProxyProcess

_WAIT = 10.0
LEAKED = "sk-ant-api03-LEAKEDLEAKEDLEAKED0123456789"



@pytest.fixture
def chatty(home: Path, provider: FakeProvider) -> Iterator[ProxyProcess]:
    proxy = ProxyProcess(home, ["-v"]).wait_ready()  # ProxyProcess passes -v: this makes it -vv
    yield proxy
    assert proxy.stop() == 0, proxy.output


def _bodies_after(proxy: ProxyProcess, call_line: str) -> Tuple[str, str]:
    """The request and response body lines under the call's ``-v`` line, once both are out (the
    three are written one after the other: the call line alone may be read before the others)."""
    line = proxy.wait_for_stderr(lambda text: text.startswith(call_line))
    proxy.wait_for_stderr(lambda text: text.startswith("  response body ("))
    index = proxy.stderr_lines.index(line)
    return proxy.stderr_lines[index + 1], proxy.stderr_lines[index + 2]


def test_bodies_follow_the_call_line_with_secrets_redacted(chatty: ProxyProcess, provider: FakeProvider) -> None:
    provider.reply(text=f"the backend echoed Bearer {BACKEND_KEYS['openai']} and {LEAKED}")
    with openai.OpenAI(base_url=chatty.url + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=_WAIT) as client:
        client.chat.completions.create(model="gpt-5.1", messages=[
            {"role": "user", "content": f"my key: {LEAKED}\nand a forged line"}])
    request, response = _bodies_after(chatty, "POST /v1/chat/completions gpt-5.1")
    assert request.startswith("  request body (") and '"model":"gpt-5.1"' in request.replace(" ", "")
    assert "my key: [redacted]\\\\nand a forged line" in request  # JSON's \n, escaped: still one line
    assert response.startswith("  response body (")
    assert "the backend echoed Bearer [redacted] and [redacted]" in response
    assert LEAKED not in chatty.output and all(key not in chatty.output for key in BACKEND_KEYS.values())


def test_a_stream_shows_its_first_8_kb_as_sent(chatty: ProxyProcess, provider: FakeProvider) -> None:
    provider.reply(text="x" * 20_000)
    with anthropic.Anthropic(base_url=chatty.url, api_key=CLIENT_KEY, max_retries=0, timeout=_WAIT) as client:
        with client.messages.stream(model="gpt-5.1", max_tokens=16, messages=[{"role": "user", "content": "hi"}]) as s:
            assert len("".join(s.text_stream)) == 20_000
    _, response = _bodies_after(chatty, "POST /v1/messages gpt-5.1")
    assert response.startswith("  response body (") and "event: message_start" in response
    assert response.endswith("…\n") and len(response) < 8192 + 200
