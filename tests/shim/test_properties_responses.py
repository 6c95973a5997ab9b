"""Property tests (hypothesis) for every Responses path, with the strategies of ``test_properties``.

(a) random JSON and mutated realistic Responses requests (Codex-shaped, SDK-shaped) through
    ``plan_call`` to every backend kind, and mutated Chat/Anthropic requests to a Responses-only
    model: only ``RouterError`` escapes, and what goes upstream is JSON;
(b) mutated and random upstream streams through every new stream translator (Chat → Responses,
    Responses → Chat, both compositions, the Responses pass-through), in random splits: nothing
    escapes, the client gets well-formed SSE of its format whose events the SDK's strict types
    accept, sequence numbers increase, an error event is last, and the split changes nothing;
(c) mutated upstream bodies through ``Plan.translate_response`` on each new route: only
    ``RouterError`` escapes, and a 2xx answer is what the client's SDK accepts strictly.
"""

import json
from typing import Any, Callable, Dict, List, Tuple

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion
from openai.types.responses import Response, ResponseStreamEvent
from test_properties import (
    ANTHROPIC_REQUESTS,
    ANTHROPIC_RESPONSE,
    ANTHROPIC_STREAM_EVENTS,
    ERROR_BODIES,
    OPENAI_REQUESTS,
    OPENAI_RESPONSE,
    OPENAI_STREAM_CHUNKS,
    SETTINGS,
    STREAM_SETTINGS,
    anthropic_wire,
    assert_valid_sse,
    damaged,
    json_values,
    mutated,
    note,
    openai_wire,
    run_stream,
    splits,
    strict_json,
)

from host.demo.reply import Reply, ToolCall
from host.demo.wire_responses import ResponsesWire
from shim.config import RouterConfig
from shim.errors import RouterError
from shim.plan import FORWARD, ClientCall, Plan, plan_call
from shim.protocols import ANTHROPIC, CHAT, MESSAGES, OPENAI, RESPONSES
from shim.responses_store import MemoryResponseStore, StoredResponse
from shim.sse import SSEDecoder
from shim.translate.stream_base import StreamTranslator
from shim.translate.stream_passthrough import PassthroughStream

SSE_HEADERS = {"content-type": "text/event-stream"}  # a 2xx answer that streams

CONFIG = RouterConfig.from_dict({"backends": {
    "anthropic": {"protocol": "anthropic", "base_url": "https://api.anthropic.com", "api_key": "sk-ant"},
    "openai": {"protocol": "openai", "base_url": "https://api.openai.com/v1", "api_key": "sk",
               "responses_api": True, "responses_only_models": ["*-pro", "*codex*"]},
    "local": {"protocol": "openai", "base_url": "http://127.0.0.1:8000/v1", "models": ["llama-*"],
              "max_output_tokens": 1000, "replay_reasoning": True},
}})
# A Chat backend, an Anthropic backend, a native Responses backend, a Responses-only model.
RESPONSES_MODELS = ["llama-3", "claude-sonnet-4-6", "gpt-5.1", "gpt-5-pro"]
STORE = MemoryResponseStore()
STORE.put(StoredResponse("resp_known", 1.0, {"id": "resp_known", "object": "response", "output": []},
                         ({"role": "user", "content": "earlier"},)))
EVENT = pydantic.TypeAdapter(ResponseStreamEvent)
RESPONSE = pydantic.TypeAdapter(Response)

RESPONSES_REQUESTS: List[Dict[str, Any]] = [
    {   # Codex-shaped
        "model": "gpt-5.1-codex", "instructions": "You are Codex.", "stream": True, "store": False,
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Sandbox."}]},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "Fix it."},
                {"type": "input_image", "image_url": "data:image/png;base64,AA"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Hmm."}],
             "encrypted_content": "gAAA"},
            {"type": "function_call", "call_id": "call_1", "name": "read", "namespace": "mcp__fs",
             "arguments": '{"p":"a"}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "text"},
            {"type": "custom_tool_call", "call_id": "call_2", "name": "apply_patch", "input": "*** Begin"},
            {"type": "custom_tool_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "ok"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Done."}]},
        ],
        "tools": [
            {"type": "function", "name": "shell", "parameters": {"type": "object", "properties": {}}, "strict": False},
            {"type": "namespace", "name": "mcp__fs", "description": "Files", "tools": [
                {"type": "function", "name": "read", "parameters": None}]},
            {"type": "custom", "name": "apply_patch", "format": {"type": "grammar", "syntax": "lark",
                                                                 "definition": "start: /.+/"}},
        ],
        "tool_choice": "auto", "parallel_tool_calls": True, "reasoning": {"effort": "high", "summary": "auto"},
        "include": ["reasoning.encrypted_content"], "prompt_cache_key": "t1", "client_metadata": {"a": "b"},
    },
    {   # SDK-shaped
        "model": "gpt-4.1", "input": "Hello", "max_output_tokens": 500, "temperature": 0.5,
        "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}, "strict": True}},
        "tool_choice": {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "f"}]},
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}], "user": "u",
        "previous_response_id": "resp_known", "metadata": {"k": "v"},
    },
]


def check_plan_call(endpoint: str, raw: bytes) -> None:
    try:
        plan = plan_call(CONFIG, ClientCall(endpoint, {}, raw), now=2.0, call_id="c", responses=STORE)
    except RouterError as error:
        note(f"plan_call raised {type(error).__name__}")
        return
    if plan.refusal is not None:
        note(f"refused: {type(plan.refusal).__name__}")
        assert plan.route is not None and plan.upstream_url is None  # refused, with its route kept
        strict_json(plan.refusal_response().body)
        return
    note(f"{endpoint} → {plan.upstream_endpoint}{' translated' if plan.translated else ''}")
    if plan.disposition == FORWARD:  # a refused plan keeps its route but has no upstream request
        strict_json(plan.upstream_body)


def with_model(draw: st.DrawFn, body: Any, models: List[str]) -> Any:
    if isinstance(body, dict) and draw(st.integers(0, 4)):
        body = {**body, "model": draw(st.sampled_from(models))}
    return body


# (a) requests -------------------------------------------------------------------------------------

@SETTINGS
@given(body=json_values, data=st.data())
def test_a_random_json_through_plan_call(body: Any, data: st.DataObject) -> None:
    check_plan_call(RESPONSES, json.dumps(with_model(data.draw, body, RESPONSES_MODELS)).encode())


@SETTINGS
@given(data=st.data())
def test_a_mutated_responses_requests_through_plan_call(data: st.DataObject) -> None:
    body = data.draw(mutated(data.draw(st.sampled_from(RESPONSES_REQUESTS))))
    check_plan_call(RESPONSES, json.dumps(with_model(data.draw, body, RESPONSES_MODELS)).encode())


@SETTINGS
@given(data=st.data())
def test_a_mutated_chat_and_anthropic_requests_to_a_responses_only_model(data: st.DataObject) -> None:
    endpoint = data.draw(st.sampled_from([CHAT, MESSAGES]))
    base = data.draw(st.sampled_from(OPENAI_REQUESTS if endpoint == CHAT else ANTHROPIC_REQUESTS))
    body = with_model(data.draw, data.draw(mutated(base)), ["gpt-5-pro", "openai:gpt-5.1-codex"])
    check_plan_call(endpoint, json.dumps(body).encode())


def test_a_realistic_requests_plan() -> None:
    """The undamaged requests translate for every backend kind (guards against vacuity)."""
    for body in RESPONSES_REQUESTS:
        for model in ["llama-3", "claude-sonnet-4-6", "gpt-5.1"]:
            request = {**body, "model": model}
            plan = plan_call(CONFIG, ClientCall(RESPONSES, {}, json.dumps(request).encode()), now=2.0, call_id="c",
                             responses=STORE)
            assert plan.routed and plan.refusal is None and strict_json(plan.upstream_body)


# (b) streams --------------------------------------------------------------------------------------

REPLY = Reply.build(thinking="Hmm.", text="Hello there.", tool_calls=[ToolCall("f", {"a": 1}), ToolCall("g", {})])
RESPONSES_STREAM_EVENTS = [
    json.loads(event.decode().split("\n", 1)[1][len("data: "):])
    for event in ResponsesWire(REPLY, "gpt-5-pro", 1, {}).stream_events()
]


def responses_wire(events: List[Any]) -> bytes:
    out = b""
    for event in events:
        kind = event.get("type") if isinstance(event, dict) and isinstance(event.get("type"), str) else "x"
        out += f"event: {kind if kind.isprintable() else 'x'}\ndata: {json.dumps(event)}\n\n".encode()
    return out


@st.composite
def mutated_responses_stream(draw: st.DrawFn) -> bytes:
    events = draw(mutated(RESPONSES_STREAM_EVENTS))
    wire = responses_wire(events if isinstance(events, list) else [events])
    if draw(st.integers(0, 9)) == 0:
        error = b'event: error\ndata: {"type":"error","code":"server_error","message":"x","param":null}\n\n'
        at = draw(st.integers(0, len(wire)))
        wire = wire[:at] + error + wire[at:]
    return draw(damaged(wire))


@st.composite
def mutated_chat_stream(draw: st.DrawFn) -> bytes:
    chunks = draw(mutated(OPENAI_STREAM_CHUNKS))
    return draw(damaged(openai_wire(chunks if isinstance(chunks, list) else [chunks])))


@st.composite
def mutated_anthropic_stream(draw: st.DrawFn) -> bytes:
    events = draw(mutated(ANTHROPIC_STREAM_EVENTS))
    events = events if isinstance(events, list) else [events]
    names = [event.get("type") if isinstance(event, dict) and isinstance(event.get("type"), str)
             and event["type"].isprintable() else "x" for event in events]
    return draw(damaged(anthropic_wire(events, names)))


def plan_for(endpoint: str, model: str, stream: bool = True) -> Plan:
    if endpoint == RESPONSES:
        body: Dict[str, Any] = {"model": model, "input": "q", "stream": stream,
                                "tools": [{"type": "custom", "name": "f"}]}
    elif endpoint == CHAT:
        body = {"model": model, "messages": [{"role": "user", "content": "q"}], "stream": stream,
                "stream_options": {"include_usage": True}}
    else:
        body = {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": "q"}], "stream": stream}
    return plan_call(CONFIG, ClientCall(endpoint, {}, json.dumps(body).encode()), now=2.0, call_id="c")


# (client format, model, upstream stream strategy)
ROUTES: List[Tuple[str, str, Callable[[], Any]]] = [
    (RESPONSES, "llama-3", mutated_chat_stream),  # Chat → Responses
    (RESPONSES, "claude-sonnet-4-6", mutated_anthropic_stream),  # Messages → Chat → Responses
    (RESPONSES, "gpt-5.1", mutated_responses_stream),  # the Responses pass-through
    (CHAT, "gpt-5-pro", mutated_responses_stream),  # Responses → Chat
    (MESSAGES, "gpt-5-pro", mutated_responses_stream),  # Responses → Chat → Messages
]


def assert_valid_responses_sse(out: bytes, passthrough: bool) -> None:
    """Whole events; each the SDK's strict types accept; numbers increasing; an error event last."""
    if not out:
        return
    assert out.endswith(b"\n\n"), out[-200:]
    decoder = SSEDecoder()
    events = decoder.feed(out) + decoder.close()
    numbers = []
    for position, sse in enumerate(events):
        payload = strict_json(sse.data.encode())
        assert isinstance(payload, dict) and sse.event == payload.get("type"), sse
        numbers.append(payload.get("sequence_number"))
        if payload["type"] == "error":
            assert position == len(events) - 1 or passthrough, "an error event ends the stream"
            assert isinstance(payload["message"], str) and isinstance(payload["sequence_number"], int)
        else:
            EVENT.validate_python(payload, strict=True)
    if not passthrough:
        assert numbers == list(range(len(numbers))), numbers


def whole_events(wire: bytes) -> bytes:
    """``wire`` to the end of its last blank line (LF, CR or CRLF ones): its whole events."""
    ends = [wire.rfind(blank) + len(blank) for blank in (b"\n\n", b"\r\r", b"\r\n\r\n") if blank in wire]
    return wire[: max(ends)] if ends else b""


def check_route(route: Tuple[str, str, Callable[[], Any]], data: st.DataObject) -> None:
    endpoint, model, strategy = route
    wire = data.draw(strategy() | st.binary(max_size=200))
    plan = plan_for(endpoint, model)
    whole = run_stream(plan.stream_translator(SSE_HEADERS), [wire])
    out = run_stream(plan.stream_translator(SSE_HEADERS), data.draw(splits(wire)))
    assert out == whole, "the upstream's split changed the client's bytes"
    if endpoint == RESPONSES and not plan.translated:
        events = whole_events(wire)
        assert out.startswith(events), "the pass-through forwards the upstream's events unchanged"
        rest = out[len(events):]  # the last bytes as they came, or the router's error in their place
        assert rest == wire[len(events):] or rest.startswith(b"event: error\n"), rest
        return
    if endpoint == RESPONSES:
        assert_valid_responses_sse(out, passthrough=False)
    else:
        assert_valid_sse(out, OPENAI if endpoint == CHAT else ANTHROPIC)


@STREAM_SETTINGS
@given(data=st.data(), route=st.sampled_from(ROUTES))
def test_b_mutated_upstream_streams_through_every_responses_route(
    data: st.DataObject, route: Tuple[str, str, Callable[[], Any]]
) -> None:
    check_route(route, data)


@pytest.mark.parametrize(("endpoint", "model"), [(e, m) for e, m, _ in ROUTES])
def test_b_realistic_streams_complete(endpoint: str, model: str) -> None:
    """The undamaged streams translate without error (guards the properties against vacuity)."""
    wires = {"llama-3": openai_wire(OPENAI_STREAM_CHUNKS),
             "claude-sonnet-4-6": anthropic_wire(ANTHROPIC_STREAM_EVENTS,
                                                 [event["type"] for event in ANTHROPIC_STREAM_EVENTS])}
    wire = wires.get(model, responses_wire(RESPONSES_STREAM_EVENTS))
    translator: StreamTranslator = plan_for(endpoint, model).stream_translator(SSE_HEADERS)
    out = run_stream(translator, [wire[i:i + 1] for i in range(len(wire))])
    assert translator.error is None and translator.complete
    assert out.count(b"\n\n") > 5


@STREAM_SETTINGS
@given(data=st.data())
def test_b_responses_passthrough_adds_at_most_an_error_event(data: st.DataObject) -> None:
    wire = data.draw(mutated_responses_stream() | st.binary(max_size=300))
    stream = PassthroughStream(RESPONSES)
    out = b"".join(stream.feed(chunk) for chunk in data.draw(splits(wire))) + stream.close()
    events = whole_events(wire)
    assert out.startswith(events)
    if out != wire:  # the last bytes, an incomplete event, dropped: the error starts an event of its own
        assert stream.error is not None and out[len(events):].startswith(b"event: error\n")


# (c) whole upstream bodies ------------------------------------------------------------------------

UPSTREAM_BODIES = {
    "llama-3": OPENAI_RESPONSE,
    "claude-sonnet-4-6": ANTHROPIC_RESPONSE,
    "gpt-5-pro": ResponsesWire(REPLY, "gpt-5-pro", 1, {}).body(),
}
# (client format, model): every translated route
BODY_ROUTES = [(RESPONSES, "llama-3"), (RESPONSES, "claude-sonnet-4-6"), (CHAT, "gpt-5-pro"), (MESSAGES, "gpt-5-pro")]


def check_body(endpoint: str, model: str, status: int, body: bytes) -> None:
    plan = plan_for(endpoint, model, stream=False)
    try:
        response = plan.translate_response(status, {"content-type": "application/json"}, body)
    except RouterError as error:
        note(f"translate_response raised {error.kind_name}")
        response = plan.error_response(error)
    payload = strict_json(response.body)
    if 200 <= response.status < 300:
        if endpoint == RESPONSES:
            RESPONSE.validate_python(payload, strict=True)
        elif endpoint == CHAT:
            ChatCompletion.model_validate(payload, strict=True)
        note("translated 2xx")
    else:
        assert isinstance(payload.get("error"), dict)


@SETTINGS
@given(data=st.data(), route=st.sampled_from(BODY_ROUTES))
def test_c_mutated_upstream_bodies(data: st.DataObject, route: Tuple[str, str]) -> None:
    endpoint, model = route
    body = data.draw(mutated(UPSTREAM_BODIES[model]))
    check_body(endpoint, model, 200, json.dumps(body).encode())


@SETTINGS
@given(data=st.data(), route=st.sampled_from(BODY_ROUTES),
       status=st.sampled_from([200, 400, 401, 404, 429, 500, 503, 529]))
def test_c_random_upstream_bodies(data: st.DataObject, route: Tuple[str, str], status: int) -> None:
    body = data.draw(st.sampled_from(ERROR_BODIES) | json_values.map(lambda v: json.dumps(v).encode()))
    check_body(*route, status, body)
