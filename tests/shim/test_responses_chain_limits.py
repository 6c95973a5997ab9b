"""A continued conversation is held to a body's limits (docs/proxy-limits.md#continued-conversations).

``previous_response_id`` makes the router build a request the client never sent: the stored
conversation in front of the new input. Each body was within the limits, so nothing bounded the
sum: chained Responses calls of 3 MiB (100,000 small items) each grew the request the proxy parsed,
translated and sent on its event loop by one body a call — 2.5 s stalls and 550 MiB after twelve.
Each record now carries a measure (bytes, JSON values) made by adding up what built it, and the
chain is refused before it is expanded when the sum is over a body's limits."""

import json
from typing import Any, Dict, List, Optional

import pytest

from shim.config import RouterConfig
from shim.errors import RequestTooLargeError
from shim.json_budget import MAX_JSON_VALUES, JsonMeasure, count_json_values
from shim.plan import REFUSED, ClientCall, Plan, plan_call
from shim.protocols import RESPONSES
from shim.responses_store import MemoryResponseStore, StoredResponse

CONFIG = RouterConfig.from_dict({"backends": {
    "groq": {"protocol": "openai", "base_url": "https://api.groq.com/openai/v1", "api_key": "gsk",
             "models": ["llama*"]},
}})
NOW = 1_700_000_000.0
MODEL = "llama-3"


def _plan(body: Dict[str, Any], store: MemoryResponseStore, max_body_bytes: int = 1 << 20,
          counted: Optional[int] = None) -> Plan:
    call = ClientCall(RESPONSES, {}, json.dumps(body).encode(), json_values=counted)
    return plan_call(CONFIG, call, now=NOW, call_id="call1", responses=store, max_body_bytes=max_body_bytes)


def _answer(response_id: str, text: str) -> Dict[str, Any]:
    return {"id": response_id, "object": "response", "status": "completed", "output": [
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}]}


def _call(store: MemoryResponseStore, response_id: str, items: List[Dict[str, Any]],
          previous: Optional[str] = None, max_body_bytes: int = 1 << 20) -> Plan:
    """Plan a Responses call and keep its record as a driver would, answered ``response_id``."""
    body: Dict[str, Any] = {"model": MODEL, "input": items}
    if previous is not None:
        body["previous_response_id"] = previous
    planned = _plan(body, store, max_body_bytes)
    if planned.disposition != REFUSED:
        record = planned.response_record(json.dumps(_answer(response_id, "ok")).encode())
        assert record is not None
        store.put(record)
    return planned


# A store that keeps records near the values budget: the default's 32 MiB is what some 300,000
# parsed values hold in memory (docs/response-store.md#router-shim-the-engines-in-process-store).
_ROOMY = 128 << 20


def _items(count: int, text: str = "x") -> List[Dict[str, Any]]:
    return [{"role": "user", "content": text} for _ in range(count)]


def test_a_record_measures_the_bodies_and_outputs_that_made_it() -> None:
    store = MemoryResponseStore()
    first_body = json.dumps({"model": MODEL, "input": _items(3)}).encode()
    _call(store, "resp_1", _items(3))
    first = store.get("resp_1", NOW)
    assert first is not None
    output = json.dumps(_answer("resp_1", "ok")["output"], separators=(",", ":")).encode()
    assert first.measure == JsonMeasure.of(first_body) + JsonMeasure.of(output)
    second_body = json.dumps({"model": MODEL, "input": _items(2), "previous_response_id": "resp_1"}).encode()
    _call(store, "resp_2", _items(2), previous="resp_1")
    second = store.get("resp_2", NOW)
    assert second is not None and len(second.conversation) == 3 + 1 + 2 + 1
    assert second.measure == first.measure + JsonMeasure.of(second_body) + JsonMeasure.of(output)
    # at least the conversation's compact JSON (for ASCII text: Python escapes the rest, docs say so)
    replayed = json.dumps(list(second.conversation), separators=(",", ":")).encode()
    assert second.measure.size >= len(replayed) and second.measure.values >= count_json_values(replayed)


def test_a_chain_over_a_bodys_size_is_refused_before_it_is_expanded() -> None:
    store = MemoryResponseStore()
    text = "y" * 200_000
    previous = None
    for number in range(1, 10):  # each body ~0.2 MiB, the limit 1 MiB
        planned = _call(store, f"resp_{number}", _items(1, text), previous=previous)
        if planned.disposition == REFUSED:
            break
        previous = f"resp_{number}"
    assert planned.disposition == REFUSED and number == 6  # five such bodies fit in 1 MiB, six do not
    error = planned.refusal
    assert isinstance(error, RequestTooLargeError) and error.param == "previous_response_id"
    assert "over the limit of 1048576" in str(error) and "resp_5" in str(error)
    response = planned.refusal_response()
    assert response.status == 413 and json.loads(response.body)["error"]["param"] == "previous_response_id"
    assert planned.upstream_body == b""  # nothing built
    # the conversation so far can still be continued by a smaller input, and started again from scratch
    assert _call(store, "resp_x", _items(1), previous="resp_5").disposition != REFUSED
    assert _call(store, "resp_y", _items(1, text)).disposition != REFUSED


def test_a_chain_over_the_values_budget_is_refused_whatever_its_bytes() -> None:
    store = MemoryResponseStore(max_bytes=_ROOMY)
    many = MAX_JSON_VALUES // 3 * 2 // 3  # items of three values: each body two thirds of the budget's
    big = 64 << 20  # bytes are not what stops it here
    assert _call(store, "resp_1", _items(many), max_body_bytes=big).disposition != REFUSED
    refused = _call(store, "resp_2", _items(many), previous="resp_1", max_body_bytes=big)
    assert refused.disposition == REFUSED and isinstance(refused.refusal, RequestTooLargeError)
    assert f"over the limit of {MAX_JSON_VALUES}" in str(refused.refusal)
    assert _call(store, "resp_3", _items(10), previous="resp_1", max_body_bytes=big).disposition != REFUSED


def test_a_driver_count_of_the_body_is_used_as_given() -> None:
    # The proxy counts values as the body arrives; planning takes its count instead of counting again.
    store = MemoryResponseStore(max_bytes=_ROOMY)
    store.put(StoredResponse("resp_1", NOW, _answer("resp_1", "ok"), ({"role": "user", "content": "q"},),
                             JsonMeasure(10, MAX_JSON_VALUES - 5)))
    body = {"model": MODEL, "input": "more", "previous_response_id": "resp_1"}
    assert _plan(body, store, counted=4).disposition != REFUSED
    assert _plan(body, store, counted=6).disposition == REFUSED
    with pytest.raises(RequestTooLargeError):  # a count over the budget is the body's own 413
        _plan(body, store, counted=MAX_JSON_VALUES + 1)


def test_a_record_made_without_a_measure_measures_itself() -> None:
    record = StoredResponse("resp_1", NOW, _answer("resp_1", "ok"), ({"role": "user", "content": "q"},))
    assert record.measure == JsonMeasure.of(record.to_json())
    read_back = StoredResponse.from_json(record.to_json())
    assert read_back == record and read_back.measure == record.measure
