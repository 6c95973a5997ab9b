"""The incremental SSE decoder and encoder (shim/sse.py)."""

from typing import Iterable, List

import pytest

from shim.errors import UpstreamProtocolError
from shim.json_budget import MAX_JSON_VALUES
from shim.sse import SSEDecoder, SSEEvent, encode_event

ANTHROPIC_STREAM = (
    b"event: message_start\n"
    b'data: {"type":"message_start","message":{"id":"msg_1"}}\n'
    b"\n"
    b": keep-alive comment\n"
    b"event: ping\n"
    b'data: {"type": "ping"}\n'
    b"\n"
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","delta":{"text":"h\xc3\xa9llo \\u2603"}}\n'
    b"\n"
    b"event: message_stop\n"
    b'data: {"type":"message_stop"}\n'
    b"\n"
)
ANTHROPIC_EVENTS = [
    SSEEvent("message_start", '{"type":"message_start","message":{"id":"msg_1"}}'),
    SSEEvent("ping", '{"type": "ping"}'),
    SSEEvent("content_block_delta", '{"type":"content_block_delta","delta":{"text":"héllo \\u2603"}}'),
    SSEEvent("message_stop", '{"type":"message_stop"}'),
]
OPENAI_STREAM = b'data: {"a":1}\n\n: ping\n\ndata: {"b":2}\n\ndata: [DONE]\n\n'
OPENAI_EVENTS = [SSEEvent(None, '{"a":1}'), SSEEvent(None, '{"b":2}'), SSEEvent(None, "[DONE]")]


def decode(chunks: Iterable[bytes], decoder: "SSEDecoder | None" = None) -> List[SSEEvent]:
    decoder = decoder or SSEDecoder()
    events: List[SSEEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.close())
    return events


def one_byte_at_a_time(data: bytes) -> List[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


@pytest.mark.parametrize(("stream", "expected"), [(ANTHROPIC_STREAM, ANTHROPIC_EVENTS), (OPENAI_STREAM, OPENAI_EVENTS)])
def test_whole_input(stream: bytes, expected: List[SSEEvent]) -> None:
    assert decode([stream]) == expected


@pytest.mark.parametrize(("stream", "expected"), [(ANTHROPIC_STREAM, ANTHROPIC_EVENTS), (OPENAI_STREAM, OPENAI_EVENTS)])
def test_split_at_every_byte_position_gives_the_same_events(stream: bytes, expected: List[SSEEvent]) -> None:
    for position in range(len(stream) + 1):
        assert decode([stream[:position], stream[position:]]) == expected, position


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
@pytest.mark.parametrize("chunking", ["whole", "bytewise"])
def test_line_endings(ending: bytes, chunking: str) -> None:
    stream = ANTHROPIC_STREAM.replace(b"\n", ending)
    chunks = [stream] if chunking == "whole" else one_byte_at_a_time(stream)
    assert decode(chunks) == ANTHROPIC_EVENTS


def test_crlf_split_between_two_feeds_is_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    # The LF completes the CRLF: it must not count as the blank line that dispatches the event.
    assert decoder.feed(b"\ndata: b\r") == []
    assert decoder.feed(b"\n\r\n") == [SSEEvent(None, "a\nb")]


def test_empty_feed_between_cr_and_lf_keeps_the_pair_together() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\ndata: b\n\n") == [SSEEvent(None, "a\nb")]


def test_comments_are_ignored_and_do_not_dispatch() -> None:
    assert decode([b": hello\ndata: x\n: between\ndata: y\n\n:tail\n\n"]) == [SSEEvent(None, "x\ny")]


def test_multi_line_data_joins_with_newline() -> None:
    assert decode([b"event: e\ndata: one\ndata:two\ndata:  three\n\n"]) == [SSEEvent("e", "one\ntwo\n three")]


def test_field_without_space_after_colon() -> None:
    assert decode([b"event:message_stop\ndata:{}\n\n"]) == [SSEEvent("message_stop", "{}")]


def test_field_without_colon_and_unknown_fields() -> None:
    assert decode([b"id: 7\nretry: 10\nfoo: bar\ndata\n\n"]) == [SSEEvent(None, "")]


def test_event_name_does_not_leak_into_the_next_event() -> None:
    assert decode([b"event: a\ndata: 1\n\ndata: 2\n\n"]) == [SSEEvent("a", "1"), SSEEvent(None, "2")]


def test_blank_lines_alone_dispatch_nothing() -> None:
    assert decode([b"\n\n\r\n\r\r"]) == []


@pytest.mark.parametrize("tail", [b"", b"\n"], ids=["no-newline", "one-newline"])
def test_last_event_without_blank_line_is_delivered_on_close(tail: bytes) -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: 1\n\nevent: message_stop\ndata: {}" + tail) == [SSEEvent(None, "1")]
    assert decoder.close() == [SSEEvent("message_stop", "{}")]
    assert decoder.close() == []


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert decode([b"data: \xff\xfe\n\n"]) == [SSEEvent(None, "\ufffd\ufffd")]


def test_bounded_buffer_fails_for_a_line_that_never_ends() -> None:
    decoder = SSEDecoder(max_event_bytes=64)
    decoder.feed(b"data: " + b"x" * 50)
    assert decoder.failure is None
    assert decoder.feed(b"x" * 20) == [] and isinstance(decoder.failure, UpstreamProtocolError)
    assert decoder.feed(b"\n\ndata: 1\n\n") == [] and decoder.close() == []  # nothing after the failure


def test_bounded_buffer_counts_the_data_lines_of_one_unfinished_event() -> None:
    decoder = SSEDecoder(max_event_bytes=64)
    decoder.feed(b"data: " + b"x" * 20 + b"\n")
    decoder.feed(b"data: " + b"x" * 20 + b"\n")
    assert decoder.failure is None
    decoder.feed(b"data: " + b"x" * 20 + b"\n")
    assert isinstance(decoder.failure, UpstreamProtocolError)


@pytest.mark.parametrize("chunking", ["whole", "bytes"])
def test_an_event_over_the_limit_keeps_the_events_before_it(chunking: str) -> None:
    """However the bytes were split: fed whole, the good event and the bad one came in one chunk."""
    raw = b"data: 1\n\ndata: " + b"x" * 100 + b"\n\ndata: 2\n\n"
    decoder = SSEDecoder(max_event_bytes=64)
    pieces = [raw] if chunking == "whole" else [raw[i:i + 1] for i in range(len(raw))]
    events = [event for piece in pieces for event in decoder.feed(piece)] + decoder.close()
    assert events == [SSEEvent(None, "1")] and isinstance(decoder.failure, UpstreamProtocolError)


@pytest.mark.parametrize("chunking", ["whole", "64 KiB pieces"])
def test_an_event_holding_too_many_json_values_is_refused_unparsed(chunking: str) -> None:
    """Within the size limit, but more values than the router parses for a call
    (docs/proxy-limits.md#answers): the translators would parse it on the proxy's loop."""
    lists = b"[" + b"[]," * (MAX_JSON_VALUES + 1) + b"[]]"
    fitting = b"[" + b"1," * (MAX_JSON_VALUES // 2) + b"1]"  # over a megabyte, within the values
    raw = b"data: " + fitting + b"\n\ndata: " + lists + b"\n\n"
    decoder = SSEDecoder()
    pieces = [raw] if chunking == "whole" else [raw[i:i + 65536] for i in range(0, len(raw), 65536)]  # 3.5 MB
    events = [event for piece in pieces for event in decoder.feed(piece)] + decoder.close()
    assert [len(event.data) for event in events] == [len(fitting)]
    assert decoder.failure is not None and "JSON values" in decoder.failure.message


def test_bounded_buffer_resets_after_each_event() -> None:
    decoder = SSEDecoder(max_event_bytes=64)
    events = []
    for _ in range(20):
        events += decoder.feed(b"data: " + b"x" * 40 + b"\n\n")
    assert len(events) == 20


def test_long_line_fed_byte_by_byte_is_not_quadratic() -> None:
    line = b"data: " + b"y" * 200_000 + b"\n\n"
    decoder = SSEDecoder()
    events = []
    for byte in one_byte_at_a_time(line):
        events += decoder.feed(byte)
    assert events == [SSEEvent(None, "y" * 200_000)]


@pytest.mark.parametrize(
    ("data", "event", "wire"),
    [
        ('{"a":1}', None, b'data: {"a":1}\n\n'),
        ("[DONE]", None, b"data: [DONE]\n\n"),
        ('{"type":"ping"}', "ping", b'event: ping\ndata: {"type":"ping"}\n\n'),
        ("line1\nline2", None, b"data: line1\ndata: line2\n\n"),
    ],
)
def test_encode_event_wire_format(data: str, event: "str | None", wire: bytes) -> None:
    assert encode_event(data, event) == wire


@pytest.mark.parametrize("event", [None, "message_delta"])
@pytest.mark.parametrize("data", ['{"x": "é ☃ \\n"}', "", " leading space", "a\nb\n", "[DONE]"])
def test_encode_event_round_trips(data: str, event: "str | None") -> None:
    wire = encode_event(data, event)
    assert wire.endswith(b"\n\n")
    assert decode(one_byte_at_a_time(wire)) == [SSEEvent(event, data)]
    assert decode([wire * 3]) == [SSEEvent(event, data)] * 3


def test_a_large_chunk_of_events_is_not_one_large_event() -> None:
    """The size limit is one event's, not the chunk's that brought it (fed whole, a stream's bytes
    are all in the decoder's buffer while it dispatches their events)."""
    event = b"data: " + b"x" * (2 << 20) + b"\r\n\r\n"  # CRLF: the general path, which buffers the chunk
    decoder = SSEDecoder()
    events = decoder.feed(event * 9)  # 18 MiB: more than one event's limit, in one chunk
    assert len(events) == 9 and decoder.failure is None
