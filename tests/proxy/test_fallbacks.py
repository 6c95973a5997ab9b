"""Fallbacks through a real ``router proxy`` and the official SDKs: two fake providers on two ports,
failing on cue (a status, a refused connection, a reset, silence before the answer, a stall before
the first byte, a cut after it). The engine's decisions are tested in tests/shim/test_fallback.py;
here, that the proxy carries them out and that the client never sees a trace of a target that failed."""

import json
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List

import anthropic
import httpx
import openai
import pytest
from fakes import FakeProvider
from proxy_process import BACKEND_KEYS, CLIENT_KEY, KEY_ENV, ProxyProcess, closed_port
from sticky_sessions import conversation_answers

READ_TIMEOUT = 1.0  # the proxy's silence limit: short, so the timeout paths are quick
WEATHER = {"name": "get_weather", "description": "Weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
PROMPT = [{"role": "user", "content": "What is the weather in Oslo?"}]


def chain_config(primary: str, second: str, dead_port: int, blackhole_port: int, cooldown: str) -> str:
    """``primary`` speaks Anthropic; ``second`` (another fake, another port) both protocols."""
    return f"""
[backends.primary]
protocol = "anthropic"
base_url = "{primary}"
key_env = "{KEY_ENV['anthropic']}"
[backends.again]
protocol = "anthropic"
base_url = "{primary}"
key_env = "{KEY_ENV['anthropic']}"
[backends.second]
protocol = "openai"
base_url = "{second}/v1"
key_env = "{KEY_ENV['openai']}"
[backends.second_anthropic]
protocol = "anthropic"
base_url = "{second}"
key_env = "{KEY_ENV['groq']}"
[backends.gateway]
protocol = "openai"
base_url = "{primary}/v1"
key_env = "{KEY_ENV['openai']}"
[backends.dead]
protocol = "anthropic"
base_url = "http://127.0.0.1:{dead_port}"
[backends.blackhole]
protocol = "anthropic"
base_url = "http://127.0.0.1:{blackhole_port}"

[[routes]]
match = "cross-*"
backend = ["primary", "second:gpt-b"]
[[routes]]
match = "same-*"
backend = ["primary", "second_anthropic:claude-b"]
[[routes]]
match = "gateway-*"
backend = ["gateway:gpt-a", "second:gpt-b"]
[[routes]]
match = "refused-*"
backend = ["dead", "second:gpt-b"]
[[routes]]
match = "silent-*"
backend = ["blackhole", "second:gpt-b"]
[[routes]]
match = "again-*"
backend = ["again", "second:gpt-b"]
fallback = {{retries = 1, backoff = 0.05}}
[[routes]]
match = "sticky-*"
backend = [{{balance = ["primary", "second_anthropic"]}}]
[[routes]]
match = "balanced-*"
backend = [{{balance = ["primary", "second_anthropic"], weights = [3, 1], sticky = false}}]
[[routes]]
match = "alone-*"
backend = "primary"

[cooldown]
{cooldown}
"""


def start_proxy(home: Path, primary: FakeProvider, second: FakeProvider, blackhole: int, cooldown: str) -> ProxyProcess:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(chain_config(primary.root_url, second.root_url, closed_port(), blackhole,
                                                   cooldown))
    return ProxyProcess(home, ["--read-timeout", str(READ_TIMEOUT), "--connect-timeout", "2"]).wait_ready()


@pytest.fixture(scope="module")
def blackhole() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def chain_proxy(tmp_path_factory: pytest.TempPathFactory, _fake_provider_session: FakeProvider,
                _second_provider_session: FakeProvider, blackhole: int) -> Iterator[ProxyProcess]:
    # No breaker here (only a retry-after cools a backend): the tests of this module must not
    # change each other's routes. The breaker has its own proxy below.
    proxy = start_proxy(tmp_path_factory.mktemp("chain-home"), _fake_provider_session, _second_provider_session,
                        blackhole, "failures = 0")
    yield proxy
    proxy.stop()


@pytest.fixture
def proxy(chain_proxy: ProxyProcess, provider: FakeProvider, second: FakeProvider) -> Iterator[ProxyProcess]:
    assert chain_proxy.process.poll() is None, chain_proxy.output
    yield chain_proxy
    provider.release.set()  # a stream held by a test goes on (and ends) now


@pytest.fixture
def ant(proxy: ProxyProcess) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=proxy.url, api_key=CLIENT_KEY, max_retries=0, timeout=20) as client:
        yield client


@pytest.fixture
def oai(proxy: ProxyProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=proxy.url + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=20) as client:
        yield client


def log_line(proxy: ProxyProcess, model: str) -> str:
    return proxy.wait_for_stderr(lambda line: f" {model} → " in line)


def paths(provider: FakeProvider) -> List[str]:
    return [request.path.split("?")[0] for request in provider.requests]


# Fallback, same protocol and across protocols ----------------------------------------------------


def test_an_anthropic_stream_with_tools_falls_back_to_an_openai_backend(
    proxy: ProxyProcess, ant: anthropic.Anthropic, provider: FakeProvider, second: FakeProvider, chunking: str
) -> None:
    second.byte_by_byte = provider.byte_by_byte
    provider.reply(error=(529, None))  # Anthropic's "overloaded"
    second.reply(text="Let me check.", tool_calls=[("get_weather", {"city": "Oslo"})])
    with ant.messages.stream(model="cross-1", max_tokens=256, messages=PROMPT, tools=[WEATHER]) as stream:
        events = list(stream)
        final = stream.get_final_message()
    # what the client got is the second target's answer, whole, in its own protocol
    assert final.model == "cross-1" and final.stop_reason == "tool_use"
    text = [block.text for block in final.content if block.type == "text"]
    tool = [block for block in final.content if block.type == "tool_use"]
    assert text == ["Let me check."] and [(t.name, t.input) for t in tool] == [("get_weather", {"city": "Oslo"})]
    assert not [event for event in events if event.type == "error"]  # no trace of the 529
    # the first target was asked once, in Anthropic's format; the second in OpenAI's, for its own model
    assert paths(provider) == ["/v1/messages"] and paths(second) == ["/v1/chat/completions"]
    sent = second.last.request.json
    assert (sent["model"], sent["stream"], sent["tools"][0]["function"]["name"]) == ("gpt-b", True, "get_weather")
    assert " cross-1 → primary 529 → second ✓ 200 " in log_line(proxy, "cross-1")


@pytest.mark.parametrize("status", [429, 500, 503, 529])
def test_same_protocol_fallback_passes_the_second_answer_through(
    proxy: ProxyProcess, ant: anthropic.Anthropic, provider: FakeProvider, second: FakeProvider, status: int
) -> None:
    provider.reply(error=(status, None))
    second.reply(text="from the second backend")
    message = ant.messages.create(model="same-1", max_tokens=64, messages=PROMPT)
    assert message.content[0].text == "from the second backend"  # type: ignore[union-attr]
    assert second.last.request.json["model"] == "claude-b"
    assert second.last.request.header("x-api-key") == BACKEND_KEYS["groq"]  # the second backend's own key


def test_an_openai_client_falls_back_from_an_anthropic_backend(
    proxy: ProxyProcess, oai: openai.OpenAI, provider: FakeProvider, second: FakeProvider
) -> None:
    provider.reply(error=(503, None))
    second.reply(text="plain answer")
    completion = oai.chat.completions.create(model="cross-2", messages=PROMPT)
    assert completion.choices[0].message.content == "plain answer" and completion.model == "gpt-b"
    assert paths(provider) == ["/v1/messages"] and paths(second) == ["/v1/chat/completions"]


# Failures without an answer --------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_a_refused_connection_falls_back(
    proxy: ProxyProcess, ant: anthropic.Anthropic, second: FakeProvider, stream: bool
) -> None:
    second.reply(text="answered by the second")
    message = _ask(ant, "refused-1", stream)
    assert message.content[0].text == "answered by the second"
    assert " refused-1 → dead ConnectFailed → second ✓ 200 " in log_line(proxy, "refused-1")


def test_a_reset_before_the_answer_falls_back(
    proxy: ProxyProcess, ant: anthropic.Anthropic, provider: FakeProvider, second: FakeProvider
) -> None:
    provider.reply(reset=True)
    second.reply(text="after the reset")
    assert ant.messages.create(model="cross-3", max_tokens=64, messages=PROMPT).content[0].text == "after the reset"


def test_silence_before_the_answer_falls_back(
    proxy: ProxyProcess, ant: anthropic.Anthropic, second: FakeProvider
) -> None:
    second.reply(text="not silent")
    assert _ask(ant, "silent-1", stream=True).content[0].text == "not silent"


def test_a_stream_stalled_before_its_first_byte_falls_back(
    proxy: ProxyProcess, ant: anthropic.Anthropic, provider: FakeProvider, second: FakeProvider, chunking: str
) -> None:
    provider.reply(text="never sent", hold_after_events=0)  # headers, then nothing
    second.reply(text="the second one streams")
    with ant.messages.stream(model="cross-4", max_tokens=64, messages=PROMPT) as stream:
        text = "".join(stream.text_stream)
    assert text == "the second one streams" and provider.holding.is_set()


def test_no_retry_once_the_first_byte_reached_the_client(
    proxy: ProxyProcess, ant: anthropic.Anthropic, provider: FakeProvider, second: FakeProvider, chunking: str
) -> None:
    # message_start, content_block_start, then the first of three text deltas, then the cut
    provider.reply(text="a long answer that will be cut", truncate_after_events=4, drop_connection=True)
    seen: List[str] = []
    with pytest.raises(anthropic.APIError), ant.messages.stream(model="cross-5", max_tokens=64, messages=PROMPT) as s:
        for piece in s.text_stream:
            seen.append(piece)
    assert "".join(seen)  # the client had bytes of the first answer: the failure is in-band, as before
    assert second.requests == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_client_errors_do_not_fall_back(
    proxy: ProxyProcess, ant: anthropic.Anthropic, provider: FakeProvider, second: FakeProvider, status: int
) -> None:
    provider.reply(error=(status, None))
    with pytest.raises(anthropic.APIStatusError) as caught:
        ant.messages.create(model="same-2", max_tokens=64, messages=PROMPT)
    assert caught.value.status_code == status and second.requests == []


def test_x_should_retry_true_falls_back_whatever_the_status(
    proxy: ProxyProcess, ant: anthropic.Anthropic, provider: FakeProvider, second: FakeProvider
) -> None:
    provider.reply(error=(400, None), headers={"x-should-retry": "true"})  # the backend says: try again
    second.reply(text="the backend said a retry may succeed")
    message = ant.messages.create(model="same-3", max_tokens=64, messages=PROMPT)
    assert message.content[0].text == "the backend said a retry may succeed"  # type: ignore[union-attr]
    assert " same-3 → primary 400 → second_anthropic ✓ 200 " in log_line(proxy, "same-3")


# Errors a stream opens with (docs/routing.md#what-falls-back) ------------------------------------


@pytest.mark.parametrize(("route", "second_backend"), [("cross", "second"), ("same", "second_anthropic")])
def test_an_error_a_stream_opens_with_falls_back(
    proxy: ProxyProcess, ant: anthropic.Anthropic, provider: FakeProvider, second: FakeProvider, chunking: str,
    route: str, second_backend: str,
) -> None:
    """The backend answers 200, message_start, ping, then overloaded_error, as Anthropic does under
    load: nothing with content had come, so the second target answers and the client never knows."""
    second.byte_by_byte = provider.byte_by_byte
    provider.reply(opening_error=529)
    second.reply(text="from the second backend")
    with ant.messages.stream(model=f"{route}-open-1", max_tokens=64, messages=PROMPT) as stream:
        events = list(stream)
        final = stream.get_final_message()
    assert final.content[0].text == "from the second backend"  # type: ignore[union-attr]
    assert [event.type for event in events].count("message_start") == 1  # the second answer's own only
    assert not [event for event in events if event.type == "error"]
    assert len(provider.requests) == 1 and len(second.requests) == 1
    assert f" {route}-open-1 → primary overloaded → {second_backend} ✓ 200 " in log_line(proxy, f"{route}-open-1")


@pytest.mark.parametrize("client", ["chat", "responses"])
def test_an_openai_clients_stream_falls_back_from_an_error_it_opened_with(
    proxy: ProxyProcess, oai: openai.OpenAI, provider: FakeProvider, second: FakeProvider, chunking: str, client: str
) -> None:
    """The same for the OpenAI SDK's Chat and Responses streams (translated from the Anthropic
    target); the second target, OpenAI's, answers after an error chunk of its own format."""
    second.byte_by_byte = provider.byte_by_byte
    provider.reply(opening_error=429)
    second.reply(text="from the second backend")
    if client == "chat":
        chunks = list(oai.chat.completions.create(model="cross-open-2", messages=PROMPT, stream=True))
        text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    else:
        with oai.responses.stream(model="cross-open-3", input="What is the weather in Oslo?") as stream:
            text = stream.get_final_response().output_text
    assert text == "from the second backend"
    assert len(provider.requests) == 1 and len(second.requests) == 1


def test_an_error_a_stream_opens_with_that_would_fail_anywhere_is_its_status(
    proxy: ProxyProcess, ant: anthropic.Anthropic, provider: FakeProvider, second: FakeProvider, chunking: str
) -> None:
    """A bad request the backend finds only once it has begun its stream does not fall back (it
    would be refused anywhere), and reaches the client as what it is: a 400, not a 200 stream."""
    provider.reply(opening_error=400)
    with pytest.raises(anthropic.BadRequestError) as caught, \
            ant.messages.stream(model="cross-open-4", max_tokens=64, messages=PROMPT) as stream:
        list(stream)
    assert caught.value.status_code == 400 and caught.value.body["error"]["type"] == "invalid_request_error"
    assert second.requests == []


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_a_chain_of_streams_that_open_with_errors_ends_in_their_status(
    proxy: ProxyProcess, provider: FakeProvider, second: FakeProvider, sdk: str
) -> None:
    """Every target opened with an overload: the client gets the last one's as an HTTP status, which
    says the router retried already (x-should-retry: false), so the SDK does not ask again."""
    provider.reply(opening_error=529)
    second.reply(opening_error=503)
    with pytest.raises((openai.APIStatusError, anthropic.APIStatusError)) as caught:  # type: ignore[arg-type]
        if sdk == "openai":
            with openai.OpenAI(base_url=proxy.url + "/v1", api_key=CLIENT_KEY, timeout=20) as client:
                list(client.chat.completions.create(model="cross-open-5", messages=PROMPT, stream=True))
        else:
            with anthropic.Anthropic(base_url=proxy.url, api_key=CLIENT_KEY, timeout=20) as client, \
                    client.messages.stream(model="cross-open-6", max_tokens=64, messages=PROMPT) as stream:
                list(stream)
    assert caught.value.status_code in (503, 529) and caught.value.response.headers["x-should-retry"] == "false"
    assert len(provider.requests) == 1 and len(second.requests) == 1  # the SDK's retries did not multiply them


def test_a_lone_target_keeps_an_error_its_stream_opens_with_in_band(
    proxy: ProxyProcess, provider: FakeProvider, chunking: str
) -> None:
    """A route with nowhere else to go sends the stream as it comes, the error in it, as before."""
    provider.reply(opening_error=529)
    body = {"model": "alone-open-1", "max_tokens": 64, "stream": True, "messages": PROMPT}
    answer = httpx.post(proxy.url + "/v1/messages", json=body, timeout=20,
                        headers={"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
    assert "event: message_start" in answer.text and "overloaded_error" in answer.text


# Whole answers that are errors (docs/routing.md#errors-an-answer-is) ------------------------------


@pytest.mark.parametrize(("client", "route"), [("anthropic", "same"), ("chat", "cross"), ("chat", "gateway"),
                                               ("responses", "cross")])
def test_a_whole_answer_that_is_an_error_falls_back(
    proxy: ProxyProcess, ant: anthropic.Anthropic, oai: openai.OpenAI, provider: FakeProvider,
    second: FakeProvider, client: str, route: str,
) -> None:
    """The backend answers 200 with an error for a body (a gateway's ``{"error": {"code": 502}}``
    once a model failed after it began; Anthropic's error object), passed on as it came or
    translated: the attempt failed, and the second target answers."""
    provider.reply(opening_error=502 if route == "gateway" else 529)
    second.reply(text="from the second backend")
    model = f"{route}-whole-error-{client}"
    if client == "anthropic":
        text = ant.messages.create(model=model, max_tokens=64, messages=PROMPT).content[0].text  # type: ignore[union-attr]
    elif client == "chat":
        text = oai.chat.completions.create(model=model, messages=PROMPT).choices[0].message.content or ""
    else:
        text = oai.responses.create(model=model, input="What is the weather in Oslo?").output_text
    assert text == "from the second backend"
    assert len(provider.requests) == 1 and len(second.requests) == 1
    assert f" {model} → " in log_line(proxy, model)


def test_a_whole_answer_that_is_an_error_that_would_fail_anywhere_is_its_status(
    proxy: ProxyProcess, oai: openai.OpenAI, provider: FakeProvider, second: FakeProvider
) -> None:
    """A bad request a gateway reports in a 200 does not fall back, and reaches the client as the 400
    it stands for: the SDK raises it, where a 200 gave a completion without choices."""
    provider.reply(opening_error=400)
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="gateway-whole-error-400", messages=PROMPT)
    assert caught.value.status_code == 400 and second.requests == []


def test_a_chain_of_whole_answers_that_are_errors_ends_in_their_status(
    proxy: ProxyProcess, oai: openai.OpenAI, provider: FakeProvider, second: FakeProvider
) -> None:
    provider.reply(opening_error=502)
    second.reply(opening_error=503)
    with pytest.raises(openai.APIStatusError) as caught:
        oai.chat.completions.create(model="gateway-whole-error-all", messages=PROMPT)
    assert caught.value.status_code == 503 and caught.value.response.headers["x-should-retry"] == "false"
    assert len(provider.requests) == 1 and len(second.requests) == 1


def test_a_lone_target_passes_a_whole_error_answer_on_as_it_came(proxy: ProxyProcess, provider: FakeProvider) -> None:
    """A route with nowhere else to go changes nothing of a same-protocol answer, as without the router."""
    provider.reply(opening_error=529)
    body = {"model": "alone-whole-error", "max_tokens": 64, "messages": PROMPT}
    answer = httpx.post(proxy.url + "/v1/messages", json=body, timeout=20,
                        headers={"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"})
    assert answer.status_code == 200 and answer.json()["error"]["type"] == "overloaded_error"


# Retry-after and the SDKs' own retries -------------------------------------------------------------


def test_retry_after_is_honoured_before_retrying_the_same_target(
    proxy: ProxyProcess, ant: anthropic.Anthropic, provider: FakeProvider, second: FakeProvider
) -> None:
    provider.reply(error=(429, None), headers={"retry-after": "1"})
    provider.reply(text="after waiting")
    assert ant.messages.create(model="again-1", max_tokens=64, messages=PROMPT).content[0].text == "after waiting"
    assert len(provider.requests) == 2 and second.requests == []
    attempts = json.loads(stored_event(proxy, "again-1")["attempts"])
    assert [(a["backend"], a["status"]) for a in attempts] == [("again", 429), ("again", 200)]
    assert attempts[1]["wait_ms"] >= 1000  # the backend's retry-after, not the 50 ms backoff


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_the_sdks_default_retries_do_not_multiply_the_routers(
    proxy: ProxyProcess, provider: FakeProvider, second: FakeProvider, sdk: str
) -> None:
    """A chain the router gave up on says x-should-retry: false, and both SDKs (default max_retries=2)
    obey it: two upstream requests in all, not six."""
    provider.reply(error=(503, None))
    second.reply(error=(503, None))
    with pytest.raises((openai.APIStatusError, anthropic.APIStatusError)) as caught:  # type: ignore[arg-type]
        _default_sdk_call(proxy, sdk, "cross-6" if sdk == "anthropic" else "cross-7")
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert len(provider.requests) + len(second.requests) == 2


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_a_lone_target_leaves_retrying_to_the_sdk(proxy: ProxyProcess, provider: FakeProvider, sdk: str) -> None:
    """A route of one target and no retries offers nothing else: the SDK retries it, as without the router."""
    for _ in range(2):
        provider.reply(error=(503, None), headers={"retry-after-ms": "10"})
    provider.reply(text="third time")
    _default_sdk_call(proxy, sdk, "alone-1")
    assert len(provider.requests) == 3


# Stickiness ------------------------------------------------------------------------------------


def test_one_conversation_stays_on_one_backend_while_others_balance(
    proxy: ProxyProcess, provider: FakeProvider, second: FakeProvider
) -> None:
    provider.respond_with(lambda protocol, body: _reply("first"))
    second.respond_with(lambda protocol, body: _reply("second"))
    with anthropic.Anthropic(base_url=proxy.url, api_key=CLIENT_KEY, max_retries=0) as client:
        kept, others = conversation_answers(client, "sticky-1")
    assert len(kept) == 1  # every turn of the conversation went where its prompt cache is
    assert others == {"first", "second"}  # the other conversations spread over both members


# Load balancing ----------------------------------------------------------------------------------

BALANCED_CALLS = 1000


def test_weights_are_respected_over_a_thousand_calls(
    proxy: ProxyProcess, provider: FakeProvider, second: FakeProvider
) -> None:
    provider.respond_with(lambda protocol, body: _reply("first"))
    second.respond_with(lambda protocol, body: _reply("second"))
    with httpx.Client(base_url=proxy.url, headers={"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"},
                      timeout=20) as client:
        for _ in range(BALANCED_CALLS):
            answer = client.post("/v1/messages", json={"model": "balanced-1", "max_tokens": 8, "messages": PROMPT})
            assert answer.status_code == 200, answer.text
    first, other = len(provider.requests), len(second.requests)
    assert first + other == BALANCED_CALLS  # every call one upstream request, none retried
    # weights 3:1 → 750 expected; the binomial standard deviation is 13.7: four of them do not flake
    assert abs(first - BALANCED_CALLS * 3 / 4) <= 4 * (BALANCED_CALLS * 3 / 16) ** 0.5, (first, other)


# /metrics ------------------------------------------------------------------------------------------


def test_metrics_count_attempts_and_fallbacks_per_backend(
    proxy: ProxyProcess, ant: anthropic.Anthropic, provider: FakeProvider, second: FakeProvider
) -> None:
    before = _metrics(proxy)
    provider.reply(error=(529, None))
    for _ in range(2):
        second.reply(text="counted")
    ant.messages.create(model="cross-9", max_tokens=64, messages=PROMPT)
    ant.messages.create(model="refused-2", max_tokens=64, messages=PROMPT)  # "dead" refuses; "second" answers
    after = _metrics(proxy)
    added = {key: after[key] - before.get(key, 0.0) for key in after if after[key] != before.get(key, 0.0)}
    assert added == {
        'router_attempts_total{backend="primary",outcome="529"}': 1.0,
        'router_attempts_total{backend="dead",outcome="ConnectFailed"}': 1.0,
        'router_attempts_total{backend="second",outcome="200"}': 2.0,
        'router_fallbacks_total{backend="primary"}': 1.0,
        'router_fallbacks_total{backend="dead"}': 1.0,
    }


# The breaker, with its own proxy -------------------------------------------------------------------


def test_cooldown_is_entered_shown_and_left(
    tmp_path: Path, provider: FakeProvider, second: FakeProvider, blackhole: int
) -> None:
    home = tmp_path / "home"
    # 5 s: long enough for two `route explain` runs to see it cooling on a busy machine
    proxy = start_proxy(home, provider, second, blackhole, "failures = 2\nduration = 5")
    try:
        with anthropic.Anthropic(base_url=proxy.url, api_key=CLIENT_KEY, max_retries=0) as ant:
            for _ in range(2):
                provider.reply(error=(503, None))
                second.reply(text="fallback")
                ant.messages.create(model="cross-8", max_tokens=64, messages=PROMPT)
            assert _health(proxy)["primary"]["state"] == "cooling"
            explained = _explain(home, "cross-8")
            assert explained["targets"][0]["state"][f"the proxy on :{proxy.url.rsplit(':', 1)[1]}"]["state"] == \
                "cooling"
            text = _explain_text(home, "cross-8")
            assert "target 1:       primary (anthropic), model cross-8" in text
            assert "cooling down" in text.split("target 2:")[0] and "translation:  yes" in text.split("target 2:")[1]
            # skipped while it cools down: the call goes straight to the second target
            second.reply(text="straight to the second")
            before = len(provider.requests)
            assert ant.messages.create(model="cross-8", max_tokens=64, messages=PROMPT).content[0].text == \
                "straight to the second"  # type: ignore[union-attr]
            assert len(provider.requests) == before
            _wait_for_state(proxy, "primary", "probe_due")
            provider.reply(text="the probe")  # then one probe goes to it, and it is back
            assert ant.messages.create(model="cross-8", max_tokens=64, messages=PROMPT).content[0].text == \
                "the probe"  # type: ignore[union-attr]
            assert _health(proxy)["primary"]["state"] == "closed"
        # router stats --by backend, from the proxy's store: the two calls that left primary, the two
        # second answered after a fallback (the call that skipped primary made no attempt of it)
        httpx.get(proxy.url + "/stats", timeout=10)  # flushes the store
        rows = {group["key"]: (group["calls"], group["fallbacks"], group["left_for_another"])
                for group in _router_json(home, "stats", "--by", "backend")["groups"]}
        assert rows == {"primary": (1, 0, 2), "second": (3, 2, 0)}
    finally:
        proxy.stop()


# Helpers ---------------------------------------------------------------------------------------


def _ask(client: anthropic.Anthropic, model: str, stream: bool) -> Any:
    if not stream:
        return client.messages.create(model=model, max_tokens=64, messages=PROMPT)
    with client.messages.stream(model=model, max_tokens=64, messages=PROMPT) as answer:
        return answer.get_final_message()


def _default_sdk_call(proxy: ProxyProcess, sdk: str, model: str) -> Any:
    if sdk == "openai":
        with openai.OpenAI(base_url=proxy.url + "/v1", api_key=CLIENT_KEY, timeout=20) as client:
            return client.chat.completions.create(model=model, messages=PROMPT)
    with anthropic.Anthropic(base_url=proxy.url, api_key=CLIENT_KEY, timeout=20) as client:
        return client.messages.create(model=model, max_tokens=64, messages=PROMPT)


def _reply(text: str) -> Any:
    from fakes.scenario import Reply

    return Reply(text=text)


def _health(proxy: ProxyProcess) -> Dict[str, Any]:
    return dict(httpx.get(proxy.url + "/backends/health", timeout=5).json()["backends"])


def _wait_for_state(proxy: ProxyProcess, backend: str, state: str, timeout: float = 10.0) -> None:
    """Poll the proxy's own report (a readiness signal, not a sleep) until ``backend`` is in ``state``."""
    import time

    deadline = time.monotonic() + timeout
    while _health(proxy)[backend]["state"] != state:
        assert time.monotonic() < deadline, _health(proxy)
        time.sleep(0.05)


def _explain(home: Path, model: str) -> Dict[str, Any]:
    return _router_json(home, "route", "explain", model, "--protocol", "anthropic")


def _router_json(home: Path, *args: str) -> Dict[str, Any]:
    """``router ARGS --json`` run as the user runs it, on ``home``."""
    result = subprocess.run([sys.executable, "-m", "host", *args, "--json"],
                            env={"ROUTER_HOME": str(home), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=30, check=True)
    return dict(json.loads(result.stdout))


def _explain_text(home: Path, model: str) -> str:
    result = subprocess.run([sys.executable, "-m", "host", "route", "explain", model, "--protocol", "anthropic"],
                            env={"ROUTER_HOME": str(home), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=30, check=True)
    return result.stdout


def _metrics(proxy: ProxyProcess) -> Dict[str, float]:
    """The proxy's /metrics samples of attempts and fallbacks, by their name and labels as written."""
    text = httpx.get(proxy.url + "/metrics", headers={"authorization": f"Bearer {CLIENT_KEY}"}, timeout=10).text
    samples = {}
    for line in text.splitlines():
        if line.startswith(("router_attempts_total{", "router_fallbacks_total{")):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def stored_event(proxy: ProxyProcess, model: str) -> sqlite3.Row:
    """The proxy's stored event of the (only) call for ``model`` (``/stats`` flushes the store)."""
    httpx.get(proxy.url + "/stats", timeout=10)
    connection = sqlite3.connect(proxy.home / "telemetry.db")
    connection.row_factory = sqlite3.Row
    try:
        rows = connection.execute("SELECT * FROM events WHERE requested_model = ?", (model,)).fetchall()
    finally:
        connection.close()
    assert len(rows) == 1, rows
    return rows[0]
