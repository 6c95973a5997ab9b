"""The proxy counts a body's JSON values piece by piece as it arrives (shim/json_budget.py
JsonValueCount): however the body is cut, the count is the one the whole body gets, strings and
their escapes included (docs/proxy-limits.md#request-bodies)."""

import json

import pytest
from fastest_run import fastest
from hypothesis import given, settings
from hypothesis import strategies as st

from shim.errors import RequestTooLargeError
from shim.json_budget import (
    MAX_JSON_VALUES,
    AnswerValueCount,
    JsonValueCount,
    TooManyJsonValues,
    check_json_work,
    count_json_values,
    excess_json_values,
    loads_within_budget,
)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=st.sampled_from('ab,[{"\\\n\u00e9}]')),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=4), inner, max_size=5),
    max_leaves=30,
)


def counted(pieces: list) -> int:
    count = JsonValueCount()
    for piece in pieces:
        count.feed(piece)
    return count.values


def expected_values(value: object) -> int:
    """What the count means: one per array and object opened, one per element after the first."""
    if isinstance(value, list):
        return 1 + max(len(value) - 1, 0) + sum(expected_values(v) for v in value)
    if isinstance(value, dict):
        return 1 + max(len(value) - 1, 0) + sum(expected_values(v) for v in value.values())
    return 0


@settings(max_examples=300, deadline=None)
@given(value=JSON_VALUES, cuts=st.lists(st.integers(min_value=0), max_size=12))
def test_a_body_cut_anywhere_counts_as_the_whole_body(value: object, cuts: list) -> None:
    raw = json.dumps(value, ensure_ascii=False).encode()
    points = sorted({cut % (len(raw) + 1) for cut in cuts})
    pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    assert counted(pieces) == counted([raw]) == expected_values(value)


@pytest.mark.parametrize("text", ['a \\" b', "\\\\", 'ends in \\\\" no', "\\\\\\\\", '\\\\\\"'])
def test_escapes_cut_between_their_two_bytes_do_not_end_a_string(text: str) -> None:
    raw = json.dumps({"s": text + ",[{", "n": [1, 2]}).encode()
    for cut in range(len(raw) + 1):
        assert counted([raw[:cut], raw[cut:]]) == counted([raw]) == 4, cut  # {, a comma, [, a comma


def test_one_byte_at_a_time_still_refuses_a_body_of_too_many_values() -> None:
    raw = b"[" + b"[]," * MAX_JSON_VALUES + b"[]]"
    with pytest.raises(RequestTooLargeError):
        check_json_work(raw)
    count = JsonValueCount()
    for start in range(0, len(raw), 65536):
        count.feed(raw[start:start + 65536])
    with pytest.raises(RequestTooLargeError):
        count.check()
    assert count.values == 2 * MAX_JSON_VALUES + 2  # a comma and an opening bracket per list


def _claude_code_history(file_bytes: int) -> bytes:
    """A Messages body whose history holds a file the agent wrote: one long string of escaped quotes."""
    code = 'print("hello", "world")\n' * (file_bytes // 24)
    write = {"type": "tool_use", "id": "toolu_1", "name": "Write", "input": {"file_path": "/tmp/a.py", "content": code}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}
    return json.dumps({"model": "claude-sonnet-4-6", "max_tokens": 64, "messages": [
        {"role": "user", "content": "write it"}, {"role": "assistant", "content": [write]},
        {"role": "user", "content": [result]}]}).encode()



def test_a_long_string_of_escapes_cut_into_pieces_is_counted_in_linear_time() -> None:
    """The count looked for a string's end with a pattern that, in a piece that did not end the
    string, was retried from every escaped quote in it: this 309 KiB body in 64 KiB pieces took
    7.7 s of the proxy's loop (docs/proxy-limits.md#request-bodies). Against parsing the same body
    in the same run, not a wall-clock bound: counting it costs about as much, not thousands of times."""
    body = _claude_code_history(256 * 1024)
    pieces = [body[start:start + 65536] for start in range(0, len(body), 65536)]
    parse = fastest(lambda: json.loads(body))
    count = fastest(lambda: counted(pieces))
    assert counted(pieces) == counted([body]) == expected_values(json.loads(body))
    assert count < 20 * parse, (count, parse)


def _separators_outside_strings(raw: bytes) -> int:
    """The count, one byte at a time: commas and opening brackets outside strings."""
    count, in_string, escaped = 0, False, False
    for byte in raw:
        if in_string:
            in_string, escaped = (escaped or byte != 0x22), (not escaped and byte == 0x5C)
        elif byte == 0x22:
            in_string = True
        else:
            count += byte in b",[{"
    return count


@pytest.mark.parametrize("padding", [b" ", b"\n\t ", b"1234567890", b"[],", b"\\\\"])
def test_pieces_with_no_quote_are_counted_as_those_that_have_one(padding: bytes) -> None:
    """Pieces without a quote take a shorter way (no split at quotes; with none of the separators,
    no deletion either) — padding between values, digits, runs of lists or escapes, inside a string
    and outside, cut anywhere: the count is the whole body's (docs/proxy-limits.md#request-bodies)."""
    run = padding * (70_000 // len(padding))
    raw = b'{"a": "' + run + b'", "b": [' + run + b"1, 2]" + run + b"}"
    expected = _separators_outside_strings(raw)
    for size in (1, 7, 4096, 65536, len(raw)):
        assert counted([raw[start:start + size] for start in range(0, len(raw), size)]) == expected, size
    assert counted([bytearray(raw[start:start + 4096]) for start in range(0, len(raw), 4096)]) == expected


# A backend's answer, counted as it arrives (AnswerValueCount, docs/proxy-limits.md#answers) ----------
def _answer_counted(raw: bytes, piece: int) -> AnswerValueCount:
    count = AnswerValueCount()
    for start in range(0, len(raw), piece):
        count.feed(raw[start:start + piece])
    return count


def test_an_answer_too_short_to_hold_the_budget_is_never_counted() -> None:
    raw = json.dumps({"choices": [{"message": {"content": "x" * 900_000}}], "usage": {}}).encode()
    assert _answer_counted(raw, 65536).values is None and loads_within_budget(raw, None)["usage"] == {}


@pytest.mark.parametrize("piece", [1 << 20, 65536, 4099])
@pytest.mark.parametrize("lists", [100_000, MAX_JSON_VALUES // 2 - 10, MAX_JSON_VALUES // 2 + 10, 1_000_000])
def test_an_answer_counted_as_it_arrives_decides_as_its_whole_count_does(piece: int, lists: int) -> None:
    """Within the budget the count is the exact one and the parse goes on; past it the answer is
    refused unparsed, whichever pieces it came in (the pieces before 1 MiB are counted when it passes)."""
    # Over 1 MiB in any case: a string of commas and escaped quotes, which the count leaves out.
    raw = b'{"id":"a","text":"' + b'\\",[' * 300_000 + b'","extra":[' + b"[]," * lists + b"[]]}"
    values = _answer_counted(raw, piece).values
    assert values is not None
    if excess_json_values(raw) is None:
        assert values == count_json_values(raw) <= MAX_JSON_VALUES
        assert loads_within_budget(raw, values)["id"] == "a"
    else:
        assert values > MAX_JSON_VALUES
        with pytest.raises(TooManyJsonValues):
            loads_within_budget(raw, values)


def test_an_answer_past_the_budget_is_counted_no_further() -> None:
    """The rest of it will not be parsed: counting it would be loop time spent for nothing."""
    head = b'{"extra":[' + b"[]," * MAX_JSON_VALUES
    count = _answer_counted(head, 65536)
    assert count.values is not None and count.values > MAX_JSON_VALUES
    before = count.values
    for _ in range(10):
        count.feed(b"[]," * 65536)
    assert count.values == before


def test_a_count_given_is_trusted_not_made_again() -> None:
    """A driver's count stands for the answer: a small body said to hold too many values is refused
    (proof that the parse took the count given instead of counting the answer again)."""
    with pytest.raises(TooManyJsonValues):
        loads_within_budget(b'{"usage": {}}', MAX_JSON_VALUES + 1)
    assert loads_within_budget(b'{"usage": {}}', 3) == {"usage": {}}
