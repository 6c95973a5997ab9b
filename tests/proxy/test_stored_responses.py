"""``GET``/``DELETE /v1/responses/{id}`` through ``router proxy``, with the official SDK: what the
proxy stored is read back and deleted; anything else is a 404 in OpenAI's shape."""

import json
import time
from pathlib import Path

import httpx
import openai
import pytest
from fakes import FakeProvider
from proxy_process import ProxyProcess

from host.proxy.response_store import RESPONSES_DB_FILENAME, SQLiteResponseStore
from shim.responses_store import StoredResponse


def _stored(response_id: str) -> StoredResponse:
    response = {
        "id": response_id, "object": "response", "created_at": int(time.time()), "status": "completed",
        "model": "claude-sonnet-4-6", "output": [{
            "id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": "stored answer", "annotations": []}],
        }],
        "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
        "usage": {"input_tokens": 5, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 2,
                  "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 7},
    }
    return StoredResponse(response_id, time.time(), response, ({"role": "user", "content": "q"}, response["output"][0]))


@pytest.fixture
def stored_id(proxy: ProxyProcess, proxy_home: Path, request: pytest.FixtureRequest) -> str:
    """A record written to the proxy's store file by another connection (as a second proxy would)."""
    response_id = f"resp_{request.node.name[:40]}"
    store = SQLiteResponseStore(proxy_home / RESPONSES_DB_FILENAME)
    store.put(_stored(response_id))
    store.close()
    return response_id


def test_retrieve_returns_the_stored_response(oai: openai.OpenAI, stored_id: str) -> None:
    response = oai.responses.retrieve(stored_id)
    assert response.id == stored_id and response.output_text == "stored answer"
    assert response.usage is not None and response.usage.total_tokens == 7


def test_delete_removes_it(oai: openai.OpenAI, stored_id: str) -> None:
    oai.responses.delete(stored_id)
    with pytest.raises(openai.NotFoundError) as missing:
        oai.responses.retrieve(stored_id)
    assert stored_id in missing.value.message
    with pytest.raises(openai.NotFoundError):
        oai.responses.delete(stored_id)


def test_an_unknown_id_is_a_404_in_openai_shape(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        oai.responses.retrieve("resp_never_stored")
    assert missing.value.status_code == 404
    assert missing.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    assert "resp_never_stored" in missing.value.message


def test_a_response_id_names_no_other_response(oai: openai.OpenAI, provider: FakeProvider) -> None:
    """An id is the key to a stored conversation (``GET /v1/responses/{id}``, ``previous_response_id``):
    one client's id must not tell it another's. Ids were a fixed prefix and a counter, so the id
    before one's own was the previous client's (docs/responses-api.md#state-previous_response_id)."""
    provider.reply(text="the first client's answer")
    provider.reply(text="the second client's answer")
    first = oai.responses.create(model="claude-sonnet-4-6", input="mine")  # translated: the router names it
    second = oai.responses.create(model="claude-sonnet-4-6", input="theirs")
    digits = second.id.removeprefix("resp_")
    counted_back = "resp_" + format(int(digits, 16) - 1, f"0{len(digits)}x")
    with pytest.raises(openai.NotFoundError):
        oai.responses.retrieve(counted_back)
    assert oai.responses.retrieve(first.id).output_text == "the first client's answer"  # its own id still works
    assert len(digits) == 32 and first.id[:21] != second.id[:21]  # 128 random bits, no shared prefix


@pytest.mark.parametrize("previous", ["resp_\ud800", "resp_" + "a" * 201, "resp_../x", "resp_a b",
                                      "resp_" + "a" * 200_000],
                         ids=["lone-surrogate", "too-long", "slash", "space", "200-kb"])
def test_a_previous_response_id_no_store_could_hold_is_unknown(proxy: ProxyProcess, previous: str) -> None:
    """Such an id is never looked up: a lone surrogate (valid JSON) could not be encoded to ask SQLite,
    and the call was a plain-text 500 with a traceback (docs/responses-api.md#state-previous_response_id)."""
    body = json.dumps({"model": "claude-sonnet-4-6", "input": "more", "previous_response_id": previous}).encode()
    response = httpx.post(proxy.url + "/v1/responses", content=body, timeout=10,
                          headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "previous_response_id" and "unknown" in error["message"]
    assert len(error["message"]) < 500  # the id cut, not echoed whole
