"""Malformed client input through the engine server: every case is answered by the engine itself
(nothing goes upstream) in the client's own error shape and status, as both SDKs classify it."""

import json
from typing import Any, Dict, Optional

import anthropic
import openai
import pytest
from fakes import FakeProvider

MESSAGES = [{"role": "user", "content": "hi"}]

# (id, raw body, expected param or None). Parsing, the model check and routing run before any
# protocol-specific code, so the same bodies apply to both client protocols.
COMMON_CASES = [
    ("invalid_json", b'{"model": "claude-sonnet-4-6", "messages": [', None),
    ("not_utf8", b'{"model": "\xff\xfe"}', None),
    ("non_object_body", b'[{"model": "claude-sonnet-4-6"}]', None),
    ("missing_model", json.dumps({"messages": MESSAGES, "max_tokens": 5}).encode(), "model"),
    ("model_not_a_string", json.dumps({"model": 42, "messages": MESSAGES, "max_tokens": 5}).encode(), "model"),
    ("empty_model", json.dumps({"model": "", "messages": MESSAGES, "max_tokens": 5}).encode(), "model"),
]
# Wrong field types on translated routes: the request translator must reject them as 400s.
OPENAI_TRANSLATED_CASES = [
    ("messages_not_a_list", {"model": "claude-sonnet-4-6", "messages": "hello"}),
    ("message_not_an_object", {"model": "claude-sonnet-4-6", "messages": ["hello"]}),
    ("tools_not_a_list", {"model": "claude-sonnet-4-6", "messages": MESSAGES, "tools": {"name": "x"}}),
    ("n_greater_than_one", {"model": "claude-sonnet-4-6", "messages": MESSAGES, "n": 3}),
]
ANTHROPIC_TRANSLATED_CASES = [
    ("messages_not_a_list", {"model": "gpt-5.1", "max_tokens": 5, "messages": "hello"}),
    ("max_tokens_not_an_int", {"model": "gpt-5.1", "max_tokens": "many", "messages": MESSAGES}),
    ("content_block_not_an_object", {"model": "gpt-5.1", "max_tokens": 5,
                                     "messages": [{"role": "user", "content": [7]}]}),
    ("system_wrong_type", {"model": "gpt-5.1", "max_tokens": 5, "messages": MESSAGES, "system": 12}),
]


def _openai_post(oai: openai.OpenAI, raw: bytes) -> Any:
    return oai.post(
        "/chat/completions", content=raw, cast_to=openai.types.chat.ChatCompletion,
        options={"headers": {"content-type": "application/json"}},
    )


def _anthropic_post(ant: anthropic.Anthropic, raw: bytes) -> Any:
    return ant.post(
        "/v1/messages", content=raw, cast_to=anthropic.types.Message,
        options={"headers": {"content-type": "application/json"}},
    )


def _assert_openai_error(error: openai.APIStatusError, status: int, param: Optional[str] = None) -> None:
    assert error.status_code == status
    body: Dict[str, Any] = error.response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    assert body["error"]["message"], body
    assert error.type == "invalid_request_error"
    if param is not None:
        assert error.param == param
    assert error.response.headers.get("x-should-retry") == "false"


def _assert_anthropic_error(error: anthropic.APIStatusError, status: int, error_type: str) -> None:
    assert error.status_code == status
    body: Dict[str, Any] = error.response.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type, body
    assert body["error"]["message"], body
    assert error.response.headers.get("x-should-retry") == "false"


@pytest.mark.parametrize(("raw", "param"), [case[1:] for case in COMMON_CASES], ids=[c[0] for c in COMMON_CASES])
def test_openai_client_malformed_body(oai: openai.OpenAI, provider: FakeProvider, raw: bytes, param: Any) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        _openai_post(oai, raw)
    _assert_openai_error(caught.value, 400, param)
    assert provider.exchanges == []


@pytest.mark.parametrize("raw", [case[1] for case in COMMON_CASES], ids=[c[0] for c in COMMON_CASES])
def test_anthropic_client_malformed_body(ant: anthropic.Anthropic, provider: FakeProvider, raw: bytes) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        _anthropic_post(ant, raw)
    _assert_anthropic_error(caught.value, 400, "invalid_request_error")
    assert provider.exchanges == []


@pytest.mark.parametrize("body", [c[1] for c in OPENAI_TRANSLATED_CASES], ids=[c[0] for c in OPENAI_TRANSLATED_CASES])
def test_openai_client_wrong_field_types_on_translated_route(
    oai: openai.OpenAI, provider: FakeProvider, body: Dict[str, Any]
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        _openai_post(oai, json.dumps(body).encode())
    _assert_openai_error(caught.value, 400)
    assert provider.exchanges == []


@pytest.mark.parametrize(
    "body", [c[1] for c in ANTHROPIC_TRANSLATED_CASES], ids=[c[0] for c in ANTHROPIC_TRANSLATED_CASES]
)
def test_anthropic_client_wrong_field_types_on_translated_route(
    ant: anthropic.Anthropic, provider: FakeProvider, body: Dict[str, Any]
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        _anthropic_post(ant, json.dumps(body).encode())
    _assert_anthropic_error(caught.value, 400, "invalid_request_error")
    assert provider.exchanges == []


@pytest.mark.parametrize("stream", [False, True], ids=["non_stream", "stream"])
def test_unknown_model_is_404_in_openai_shape(oai: openai.OpenAI, provider: FakeProvider, stream: bool) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        oai.chat.completions.create(model="mistral-large-latest", messages=MESSAGES, stream=stream)
    assert caught.value.status_code == 404
    assert set(caught.value.response.json()["error"]) == {"message", "type", "param", "code"}
    assert provider.exchanges == []


@pytest.mark.parametrize("stream", [False, True], ids=["non_stream", "stream"])
def test_unknown_model_is_404_in_anthropic_shape(
    ant: anthropic.Anthropic, provider: FakeProvider, stream: bool
) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        ant.messages.create(model="mistral-large-latest", max_tokens=5, messages=MESSAGES, stream=stream)
    _assert_anthropic_error(caught.value, 404, "not_found_error")
    assert provider.exchanges == []
