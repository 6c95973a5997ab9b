"""Which paths name a stored response, and how the shim classifies Responses URLs."""

import json

from shim.llm_calls import LLMHosts
from shim.response_lookup import (
    STORED_RESPONSE,
    deleted_response,
    missing_response,
    stored_response_answer,
    stored_response_id,
)
from shim.responses_store import MemoryResponseStore, StoredResponse


def test_stored_response_paths() -> None:
    assert stored_response_id("/v1/responses/resp_abc123") == "resp_abc123"
    assert stored_response_id("/openai/v1/responses/resp_abc/") == "resp_abc"
    assert stored_response_id("/v1/responses") is None
    assert stored_response_id("/v1/responses/resp_abc/input_items") is None
    assert stored_response_id("/v1/responses/resp_abc/cancel") is None
    assert stored_response_id("/v1/chat/completions") is None


def test_the_shim_sees_responses_calls_and_lookups_on_llm_hosts() -> None:
    hosts = LLMHosts(["http://127.0.0.1:8000/v1"])
    assert hosts.endpoint_for_url("https://api.openai.com/v1/responses") == "responses"
    assert hosts.endpoint_for_url("http://127.0.0.1:8000/v1/responses") == "responses"
    assert hosts.endpoint_for_url("https://api.openai.com/v1/responses/resp_1") == STORED_RESPONSE
    assert hosts.endpoint_for_url("https://example.com/v1/responses") is None  # not an LLM host


def test_answers_in_openai_shapes() -> None:
    store = MemoryResponseStore()
    response = {"id": "resp_1", "object": "response", "output": []}
    store.put(StoredResponse("resp_1", 100.0, response, ()))
    found = stored_response_answer(store, "resp_1", 101.0)
    assert found is not None and found.status == 200 and json.loads(found.body) == response
    assert stored_response_answer(store, "resp_2", 101.0) is None
    assert json.loads(deleted_response("resp_1").body) == {"id": "resp_1", "object": "response", "deleted": True}
    missing = missing_response("resp_2")
    assert missing.status == 404 and json.loads(missing.body)["error"]["type"] == "invalid_request_error"
