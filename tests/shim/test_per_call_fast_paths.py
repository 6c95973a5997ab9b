"""The per-call shortcuts: encode_fields, the route cache, translate_response_with_usage.

Each must give exactly what the slower path it replaces gives."""

import json
from dataclasses import fields
from typing import Any, Dict, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shim import routing
from shim.config import RouterConfig
from shim.errors import UpstreamProtocolError
from shim.plan import ClientCall, Plan, plan_call
from shim.protocols import CHAT, MESSAGES
from shim.routing import resolve_route
from shim.telemetry import (
    MAX_EVENT_BYTES,
    CallEvent,
    CallFields,
    EventHead,
    bounded_attempts,
    decode_event,
    encode_event,
    encode_fields,
    usage_fields,
    write_call_event,
)
from shim.usage import Usage

REQUIRED: Dict[str, Any] = dict(
    time=1_700_000_000.25, source="shim", pid=42, ppid=1, program="/srv/agent.py", client_protocol="openai",
    endpoint="chat", backend="anthropic", upstream_host="api.anthropic.com", requested_model="claude-x",
    upstream_model="claude-x", stream=False, translated=True, status=200,
)


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"latency_ms": 12.5, "ttfb_ms": 3.25, "input_tokens": 10, "output_tokens": 3, "request_id": "req_1"},
        {"error": "overloaded", "status": 529, "dropped_before": 7, "reasoning_tokens": 0},
        {"program": "p" * 5000, "error": "é" * 300, "request_id": "\"q\\" * 100},
        {"requested_model": "\U0001f600" * 3000, "upstream_model": "\u2028" * 3000, "upstream_host": "h" * 999},
    ],
)
def test_encode_fields_decodes_to_the_event_encode_event_sends(extra: Dict[str, Any]) -> None:
    event_fields = {**REQUIRED, **extra}
    fast, slow = encode_fields(event_fields), encode_event(CallEvent(**event_fields))
    assert len(fast) <= MAX_EVENT_BYTES
    assert json.loads(fast) == json.loads(slow)
    assert decode_event(fast) == decode_event(slow)
    assert decode_event(fast) is not None


def test_encode_fields_sends_every_field_so_the_collector_takes_its_fast_path() -> None:
    assert json.loads(encode_fields(REQUIRED)).keys() == {f.name for f in fields(CallEvent)}


def test_encode_event_writes_the_compact_json_of_the_event_and_leaves_it_alone() -> None:
    event = CallEvent(**{**REQUIRED, "program": "x" * 300, "latency_ms": float("inf")})
    before = dict(vars(event))
    encoded = encode_event(event)
    assert vars(event) == before
    assert encoded == json.dumps({**before, "program": "x" * 200}, separators=(",", ":")).encode()


@pytest.mark.parametrize("broken", [{"status": None, "surprise": 1}, {"bogus": 1}])
def test_encode_fields_refuses_unknown_fields_like_the_event_constructor(broken: Dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        encode_fields({**REQUIRED, **broken})


def test_encode_fields_refuses_a_missing_required_field() -> None:
    with pytest.raises(TypeError):
        encode_fields({k: v for k, v in REQUIRED.items() if k != "status"})


CALL: CallFields = {
    "time": 1_700_000_000.123456, "client_protocol": "openai", "endpoint": "chat", "backend": "anthropic",
    "upstream_host": "api.anthropic.com", "requested_model": "claude-x", "upstream_model": "claude-x-1",
    "stream": True, "translated": True, "status": 200, "error": None, "latency_ms": 812.1234567,
    "ttfb_ms": 301.0004999, "request_id": "req_1", "fallbacks": 0, "attempts": None,
}
HEAD = EventHead("shim", 42, 1, "/srv/agent.py")
ATTEMPT = {"backend": "a", "model": "m" * 300, "status": 503, "failure": None, "ms": 1.5, "wait_ms": 0.0}


def reference_event(head: EventHead, call: CallFields, usage: Optional[Usage], dropped_before: int) -> bytes:
    """What write_call_event must write: the JSON encoder on the same CallEvent, times rounded to the µs."""
    rounded = {name: None if call[name] is None else round(call[name], places)  # type: ignore[literal-required]
               for name, places in (("time", 6), ("latency_ms", 3), ("ttfb_ms", 3))}
    return encode_event(CallEvent(**{**head.fields, **call, **rounded, **usage_fields(usage),  # type: ignore[misc]
                                     "dropped_before": dropped_before, "attempts": bounded_attempts(call["attempts"])}))


@pytest.mark.parametrize(
    "changes, usage",
    [
        ({}, Usage(1200, 150, 1000, 20, 7)),
        ({}, None),
        ({"backend": None, "error": "overloaded", "status": 529, "request_id": None, "ttfb_ms": None}, Usage()),
        ({"requested_model": "\U0001f600" * 3000, "upstream_model": "\u2028" * 3000, "upstream_host": "h" * 999,
          "error": "é\"\\" * 300}, Usage(reasoning_tokens=0)),
        ({"latency_ms": float("inf"), "ttfb_ms": float("nan")}, None),  # not JSON literals: the general path
        ({"time": float("-inf")}, None),
        ({"fallbacks": 2, "attempts": [
            {"backend": "anthropic", "model": "claude-x", "status": 529, "failure": None, "ms": 12.34567,
             "wait_ms": 0.0},
            {"backend": "b" * 90, "model": "m", "status": 0, "failure": "ConnectFailure", "ms": 1.0, "wait_ms": 480.1},
            {"backend": "openai", "model": "gpt-x", "status": 200, "failure": None, "ms": 800.0, "wait_ms": 0.0},
        ]}, Usage(10, 2, 0, 0, None)),
        ({"fallbacks": 1, "attempts": [ATTEMPT] * 30}, None),  # more than an event lists: the first 7 and the last
        ({"fallbacks": 1, "attempts": [{**ATTEMPT, "ms": float("nan")}, ATTEMPT]}, None),
    ],
)
def test_write_call_event_writes_what_the_json_encoder_writes(changes: Dict[str, Any], usage: Optional[Usage]) -> None:
    call: CallFields = {**CALL, **changes}  # type: ignore[typeddict-item]
    written = write_call_event(HEAD, call, usage, 3)
    assert len(written) <= MAX_EVENT_BYTES
    assert _same_json(json.loads(written), json.loads(reference_event(HEAD, call, usage, 3)))
    assert json.loads(written).keys() == {f.name for f in fields(CallEvent)}
    assert decode_event(written) is not None


TEXTS = st.text(max_size=260)
FLOATS = st.floats(min_value=-1e12, max_value=1e12) | st.sampled_from([float("inf"), float("nan")])
TOKENS = st.integers(min_value=0, max_value=10**9)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries({
        "time": FLOATS, "client_protocol": st.sampled_from(["openai", "anthropic"]),
        "endpoint": st.sampled_from(["chat", "messages", "embeddings"]), "backend": st.none() | TEXTS,
        "upstream_host": TEXTS, "requested_model": TEXTS, "upstream_model": TEXTS, "stream": st.booleans(),
        "translated": st.booleans(), "status": st.integers(0, 999), "error": st.none() | TEXTS, "latency_ms": FLOATS,
        "ttfb_ms": st.none() | FLOATS, "request_id": st.none() | TEXTS, "fallbacks": st.integers(0, 16),
        "attempts": st.none() | st.lists(st.fixed_dictionaries({
            "backend": TEXTS, "model": TEXTS, "status": st.integers(0, 999), "failure": st.none() | TEXTS,
            "ms": FLOATS, "wait_ms": FLOATS}), max_size=12),
    }),
    st.none() | st.builds(Usage, TOKENS, TOKENS, TOKENS, TOKENS, st.none() | TOKENS),
    st.text(max_size=300),
    st.integers(min_value=0, max_value=10**6),
)
def test_write_call_event_matches_the_json_encoder_for_any_call(
    call: CallFields, usage: Optional[Usage], program: str, dropped_before: int
) -> None:
    head = EventHead("shim", 7, 1, program)
    written = write_call_event(head, call, usage, dropped_before)
    assert len(written) <= MAX_EVENT_BYTES
    assert _same_json(json.loads(written), json.loads(reference_event(head, call, usage, dropped_before)))


def _same_json(left: Dict[str, Any], right: Dict[str, Any]) -> bool:
    """Equal, counting NaN equal to NaN (each decode makes its own NaN object)."""
    return left.keys() == right.keys() and all(
        a == b or (a != a and b != b) for a, b in ((left[k], right[k]) for k in left)
    )


CONFIG = RouterConfig.from_dict(
    {
        "backends": {
            "anthropic": {"protocol": "anthropic", "base_url": "https://api.anthropic.com", "api_key": "k"},
            "openai": {"protocol": "openai", "base_url": "https://api.openai.com/v1", "api_key": "k"},
            "local": {"protocol": "openai", "base_url": "http://127.0.0.1:8000/v1", "models": ["llama-*"]},
        },
        "aliases": {"big": "openai:gpt-4.1"},
        "routes": [{"match": "free-*", "backend": "local"}],
    }
)
MODELS = ["gpt-4o", "claude-sonnet-4-5", "llama-3", "free-x", "big", "openai:o3", "unknown-model", "opus", ""]


@pytest.mark.parametrize("model", MODELS)
def test_cached_routes_equal_fresh_ones(model: str) -> None:
    assert resolve_route(CONFIG, model) == routing._resolve_route(CONFIG, model)
    assert resolve_route(CONFIG, model) == routing._resolve_route(CONFIG, model)  # now from the cache


def test_route_cache_is_per_configuration() -> None:
    other = RouterConfig.from_dict({"backends": {"solo": {"protocol": "openai", "base_url": "http://x/v1"}},
                                    "default_backend": "solo"})
    for _ in range(2):
        route = resolve_route(CONFIG, "gpt-4o")
        assert route is not None and route.backend.name == "openai"
        route = resolve_route(other, "gpt-4o")
        assert route is not None and route.backend.name == "solo"
        assert resolve_route(RouterConfig(), "gpt-4o") is None


def test_route_cache_stays_bounded_and_right() -> None:
    for index in range(3 * routing._CACHE_LIMIT):
        route = resolve_route(CONFIG, f"llama-{index}")
        assert route is not None and route.backend.name == "local"
    assert len(routing._route_cache.entry[1]) <= routing._CACHE_LIMIT


def _plan(endpoint: str, model: str) -> Plan:
    body = {"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    return plan_call(CONFIG, ClientCall(endpoint, {}, json.dumps(body).encode()), now=1.0, call_id="c1")


ANTHROPIC_OK = json.dumps({
    "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "stop_reason": "end_turn",
    "stop_sequence": None, "content": [{"type": "text", "text": "hello"}],
    "usage": {"input_tokens": 10, "output_tokens": 3, "cache_read_input_tokens": 4},
}).encode()
OPENAI_OK = json.dumps({
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
}).encode()
OPENAI_ERROR = json.dumps({"error": {"message": "slow down", "type": "rate_limit_error"}}).encode()


@pytest.mark.parametrize(
    "endpoint, model, status, body",
    [
        (CHAT, "claude-sonnet-4-5", 200, ANTHROPIC_OK),  # translated
        (MESSAGES, "gpt-4o", 200, OPENAI_OK),  # translated
        (CHAT, "gpt-4o", 200, OPENAI_OK),  # same protocol
        (CHAT, "gpt-4o", 200, b"not json"),  # same protocol: passed on, no usage
        (MESSAGES, "gpt-4o", 429, OPENAI_ERROR),  # translated error: no usage
        (CHAT, "claude-sonnet-4-5", 200, json.dumps({**json.loads(ANTHROPIC_OK), "usage": None}).encode()),  # no usage
    ],
)
def test_translate_response_with_usage_equals_the_two_separate_calls(
    endpoint: str, model: str, status: int, body: bytes
) -> None:
    plan = _plan(endpoint, model)
    headers = {"x-request-id": "r1", "content-length": str(len(body))}
    response, usage = plan.translate_response_with_usage(status, headers, body)
    assert response == plan.translate_response(status, headers, body)
    assert usage == (plan.usage_from_response(body) if 200 <= status < 300 else None)


def test_translate_response_with_usage_reads_the_usage() -> None:
    _, usage = _plan(CHAT, "claude-sonnet-4-5").translate_response_with_usage(200, {}, ANTHROPIC_OK)
    assert usage is not None and (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens) == (10, 3, 4)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff"])
def test_translate_response_with_usage_refuses_what_translate_response_refuses(body: bytes) -> None:
    plan = _plan(CHAT, "claude-sonnet-4-5")
    with pytest.raises(UpstreamProtocolError):
        plan.translate_response(200, {}, body)
    with pytest.raises(UpstreamProtocolError):
        plan.translate_response_with_usage(200, {}, body)


def test_version_1_events_are_still_read() -> None:
    v1 = {**json.loads(write_call_event(HEAD, CALL, None, 0)), "v": 1}
    del v1["fallbacks"], v1["attempts"]
    event = decode_event(json.dumps(v1).encode())
    assert event is not None and (event.v, event.fallbacks, event.attempts) == (1, 0, None)
    for version in (3, "2", True, [2], None):
        assert decode_event(json.dumps({**v1, "v": version}).encode()) is None
