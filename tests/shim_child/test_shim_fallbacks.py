"""Fallbacks inside a shimmed process: the official SDKs (httpx2/httpx, sync and async) and plain
requests, unmodified, against two fake providers failing on cue. The proxy's side is
tests/proxy/test_fallbacks.py; the decisions are the engine's (tests/shim/test_fallback.py)."""

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import anthropic
import openai
import pytest
import requests
from fakes import BACKEND_KEYS, FakeProvider
from fakes.scenario import Reply
from shim_child_support import PLACEHOLDER_KEY, ShimSession, TelemetryCollector, only, write_snapshot
from sticky_sessions import conversation_answers

from shim import bootstrap
from shim.cooldown import CLOSED
from shim.env_names import CONFIG_SNAPSHOT, PROXY_URL, SHIM_DEBUG, TELEMETRY_SOCKET
from shim.runtime import current_runtime, reset_runtime

WEATHER = {"name": "get_weather", "description": "Weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
PROMPT = [{"role": "user", "content": "What is the weather in Oslo?"}]
SDK_TIMEOUT = 1.0  # the program's own read timeout: the shim sends with it, so silence ends in 1 s


BREAKER = {"failures": 2, "duration": 300}  # a backend cools down for the rest of a test


def chain_snapshot(primary: str, second: str, dead_port: int, blackhole_port: int,
                   cooldown: Dict[str, Any]) -> Dict[str, Any]:
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
            {"match": "lone-*", "backend": "primary"},
            {"match": "same-*", "backend": ["primary", "second_anthropic:claude-b"]},
            {"match": "refused-*", "backend": ["dead", "second:gpt-b"]},
            {"match": "silent-*", "backend": ["blackhole", "second:gpt-b"]},
            {"match": "cool-*", "backend": ["primary", "second:gpt-b"]},
            {"match": "again-*", "backend": ["primary", "second:gpt-b"], "fallback": {"retries": 1, "backoff": 0.05}},
            {"match": "sticky-*", "backend": [{"balance": ["primary", "second_anthropic"]}]},
            {"match": "balanced-*",
             "backend": [{"balance": ["primary", "second_anthropic"], "weights": [3, 1], "sticky": False}]},
        ],
        "cooldown": cooldown,
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
           tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[ShimSession]:
    """The shim active in this process with the chains above (a fresh process state: a new runtime);
    a test may give its own ``[cooldown]`` as the fixture's parameter."""
    cooldown = getattr(request, "param", BREAKER)
    config = chain_snapshot(provider.root_url, second.root_url, closed_port(), blackhole, cooldown)
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


@pytest.mark.parametrize("model", ["cross-3", "same-3"])
def test_a_redirect_falls_back_like_a_broken_answer(routed: ShimSession, second: FakeProvider, model: str) -> None:
    """A backend's redirect is a failed attempt in the program too (docs/proxy-limits.md#answers):
    the next target answers; the SDK never follows it."""
    routed.provider.reply(error=(308, {"moved": True}), headers={"location": routed.provider.root_url + "/steal"})
    second.reply(text="from the second")
    message = anthropic.Anthropic(api_key=PLACEHOLDER_KEY, max_retries=0).messages.create(
        model=model, max_tokens=32, messages=PROMPT)
    assert message.content[0].text == "from the second"  # type: ignore[union-attr]
    assert [request.path for request in routed.provider.requests] == ["/v1/messages"]
    event = only(routed.telemetry.calls(), "call event")
    assert attempts_of(event) == [("primary", "ProtocolBroken"), (event["backend"], 200)]


def test_a_refusal_by_the_last_target_is_the_answer_after_a_failed_one(routed: ShimSession,
                                                                         second: FakeProvider) -> None:
    """The primary fails, and the second cannot take the call (an Anthropic file document has no Chat
    form): the program gets that refusal, final, as the proxy's client does (docs/routing.md#drivers).
    It got the primary's 500, rebuilt with the refusing target's plan and open to retries."""
    routed.provider.reply(error=(500, None))
    document = {"type": "document", "source": {"type": "file", "file_id": "file_1"}}
    client = anthropic.Anthropic(api_key=PLACEHOLDER_KEY, max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.create(model="cross-6", max_tokens=32, messages=[{"role": "user", "content": [document]}])
    assert raised.value.response.headers["x-should-retry"] == "false" and second.requests == []
    assert attempts_of(only(routed.telemetry.calls(), "call event"))[0] == ("primary", 500)


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
    assert event["attempts"][0]["backend"] == "dead" and event["attempts"][0]["failure"] == "ConnectFailed"


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


# Errors a stream opens with (docs/routing.md#what-falls-back) ------------------------------------


@pytest.mark.parametrize("library", ["httpx", "async httpx", "requests"])
def test_an_error_a_stream_opens_with_falls_back(
    routed: ShimSession, second: FakeProvider, chunking: str, library: str
) -> None:
    """200, message_start, ping, then overloaded_error: the program reads the second target's stream,
    and no trace of the first (the proxy's rule, in the program's own process)."""
    second.byte_by_byte = routed.provider.byte_by_byte
    routed.provider.reply(opening_error=529)
    second.reply(text="from the second backend")
    if library == "httpx":
        client = anthropic.Anthropic(api_key=PLACEHOLDER_KEY, max_retries=0)
        with client.messages.stream(model="same-open-1", max_tokens=64, messages=PROMPT) as stream:
            text = "".join(stream.text_stream)
    elif library == "async httpx":
        async def run() -> str:
            async with openai.AsyncOpenAI(api_key=PLACEHOLDER_KEY, max_retries=0) as client:
                chunks = await client.chat.completions.create(model="cross-open-1", messages=PROMPT, stream=True)
                return "".join([chunk.choices[0].delta.content or "" async for chunk in chunks if chunk.choices])

        text = asyncio.run(run())
    else:
        body = {"model": "same-open-2", "max_tokens": 64, "messages": PROMPT, "stream": True}
        with requests.post(f"{routed.root}/v1/messages", json=body, stream=True, timeout=10,
                           headers={"anthropic-version": "2023-06-01"}) as response:
            text = _anthropic_sse_text(response.iter_lines())
    assert text == "from the second backend"
    _assert_fell_back_from_an_overload(routed)


def _assert_fell_back_from_an_overload(routed: ShimSession) -> None:
    """The call's event: the first attempt answered 200 and failed as an overload, the second answered."""
    event = only(routed.telemetry.calls(), "call event")
    first, last = event["attempts"]
    assert (first["backend"], first["status"], first["failure"]) == ("primary", 200, "overloaded")
    assert (last["status"], last["failure"], event["error"], event["fallbacks"]) == (200, None, None, 1)


def test_an_error_a_stream_opens_with_that_would_fail_anywhere_is_its_status(
    routed: ShimSession, second: FakeProvider
) -> None:
    routed.provider.reply(opening_error=400)
    client = anthropic.Anthropic(api_key=PLACEHOLDER_KEY, max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as caught, \
            client.messages.stream(model="cross-open-2", max_tokens=64, messages=PROMPT) as stream:
        list(stream)
    assert caught.value.body["error"]["type"] == "invalid_request_error" and second.requests == []
    assert only(routed.telemetry.calls(), "call event")["error"] == "invalid_request"


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_a_chain_of_streams_that_open_with_errors_ends_in_their_status(
    routed: ShimSession, second: FakeProvider, sdk: str
) -> None:
    routed.provider.reply(opening_error=529)
    second.reply(opening_error=503)
    with pytest.raises((openai.APIStatusError, anthropic.APIStatusError)) as caught:  # type: ignore[arg-type]
        if sdk == "openai":
            list(openai.OpenAI(api_key=PLACEHOLDER_KEY, timeout=20).chat.completions.create(
                model="cross-open-3", messages=PROMPT, stream=True))
        else:
            with anthropic.Anthropic(api_key=PLACEHOLDER_KEY, timeout=20).messages.stream(
                    model="cross-open-4", max_tokens=64, messages=PROMPT) as stream:
                list(stream)
    assert caught.value.status_code in (503, 529) and caught.value.response.headers["x-should-retry"] == "false"
    assert len(routed.provider.requests) == 1 and len(second.requests) == 1


# Whole answers that are errors (docs/routing.md#errors-an-answer-is) ------------------------------


@pytest.mark.parametrize("library", ["httpx", "async httpx", "requests"])
def test_a_whole_answer_that_is_an_error_falls_back(routed: ShimSession, second: FakeProvider, library: str) -> None:
    """200 with Anthropic's error object for a body, passed on as it came (httpx, requests) or
    translated (the OpenAI SDK's call): the program gets the second target's answer."""
    routed.provider.reply(opening_error=529)
    second.reply(text="from the second backend")
    if library == "httpx":
        message = anthropic.Anthropic(api_key=PLACEHOLDER_KEY, max_retries=0).messages.create(
            model="same-whole-1", max_tokens=64, messages=PROMPT)
        text = message.content[0].text  # type: ignore[union-attr]
    elif library == "async httpx":
        async def run() -> str:
            async with openai.AsyncOpenAI(api_key=PLACEHOLDER_KEY, max_retries=0) as client:
                completion = await client.chat.completions.create(model="cross-whole-1", messages=PROMPT)
                return completion.choices[0].message.content or ""

        text = asyncio.run(run())
    else:
        body = {"model": "same-whole-2", "max_tokens": 64, "messages": PROMPT}
        answer = requests.post(f"{routed.root}/v1/messages", json=body, timeout=10,
                               headers={"anthropic-version": "2023-06-01"})
        assert answer.status_code == 200, answer.text
        text = answer.json()["content"][0]["text"]
    assert text == "from the second backend"
    _assert_fell_back_from_an_overload(routed)


def test_a_whole_answer_that_is_an_error_that_would_fail_anywhere_is_its_status(
    routed: ShimSession, second: FakeProvider
) -> None:
    routed.provider.reply(opening_error=400)
    with pytest.raises(anthropic.BadRequestError) as caught:
        anthropic.Anthropic(api_key=PLACEHOLDER_KEY, max_retries=0).messages.create(
            model="same-whole-3", max_tokens=64, messages=PROMPT)
    assert caught.value.body["error"]["type"] == "invalid_request_error" and second.requests == []
    assert only(routed.telemetry.calls(), "call event")["error"] == "invalid_request"


def test_a_lone_target_keeps_a_translated_error_answer_final(routed: ShimSession, second: FakeProvider) -> None:
    """A route with nowhere else to go answers a translated 200 error as it always did: the backend's
    error, final for the SDK (``x-should-retry: false``), so its retries do not ask again."""
    routed.provider.reply(opening_error=529)
    with pytest.raises(openai.APIStatusError) as caught:
        openai.OpenAI(api_key=PLACEHOLDER_KEY, max_retries=2).chat.completions.create(
            model="lone-whole-1", messages=PROMPT)
    assert caught.value.status_code == 503 and caught.value.response.headers["x-should-retry"] == "false"
    assert len(routed.provider.requests) == 1 and second.requests == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_client_errors_do_not_fall_back(routed: ShimSession, second: FakeProvider, status: int) -> None:
    routed.provider.reply(error=(status, None))
    with pytest.raises(anthropic.APIStatusError) as caught:
        anthropic.Anthropic(api_key=PLACEHOLDER_KEY, max_retries=0).messages.create(
            model="same-2", max_tokens=64, messages=PROMPT)
    assert caught.value.status_code == status and second.requests == []


def test_x_should_retry_true_falls_back_whatever_the_status(routed: ShimSession, second: FakeProvider) -> None:
    routed.provider.reply(error=(400, None), headers={"x-should-retry": "true"})
    second.reply(text="the backend said a retry may succeed")
    message = anthropic.Anthropic(api_key=PLACEHOLDER_KEY, max_retries=0).messages.create(
        model="same-3", max_tokens=64, messages=PROMPT)
    assert message.content[0].text == "the backend said a retry may succeed"  # type: ignore[union-attr]


def test_retry_after_is_honoured_before_retrying_the_same_target(routed: ShimSession, second: FakeProvider) -> None:
    routed.provider.reply(error=(429, None), headers={"retry-after": "1"})
    routed.provider.reply(text="after waiting")
    message = anthropic.Anthropic(api_key=PLACEHOLDER_KEY, max_retries=0).messages.create(
        model="again-1", max_tokens=64, messages=PROMPT)
    assert message.content[0].text == "after waiting"  # type: ignore[union-attr]
    assert len(routed.provider.requests) == 2 and second.requests == []
    event = only(routed.telemetry.calls(), "call event")
    assert attempts_of(event) == [("primary", 429), ("primary", 200)]
    assert event["attempts"][1]["wait_ms"] >= 1000  # the backend's retry-after, not the 50 ms backoff


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
    assert caught.value.status_code == 502  # a gateway that lost its upstream (docs/errors.md#upstream-failures)
    assert "backend 'second'" in caught.value.message and len(second.requests) == 1
    assert "connection lost" in caught.value.message and "http://" not in caught.value.message
    # named as the proxy names it: the 502's body reads back as api_error in either protocol
    assert only(routed.telemetry.calls(), "call event")["error"] == "bad_gateway"


# This process's cooldown book --------------------------------------------------------------------
def _fail_twice_over(routed: ShimSession, second: FakeProvider, client: anthropic.Anthropic) -> None:
    """Two calls whose first target answers 503 and whose second answers: two failures in the book."""
    for _ in range(2):
        routed.provider.reply(error=(503, None))
        second.reply(text="fallback")
        client.messages.create(model="cool-1", max_tokens=64, messages=PROMPT)



def test_a_backend_cools_down_in_this_process(routed: ShimSession, second: FakeProvider) -> None:
    client = anthropic.Anthropic(api_key=PLACEHOLDER_KEY, max_retries=0)
    _fail_twice_over(routed, second, client)
    second.reply(text="straight to the second")
    asked = len(routed.provider.requests)
    assert client.messages.create(model="cool-1", max_tokens=64, messages=PROMPT).content[0].text == \
        "straight to the second"  # type: ignore[union-attr]
    assert len(routed.provider.requests) == asked


@pytest.mark.parametrize("routed", [{"failures": 2, "duration": 2}], indirect=True, ids=["2s-cooldown"])
def test_a_backend_cools_down_and_comes_back_with_one_probe(routed: ShimSession, second: FakeProvider) -> None:
    client = anthropic.Anthropic(api_key=PLACEHOLDER_KEY, max_retries=0)
    _fail_twice_over(routed, second, client)
    _wait_for_state("primary", "probe_due")  # this process's own book: what the shim's calls consult
    asked = len(routed.provider.requests)
    routed.provider.reply(text="the probe")
    assert client.messages.create(model="cool-1", max_tokens=64, messages=PROMPT).content[0].text == \
        "the probe"  # type: ignore[union-attr]
    assert len(routed.provider.requests) == asked + 1
    assert current_runtime().routing_state.book.status("primary", time.monotonic()).state == CLOSED


# Stickiness ------------------------------------------------------------------------------------


def test_one_conversation_stays_on_one_backend_while_others_balance(
    routed: ShimSession, second: FakeProvider
) -> None:
    routed.provider.respond_with(lambda protocol, body: Reply(text="first"))
    second.respond_with(lambda protocol, body: Reply(text="second"))
    kept, others = conversation_answers(anthropic.Anthropic(api_key=PLACEHOLDER_KEY, max_retries=0), "sticky-1")
    assert len(kept) == 1 and others == {"first", "second"}


BALANCED_CALLS = 1000


def test_weights_are_respected_over_a_thousand_calls(routed: ShimSession, second: FakeProvider) -> None:
    routed.provider.respond_with(lambda protocol, body: Reply(text="first"))
    second.respond_with(lambda protocol, body: Reply(text="second"))
    with requests.Session() as client:
        for _ in range(BALANCED_CALLS):
            answer = client.post("https://api.anthropic.com/v1/messages", timeout=20, json={
                "model": "balanced-1", "max_tokens": 8, "messages": PROMPT},
                headers={"x-api-key": PLACEHOLDER_KEY, "anthropic-version": "2023-06-01"})
            assert answer.status_code == 200, answer.text
    first, other = len(routed.provider.requests), len(second.requests)
    assert first + other == BALANCED_CALLS  # every call one upstream request, none retried
    # weights 3:1 → 750 expected; the binomial standard deviation is 13.7: four of them do not flake
    assert abs(first - BALANCED_CALLS * 3 / 4) <= 4 * (BALANCED_CALLS * 3 / 16) ** 0.5, (first, other)


# Helpers ---------------------------------------------------------------------------------------


def _wait_for_state(backend: str, state: str, timeout: float = 10.0) -> None:
    """Poll this process's cooldown book (a readiness signal, not a sleep) until ``backend`` is in ``state``."""
    book = current_runtime().routing_state.book
    deadline = time.monotonic() + timeout
    while book.status(backend, time.monotonic()).state != state:
        assert time.monotonic() < deadline, book.status(backend, time.monotonic())
        time.sleep(0.05)


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
