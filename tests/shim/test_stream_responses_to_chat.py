"""A Responses event stream → a Chat chunk stream (docs/responses-api.md#stream-grammar).

Upstream streams are rendered by ``host.demo.wire_responses`` (OpenAI's wire format, as the fake
provider sends it) or written by hand for what it does not produce. Every scenario runs under three
chunkings with byte-identical output, passes the Chat grammar checker, and is accumulated by the
official SDK's ``chat.completions.stream(...)`` (strict client) — and the result equals the whole-
body translation of the same answer."""

from typing import Any

import pytest
from openai_stream_grammar import check_openai_stream
from responses_support import feed_all_chunkings, openai_client, responses_event, responses_sse

from host.demo.reply import Reply, ToolCall, UsageSpec
from host.demo.wire_responses import ResponsesWire
from shim.translate.context import ResponseContext
from shim.translate.response_responses_to_chat import responses_response_to_chat
from shim.translate.stream_responses_to_chat import ResponsesToChatStream

CONTEXT = ResponseContext(client_model="gpt-5-pro", created=1_730_000_000, call_id="c1", include_usage=True)
USAGE = UsageSpec(input=37, output=58, cache_read=1024, cache_write=210, reasoning=21)
REPLIES = {
    "text": Reply.build(text="Hello there, friend.", usage=USAGE),
    "reasoning_text_tools": Reply.build(thinking="Two tools.", text="Checking.", usage=USAGE,
                                        tool_calls=[ToolCall("get_weather", {"city": "Paris"}), ToolCall("ping", {})]),
    "max_tokens": Reply.build(text="Partial", stop="max_tokens", usage=USAGE),
}


def wire_stream(reply: Reply) -> bytes:
    return b"".join(ResponsesWire(reply, "gpt-5-pro", 1, {}).stream_events())


def sdk_final(produced: bytes) -> Any:
    with openai_client(produced).chat.completions.stream(
        model="gpt-5-pro", messages=[{"role": "user", "content": "q"}], stream_options={"include_usage": True}
    ) as stream:
        stream.until_done()
        return stream.current_completion_snapshot


@pytest.mark.parametrize("name", list(REPLIES))
def test_stream_matches_the_whole_translation(name: str) -> None:
    reply = REPLIES[name]
    out, translator = feed_all_chunkings(lambda: ResponsesToChatStream(CONTEXT), wire_stream(reply))
    stream = check_openai_stream(out, include_usage=True)
    whole = responses_response_to_chat(ResponsesWire(reply, "gpt-5-pro", 1, {}).body(), CONTEXT)
    choice = whole["choices"][0]
    assert stream.finish_reason == choice["finish_reason"]
    assert stream.usage == whole["usage"]
    final = sdk_final(out)
    message = final.choices[0].message
    assert message.content == choice["message"]["content"]
    assert (message.model_extra or {}).get("reasoning_content") == choice["message"].get("reasoning_content")
    calls = [(call.id, call.function.name, call.function.arguments) for call in message.tool_calls or []]
    assert calls == [(call["id"], call["function"]["name"], call["function"]["arguments"])
                     for call in choice["message"].get("tool_calls", [])]
    assert translator.usage is not None and translator.usage.cache_write_tokens == 210


def test_no_usage_chunk_unless_asked() -> None:
    context = ResponseContext(client_model="m", created=1, call_id="c")
    out, _ = feed_all_chunkings(lambda: ResponsesToChatStream(context), wire_stream(REPLIES["text"]))
    assert check_openai_stream(out, include_usage=False).usage is None


def test_calls_whose_arguments_arrive_only_when_done_and_summary_parts() -> None:
    item = {"id": "fc_1", "type": "function_call", "call_id": "call_9", "name": "f", "arguments": ""}
    raw = responses_sse(
        responses_event("response.created", response={"id": "resp_1"}),
        responses_event("response.reasoning_summary_text.delta", item_id="rs", output_index=0, summary_index=0,
                        delta="One."),
        responses_event("response.reasoning_summary_text.delta", item_id="rs", output_index=0, summary_index=1,
                        delta="Two."),
        responses_event("response.output_item.added", output_index=1, item=item),
        responses_event("response.output_item.done", output_index=1, item={**item, "arguments": '{"a":1}'}),
        responses_event("response.completed", response={"id": "resp_1", "status": "completed", "output": [],
                                                        "usage": None}),
    )
    out, _ = feed_all_chunkings(lambda: ResponsesToChatStream(CONTEXT), raw)
    stream = check_openai_stream(out)
    assert stream.chunks[0]["id"] == "chatcmpl-1"
    assert "".join(delta.get("reasoning_content", "") for delta in stream.deltas) == "One.\n\nTwo."
    message = sdk_final(out).choices[0].message
    assert message.tool_calls[0].function.arguments == '{"a":1}' and stream.finish_reason == "tool_calls"


@pytest.mark.parametrize(("events", "error_type"), [
    ([responses_event("response.created", response={"id": "r"}),
      responses_event("response.output_text.delta", item_id="m", output_index=0, content_index=0, delta="Hi"),
      responses_event("response.failed", response={"id": "r", "status": "failed",
                                                     "error": {"code": "rate_limit_exceeded", "message": "Slow"}})],
     "rate_limit_error"),
    ([responses_event("response.created", response={"id": "r"}),
      responses_event("error", code="server_is_overloaded", message="Busy", param=None)],
     "service_unavailable_error"),
    ([responses_event("response.created", response={"id": "r"}),
      responses_event("response.output_text.delta", item_id="m", output_index=0, content_index=0, delta="Hi")],
     "server_error"),
    ([b"event: response.created\ndata: {oops\n\n"], "server_error"),
])
def test_errors_end_in_band(events: Any, error_type: str) -> None:
    out, translator = feed_all_chunkings(lambda: ResponsesToChatStream(CONTEXT), responses_sse(*events))
    stream = check_openai_stream(out)
    assert stream.error is not None and stream.error["type"] == error_type
    assert translator.error is not None


