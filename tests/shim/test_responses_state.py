"""previous_response_id: the store, the chain expansion in plan_call, the record a driver keeps
(docs/responses-api.md#state-previous_response_id), and the Responses pass-through stream that
hands the driver its final response."""

import dataclasses
import json
import sys
from typing import Any, Dict, Optional

import pytest
from responses_stream_grammar import check_responses_stream
from responses_support import responses_event, responses_sse, split_upstream

from host.demo.reply import Reply
from host.demo.wire_responses import ResponsesWire
from shim.config import RouterConfig
from shim.errors import InvalidRequestError, RouterError, UpstreamProtocolError
from shim.json_budget import JsonMeasure
from shim.plan import REFUSED, ClientCall, Plan, plan_call
from shim.protocols import CHAT, RESPONSES
from shim.responses_store import PYTHON_BYTES_PER_VALUE, MemoryResponseStore, StoredResponse
from shim.translate.stream_passthrough import PassthroughStream

CONFIG = RouterConfig.from_dict({"backends": {
    "openai": {"protocol": "openai", "base_url": "https://api.openai.com/v1", "api_key": "sk-REAL",
               "responses_api": True},
    "groq": {"protocol": "openai", "base_url": "https://api.groq.com/openai/v1", "api_key": "gsk",
             "models": ["llama*"]},
    "anthropic": {"protocol": "anthropic", "base_url": "https://api.anthropic.com", "api_key": "sk-ant"},
}})
NOW = 1_700_000_000.0


def stored(response_id: str, created_at: float = NOW, text: str = "x") -> StoredResponse:
    return StoredResponse(response_id, created_at, {"id": response_id, "object": "response", "output": []},
                          ({"role": "user", "content": text},))


def plan(body: Dict[str, Any], store: Optional[MemoryResponseStore] = None, endpoint: str = RESPONSES) -> Plan:
    call = ClientCall(endpoint, {"authorization": "Bearer client"}, json.dumps(body).encode())
    return plan_call(CONFIG, call, now=NOW, call_id="call1", responses=store)


def refusal(body: Dict[str, Any], store: Optional[MemoryResponseStore] = None) -> RouterError:
    """The error of a routed call the engine refused (the driver answers it to the client)."""
    refused = plan(body, store)
    assert refused.disposition == REFUSED and refused.refusal is not None
    assert refused.refusal_response().status == 400
    return refused.refusal


# The store ----------------------------------------------------------------------------------------

def test_memory_store_put_get_delete() -> None:
    store = MemoryResponseStore()
    store.put(stored("resp_1"))
    assert store.get("resp_1", NOW) == stored("resp_1") and store.get("resp_2", NOW) is None
    assert store.delete("resp_1") and not store.delete("resp_1") and store.get("resp_1", NOW) is None
    assert len(store) == 0 and store.total_bytes == 0


def test_memory_store_expires_records_by_age() -> None:
    store = MemoryResponseStore(max_age_seconds=60)
    store.put(stored("resp_1"))
    assert store.get("resp_1", NOW + 59) is not None
    assert store.get("resp_1", NOW + 60) is None and len(store) == 0


def test_memory_store_drops_the_oldest_past_its_entry_bound() -> None:
    store = MemoryResponseStore(max_entries=2)
    for number in range(3):
        store.put(stored(f"resp_{number}", NOW + number))
    assert [store.get(f"resp_{n}", NOW) is not None for n in range(3)] == [False, True, True]


def test_memory_store_is_bounded_by_bytes_and_refuses_a_record_larger_than_the_bound() -> None:
    measure = stored("resp_0", text="y" * 100).measure
    size = measure.size + PYTHON_BYTES_PER_VALUE * measure.values
    store = MemoryResponseStore(max_bytes=2 * size + 10)
    for number in range(3):
        store.put(stored(f"resp_{number}", text="y" * 100))
    assert len(store) == 2 and store.total_bytes <= store.max_bytes and store.get("resp_0", NOW) is None
    store.put(stored("resp_big", text="z" * 10 * size))
    assert store.get("resp_big", NOW) is None and len(store) == 2


def test_memory_store_counts_a_records_measure_without_serialising_it() -> None:
    # The engine's measure of what replaying the record sends: a long conversation is not serialised
    # again on every call to learn its size (docs/response-store.md#router-shim-the-engines-in-process-store).
    store = MemoryResponseStore(max_bytes=2_000)
    small = stored("resp_1")
    assert len(small.to_json()) < 1_000
    store.put(dataclasses.replace(small, measure=JsonMeasure(2_001, 0)))
    assert store.get("resp_1", NOW) is None and store.total_bytes == 0
    other = stored("resp_2")  # another id: resp_1 is a tombstone now (one id, one conversation)
    store.put(dataclasses.replace(other, measure=JsonMeasure(600, 10)))
    assert store.get("resp_2", NOW) is not None and store.total_bytes == 600 + 10 * PYTHON_BYTES_PER_VALUE


def test_memory_store_charges_each_value_what_it_holds_in_memory() -> None:
    """Its JSON's bytes alone undercounted a record's memory 3-10x: 1,200 calls of 2,000 small input
    items took a shimmed program from 82 to 531 MiB under a "32 MiB" store
    (docs/response-store.md#router-shim-the-engines-in-process-store)."""
    items = json.loads(json.dumps([{"role": "user", "content": "hi"}] * 2_000))  # as parsed: 2,000 dicts
    record = StoredResponse("resp_many", NOW, {"id": "resp_many", "object": "response", "output": []}, tuple(items))
    heap = _python_bytes(record.conversation)
    store = MemoryResponseStore()
    store.put(record)
    assert store.total_bytes >= heap > 3 * record.measure.size


def _python_bytes(value: Any) -> int:
    """What ``value`` holds in memory, every object counted once."""
    seen, todo, total = set(), [value], 0
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            todo.extend(item.keys())
            todo.extend(item.values())
        elif isinstance(item, (list, tuple)):
            todo.extend(item)
    return total


def test_an_id_put_twice_names_no_record_and_the_byte_count_follows() -> None:
    """docs/responses-api.md#one-id-one-conversation: a backend reused an id; neither conversation
    is served, nor a third under it, until it is deleted (or ages out)."""
    store = MemoryResponseStore(max_entries=2, max_age_seconds=100)
    store.put(stored("resp_1", text="a" * 50))
    store.put(stored("resp_1", text="b"))
    store.put(stored("resp_1", text="c"))
    assert store.get("resp_1", NOW) is None and store.total_bytes == 0 and len(store) == 0
    assert store.delete("resp_1") is True
    store.put(stored("resp_1", text="d"))
    assert store.get("resp_1", NOW) == stored("resp_1", text="d")
    for number in range(2, 6):  # reused ids are bounded like records
        store.put(stored(f"resp_{number}"))
        store.put(stored(f"resp_{number}"))
    assert len(store._tombstones) <= 2


def test_a_record_too_large_to_keep_leaves_a_tombstone_and_aged_out_ones_are_gone() -> None:
    store = MemoryResponseStore(max_bytes=3_000, max_age_seconds=100)  # a small record: ~1,200 bytes
    store.put(stored("resp_1", text="x" * 5000))  # not kept, and its id names no record
    store.put(stored("resp_1", text="small"))
    assert store.get("resp_1", NOW) is None
    later = stored("resp_1", created_at=NOW + 100, text="later")
    store.put(later)  # the tombstone has aged out: a new record, no collision
    assert store.get("resp_1", NOW + 100) == later
    store.put(stored("resp_2"))
    newer = stored("resp_2", created_at=NOW + 100, text="newer")
    store.put(newer)  # the first record aged out before it was evicted
    assert store.get("resp_2", NOW + 100) == newer


def test_a_record_round_trips_through_json() -> None:
    record = stored("resp_1")
    assert StoredResponse.from_json(record.to_json()) == record
    for raw in (b"[]", b'{"response_id": 1}', b'{"response_id": "r", "created_at": 1, "response": {}, '
                                                b'"conversation": [1]}'):
        with pytest.raises(ValueError):
            StoredResponse.from_json(raw)


# Expansion in plan_call ---------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["llama-3.3-70b", "claude-sonnet-4-6", "gpt-5.1"])
def test_a_known_previous_response_is_expanded_for_every_backend(model: str) -> None:
    store = MemoryResponseStore()
    first = plan({"model": model, "input": "My name is Ada.", "instructions": "Be kind."}, store)
    record = first.response_record({"id": "resp_a", "object": "response", "status": "completed", "output": [
        {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
         "content": [{"type": "output_text", "text": "Hi Ada.", "annotations": []}]}]})
    assert record is not None and record.response_id == "resp_a" and record.created_at == NOW
    assert [item.get("role") for item in record.conversation] == ["user", "assistant"], "instructions are not kept"
    store.put(record)
    second = plan({"model": model, "input": [{"role": "user", "content": "Who am I?"}],
                   "previous_response_id": "resp_a"}, store)
    upstream = json.dumps(json.loads(second.upstream_body))
    assert "previous_response_id" not in upstream and "Be kind." not in upstream
    assert upstream.index("My name is Ada.") < upstream.index("Hi Ada.") < upstream.index("Who am I?")
    assert any("previous_response_id" in note for note in second.notes)
    follow = second.response_record({"id": "resp_b", "object": "response", "status": "completed", "output": []})
    assert follow is not None and len(follow.conversation) == 3, "a record holds the whole chain"


@pytest.mark.parametrize("model", ["llama-3.3-70b", "claude-sonnet-4-6"])
@pytest.mark.parametrize("store", [None, MemoryResponseStore()])
def test_an_unknown_previous_response_is_a_400_for_stateless_backends(
    model: str, store: Optional[MemoryResponseStore]
) -> None:
    error = refusal({"model": model, "input": "q", "previous_response_id": "resp_gone"}, store)
    assert isinstance(error, InvalidRequestError)
    assert error.param == "previous_response_id" and "resp_gone" in error.message


def test_an_expired_previous_response_is_unknown() -> None:
    store = MemoryResponseStore(max_age_seconds=10)
    store.put(stored("resp_old", NOW - 11))
    assert "resp_old" in refusal({"model": "llama-3", "input": "q", "previous_response_id": "resp_old"}, store).message


def test_an_unknown_previous_response_goes_to_a_native_backend_unchanged() -> None:
    raw = {"model": "gpt-5.1", "input": "q", "previous_response_id": "resp_openais_own"}
    result = plan(raw, MemoryResponseStore())
    assert not result.translated and json.loads(result.upstream_body) == raw
    assert result.upstream_url == "https://api.openai.com/v1/responses"
    record = result.response_record({"id": "resp_next", "object": "response", "status": "completed", "output": []})
    assert record is None, "the router does not hold that whole conversation"


def test_a_native_backend_judges_the_input_itself() -> None:
    """The same-format path forwards what it cannot make sense of; only the record is skipped."""
    raw = {"model": "gpt-5.1", "input": 42}
    result = plan(raw, MemoryResponseStore())
    assert result.refusal is None and json.loads(result.upstream_body) == raw
    assert result.response_record(COMPLETED) is None


@pytest.mark.parametrize("value", [3, "", ["resp_1"]])
def test_a_malformed_previous_response_id_is_a_400(value: Any) -> None:
    error = refusal({"model": "llama-3", "input": "q", "previous_response_id": value}, MemoryResponseStore())
    assert error.param == "previous_response_id"


# The record ---------------------------------------------------------------------------------------

COMPLETED = {"id": "resp_1", "object": "response", "status": "completed", "output": []}


@pytest.mark.parametrize(("body", "kept"), [
    ({"model": "llama-3", "input": "q"}, True),
    ({"model": "llama-3", "input": "q", "store": True}, True),
    ({"model": "llama-3", "input": "q", "store": False}, False),
])
def test_store_false_stores_nothing(body: Dict[str, Any], kept: bool) -> None:
    assert (plan(body).response_record(COMPLETED) is not None) is kept


@pytest.mark.parametrize("response", [
    {**COMPLETED, "status": "failed"},
    {**COMPLETED, "object": "chat.completion"},
    {"object": "response", "output": []},
    b"not json",
    None,
])
def test_only_a_continuable_response_object_makes_a_record(response: Any) -> None:
    assert plan({"model": "llama-3", "input": "q"}).response_record(response) is None


def test_records_from_bytes_and_for_incomplete_responses() -> None:
    record = plan({"model": "llama-3", "input": "q"}).response_record(
        json.dumps({**COMPLETED, "status": "incomplete"}).encode(), now=NOW + 5)
    assert record is not None and record.created_at == NOW + 5


def test_other_endpoints_make_no_record() -> None:
    chat = plan({"model": "llama-3", "messages": [{"role": "user", "content": "q"}]}, endpoint=CHAT)
    assert chat.response_record(COMPLETED) is None


# The Responses pass-through stream ----------------------------------------------------------------

@pytest.mark.parametrize("chunking", ["whole", "per_event", "bytes"])
def test_passthrough_keeps_the_bytes_and_reads_usage_and_the_final_response(chunking: str) -> None:
    raw = b"".join(ResponsesWire(Reply.build(text="Hello."), "gpt-5.1", 1, {}).stream_events())
    stream = PassthroughStream(RESPONSES)
    out = b"".join(stream.feed(piece) for piece in split_upstream(raw, chunking)) + stream.close()
    assert out == raw and stream.complete and stream.error is None
    assert stream.final_response is not None and stream.final_response["id"] == "resp_Fake000001"
    assert stream.usage is not None and stream.usage.output_tokens == 18


def test_passthrough_reports_an_upstream_failure() -> None:
    raw = b"".join(ResponsesWire(Reply.build(text="Hello.", fail_midstream=True), "gpt-5.1", 1, {}).stream_events())
    stream = PassthroughStream(RESPONSES)
    assert stream.feed(raw) + stream.close() == raw
    assert stream.error is not None and stream.error.kind_name == "api_error" and stream.final_response is None


def test_passthrough_reports_an_upstream_error_event() -> None:
    raw = responses_sse(responses_event("response.created", response={"id": "r", "object": "response",
                                                                        "status": "in_progress", "output": []}),
                        responses_event("error", code="rate_limit_exceeded", message="Slow down", param=None))
    stream = PassthroughStream(RESPONSES)
    stream.feed(raw)
    assert stream.error is not None and stream.error.kind_name == "rate_limit"


# A damaged stream: a "sequence_number" key with no number ends it, after an event numbered 3.
DAMAGED = b'data: {"type":"x","sequence_number":3}\n\ndata: {"sequence_number":\rdata: :\n\n'


@pytest.mark.parametrize("chunking", ["whole", "per_event", "bytes"])
def test_the_error_a_cut_stream_gets_is_numbered_the_same_however_its_reads_fell(chunking: str) -> None:
    """The number continues the last one the stream gave (3), whether the key without a number came
    in the same read or a later one: what a stream adds never depends on the upstream's reads."""
    stream = PassthroughStream(RESPONSES)
    out = b"".join(stream.feed(piece) for piece in split_upstream(DAMAGED, chunking)) + stream.close()
    assert out.startswith(DAMAGED) and b'"sequence_number":4,' in out[len(DAMAGED):]


@pytest.mark.parametrize("cut", [3, 6])
def test_a_cut_native_stream_ends_with_an_error_event_numbered_after_the_last_one(cut: int) -> None:
    events = ResponsesWire(Reply.build(text="Hello there."), "gpt-5.1", 1, {}).stream_events()[:cut]
    stream = PassthroughStream(RESPONSES)
    out = b"".join(stream.feed(event) for event in events) + stream.close()
    parsed = check_responses_stream(out)
    assert parsed.error is not None and parsed.events[-1]["sequence_number"] == cut
    aborted = PassthroughStream(RESPONSES)
    out = b"".join(aborted.feed(event) for event in events) + aborted.abort(UpstreamProtocolError("lost"))
    assert check_responses_stream(out).error is not None
