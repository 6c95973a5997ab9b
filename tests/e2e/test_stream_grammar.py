"""The exact bytes of translated streams, read with a raw HTTP client and checked against the
grammars of docs/protocol-rules.md#anthropic-stream and docs/protocol-rules.md#openai-stream —
everything the SDKs do not validate (docs/protocol-rules.md#sdk-conformance; P-numbers: docs/pitfalls.md)."""

import json
from typing import Any, Dict, List

import httpx
import pytest
from e2e_support import RICH_USAGE, USER_MESSAGES, WEATHER_CALLS
from fakes import EngineServer, FakeProvider
from stream_grammars import anthropic_final_usage, check_anthropic_stream, check_openai_stream

SCENARIOS: Dict[str, Dict[str, Any]] = {
    "text": {"text": "Hello there, general."},
    "thinking_text": {"thinking": "Consider the question first.", "text": "Answer."},
    "text_tools": {"text": "Checking both.", "tool_calls": WEATHER_CALLS},
    "tools_only": {"tool_calls": WEATHER_CALLS},
    "no_arg_tool": {"tool_calls": [("list_files", {})]},
}
BLOCK_TYPES = {
    "text": ["text"],
    "thinking_text": ["thinking", "text"],
    "text_tools": ["text", "tool_use", "tool_use"],
    "tools_only": ["tool_use", "tool_use"],
    "no_arg_tool": ["tool_use"],
}
FAILURES: Dict[str, Dict[str, Any]] = {
    "midstream_error": {"text": "Cut off soon", "fail_midstream": True},
    "truncated_eof": {"text": "Never finished", "truncate_after_events": 4},
    "truncated_connection_dropped": {"text": "Never finished", "truncate_after_events": 4, "drop_connection": True},
}
OPENAI_HEADERS = {"authorization": "Bearer router"}
ANTHROPIC_HEADERS = {"x-api-key": "router", "anthropic-version": "2023-06-01"}


def _stream(raw_http: httpx.Client, path: str, body: Dict[str, Any], headers: Dict[str, str]) -> bytes:
    with raw_http.stream("POST", path, json={**body, "stream": True}, headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream"), "P20: a stream must be SSE"
        assert "content-length" not in response.headers
        return b"".join(response.iter_raw())


def _openai_stream(raw_http: httpx.Client, include_usage: bool) -> bytes:
    body: Dict[str, Any] = {"model": "claude-sonnet-4-6", "messages": USER_MESSAGES}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    return _stream(raw_http, "/v1/chat/completions", body, OPENAI_HEADERS)


def _anthropic_stream(raw_http: httpx.Client) -> bytes:
    body = {"model": "gpt-5.1", "max_tokens": 300, "messages": USER_MESSAGES}
    return _stream(raw_http, "/v1/messages", body, ANTHROPIC_HEADERS)


@pytest.mark.parametrize("include_usage", [True, False], ids=["include_usage", "no_usage"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_openai_client_stream_grammar(
    raw_http: httpx.Client, provider: FakeProvider, chunking: str, scenario: str, include_usage: bool
) -> None:
    provider.reply(usage=RICH_USAGE, **SCENARIOS[scenario])
    stream = check_openai_stream(_openai_stream(raw_http, include_usage), include_usage=include_usage)
    assert stream.error is None
    tools = bool(SCENARIOS[scenario].get("tool_calls"))
    assert stream.finish_reason == ("tool_calls" if tools else "stop")
    for delta in stream.deltas:
        for call in delta.get("tool_calls") or []:
            assert call.get("function", {}).get("arguments") != "" or "id" in call, f"P6: empty fragment {call}"
    if include_usage:
        assert stream.usage["prompt_tokens"] == RICH_USAGE.prompt_tokens
        assert stream.usage["completion_tokens"] == RICH_USAGE.output


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_anthropic_client_stream_grammar(
    raw_http: httpx.Client, provider: FakeProvider, chunking: str, scenario: str
) -> None:
    provider.reply(usage=RICH_USAGE, **SCENARIOS[scenario])
    summary = check_anthropic_stream(_anthropic_stream(raw_http))
    assert summary.error is None
    assert summary.block_types == BLOCK_TYPES[scenario]
    tools = bool(SCENARIOS[scenario].get("tool_calls"))
    assert summary.stop_reason == ("tool_use" if tools else "end_turn")
    _assert_no_empty_text_blocks(summary.events)
    usage = anthropic_final_usage(summary.events)
    assert usage["input_tokens"] == RICH_USAGE.input, "P8: the real input count, never a placeholder"
    assert usage["cache_read_input_tokens"] == RICH_USAGE.cache_read
    assert usage["cache_creation_input_tokens"] == RICH_USAGE.cache_write
    assert usage["output_tokens"] == RICH_USAGE.output


def _assert_no_empty_text_blocks(events: List[Dict[str, Any]]) -> None:
    """P9: an empty text block is later replayed and rejected ("text content blocks must be non-empty")."""
    text: Dict[int, str] = {}
    for event in events:
        if event["type"] == "content_block_start" and event["content_block"]["type"] == "text":
            text[event["index"]] = event["content_block"]["text"]
        elif event["type"] == "content_block_delta" and event["delta"]["type"] == "text_delta":
            text[event["index"]] += event["delta"]["text"]
    assert all(text.values()), f"empty text block(s): {text}"


def test_p6_anthropic_no_arg_tool_input_is_empty_object(
    raw_http: httpx.Client, provider: FakeProvider, chunking: str
) -> None:
    provider.reply(tool_calls=[("list_files", {})])
    summary = check_anthropic_stream(_anthropic_stream(raw_http))
    partial = "".join(
        event["delta"]["partial_json"] for event in summary.events if event["type"] == "content_block_delta"
    )
    assert json.loads(partial or "{}") == {}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_openai_client_stream_failure_ends_in_error(
    raw_http: httpx.Client, provider: FakeProvider, chunking: str, failure: str
) -> None:
    provider.reply(**FAILURES[failure])
    stream = check_openai_stream(_openai_stream(raw_http, include_usage=True), include_usage=True)
    assert stream.error is not None, "a broken upstream must end the client stream with an error"
    assert stream.finish_reason is None and not stream.done


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_anthropic_client_stream_failure_ends_in_error(
    raw_http: httpx.Client, provider: FakeProvider, chunking: str, failure: str
) -> None:
    provider.reply(**FAILURES[failure])
    summary = check_anthropic_stream(_anthropic_stream(raw_http))
    assert summary.error is not None, "a broken upstream must end the client stream with event: error"
    assert summary.stop_reason is None


# (path, model, headers, upstream events to write before holding). The held prefix is enough for
# the translator to have something to say: a message_start / the role chunk and some text.
INCREMENTAL_ROUTES = {
    "openai_client_translated": ("/v1/chat/completions", "claude-sonnet-4-6", OPENAI_HEADERS, 4),
    "anthropic_client_translated": ("/v1/messages", "gpt-5.1", ANTHROPIC_HEADERS, 2),
    "openai_passthrough": ("/v1/chat/completions", "gpt-5.1", OPENAI_HEADERS, 2),
    "anthropic_passthrough": ("/v1/messages", "claude-sonnet-4-6", ANTHROPIC_HEADERS, 2),
}


@pytest.mark.parametrize("route", sorted(INCREMENTAL_ROUTES))
def test_p20_stream_is_forwarded_as_it_arrives(
    raw_http: httpx.Client, provider: FakeProvider, chunking: str, route: str
) -> None:
    """The upstream writes a few events and then stalls: the client must already have bytes (the
    driver reads with read1 and the translators emit per event: docs/architecture.md#stream-translators)."""
    path, model, headers, held = INCREMENTAL_ROUTES[route]
    provider.reply(text="First words, then a long pause, then the rest.", hold_after_events=held)
    body = {"model": model, "max_tokens": 300, "messages": USER_MESSAGES, "stream": True}
    with raw_http.stream("POST", path, json=body, headers=headers) as response:
        chunks = response.iter_raw()
        first = next(chunks)
        assert first and not provider.hold_timed_out, "no byte reached the client while the upstream stalled"
        provider.release.set()
        rest = b"".join(chunks)
    assert b"First" in first + rest


@pytest.mark.parametrize("route", sorted(INCREMENTAL_ROUTES))
def test_chunking_reaches_the_engine(
    raw_http: httpx.Client, engine: EngineServer, provider: FakeProvider, chunking: str, route: str
) -> None:
    """The byte_by_byte runs really feed the engine one byte per read (and per-event runs do not)."""
    path, model, headers, _ = INCREMENTAL_ROUTES[route]
    provider.reply(text="Some text to stream.")
    engine.read_sizes.clear()
    body = {"model": model, "max_tokens": 300, "messages": USER_MESSAGES, "stream": True}
    with raw_http.stream("POST", path, json=body, headers=headers) as response:
        response.read()
    sizes = engine.read_sizes[-1]
    assert sum(sizes) == len(provider.last.sent_body)
    assert (max(sizes) == 1) == (chunking == "byte_by_byte"), sizes[:20]
