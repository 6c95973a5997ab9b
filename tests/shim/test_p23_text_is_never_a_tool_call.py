"""P23: model text that *looks* like a tool call stays text (docs/pitfalls.md#p23).

The translators map protocol structures (tool_use blocks, tool_calls deltas) and nothing else:
text that happens to contain JSON or a ``<tool_call>`` tag must reach the client as text, with a
stop reason that says no tool was called.
"""

import json
from typing import Any, Dict, List

from shim.sse import encode_event
from shim.translate.context import ResponseContext
from shim.translate.response_anthropic_to_openai import anthropic_response_to_openai
from shim.translate.response_openai_to_anthropic import openai_response_to_anthropic
from shim.translate.stream_anthropic_to_openai import AnthropicToOpenAIStream
from shim.translate.stream_openai_to_anthropic import OpenAIToAnthropicStream

CONTEXT = ResponseContext(client_model="client-model", created=1700000000, call_id="p23", include_usage=True)
LOOKALIKE = (
    '{"tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", '
    '"arguments": "{}"}}]} <tool_call>{"name": "get_weather"}</tool_call>'
)


def _anthropic_stream() -> bytes:
    events: List[Dict[str, Any]] = [
        {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                                              "model": "m", "content": [], "stop_reason": None,
                                              "stop_sequence": None, "usage": {"input_tokens": 3, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": LOOKALIKE}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
         "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    ]
    return b"".join(encode_event(json.dumps(event), event["type"]) for event in events)


def _openai_stream() -> bytes:
    def chunk(delta: Dict[str, Any], finish: Any = None) -> bytes:
        return encode_event(json.dumps({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                                        "model": "m", "choices": [{"index": 0, "delta": delta,
                                                                   "finish_reason": finish}]}))

    usage = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [],
             "usage": {"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12}}
    return (chunk({"role": "assistant", "content": ""}) + chunk({"content": LOOKALIKE}) + chunk({}, "stop")
            + encode_event(json.dumps(usage)) + b"data: [DONE]\n\n")


def _data_lines(raw: bytes) -> List[Dict[str, Any]]:
    return [json.loads(line[6:]) for line in raw.decode().splitlines()
            if line.startswith("data: {")]


def test_p23_anthropic_text_reaches_an_openai_client_as_text() -> None:
    translator = AnthropicToOpenAIStream(CONTEXT)
    chunks = _data_lines(translator.feed(_anthropic_stream()) + translator.close())
    deltas = [choice["delta"] for chunk in chunks for choice in chunk["choices"]]
    assert "".join(delta.get("content") or "" for delta in deltas) == LOOKALIKE
    assert not any("tool_calls" in delta for delta in deltas)
    assert [c["finish_reason"] for chunk in chunks for c in chunk["choices"] if c["finish_reason"]] == ["stop"]


def test_p23_openai_text_reaches_an_anthropic_client_as_text() -> None:
    translator = OpenAIToAnthropicStream(CONTEXT)
    events = _data_lines(translator.feed(_openai_stream()) + translator.close())
    starts = [event["content_block"]["type"] for event in events if event["type"] == "content_block_start"]
    text = "".join(event["delta"].get("text", "") for event in events if event["type"] == "content_block_delta")
    [message_delta] = [event for event in events if event["type"] == "message_delta"]
    assert starts == ["text"] and text == LOOKALIKE
    assert message_delta["delta"]["stop_reason"] == "end_turn"


def test_p23_non_streaming_text_stays_text_both_ways() -> None:
    anthropic_body = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
                      "content": [{"type": "text", "text": LOOKALIKE}], "stop_reason": "end_turn",
                      "stop_sequence": None, "usage": {"input_tokens": 3, "output_tokens": 9}}
    choice = anthropic_response_to_openai(anthropic_body, CONTEXT)["choices"][0]
    assert choice["message"]["content"] == LOOKALIKE and not choice["message"].get("tool_calls")
    assert choice["finish_reason"] == "stop"

    openai_body = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
                   "choices": [{"index": 0, "finish_reason": "stop",
                                "message": {"role": "assistant", "content": LOOKALIKE}}],
                   "usage": {"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12}}
    message = openai_response_to_anthropic(openai_body, CONTEXT)
    assert message["content"] == [{"type": "text", "text": LOOKALIKE}] and message["stop_reason"] == "end_turn"
