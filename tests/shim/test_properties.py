"""Property tests over the whole engine (hypothesis).

(a) random JSON and mutated realistic requests of both client protocols through ``plan_call``;
(b) random bytes and mutated realistic SSE streams through every stream translator, in random splits;
(c) random and mutated upstream bodies through ``Plan.translate_response`` on translated routes.

The engine's contract (COMMON.md): only ``RouterError`` escapes ``plan_call``/``translate_response``;
nothing at all escapes a stream translator's ``feed``/``close`` (errors become in-band errors), and
what they emit is well-formed SSE in the client's protocol.
"""

import copy
import itertools
import json
import os
from typing import Any, Callable, Dict, List, Optional, Tuple

import anthropic
import openai
import pydantic
import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from shim.config import RouterConfig
from shim.errors import RouterError
from shim.plan import ClientCall, Plan, plan_call
from shim.protocols import ANTHROPIC, CHAT, COUNT_TOKENS, EMBEDDINGS, MESSAGES, OPENAI
from shim.routing import resolve_route
from shim.sse import SSEDecoder, encode_event
from shim.translate.context import ResponseContext
from shim.translate.directions import translation_for
from shim.translate.stream_anthropic_to_openai import AnthropicToOpenAIStream
from shim.translate.stream_base import StreamTranslator
from shim.translate.stream_openai_to_anthropic import OpenAIToAnthropicStream
from shim.translate.stream_passthrough import PassthroughStream

# ROUTER_PROPERTY_SCALE=20 runs twenty times as many examples, for bug hunts outside CI.
SCALE = float(os.environ.get("ROUTER_PROPERTY_SCALE", "1"))
SETTINGS = settings(max_examples=int(150 * SCALE), deadline=None, suppress_health_check=list(HealthCheck))

CONFIG = RouterConfig.from_dict(
    {
        "backends": {
            "anthropic": {"protocol": "anthropic", "base_url": "https://api.anthropic.com", "api_key": "sk-ant"},
            "openai": {"protocol": "openai", "base_url": "https://api.openai.com/v1", "api_key": "sk"},
            "local": {
                "protocol": "openai",
                "base_url": "http://127.0.0.1:8000/v1",
                "models": ["llama-*"],
                "max_tokens_field": "max_completion_tokens",
                "max_output_tokens": 1000,
            },
        },
        "default_backend": "local",
    }
)
# Every model name lands on a backend: claude-* → Anthropic, gpt-* → OpenAI, the rest → local (OpenAI).
MODELS = [
    "claude-opus-4-7", "claude-opus-5-5", "gpt-4o", "llama-3", "sonnet", "o3-mini", "anthropic:claude-x",
    "weird model ☃",
]


def note(outcome: str) -> None:
    """Count an outcome in hypothesis's statistics (--hypothesis-show-statistics), to see that the
    properties reach the translators rather than stopping at the first validation."""
    if currently_in_test_context():
        event(outcome)


def strict_json(data: bytes) -> Any:
    """json.loads that rejects NaN/Infinity, which no API accepts."""

    def reject(name: str) -> Any:
        raise ValueError(name)

    return json.loads(data, parse_constant=reject)


# Strategies -----------------------------------------------------------------------------------------

INTERESTING = [
    None,
    True,
    False,
    0,
    -1,
    1,
    2**31,
    2**63,
    -(2**63),
    10**30,
    1.5,
    -0.0,
    1e308,
    -1e-308,
    "",
    " ",
    "\n",
    "\x00",
    "ö☃😀",
    "\ud800",
    "a" * 300,
    "user",
    "assistant",
    "system",
    "developer",
    "tool",
    "function",
    "text",
    "image",
    "image_url",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "document",
    "file",
    "input_audio",
    "auto",
    "any",
    "none",
    "required",
    "json_schema",
    "data:image/png;base64,xx",
    "data:",
    "https://example.com/a.png",
    [],
    {},
    [None],
    {"type": "text"},
    {"type": None},
    {"type": "image"},
    {"type": "tool_use", "id": 1},
    {"role": "user"},
    [{"type": "text", "text": ""}],
]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(INTERESTING)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=15,
)


# Per-node probability (per mille) of damage: from none at all (the realistic input must work) to heavy.
DAMAGE_RATES = [0, 3, 10, 30, 150]


@st.composite
def mutated(draw: st.DrawFn, value: Any, rate: Optional[int] = None, depth: int = 0) -> Any:
    """``value`` with random damage: keys dropped or added, types swapped, garbage nested, items
    duplicated or reordered. ``rate`` is drawn once per example, so examples range from intact to wrecked."""
    if rate is None:
        rate = draw(st.sampled_from(DAMAGE_RATES))
    if rate and draw(st.integers(0, 999)) < rate:
        return draw(damaged_node(value))
    if depth > 10:
        return value
    if isinstance(value, dict):
        return {key: draw(mutated(child, rate, depth + 1)) for key, child in value.items()}
    if isinstance(value, list):
        return [draw(mutated(child, rate, depth + 1)) for child in value]
    return value


@st.composite
def damaged_node(draw: st.DrawFn, value: Any) -> Any:
    action = draw(st.integers(0, 5))
    if action == 0:
        return draw(json_values)
    if action == 1 or not isinstance(value, (dict, list)) or not value:
        return draw(st.sampled_from(INTERESTING))
    if isinstance(value, dict):
        out = dict(value)
        if action in (2, 3):
            out.pop(draw(st.sampled_from(sorted(out))))
        else:
            out[draw(st.sampled_from(["type", "role", "content", "id", "index", "usage", "extra", ""]))] = draw(
                json_values
            )
        return out
    items = list(value)
    if action == 2:
        del items[draw(st.integers(0, len(items) - 1))]
    elif action == 3:
        items.append(copy.deepcopy(items[draw(st.integers(0, len(items) - 1))]))  # duplicate ids/blocks/calls
    elif action == 4:
        items.reverse()
    else:
        items.insert(draw(st.integers(0, len(items))), draw(json_values))
    return items


# (a) Requests through plan_call -------------------------------------------------------------------

OPENAI_REQUESTS: List[Dict[str, Any]] = [
    {
        "model": "claude-opus-4-7",
        "messages": [
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "developer", "content": "use tools"},
            {"role": "user", "content": "and tomorrow?"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "w",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                    "strict": True,
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "max_completion_tokens": 500,
        "temperature": 1.5,
        "top_p": 0.9,
        "stop": ["\n\n", "END"],
        "stream": True,
        "stream_options": {"include_usage": True},
        "reasoning_effort": "low",
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": {"type": "object"}, "strict": True},
        },
        "metadata": {"a": "b"},
        "user": "u1",
        "n": 1,
        "seed": 3,
    },
    {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 20},
    {
        "model": "claude-opus-4-7",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBER", "filename": "a.pdf"}},
                    {"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}},
                ],
            }
        ],
        "tool_choice": "required",
        "tools": [{"type": "function", "function": {"name": "x" * 80}}],
    },
]
ANTHROPIC_REQUESTS: List[Dict[str, Any]] = [
    {
        "model": "gpt-4o",
        "max_tokens": 64000,
        "system": [{"type": "text", "text": "you are", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "xx"},
                    {"type": "text", "text": "calling"},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "mcp__server__a_very_long_tool_name_that_goes_past_the_sixty_four_char_limit",
                        "input": {"q": 1},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "is_error": True,
                        "content": [
                            {"type": "text", "text": "boom"},
                            {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                        ],
                    },
                    {"type": "text", "text": "go on"},
                ],
            },
        ],
        "tools": [
            {
                "name": "mcp__server__a_very_long_tool_name_that_goes_past_the_sixty_four_char_limit",
                "description": "d",
                "input_schema": {"type": "object", "properties": {"q": {"type": "integer"}}},
            },
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
        ],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "stop_sequences": ["###", " "],
        "temperature": 0.5,
        "top_k": 5,
        "stream": True,
        "metadata": {"user_id": "u"},
        "output_config": {"effort": "high"},
    },
    {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
    {  # Claude Code's shape: a system message inside messages, tool search, deferred tools
        "model": "gpt-4o",
        "max_tokens": 128000,
        "thinking": {"type": "adaptive", "display": "omitted"},
        "output_config": {"effort": "medium"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "metadata": {"user_id": '{"device_id":"ab","account_uuid":"","session_id":"s"}'},
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "<system-reminder>x</system-reminder>"}]},
            {"role": "system", "content": [{"type": "text", "text": "env", "cache_control": {"type": "ephemeral"}}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "ToolSearch", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1",
                 "content": [{"type": "tool_reference", "tool_name": "mcp__demo__get_weather"}]},
                {"type": "text", "text": "Tool loaded."},
            ]},
            {"role": "system", "content": "late"},
        ],
        "tools": [
            {"name": "ToolSearch", "input_schema": {"type": "object"}},
            {"name": "DeferredToolPlaceholder", "input_schema": {"type": "object"}, "defer_loading": True},
            {"name": "mcp__demo__get_weather", "input_schema": {"type": "object"}, "defer_loading": True},
        ],
        "stream": True,
    },
    {
        "model": "llama-3",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "prefill"}],
        "tool_choice": {"type": "tool", "name": "nope"},
    },
]


def check_plan_call(endpoint: str, raw: bytes) -> None:
    try:
        plan = plan_call(CONFIG, ClientCall(endpoint, {"authorization": "Bearer x"}, raw), now=1.0, call_id="c")
    except RouterError as error:
        note(f"plan_call raised {type(error).__name__}")
        return
    note(plan.disposition)
    if plan.refusal is not None:
        assert plan.route is not None and plan.upstream_url is None  # refused, with its route kept
        strict_json(plan.refusal_response().body)
    elif plan.routed and plan.local_response is None:
        assert plan.upstream_url is not None
        strict_json(plan.upstream_body)
    if plan.local_response is not None:
        strict_json(plan.local_response.body)


def with_model(draw: st.DrawFn, body: Any) -> Any:
    if isinstance(body, dict) and draw(st.booleans()):
        body = {**body, "model": draw(st.sampled_from(MODELS))}
    return body


@SETTINGS
@given(endpoint=st.sampled_from([CHAT, MESSAGES, COUNT_TOKENS, EMBEDDINGS]), body=json_values, data=st.data())
def test_a_random_json_through_plan_call(endpoint: str, body: Any, data: st.DataObject) -> None:
    check_plan_call(endpoint, json.dumps(with_model(data.draw, body)).encode())


@SETTINGS
@given(data=st.data())
def test_a_mutated_openai_requests_through_plan_call(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from(OPENAI_REQUESTS))
    body = with_model(data.draw, data.draw(mutated(base)))
    check_plan_call(CHAT, json.dumps(body).encode())


@SETTINGS
@given(data=st.data())
def test_a_mutated_anthropic_requests_through_plan_call(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from(ANTHROPIC_REQUESTS))
    body = with_model(data.draw, data.draw(mutated(base)))
    endpoint = data.draw(st.sampled_from([MESSAGES, MESSAGES, COUNT_TOKENS]))
    check_plan_call(endpoint, json.dumps(body).encode())


# Minimal failing examples hypothesis found, pinned so they fail deterministically until fixed.
FOUND_REQUESTS = [
    pytest.param(
        MESSAGES,
        {
            "model": "llama-3",
            "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}],
            "tool_choice": {"type": []},
        },
        id="anthropic-tool_choice-type-unhashable",
    ),
]


@pytest.mark.parametrize(("endpoint", "body"), FOUND_REQUESTS)
def test_a_found_examples(endpoint: str, body: Dict[str, Any]) -> None:
    check_plan_call(endpoint, json.dumps(body).encode())


@SETTINGS
@given(raw=st.binary(max_size=200))
def test_a_random_bytes_through_plan_call(raw: bytes) -> None:
    check_plan_call(CHAT, raw)
    check_plan_call(MESSAGES, raw)


# (b) Streams --------------------------------------------------------------------------------------

ANTHROPIC_STREAM_EVENTS: List[Dict[str, Any]] = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-x",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 43,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 5,
                "output_tokens": 1,
            },
        },
    },
    {"type": "ping"},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQB"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hello"}},
    {"type": "content_block_stop", "index": 1},
    {
        "type": "content_block_start",
        "index": 2,
        "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
    },
    {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": ""}},
    {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": '{"city": "Pa'}},
    {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": 'ris"}'}},
    {"type": "content_block_stop", "index": 2},
    {
        "type": "content_block_start",
        "index": 3,
        "content_block": {"type": "tool_use", "id": "toolu_2", "name": "noargs", "input": {}},
    },
    {"type": "content_block_stop", "index": 3},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 65, "input_tokens": 61},
    },
    {"type": "message_stop"},
]
OPENAI_STREAM_CHUNKS: List[Any] = [
    {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": "", "reasoning_content": ""}, "finish_reason": None}
        ],
        "usage": None,
    },
    {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"reasoning_content": "think"}, "finish_reason": None}],
        "usage": None,
    },
    {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"reasoning": "more"}, "finish_reason": None}],
        "usage": None,
    },
    {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}],
        "usage": None,
    },
    {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}
                    ]
                },
                "finish_reason": None,
            }
        ],
        "usage": None,
    },
    {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]},
                "finish_reason": None,
            }
        ],
        "usage": None,
    },
    {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {"index": 1, "id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{}"}}
                    ]
                },
                "finish_reason": None,
            }
        ],
        "usage": None,
    },
    {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]},
                "finish_reason": None,
            }
        ],
        "usage": None,
    },
    {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "stop_reason": "###"}],
        "usage": None,
    },
    {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [],
        "usage": {
            "prompt_tokens": 30,
            "completion_tokens": 5,
            "total_tokens": 35,
            "prompt_tokens_details": {"cached_tokens": 10},
            "completion_tokens_details": {"reasoning_tokens": 2},
        },
    },
    "[DONE]",
]


def anthropic_wire(events: List[Any], names: List[Optional[str]]) -> bytes:
    return b"".join(encode_event(json.dumps(event), name) for event, name in zip(events, names, strict=True))


def openai_wire(chunks: List[Any]) -> bytes:
    return b"".join(encode_event(chunk if chunk == "[DONE]" else json.dumps(chunk)) for chunk in chunks)


def event_name(draw: st.DrawFn, event: Any) -> Optional[str]:
    """Usually the event's own type (as the grammar wants), sometimes a wrong or missing name."""
    name = event.get("type") if isinstance(event, dict) else None
    if isinstance(name, str) and name.isprintable() and draw(st.integers(0, 19)):
        return name
    return draw(st.sampled_from([None, "message_delta", "unknown", "error", "ping"]))


@st.composite
def mutated_anthropic_stream(draw: st.DrawFn) -> bytes:
    events = draw(mutated(ANTHROPIC_STREAM_EVENTS))
    if not isinstance(events, list):
        events = [events]
    names = [event_name(draw, event) for event in events]
    return draw(damaged(anthropic_wire(events, names)))


@st.composite
def mutated_openai_stream(draw: st.DrawFn) -> bytes:
    chunks = draw(mutated(OPENAI_STREAM_CHUNKS))
    return draw(damaged(openai_wire(chunks if isinstance(chunks, list) else [chunks])))


@st.composite
def damaged(draw: st.DrawFn, wire: bytes) -> bytes:
    """Byte-level damage: truncation, injected bytes, CRLF line endings, an error event."""
    roll = draw(st.integers(0, 12))
    if roll == 0 and wire:
        wire = wire[: draw(st.integers(0, len(wire)))]
    elif roll == 1:
        at = draw(st.integers(0, len(wire)))
        wire = wire[:at] + draw(st.binary(max_size=20)) + wire[at:]
    elif roll == 2:
        wire = wire.replace(b"\n", b"\r\n")
    elif roll == 3:
        at = draw(st.integers(0, len(wire)))
        error = draw(
            st.sampled_from(
                [
                    b"event: error\n"
                    b'data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n',
                    b'data: {"error":{"message":"x","type":"server_error","code":null}}\n\n',
                ]
            )
        )
        wire = wire[:at] + error + wire[at:]
    return wire


@st.composite
def splits(draw: st.DrawFn, wire: bytes) -> List[bytes]:
    if draw(st.integers(0, 9)) == 0:
        return [wire[i : i + 1] for i in range(len(wire))]
    cuts = sorted(draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    bounds = [0, *cuts, len(wire)]
    return [wire[a:b] for a, b in itertools.pairwise(bounds)]


def context(draw: st.DrawFn) -> ResponseContext:
    return ResponseContext(
        client_model="client-model",
        created=1_700_000_000,
        call_id="call-prop",
        include_usage=draw(st.booleans()),
        tool_names=draw(st.sampled_from([{}, {"get_weather": "get_weather", "f": "mcp__server__f"}])),
    )


def run_stream(translator: StreamTranslator, chunks: List[bytes]) -> bytes:
    out = b""
    for chunk in chunks:
        piece = translator.feed(chunk)
        assert isinstance(piece, bytes)
        out += piece
    out += translator.close()
    assert translator.feed(b"data: {}\n\n") == b""  # finished translators ignore further input
    error = translator.error
    note(f"stream ended in error: {error.message[:50]}" if error is not None else "stream completed")
    return out


def assert_valid_sse(out: bytes, client_protocol: str) -> None:
    """Complete events only, each well-formed for the client's protocol."""
    if not out:
        return
    assert out.endswith(b"\n\n"), out[-200:]
    decoder = SSEDecoder()
    events = decoder.feed(out)
    assert decoder.close() == []
    for sse in events:
        if client_protocol == ANTHROPIC:
            payload = strict_json(sse.data.encode())
            assert isinstance(payload, dict), sse
            assert sse.event is not None and payload.get("type") == sse.event, sse
            assert_sdk_accepts_anthropic_event(payload)
        elif sse.data != "[DONE]":
            assert sse.event is None, sse
            payload = strict_json(sse.data.encode())
            assert isinstance(payload, dict), sse
            assert_sdk_accepts_openai_chunk(payload)
    if client_protocol == OPENAI:
        done = [i for i, item in enumerate(events) if item.data == "[DONE]"]
        assert done in ([], [len(events) - 1]), "[DONE] must come once, last"


ANTHROPIC_EVENT = pydantic.TypeAdapter(anthropic.types.RawMessageStreamEvent)


def assert_error_body(error: Any) -> None:
    assert isinstance(error, dict), error
    assert isinstance(error.get("type"), str) and isinstance(error.get("message"), str), error


def assert_sdk_accepts_anthropic_event(payload: Dict[str, Any]) -> None:
    """Every event the SDK knows must validate strictly; in-band errors have their own shape."""
    if payload["type"] == "error":
        assert_error_body(payload.get("error"))
    else:
        ANTHROPIC_EVENT.validate_python(payload, strict=True)


def assert_sdk_accepts_openai_chunk(payload: Dict[str, Any]) -> None:
    if "error" in payload:
        assert_error_body(payload["error"])
    else:
        openai.types.chat.ChatCompletionChunk.model_validate(payload, strict=True)


STREAM_SETTINGS = settings(max_examples=int(120 * SCALE), deadline=None, suppress_health_check=list(HealthCheck))


@STREAM_SETTINGS
@given(data=st.data())
def test_b_mutated_anthropic_upstream_through_anthropic_to_openai(data: st.DataObject) -> None:
    wire = data.draw(mutated_anthropic_stream())
    out = run_stream(AnthropicToOpenAIStream(context(data.draw)), data.draw(splits(wire)))
    assert_valid_sse(out, OPENAI)


@STREAM_SETTINGS
@given(data=st.data())
def test_b_mutated_openai_upstream_through_openai_to_anthropic(data: st.DataObject) -> None:
    wire = data.draw(mutated_openai_stream())
    out = run_stream(OpenAIToAnthropicStream(context(data.draw)), data.draw(splits(wire)))
    assert_valid_sse(out, ANTHROPIC)


TRANSLATORS: List[Tuple[str, Callable[[ResponseContext], StreamTranslator]]] = [
    (OPENAI, AnthropicToOpenAIStream),
    (ANTHROPIC, OpenAIToAnthropicStream),
]


@pytest.mark.parametrize("mode", ["whole", "bytewise"])
@pytest.mark.parametrize("client_protocol", [OPENAI, ANTHROPIC])
def test_b_realistic_streams_complete(client_protocol: str, mode: str) -> None:
    """The undamaged streams must translate without error (guards the properties against vacuity)."""
    if client_protocol == OPENAI:
        factory: Callable[[ResponseContext], StreamTranslator] = AnthropicToOpenAIStream
        wire = anthropic_wire(ANTHROPIC_STREAM_EVENTS, [event["type"] for event in ANTHROPIC_STREAM_EVENTS])
    else:
        factory, wire = OpenAIToAnthropicStream, openai_wire(OPENAI_STREAM_CHUNKS)
    translator = factory(ResponseContext("client-model", 1, "call", include_usage=True))
    chunks = [wire] if mode == "whole" else [wire[i : i + 1] for i in range(len(wire))]
    out = run_stream(translator, chunks)
    assert translator.error is None
    assert_valid_sse(out, client_protocol)
    assert out.count(b"\n\n") > 10


@STREAM_SETTINGS
@given(data=st.data(), wire=st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_b_random_bytes_through_translators(data: st.DataObject, wire: bytes) -> None:
    client_protocol, factory = data.draw(st.sampled_from(TRANSLATORS))
    out = run_stream(factory(context(data.draw)), data.draw(splits(wire)))
    assert_valid_sse(out, client_protocol)


@STREAM_SETTINGS
@given(data=st.data())
def test_b_passthrough_forwards_any_stream_unchanged(data: st.DataObject) -> None:
    protocol = data.draw(st.sampled_from([ANTHROPIC, OPENAI]))
    source = mutated_anthropic_stream() if protocol == ANTHROPIC else mutated_openai_stream()
    wire = data.draw(source | st.binary(max_size=300))
    stream = PassthroughStream(protocol)
    chunks = data.draw(splits(wire))
    out = b"".join(stream.feed(chunk) for chunk in chunks) + stream.close()
    assert out == wire


@STREAM_SETTINGS
@given(data=st.data())
def test_b_translated_streams_are_the_same_whatever_the_split(data: st.DataObject) -> None:
    client_protocol, factory = data.draw(st.sampled_from(TRANSLATORS))
    wire = data.draw(mutated_anthropic_stream() if client_protocol == OPENAI else mutated_openai_stream())
    ctx = context(data.draw)
    whole = run_stream(factory(ctx), [wire])
    assert run_stream(factory(ctx), data.draw(splits(wire))) == whole


# (c) Upstream response bodies through Plan.translate_response ------------------------------------------------

ANTHROPIC_RESPONSE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-x",
    "content": [
        {"type": "thinking", "thinking": "hmm", "signature": "s"},
        {"type": "text", "text": "Hi"},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 21,
        "cache_creation_input_tokens": 1,
        "cache_read_input_tokens": 2,
        "output_tokens": 6,
        "output_tokens_details": {"thinking_tokens": 3},
    },
}
OPENAI_RESPONSE = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-x",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Hi",
                "refusal": None,
                "reasoning_content": "think",
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
                    {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "not json"}},
                ],
            },
            "finish_reason": "stop",
            "logprobs": None,
            "stop_reason": "###",
        }
    ],
    "usage": {
        "prompt_tokens": 30,
        "completion_tokens": 5,
        "total_tokens": 35,
        "prompt_tokens_details": {"cached_tokens": 10},
        "completion_tokens_details": {"reasoning_tokens": 2},
    },
}
ERROR_BODIES = [
    b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
    b'{"error":{"message":"x","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}',
    b"<html>502</html>",
    b"",
]


def translated_plan(client_protocol: str, ctx: ResponseContext) -> Plan:
    """A plan for a translated route, built as plan_call builds it, without a request translator."""
    backend_name = "anthropic" if client_protocol == OPENAI else "openai"
    route = resolve_route(CONFIG, f"{backend_name}:upstream-model")
    assert route is not None and route.backend.protocol != client_protocol
    endpoint = CHAT if client_protocol == OPENAI else MESSAGES
    translation = translation_for(endpoint, MESSAGES if endpoint == CHAT else CHAT)
    response_translator, stream_factory = translation.response, translation.stream
    return Plan(
        client_protocol,
        endpoint,
        "client-model",
        False,
        route,
        upstream_url="http://x",
        translated=True,
        context=ctx,
        _response_translator=response_translator,
        _stream_factory=stream_factory,
    )


def check_translate_response(client_protocol: str, ctx: ResponseContext, status: int, body: bytes) -> None:
    plan = translated_plan(client_protocol, ctx)
    try:
        response = plan.translate_response(status, {"x-request-id": "r"}, body)
    except RouterError as error:
        note(f"translate_response raised {type(error).__name__}")
        return
    note(f"translated to HTTP {response.status}")
    assert isinstance(response.body, bytes)
    assert_sdk_accepts_response(client_protocol, response.status, strict_json(response.body))


def assert_sdk_accepts_response(client_protocol: str, status: int, body: Any) -> None:
    assert isinstance(body, dict), body
    if not 200 <= status < 300:
        assert_error_body(body.get("error"))
        if client_protocol == ANTHROPIC:
            assert body["type"] == "error"
    elif client_protocol == ANTHROPIC:
        anthropic.types.Message.model_validate(body, strict=True)
    else:
        openai.types.chat.ChatCompletion.model_validate(body, strict=True)


@SETTINGS
@given(data=st.data())
def test_c_mutated_upstream_responses(data: st.DataObject) -> None:
    client_protocol = data.draw(st.sampled_from([OPENAI, ANTHROPIC]))
    base = ANTHROPIC_RESPONSE if client_protocol == OPENAI else OPENAI_RESPONSE
    body = json.dumps(data.draw(mutated(base))).encode()
    check_translate_response(client_protocol, context(data.draw), 200, body)


@SETTINGS
@given(data=st.data(), status=st.sampled_from([200, 201, 400, 401, 402, 404, 413, 422, 429, 500, 503, 529, 599]))
def test_c_random_upstream_bodies(data: st.DataObject, status: int) -> None:
    client_protocol = data.draw(st.sampled_from([OPENAI, ANTHROPIC]))
    body = data.draw(
        st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()) | st.sampled_from(ERROR_BODIES)
    )
    check_translate_response(client_protocol, context(data.draw), status, body)


@pytest.mark.parametrize("client_protocol", [OPENAI, ANTHROPIC])
def test_c_realistic_responses_translate(client_protocol: str) -> None:
    """The unmutated bodies must translate (guards the properties above against vacuity)."""
    base = ANTHROPIC_RESPONSE if client_protocol == OPENAI else OPENAI_RESPONSE
    plan = translated_plan(client_protocol, ResponseContext("client-model", 1, "call"))
    response = plan.translate_response(200, {}, json.dumps(base).encode())
    assert response.status == 200
    assert_sdk_accepts_response(client_protocol, 200, strict_json(response.body))
