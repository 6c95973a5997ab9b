"""Fallbacks inside a shimmed process: the official SDKs (httpx2/httpx, sync and async) and plain
requests, unmodified, against two fake providers failing on cue. The proxy's side is
tests/proxy/test_fallbacks.py; the decisions are the engine's (tests/shim/test_fallback.py)."""

import asyncio
import json
import socket
from pathlib import Path
from typing import Any, Dict, Iterator, List

import anthropic
import openai
import pytest
import requests
from fakes import BACKEND_KEYS, FakeProvider
from shim_child_support import PLACEHOLDER_KEY, ShimSession, TelemetryCollector, only, write_snapshot

from shim import bootstrap
from shim.env_names import CONFIG_SNAPSHOT, PROXY_URL, SHIM_DEBUG, TELEMETRY_SOCKET
from shim.runtime import reset_runtime

WEATHER = {"name": "get_weather", "description": "Weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
PROMPT = [{"role": "user", "content": "What is the weather in Oslo?"}]
SDK_TIMEOUT = 1.0  # the program's own read timeout: the shim sends with it, so silence ends in 1 s


def chain_snapshot(primary: str, second: str, dead_port: int, blackhole_port: int) -> Dict[str, Any]:
    return {
        "backends": {
            "primary": {"protocol": "anthropic", "base_url": primary, "api_key": BACKEND_KEYS["anthropic"]},
            "second": {"protocol": "openai", "base_url": second + "/v1", "api_key": BACKEND_KEYS["openai"]},
            "second_anthropic": {"protocol": "anthropic", "base_url": second, "api_key": BACKEND_KEYS["groq"]},
            "dead": {"protocol": "anthropic", "base_url": f"http://127.0.0.1:{dead_port}"},
            "blackhole": {"protocol": "anthropic", "base_url": f"http://127.0.0.1:{blackhole_port}"},
        },
        "routes": [
            {"match": "cross-*", "backend": ["primary", "second:gpt-b"]},
            {"match": "same-*", "backend": ["primary", "second_anthropic:claude-b"]},
            {"match": "refused-*", "backend": ["dead", "second:gpt-b"]},
            {"match": "silent-*", "backend": ["blackhole", "second:gpt-b"]},
            {"match": "cool-*", "backend": ["primary", "second:gpt-b"]},
        ],
        "cooldown": {"failures": 2, "duration": 300},
    }


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def blackhole() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield int(sock.getsockname()[1])


@pytest.fixture
def routed(provider: FakeProvider, second: FakeProvider, telemetry: TelemetryCollector, blackhole: int,
           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ShimSession]:
    """The shim active in this process with the chains above (a fresh process state: a new runtime)."""
    config = chain_snapshot(provider.root_url, second.root_url, closed_port(), blackhole)
    monkeypatch.setenv(CONFIG_SNAPSHOT, str(write_snapshot(tmp_path, config)))
    monkeypatch.setenv(TELEMETRY_SOCKET, telemetry.path)
    monkeypatch.delenv(PROXY_URL, raising=False)
    monkeypatch.setenv(SHIM_DEBUG, "1")
    reset_runtime()
    assert bootstrap.activate()
    telemetry.wait_for(lambda d: d.get("kind") == "hello", timeout=2)
    telemetry.clear()
    try:
        yield ShimSession(provider, telemetry, tmp_path / "config.json")
    finally:
        provider.release.set()
        bootstrap.deactivate()
        reset_runtime()


def attempts_of(event: Dict[str, Any]) -> List[Any]:
    return [(a["backend"], a["status"] or a["failure"]) for a in event["attempts"] or []]


# Same protocol and across protocols, sync and async ----------------------------------------------


def test_anthropic_stream_with_tools_falls_back_to_an_openai_backend(
    routed: ShimSession, second: FakeProvider, chunking: str
) -> None:
    second.byte_by_byte = routed.provider.byte_by_byte
    routed.provider.reply(error=(529, None))
    second.reply(text="Let me check.", tool_calls=[("get_weather", {"city": "Oslo"})])
    client = anthropic.Anthropic(api_key=PLACEHOLDER_KEY, max_retries=0)
    with client.messages.stream(model="cross-1", max_tokens=256, messages=PROMPT, tools=[WEATHER]) as stream:
        events = list(stream)
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use" and final.model == "cross-1"
    assert [(b.name, b.input) for b in final.content if b.type == "tool_use"] == [("get_weather", {"city": "Oslo"})]
    assert not [event for event in events if event.type == "error"]
    assert second.last.request.json["model"] == "gpt-b"
    event = only(routed.telemetry.calls(), "call event")
    assert (event["backend"], event["upstream_model"], event["status"], event["fallbacks"]) == (
        "second", "gpt-b", 200, 1)
    assert attempts_of(event) == [("primary", 529), ("second", 200)]


def test_async_openai_stream_falls_back_same_protocol_on_the_second(routed: ShimSession, second: FakeProvider) -> None:
    routed.provider.reply(error=(503, None))
    second.reply(text="streamed by the second")

    async def run() -> str:
        async with openai.AsyncOpenAI(api_key=PLACEHOLDER_KEY, max_retries=0) as client:
            stream = await client.chat.completions.create(model="cross-2", messages=PROMPT, stream=True)
            return "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])

    assert asyncio.run(run()) == "streamed by the second"


def test_a_same_protocol_fallback(routed: ShimSession, second: FakeProvider) -> None:
    routed.provider.reply(error=(429, None))
    second.reply(text="same protocol")
    message = anthropic.Anthropic(api_key=PLACEHOLDER_KEY, max_retries=0).messages.create(
        model="same-1", max_tokens=64, messages=PROMPT)
    assert message.content[0].text == "same protocol"  # type: ignore[union-attr]
    assert second.last.request.json["model"] == "claude-b"


# Failures without an answer ------------------------------------------------------------------


def test_a_refused_connection_falls_back(routed: ShimSession, second: FakeProvider) -> None:
    second.reply(text="reached")
    completion = openai.OpenAI(api_key=PLACEHOLDER_KEY, max_retries=0).chat.completions.create(
        model="refused-1", messages=PROMPT)
    assert completion.choices[0].message.content == "reached"
    event = only(routed.telemetry.calls(), "call event")
    assert event["attempts"][0]["backend"] == "dead" and event["attempts"][0]["failure"] == "ConnectError"


def test_a_reset_falls_back_for_plain_requests(routed: ShimSession, second: FakeProvider) -> None:
    routed.provider.reply(reset=True)
    second.reply(text="after a reset")
    response = requests.post(f"{routed.root}/v1/messages", timeout=10, json={
        "model": "cross-3", "max_tokens": 64, "messages": PROMPT}, headers={"anthropic-version": "2023-06-01"})
    assert response.status_code == 200 and response.json()["content"][0]["text"] == "after a reset"


def test_silence_before_the_answer_falls_back(routed: ShimSession, second: FakeProvider) -> None:
    second.reply(text="not silent")
    client = anthropic.Anthropic(api_key=PLACEHOLDER_KEY, max_retries=0, timeout=SDK_TIMEOUT)
    assert client.messages.create(model="silent-1", max_tokens=64, messages=PROMPT).content[0].text == "not silent"


@pytest.mark.parametrize("library", ["httpx", "requests"])
def test_a_stream_stalled_before_its_first_byte_falls_back(
    routed: ShimSession, second: FakeProvider, chunking: str, library: str
) -> None:
    routed.provider.reply(text="never sent", hold_after_events=0)  # headers, then nothing
    second.reply(text="the second one streams")
    if library == "httpx":
        client = anthropic.Anthropic(api_key=PLACEHOLDER_KEY, max_retries=0, timeout=SDK_TIMEOUT)
        with client.messages.stream(model="cross-4", max_tokens=64, messages=PROMPT) as stream:
            text = "".join(stream.text_stream)
    else:
        body = {"model": "cross-4", "max_tokens": 64, "messages": PROMPT, "stream": True}
        with requests.post(f"{routed.root}/v1/messages", json=body, stream=True, timeout=SDK_TIMEOUT,
                           headers={"anthropic-version": "2023-06-01"}) as response:
            text = _anthropic_sse_text(response.iter_lines())
    assert text == "the second one streams" and routed.provider.holding.is_set()


def test_no_retry_once_the_first_byte_reached_the_program(
    routed: ShimSession, second: FakeProvider, chunking: str
) -> None:
    routed.provider.reply(text="a long answer that will be cut", truncate_after_events=4, drop_connection=True)
    seen: List[str] = []
    client = anthropic.Anthropic(api_key=PLACEHOLDER_KEY, max_retries=0)
    with pytest.raises(anthropic.APIError), client.messages.stream(model="cross-5", max_tokens=64,
                                                                    messages=PROMPT) as stream:
        for piece in stream.text_stream:
            seen.append(piece)
    assert "".join(seen) and second.requests == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_client_errors_do_not_fall_back(routed: ShimSession, second: FakeProvider, status: int) -> None:
    routed.provider.reply(error=(status, None))
    with pytest.raises(anthropic.APIStatusError) as caught:
        anthropic.Anthropic(api_key=PLACEHOLDER_KEY, max_retries=0).messages.create(
            model="same-2", max_tokens=64, messages=PROMPT)
    assert caught.value.status_code == status and second.requests == []


# The SDKs' own retries -------------------------------------------------------------------------


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_the_sdks_default_retries_do_not_multiply(routed: ShimSession, second: FakeProvider, sdk: str) -> None:
    routed.provider.reply(error=(503, None))
    second.reply(error=(503, None))
    with pytest.raises((openai.APIStatusError, anthropic.APIStatusError)) as caught:  # type: ignore[arg-type]
        _default_sdk_call(sdk, "cross-6")
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert len(routed.provider.requests) + len(second.requests) == 2  # not 2 × 3


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_a_spent_chain_of_dead_backends_is_one_final_error(routed: ShimSession, second: FakeProvider, sdk: str) -> None:
    """Connection failures that exhaust the chain: one router-made error, not the library's exception
    (which the SDKs would retry on top)."""
    second.reply(reset=True)
    with pytest.raises((openai.APIStatusError, anthropic.APIStatusError)) as caught:  # type: ignore[arg-type]
        _default_sdk_call(sdk, "refused-2")
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert "backend 'second'" in caught.value.message and len(second.requests) == 1


# This process's cooldown book --------------------------------------------------------------------


def test_a_backend_cools_down_in_this_process(routed: ShimSession, second: FakeProvider) -> None:
    client = anthropic.Anthropic(api_key=PLACEHOLDER_KEY, max_retries=0)
    for _ in range(2):
        routed.provider.reply(error=(503, None))
        second.reply(text="fallback")
        client.messages.create(model="cool-1", max_tokens=64, messages=PROMPT)
    second.reply(text="straight to the second")
    asked = len(routed.provider.requests)
    assert client.messages.create(model="cool-1", max_tokens=64, messages=PROMPT).content[0].text == \
        "straight to the second"  # type: ignore[union-attr]
    assert len(routed.provider.requests) == asked


# Helpers ---------------------------------------------------------------------------------------


def _default_sdk_call(sdk: str, model: str) -> Any:
    if sdk == "openai":
        return openai.OpenAI(api_key=PLACEHOLDER_KEY, timeout=20).chat.completions.create(model=model, messages=PROMPT)
    return anthropic.Anthropic(api_key=PLACEHOLDER_KEY, timeout=20).messages.create(
        model=model, max_tokens=64, messages=PROMPT)


def _anthropic_sse_text(lines: Iterator[bytes]) -> str:
    text = []
    for line in lines:
        if line.startswith(b"data: "):
            data = json.loads(line[6:])
            if data.get("type") == "content_block_delta" and data["delta"].get("type") == "text_delta":
                text.append(data["delta"]["text"])
    return "".join(text)
