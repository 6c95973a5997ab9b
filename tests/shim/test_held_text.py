"""What a stream translator keeps until its stream ends is held to a limit (docs/proxy-limits.md#answers).

A backend that streams without end made the translators that keep text (a Responses client's
final Response; an Anthropic client's held tool calls and refusal text) grow for as long as it
streamed. Past the limit the stream ends with one in-band error, after everything sent before it,
under every chunking of the upstream (one byte at a time included); just within it, the stream
completes; a translator that keeps nothing is never cut.
"""

import dataclasses
import json
from typing import Any, Callable, Dict, List

import pytest
from anthropic_stream_grammar import check_anthropic_stream
from responses_stream_grammar import check_responses_stream
from responses_support import CONTEXT, chat_chunk, chat_sse, feed_all_chunkings, responses_event, responses_sse

from shim.translate.context import ResponseContext
from shim.translate.held_text import PIECE_COST
from shim.translate.stream_anthropic_to_openai import AnthropicToOpenAIStream
from shim.translate.stream_base import StreamTranslator
from shim.translate.stream_chat_to_responses import ChatToResponsesStream
from shim.translate.stream_openai_to_anthropic import OpenAIToAnthropicStream
from shim.translate.stream_responses_to_chat import ResponsesToChatStream

PIECE = "abcd"
PIECES = 10
WHOLE = PIECES * (len(PIECE) + PIECE_COST)  # what ten kept pieces count
ROLE = chat_chunk({"role": "assistant", "content": ""})
FINISH = chat_chunk({}, "stop")
USAGE = chat_chunk(choices=[], usage={"prompt_tokens": 3, "completion_tokens": 10, "total_tokens": 13})


def _tool_start(index: int, name: str) -> Dict[str, Any]:
    call = {"index": index, "id": f"call_{index}", "type": "function", "function": {"name": name, "arguments": ""}}
    return chat_chunk({"tool_calls": [call]})


def _tool_arguments(index: int, fragment: str) -> Dict[str, Any]:
    return chat_chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})


def _call_cost(index: int, name: str) -> int:
    """What a started call counts: the call, its id and its name (each a piece kept)."""
    return 3 * PIECE_COST + len(f"call_{index}") + len(name)


def _stream(opening: List[Dict[str, Any]], piece: Callable[[str], Dict[str, Any]]) -> bytes:
    return chat_sse(ROLE, *opening, *(piece(PIECE) for _ in range(PIECES)), FINISH, USAGE)


def _responses(limit: int) -> Callable[[], StreamTranslator]:
    context = dataclasses.replace(CONTEXT, max_held_bytes=limit)
    return lambda: ChatToResponsesStream(context)


def _anthropic(limit: int) -> Callable[[], StreamTranslator]:
    context = ResponseContext(client_model="claude-sonnet-4-6", created=1_730_000_000, call_id="c7",
                              max_held_bytes=limit)
    return lambda: OpenAIToAnthropicStream(context)


# Everything a Responses client's translator keeps: text, refusal, reasoning, a call's arguments.
RESPONSES_STREAMS = {
    "text": _stream([], lambda text: chat_chunk({"content": text})),
    "refusal": _stream([], lambda text: chat_chunk({"refusal": text})),
    "reasoning": _stream([], lambda text: chat_chunk({"reasoning_content": text})),
    "arguments": _stream([_tool_start(0, "lookup")], lambda text: _tool_arguments(0, text)),
}
# What an Anthropic client's translator keeps: refusal text, and a call that arrives while
# another is open (sent whole once it can be).
ANTHROPIC_STREAMS = {
    "refusal": _stream([], lambda text: chat_chunk({"refusal": text})),
    "a held call": _stream([_tool_start(0, "first"), _tool_start(1, "second")], lambda text: _tool_arguments(1, text)),
}
# What the calls opening a stream count besides the ten pieces.
OPENING = {"arguments": _call_cost(0, "lookup"), "a held call": _call_cost(0, "first") + _call_cost(1, "second")}


@pytest.mark.parametrize("kind", RESPONSES_STREAMS)
def test_a_responses_stream_past_the_limit_ends_with_an_error(kind: str) -> None:
    out, translator = feed_all_chunkings(_responses(WHOLE + OPENING.get(kind, 0) - 1), RESPONSES_STREAMS[kind])
    stream = check_responses_stream(out)
    assert stream.terminal is None and stream.error is not None, stream.types
    assert stream.error["code"] == "bad_gateway" and "over the limit" in stream.error["message"]
    assert translator.final_response is None and translator.error is not None


@pytest.mark.parametrize("kind", RESPONSES_STREAMS)
def test_a_responses_stream_within_the_limit_completes(kind: str) -> None:
    out, translator = feed_all_chunkings(_responses(WHOLE + OPENING.get(kind, 0)), RESPONSES_STREAMS[kind])
    stream = check_responses_stream(out)
    assert stream.terminal == "response.completed" and stream.error is None
    assert translator.final_response is not None


def test_what_went_out_before_the_limit_still_reaches_the_client() -> None:
    out, _ = feed_all_chunkings(_responses(WHOLE - 1), RESPONSES_STREAMS["text"])
    assert check_responses_stream(out).text == PIECE * (PIECES - 1)  # the tenth piece is the one over


def test_one_character_pieces_count_what_keeping_them_costs() -> None:
    """A stream of one-character deltas keeps a string per delta: the count is memory, not characters."""
    raw = chat_sse(ROLE, *(chat_chunk({"content": "x"}) for _ in range(PIECES)), FINISH, USAGE)
    out, _ = feed_all_chunkings(_responses(PIECES * (1 + PIECE_COST) - 1), raw)
    assert check_responses_stream(out).error is not None
    out, _ = feed_all_chunkings(_responses(PIECES * (1 + PIECE_COST)), raw)
    assert check_responses_stream(out).terminal == "response.completed"


@pytest.mark.parametrize("kind", ANTHROPIC_STREAMS)
def test_an_anthropic_stream_past_the_limit_ends_with_an_error(kind: str) -> None:
    out, translator = feed_all_chunkings(_anthropic(WHOLE + OPENING.get(kind, 0) - 1), ANTHROPIC_STREAMS[kind])
    summary = check_anthropic_stream(out)
    assert summary.error is not None and summary.error["error"]["type"] == "api_error"
    assert "over the limit" in summary.error["error"]["message"]
    assert translator.error is not None


@pytest.mark.parametrize("kind", ANTHROPIC_STREAMS)
def test_an_anthropic_stream_within_the_limit_completes(kind: str) -> None:
    out, translator = feed_all_chunkings(_anthropic(WHOLE + OPENING.get(kind, 0)), ANTHROPIC_STREAMS[kind])
    summary = check_anthropic_stream(out)
    assert summary.error is None and summary.stop_reason is not None
    assert translator.error is None


def test_text_a_translator_does_not_keep_is_never_cut() -> None:
    """An Anthropic client's text goes out as it comes: a stream of any length passes."""
    raw = _stream([], lambda text: chat_chunk({"content": text * 100}))
    out, translator = feed_all_chunkings(_anthropic(WHOLE // 100), raw)
    summary = check_anthropic_stream(out)
    assert summary.error is None and summary.stop_reason == "end_turn" and translator.error is None


# What a translator tracks per item — tool calls, open blocks, items — counts too ---------------------
_ITEMS = 10
_ANTHROPIC_START = ('event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message",'
                    '"role":"assistant","model":"m","content":[],"stop_reason":null,"usage":{"input_tokens":1,'
                    '"output_tokens":0}}}\n\n')


def _anthropic_events(*blocks: Dict[str, Any]) -> bytes:
    def event(kind: str, data: Dict[str, Any]) -> str:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"

    starts = "".join(event("content_block_start", {"index": index, "content_block": block})
                     for index, block in enumerate(blocks))
    end = event("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}})
    return (_ANTHROPIC_START + starts + end + event("message_stop", {})).encode()


def _responses_items(count: int) -> bytes:
    items = [responses_event("response.output_item.added", output_index=index,
                             item={"type": "function_call", "id": f"fc_{index}", "call_id": f"call_{index}",
                                   "name": "f", "arguments": ""}) for index in range(count)]
    return responses_sse(responses_event("response.created", response={"id": "resp_1", "status": "in_progress"}),
                         *items)


_CONTEXT = ResponseContext(client_model="gpt-x", created=1_730_000_000, call_id="c8")
_TRACKED: Dict[str, Any] = {
    # Chat backend: a new call per delta, never given arguments (both clients that keep calls).
    "chat calls to a Responses client": (
        lambda limit: ChatToResponsesStream(dataclasses.replace(CONTEXT, max_held_bytes=limit)),
        chat_sse(ROLE, *(_tool_start(index, "lookup") for index in range(_ITEMS)), FINISH, USAGE),
        _ITEMS * _call_cost(0, "lookup")),  # indexes 0-9: "call_N" is as long for every one
    "chat calls to an Anthropic client": (
        lambda limit: _anthropic(limit)(),
        chat_sse(ROLE, *(_tool_start(index, "lookup") for index in range(_ITEMS)), FINISH, USAGE),
        _ITEMS * _call_cost(0, "lookup")),
    # Anthropic backend: blocks opened and never stopped; a tool call's whole input in its start.
    "anthropic blocks to a Chat client": (
        lambda limit: AnthropicToOpenAIStream(dataclasses.replace(_CONTEXT, max_held_bytes=limit)),
        _anthropic_events(*({"type": "text", "text": ""} for _ in range(_ITEMS))),
        _ITEMS * PIECE_COST),
    "anthropic tool inputs to a Chat client": (
        lambda limit: AnthropicToOpenAIStream(dataclasses.replace(_CONTEXT, max_held_bytes=limit)),
        _anthropic_events(*({"type": "tool_use", "id": f"t{index}", "name": "f", "input": {"q": "x" * 40}}
                            for index in range(_ITEMS))),
        _ITEMS * (2 * PIECE_COST + len('{"q":"' + "x" * 40 + '"}'))),
    # Responses backend: function_call items, each tracked by its id.
    "responses items to a Chat client": (
        lambda limit: ResponsesToChatStream(dataclasses.replace(_CONTEXT, max_held_bytes=limit)),
        _responses_items(_ITEMS),
        _ITEMS * (PIECE_COST + len("fc_0"))),
}


@pytest.mark.parametrize("case", list(_TRACKED))
def test_items_a_translator_tracks_count_toward_the_limit(case: str) -> None:
    """A backend opening tool calls, blocks or items by the million (never closing them) grew the
    translators' tables without bound: 1.4 million calls took a proxy to 430 MiB, fifty 8 MiB tool
    inputs to 507 MiB (docs/proxy-limits.md#answers). Each now counts what keeping it costs."""
    make, raw, cost = _TRACKED[case]
    out, translator = feed_all_chunkings(lambda: make(cost - 1), raw)
    assert translator.error is not None and "over the limit" in str(translator.error), out[-300:]
    out, translator = feed_all_chunkings(lambda: make(cost + 2 * PIECE_COST), raw)  # room for what ends it
    assert translator.error is None or "over the limit" not in str(translator.error), out[-300:]


def test_a_call_whose_deltas_carry_no_id_counts_only_what_is_kept() -> None:
    """Some servers send no id: each delta of such a call counts its arguments, not an id it lacks."""
    call = {"index": 0, "type": "function", "function": {"name": "lookup", "arguments": ""}}
    start = chat_chunk({"tool_calls": [call]})
    raw = _stream([start], lambda text: _tool_arguments(0, text))
    kept = WHOLE + 2 * PIECE_COST + len("lookup")  # the pieces, the call, its name
    out, translator = feed_all_chunkings(_responses(kept), raw)
    assert check_responses_stream(out).terminal == "response.completed" and translator.error is None
    out, translator = feed_all_chunkings(_responses(kept - 1), raw)
    assert translator.error is not None
