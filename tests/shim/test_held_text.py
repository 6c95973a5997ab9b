"""What a stream translator keeps until its stream ends is held to a limit (docs/proxy-limits.md#answers).

A backend that streams without end made the translators that keep text (a Responses client's
final Response; an Anthropic client's held tool calls and refusal text) grow for as long as it
streamed. Past the limit the stream ends with one in-band error, after everything sent before it,
under every chunking of the upstream (one byte at a time included); just within it, the stream
completes; a translator that keeps nothing is never cut.
"""

import dataclasses
from typing import Any, Callable, Dict, List

import pytest
from anthropic_stream_grammar import check_anthropic_stream
from responses_stream_grammar import check_responses_stream
from responses_support import CONTEXT, chat_chunk, chat_sse, feed_all_chunkings

from shim.translate.context import ResponseContext
from shim.translate.held_text import PIECE_COST
from shim.translate.stream_base import StreamTranslator
from shim.translate.stream_chat_to_responses import ChatToResponsesStream
from shim.translate.stream_openai_to_anthropic import OpenAIToAnthropicStream

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


@pytest.mark.parametrize("kind", RESPONSES_STREAMS)
def test_a_responses_stream_past_the_limit_ends_with_an_error(kind: str) -> None:
    out, translator = feed_all_chunkings(_responses(WHOLE - 1), RESPONSES_STREAMS[kind])
    stream = check_responses_stream(out)
    assert stream.terminal is None and stream.error is not None, stream.types
    assert stream.error["code"] == "bad_gateway" and "over the limit" in stream.error["message"]
    assert translator.final_response is None and translator.error is not None


@pytest.mark.parametrize("kind", RESPONSES_STREAMS)
def test_a_responses_stream_within_the_limit_completes(kind: str) -> None:
    out, translator = feed_all_chunkings(_responses(WHOLE), RESPONSES_STREAMS[kind])
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
    out, translator = feed_all_chunkings(_anthropic(WHOLE - 1), ANTHROPIC_STREAMS[kind])
    summary = check_anthropic_stream(out)
    assert summary.error is not None and summary.error["error"]["type"] == "api_error"
    assert "over the limit" in summary.error["error"]["message"]
    assert translator.error is not None


@pytest.mark.parametrize("kind", ANTHROPIC_STREAMS)
def test_an_anthropic_stream_within_the_limit_completes(kind: str) -> None:
    out, translator = feed_all_chunkings(_anthropic(WHOLE), ANTHROPIC_STREAMS[kind])
    summary = check_anthropic_stream(out)
    assert summary.error is None and summary.stop_reason is not None
    assert translator.error is None


def test_text_a_translator_does_not_keep_is_never_cut() -> None:
    """An Anthropic client's text goes out as it comes: a stream of any length passes."""
    raw = _stream([], lambda text: chat_chunk({"content": text * 100}))
    out, translator = feed_all_chunkings(_anthropic(WHOLE // 100), raw)
    summary = check_anthropic_stream(out)
    assert summary.error is None and summary.stop_reason == "end_turn" and translator.error is None
