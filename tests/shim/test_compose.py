"""Responses ⇄ Messages, composed through the Chat hub (docs/responses-api.md#composition), planned
as a driver plans them and fed the providers' real wire bytes (``host.demo``'s writers).

Checked end to end: the request each backend receives, the whole answer and the stream each client
gets (grammar checkers, strict SDK accumulation, every chunking giving the same bytes), usage from
the upstream's own numbers, and errors reaching the client in its own format."""

import json
from typing import Any, Dict

import anthropic
import httpx2
import pytest
from anthropic_stream_grammar import check_anthropic_stream
from responses_stream_grammar import check_responses_stream
from responses_support import feed_all_chunkings, openai_client

from host.demo.reply import Reply, ToolCall, UsageSpec
from host.demo.wire_anthropic import AnthropicWire
from host.demo.wire_responses import ResponsesWire
from shim.config import RouterConfig
from shim.errors import RouterError
from shim.plan import ClientCall, Plan, plan_call
from shim.protocols import MESSAGES, RESPONSES
from shim.translate.compose import ComposedStream

SSE_HEADERS = {"content-type": "text/event-stream"}  # a 2xx answer that streams

CONFIG = RouterConfig.from_dict({"backends": {
    "anthropic": {"protocol": "anthropic", "base_url": "https://api.anthropic.com", "api_key": "sk-ant"},
    "openai": {"protocol": "openai", "base_url": "https://api.openai.com/v1", "api_key": "sk-REAL",
               "responses_api": True, "responses_only_models": ["*codex*"]},
}})
USAGE = UsageSpec(input=37, output=58, cache_read=1024, cache_write=210, reasoning=21)
CODEX_REQUEST = {
    "model": "claude-sonnet-4-6", "instructions": "You are Codex.", "stream": True,
    "input": [{"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Sandbox: on."}]},
              {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Fix the bug."}]}],
    "tools": [{"type": "function", "name": "shell", "parameters": {"type": "object", "properties": {}}},
              {"type": "namespace", "name": "mcp__fs", "description": "Files",
               "tools": [{"type": "function", "name": "read", "parameters": {"type": "object", "properties": {}}}]}],
    "reasoning": {"effort": "high", "summary": "auto"}, "store": False, "include": ["reasoning.encrypted_content"],
    "prompt_cache_key": "thread-1", "parallel_tool_calls": True,
}
REPLY = Reply.build(thinking="Look first.", text="Reading.", tool_calls=[ToolCall("mcp__fs__read", {"path": "a.py"})],
                    usage=USAGE)


def plan_for(endpoint: str, body: Dict[str, Any]) -> Plan:
    return plan_call(CONFIG, ClientCall(endpoint, {}, json.dumps(body).encode()), now=1_700_000_000, call_id="k1")


# Responses client → Anthropic backend ---------------------------------------------------------------

def test_codex_request_reaches_anthropic_through_the_chat_policy() -> None:
    plan = plan_for(RESPONSES, CODEX_REQUEST)
    body = json.loads(plan.upstream_body)
    assert plan.upstream_url == "https://api.anthropic.com/v1/messages" and plan.translated
    text = json.dumps(body)
    assert text.index("You are Codex.") < text.index("Sandbox: on.") < text.index("Fix the bug.")
    assert [tool["name"] for tool in body["tools"]] == ["shell", "mcp__fs__read"]
    assert body["thinking"]["type"] in ("enabled", "adaptive"), "reasoning.effort got the Chat → Messages policy"
    assert body["stream"] is True
    assert any("include" in note for note in plan.notes)


def test_composed_whole_answer() -> None:
    plan = plan_for(RESPONSES, {**CODEX_REQUEST, "stream": False})
    upstream = json.dumps(AnthropicWire(REPLY, "claude-sonnet-4-6", 1).body()).encode()
    client, usage = plan.translate_response_with_usage(200, {"request-id": "req_1"}, upstream)
    response = openai_client(client.body, "application/json").responses.create(model="m", input="q")
    assert [item.type for item in response.output] == ["reasoning", "message", "function_call"]
    call = response.output[2]
    assert (call.name, call.namespace, json.loads(call.arguments)) == ("read", "mcp__fs", {"path": "a.py"})
    assert call.call_id == "toolu_01Fake0001x0"
    assert response.usage.input_tokens == USAGE.prompt_tokens
    assert response.usage.input_tokens_details.cache_write_tokens == USAGE.cache_write
    assert usage is not None and usage.cache_write_tokens == USAGE.cache_write
    assert client.headers["request-id"] == "req_1"


def test_composed_stream() -> None:
    plan = plan_for(RESPONSES, CODEX_REQUEST)
    upstream = b"".join(AnthropicWire(REPLY, "claude-sonnet-4-6", 1).stream_events())
    out, translator = feed_all_chunkings(lambda: plan.stream_translator(SSE_HEADERS), upstream)
    assert isinstance(translator, ComposedStream)
    stream = check_responses_stream(out)
    assert stream.text == "Reading." and stream.terminal == "response.completed"
    assert translator.complete and translator.final_response == stream.final
    assert translator.usage is not None and translator.usage.cache_write_tokens == USAGE.cache_write
    with openai_client(out).responses.stream(model="m", input="q") as sdk:
        final = sdk.get_final_response()
    assert [item.type for item in final.output] == ["reasoning", "message", "function_call"]
    assert final.usage.output_tokens == USAGE.output
    assert plan.response_record(translator.final_response) is None, "the request said store: false"


def test_an_anthropic_error_event_reaches_a_responses_client_as_an_error_event() -> None:
    plan = plan_for(RESPONSES, CODEX_REQUEST)
    upstream = b"".join(AnthropicWire(Reply.build(text="Hello", fail_midstream=True), "c", 1).stream_events())
    out, translator = feed_all_chunkings(lambda: plan.stream_translator(SSE_HEADERS), upstream)
    stream = check_responses_stream(out)
    assert stream.error is not None and stream.error["code"] == "server_is_overloaded"
    assert translator.error is not None and translator.error.kind_name == "overloaded"
    assert translator.final_response is None


def test_a_cut_anthropic_stream_ends_with_one_error_event() -> None:
    plan = plan_for(RESPONSES, CODEX_REQUEST)
    events = AnthropicWire(REPLY, "c", 1).stream_events()[:6]
    out, _ = feed_all_chunkings(lambda: plan.stream_translator(SSE_HEADERS), b"".join(events))
    stream = check_responses_stream(out)
    assert stream.terminal is None and stream.error is not None


# Anthropic client → Responses-only model -----------------------------------------------------------

CLAUDE_CODE_REQUEST = {
    "model": "gpt-5.1-codex", "max_tokens": 32000, "stream": True,
    "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
    "messages": [{"role": "user", "content": [{"type": "text", "text": "List files."}]}],
    "tools": [{"name": "Bash", "description": "Run", "input_schema": {"type": "object", "properties": {}}}],
    "thinking": {"type": "enabled", "budget_tokens": 4096},
}


def test_claude_code_request_reaches_a_responses_only_model() -> None:
    plan = plan_for(MESSAGES, CLAUDE_CODE_REQUEST)
    body = json.loads(plan.upstream_body)
    assert plan.upstream_url == "https://api.openai.com/v1/responses"
    assert body["input"][0] == {"role": "system", "content": "You are Claude Code."}
    assert body["tools"] == [{"type": "function", "name": "Bash", "description": "Run",
                              "parameters": {"type": "object", "properties": {}}, "strict": False}]
    assert body["max_output_tokens"] == 32000 and body["store"] is False and body["reasoning"]["effort"]


def test_responses_only_model_answers_an_anthropic_stream() -> None:
    plan = plan_for(MESSAGES, CLAUDE_CODE_REQUEST)
    reply = Reply.build(thinking="Use Bash.", text="Listing.", tool_calls=[ToolCall("Bash", {"cmd": "ls"})],
                        usage=USAGE)
    upstream = b"".join(ResponsesWire(reply, "gpt-5.1-codex", 1, {}).stream_events())
    out, translator = feed_all_chunkings(lambda: plan.stream_translator(SSE_HEADERS), upstream)
    summary = check_anthropic_stream(out)
    assert summary.block_types == ["thinking", "text", "tool_use"] and summary.stop_reason == "tool_use"
    assert translator.usage is not None and translator.usage.cache_read_tokens == USAGE.cache_read

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=out)

    client = anthropic.Anthropic(api_key="x", base_url="http://fake", max_retries=0, _strict_response_validation=True,
                                 http_client=httpx2.Client(transport=httpx2.MockTransport(answer)))
    with client.messages.stream(model="gpt-5.1-codex", max_tokens=100,
                                messages=[{"role": "user", "content": "q"}]) as stream:
        final = stream.get_final_message()
    assert final.content[2].name == "Bash" and final.content[2].input == {"cmd": "ls"}
    assert final.usage.input_tokens == USAGE.input and final.usage.cache_creation_input_tokens == USAGE.cache_write


@pytest.mark.parametrize("stream", [False, True])
def test_a_failed_responses_answer_reaches_an_anthropic_client_as_its_error(stream: bool) -> None:
    plan = plan_for(MESSAGES, {**CLAUDE_CODE_REQUEST, "stream": stream})
    wire = ResponsesWire(Reply.build(text="Hello", fail_midstream=True), "gpt-5.1-codex", 1, {})
    if stream:
        out, _ = feed_all_chunkings(lambda: plan.stream_translator(SSE_HEADERS), b"".join(wire.stream_events()))
        assert check_anthropic_stream(out).error is not None
        return
    failed = {**wire.body(), "status": "failed", "error": {"code": "server_error", "message": "Broke"}}
    with pytest.raises(RouterError) as raised:  # the driver renders it with plan.error_response
        plan.translate_response(200, {}, json.dumps(failed).encode())
    client = plan.error_response(raised.value)
    assert client.status == 500 and json.loads(client.body)["error"] == {"type": "api_error", "message": "Broke"}


# The hand-over ------------------------------------------------------------------------------------

HAND_OVER_CASES = [
    (RESPONSES, CODEX_REQUEST, lambda reply: AnthropicWire(reply, "c", 1).stream_events()),
    (MESSAGES, CLAUDE_CODE_REQUEST, lambda reply: ResponsesWire(reply, "gpt-5.1-codex", 1, {}).stream_events()),
]
HAND_OVER_REPLIES = [
    REPLY,
    Reply.build(text="Hello", fail_midstream=True),
    Reply.build(text="Partial", stop="max_tokens"),
    Reply.build(tool_calls=[ToolCall("mcp__fs__read", {}), ToolCall("Bash", {"cmd": "ls"})]),
]


@pytest.mark.parametrize("reply", HAND_OVER_REPLIES)
@pytest.mark.parametrize(("endpoint", "request_body", "wire"), HAND_OVER_CASES)
def test_chunks_handed_over_as_objects_give_what_bytes_would(
    endpoint: str, request_body: Dict[str, Any], wire: Any, reply: Reply
) -> None:
    """A composition passes the hub's Chat chunks as objects; the client must get exactly what the
    two translators give when the first one's SSE bytes are fed to the second."""
    plan = plan_for(endpoint, request_body)
    events = wire(reply)
    composed = plan.stream_translator(SSE_HEADERS)
    assert isinstance(composed, ComposedStream)
    inner, outer = composed._inner.__class__(plan.context.inner), composed._outer.__class__(plan.context)
    by_bytes = b"".join(outer.feed(inner.feed(event)) for event in events)
    by_bytes += outer.feed(inner.close()) + outer.close()
    by_objects = b"".join(composed.feed(event) for event in events) + composed.close()
    assert by_objects == by_bytes
    assert (composed.error is None) == (outer.error is None) and composed.final_response == outer.final_response
