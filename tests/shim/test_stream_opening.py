"""A stream's opening held until its first content on a route that can fall back
(docs/routing.md#what-falls-back): an error the backend sends before any content, in any upstream
format and translated to any client protocol, reaches the driver as the stream's
``opening_failure`` with nothing sent to the client; a stream with content is the same bytes it
was without the hold, however its bytes arrive; a lone route keeps the error in-band, as it was.

The drivers' side (another target answers, or the error as an HTTP status) is in
tests/proxy/test_fallbacks.py and tests/shim_child/test_shim_fallbacks.py."""

import json
from typing import Any, Dict, List, Tuple

import pytest
from fakes import Reply, ToolCall

from host.demo.wire_anthropic import AnthropicWire
from host.demo.wire_openai import OpenAIWire
from host.demo.wire_responses import ResponsesWire
from shim.config import RouterConfig
from shim.errors import UpstreamError, error_from_stream_payload, error_from_upstream
from shim.plan import ClientCall, Plan, plan_call
from shim.protocols import ANTHROPIC, CHAT, MESSAGES, OPENAI, RESPONSES
from shim.translate.stream_base import StreamTranslator
from shim.translate.stream_opening import MAX_OPENING_BYTES, MAX_OPENING_SECONDS, OpeningHold
from shim.translate.stream_passthrough import PassthroughStream
from shim.upstream_failures import ConnectionCut

STREAM_HEADERS = {"content-type": "text/event-stream"}
BACKENDS = {
    "claude": {"protocol": "anthropic", "base_url": "http://127.0.0.1:9"},
    "chat": {"protocol": "openai", "base_url": "http://127.0.0.1:9/v1"},
    "responses": {"protocol": "openai", "base_url": "http://127.0.0.1:9/v1", "responses_api": True},
}
CLIENTS = {
    MESSAGES: {"model": "m", "max_tokens": 64, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    CHAT: {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    RESPONSES: {"model": "m", "stream": True, "input": "hi"},
}
# (client endpoint, backend): every client protocol from every upstream format
PAIRS = [(endpoint, backend) for endpoint in CLIENTS for backend in BACKENDS]
ANSWER = Reply.build(text="Oslo is sunny.", tool_calls=[ToolCall("get_weather", {"city": "Oslo"})])


def plan_for(endpoint: str, backend: str, *, fallback: bool, stream: bool = True) -> Plan:
    targets: Any = [backend, "claude" if backend != "claude" else "chat"] if fallback else backend
    config = RouterConfig.from_dict({"backends": BACKENDS, "routes": [{"match": "m", "backend": targets}]})
    body = json.dumps({**CLIENTS[endpoint], "stream": stream}).encode()
    plan = plan_call(config, ClientCall(endpoint, {}, body), now=1.0, call_id="c")
    assert plan.route is not None and plan.route.may_fall_back is fallback and plan.stream is stream
    return plan


def upstream_stream(plan: Plan, reply: Reply) -> bytes:
    """What the plan's backend streams for ``reply``, in its own format."""
    endpoint, model = plan.upstream_endpoint, plan.route.upstream_model if plan.route else "m"
    if endpoint == MESSAGES:
        events = AnthropicWire(reply, model, 1).stream_events()
    elif endpoint == RESPONSES:
        events = ResponsesWire(reply, model, 1, json.loads(plan.upstream_body)).stream_events()
    else:
        events = OpenAIWire(reply, model, 1, include_usage=True).stream_events()
    return b"".join(events)


def translate(translator: StreamTranslator, upstream: bytes, *, piece: int) -> bytes:
    out = b"".join(translator.feed(upstream[at:at + piece]) for at in range(0, len(upstream), piece))
    return out + translator.close()


@pytest.mark.parametrize("piece", [1, 1 << 20], ids=["byte-at-a-time", "whole"])
@pytest.mark.parametrize(("status", "kind"), [(529, "overloaded"), (429, "rate_limit"), (400, "invalid_request")])
@pytest.mark.parametrize(("endpoint", "backend"), PAIRS)
def test_an_error_before_any_content_is_the_streams_opening_failure(
    endpoint: str, backend: str, status: int, kind: str, piece: int
) -> None:
    plan = plan_for(endpoint, backend, fallback=True)
    translator = plan.stream_translator(STREAM_HEADERS)
    out = translate(translator, upstream_stream(plan, Reply.build(opening_error=status)), piece=piece)
    assert out == b""  # the client saw nothing of it
    failure = translator.opening_failure
    # a failed Response names no status: an overload is a server error (api_error), which falls back too
    expected = "api_error" if plan.upstream_endpoint == RESPONSES and status == 529 else kind
    assert isinstance(failure, UpstreamError) and failure.kind_name == expected, failure


@pytest.mark.parametrize("piece", [1, 7, 1 << 20], ids=["byte-at-a-time", "7 bytes", "whole"])
@pytest.mark.parametrize(("endpoint", "backend"), PAIRS)
def test_a_stream_with_content_is_the_same_with_its_opening_held(endpoint: str, backend: str, piece: int) -> None:
    held_plan, lone_plan = plan_for(endpoint, backend, fallback=True), plan_for(endpoint, backend, fallback=False)
    upstream = upstream_stream(held_plan, ANSWER)
    held = held_plan.stream_translator(STREAM_HEADERS)
    assert isinstance(held, OpeningHold)
    first, rest = _first_output(held, upstream, piece)
    assert b"content" in first or b"delta" in first  # released at the first content, not before
    lone = lone_plan.stream_translator(STREAM_HEADERS)
    assert first + rest == translate(lone, upstream, piece=piece)
    assert held.opening_failure is None and held.complete and held.error is None
    assert held.usage == lone.usage and held.final_response == lone.final_response


def _first_output(translator: StreamTranslator, upstream: bytes, piece: int) -> Tuple[bytes, bytes]:
    """The first bytes the translator gave, and all the rest (to the close)."""
    outputs: List[bytes] = [translator.feed(upstream[at:at + piece]) for at in range(0, len(upstream), piece)]
    outputs.append(translator.close())
    first = next(out for out in outputs if out)
    return first, b"".join(outputs)[len(first):]


@pytest.mark.parametrize(("endpoint", "backend"), PAIRS)
def test_a_lone_route_keeps_the_error_in_band(endpoint: str, backend: str) -> None:
    plan = plan_for(endpoint, backend, fallback=False)
    translator = plan.stream_translator(STREAM_HEADERS)
    out = translate(translator, upstream_stream(plan, Reply.build(opening_error=529)), piece=1 << 20)
    assert translator.opening_failure is None and isinstance(translator.error, UpstreamError)
    assert b"error" in out  # in the client's protocol, after the opening it was given: as before


@pytest.mark.parametrize("opening", [
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant",'
    b'"content":[],"model":"c","usage":{"input_tokens":3,"output_tokens":1}}}\n\n'
    b'event: ping\ndata: {"type":"ping"}\n\n',
    b"",
], ids=["after message_start", "nothing at all"])
def test_a_stream_that_ends_before_content_is_a_cut_connection(opening: bytes) -> None:
    translator = OpeningHold(PassthroughStream(ANTHROPIC), ANTHROPIC)
    assert translate(translator, opening, piece=1) == b""
    assert isinstance(translator.opening_failure, ConnectionCut)


def test_a_chat_stream_of_only_its_end_is_passed_on() -> None:
    role = (b'data: {"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""},'
            b'"finish_reason":null}]}\n\n')
    stream = role + b"data: [DONE]\n\n"
    translator = OpeningHold(PassthroughStream(OPENAI), OPENAI)
    assert translate(translator, stream, piece=1) == stream and translator.opening_failure is None


def test_an_opening_longer_than_the_bound_is_released() -> None:
    """A backend that sends pings and nothing else is not held past the bound: the client gets them."""
    translator = OpeningHold(PassthroughStream(ANTHROPIC), ANTHROPIC)
    ping = b'event: ping\ndata: {"type":"ping"}\n\n'
    pings = ping * (MAX_OPENING_BYTES // len(ping) + 2)
    out = translator.feed(pings)
    assert out == pings and translator.feed(ping) == ping and translator.opening_failure is None


def test_an_error_after_content_stays_in_band() -> None:
    plan = plan_for(MESSAGES, "claude", fallback=True)
    translator = plan.stream_translator(STREAM_HEADERS)
    out = translate(translator, upstream_stream(plan, Reply.build(text="partial answer", fail_midstream=True)),
                    piece=1 << 20)
    assert translator.opening_failure is None and b"event: error" in out and b"text_delta" in out


@pytest.mark.parametrize(("error", "kind"), [
    ({"code": 429, "message": "slow down"}, "rate_limit"),
    ({"code": "400", "message": "bad"}, "invalid_request"),
    ({"code": 503, "message": "busy"}, "overloaded"),
    ({"code": True, "message": "?"}, "api_error"),
    ({"code": 200, "message": "?"}, "api_error"),
    ({"code": "rate_limit_exceeded", "message": "named"}, "rate_limit"),
])
def test_an_in_band_error_carrying_a_status_as_its_code_is_of_that_status(error: Dict[str, Any], kind: str) -> None:
    """OpenRouter and vLLM write ``"code": 429`` in the error chunk a stream ends with."""
    assert error_from_stream_payload(OPENAI, {"error": error}).kind_name == kind


ROLE = b'data: {"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n'


@pytest.mark.parametrize("piece", [1, 1 << 20], ids=["byte-at-a-time", "whole"])
@pytest.mark.parametrize(("protocol", "stream"), [
    (OPENAI, ROLE + b'data: {"error":{"code":429,"message":"slow down"}}\n\ndata: [DONE]\n\n'),  # vLLM
    (OPENAI, b'data: {"error":{"code":429,"message":"slow"},"choices":[{"index":0,"delta":{},'
             b'"finish_reason":"error"}]}\n\ndata: [DONE]\n\n'),  # OpenRouter's error chunk
    (RESPONSES, b'event: response.failed\ndata: {"type":"response.failed","response":{"id":"r","status":"failed",'
                b'"error":{"code":"rate_limit_exceeded","message":"slow"}}}\n\ndata: [DONE]\n\n'),
], ids=["vllm", "openrouter", "responses"])
def test_nothing_after_a_failure_releases_the_stream(protocol: str, stream: bytes, piece: int) -> None:
    """What follows an opening's error (``[DONE]``) is not content: the failure is the same however
    the backend's bytes were cut (in one read, the ``[DONE]`` had released the error to the client)."""
    translator = OpeningHold(PassthroughStream(protocol), protocol)
    assert translate(translator, stream, piece=piece) == b""
    failure = translator.opening_failure
    assert isinstance(failure, UpstreamError) and failure.kind_name == "rate_limit"


@pytest.mark.parametrize("protocol", [OPENAI, ANTHROPIC, RESPONSES])
def test_an_event_nested_past_the_parsers_depth_is_judged_not_a_crash(protocol: str) -> None:
    """A Chat chunk that is not an opening one is content, passed on as the lone route passes it;
    to the Anthropic and Responses readers an event without a type they read is nothing, and a
    stream of nothing else ended with nothing in it."""
    deep = b"data: " + b"[" * 5000 + b"]" * 5000 + b"\n\n"
    held, lone = OpeningHold(PassthroughStream(protocol), protocol), PassthroughStream(protocol)
    out = translate(held, ROLE + deep, piece=1 << 20)
    if protocol == OPENAI:
        assert out == translate(lone, ROLE + deep, piece=1 << 20) and held.opening_failure is None
    else:
        assert out == b"" and isinstance(held.opening_failure, ConnectionCut)


def test_an_event_too_long_to_judge_is_content() -> None:
    long = b'data: {"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""},' \
           b'"finish_reason":null}],"x":"' + b"a" * (64 << 10) + b'"}\n\n'
    translator = OpeningHold(PassthroughStream(OPENAI), OPENAI)
    assert translator.feed(long) == long


@pytest.mark.parametrize("code", ["\u00b2", "9" * 5000, "42", True, None, 99999])
def test_an_error_code_that_is_no_status_is_only_an_error(code: Any) -> None:
    """A ``code`` that looks like digits but is no HTTP status: the error's kind is api_error, and
    reading it raises nothing (a superscript two is a digit to ``str.isdigit``, not to ``int``)."""
    body = json.dumps({"error": {"code": code, "message": "x"}})
    assert error_from_stream_payload(OPENAI, json.loads(body)).kind_name == "api_error"
    assert error_from_upstream(OPENAI, 500, body.encode()).kind_name == "api_error"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("protocol", "keep_alive"), [
    (OPENAI, b": OPENROUTER PROCESSING\n\n"),
    (ANTHROPIC, b'event: ping\ndata: {"type": "ping"}\n\n'),
])
def test_an_opening_held_past_its_time_goes_out_with_the_next_keep_alive(protocol: str, keep_alive: bytes) -> None:
    """A backend slow to its first token sends keep-alives so that the client and the proxies
    between see bytes: after MAX_OPENING_SECONDS the opening is released with the next one."""
    clock = Clock()
    opening = ROLE if protocol == OPENAI else (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message",'
        b'"role":"assistant","content":[],"model":"c","usage":{"input_tokens":3,"output_tokens":1}}}\n\n')
    translator = OpeningHold(PassthroughStream(protocol), protocol, clock=clock)
    assert translator.feed(opening) == b"" and translator.feed(keep_alive) == b""
    clock.now += MAX_OPENING_SECONDS + 0.1
    assert translator.feed(keep_alive) == opening + keep_alive + keep_alive
    assert translator.feed(keep_alive) == keep_alive and translator.opening_failure is None


def test_a_translated_opening_held_past_its_time_goes_out_with_the_next_upstream_bytes() -> None:
    """Translated, a keep-alive is not passed on, but it still ends the wait: the client gets its
    opening (here Anthropic's message_start, from a Chat backend's role chunk)."""
    clock = Clock()
    plan = plan_for(MESSAGES, "chat", fallback=True)
    hold = plan.stream_translator(STREAM_HEADERS)
    assert isinstance(hold, OpeningHold)
    translator = OpeningHold(hold._behind, ANTHROPIC, clock=clock)  # the same translator, on this clock
    assert translator.feed(ROLE) == b""
    clock.now += MAX_OPENING_SECONDS + 0.1
    assert translator.feed(b": keep-alive\n\n").startswith(b"event: message_start")


def test_an_anthropic_event_without_a_name_is_nothing_to_the_client() -> None:
    """The Anthropic SDK reads events by name; unnamed ones carry nothing for it: a stream of only
    those ended with nothing in it."""
    unnamed = (b'data: {"type":"message_start","message":{"id":"m"}}\n\n'
               b'data: {"type":"error","error":{"type":"invalid_request_error","message":"x"}}\n\n')
    translator = OpeningHold(PassthroughStream(ANTHROPIC), ANTHROPIC)
    assert translate(translator, unnamed, piece=1) == b""
    assert isinstance(translator.opening_failure, ConnectionCut)
