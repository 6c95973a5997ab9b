"""JSON is read as UTF-8 only (shim/json_budget.py json_text, docs/proxy-limits.md#request-bodies).

Every count of JSON values reads bytes as ASCII-compatible text, a quote being byte 0x22. In UTF-16
a character such as "•" (U+2022) holds that byte, so the counts took what follows it for the inside
of a string: a body holding four million values was counted as three, and ``json.loads``, which
reads UTF-16 and -32 too, then parsed all of them. RFC 8259 (section 8.1) requires UTF-8 of JSON
that systems exchange; the official SDKs send nothing else."""

import json

import pytest

from shim.config import RouterConfig
from shim.errors import InvalidRequestError, UpstreamProtocolError
from shim.json_budget import JsonBudget, NotUtf8Json, loads_within_budget
from shim.plan import FORWARD, ClientCall, Plan, plan_call

CONFIG = RouterConfig.from_dict({"backends": {
    "openai": {"protocol": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-oai", "models": ["gpt-*"]}}})
USER = [{"role": "user", "content": "\u2022"}]

# One bullet in a string, then two million empty lists: 4 million values.
LISTS = '["\u2022",' + "[]," * 2_000_000 + "[]]"
ENCODINGS = ["utf-16-le", "utf-16-be", "utf-16", "utf-32-le", "utf-32"]


def _plan(body: bytes, endpoint: str = "chat") -> Plan:
    return plan_call(CONFIG, ClientCall(endpoint, {"anthropic-version": "2023-06-01"}, body), now=1.0, call_id="t")


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_request_body_in_another_encoding_is_refused_unparsed(encoding: str) -> None:
    body = ('{"model": "gpt-5.1", "messages": ' + LISTS + "}").encode(encoding)
    with pytest.raises(InvalidRequestError) as refused:
        _plan(body)
    assert "UTF-8" in str(refused.value) and encoding.split("-")[1] in str(refused.value)


def test_utf8_with_a_byte_order_mark_is_still_read() -> None:
    body = b"\xef\xbb\xbf" + json.dumps({"model": "gpt-5.1", "messages": USER}).encode()
    plan = _plan(body)
    assert plan.disposition == FORWARD and json.loads(plan.upstream_body)["messages"][0]["content"] == "\u2022"


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_an_answer_in_another_encoding_is_not_parsed(encoding: str) -> None:
    answer = ('{"id": "chatcmpl-1", "extra": ' + LISTS + "}").encode(encoding)
    with pytest.raises(NotUtf8Json):
        loads_within_budget(answer)
    # Messages → an OpenAI backend: the answer is parsed to translate it
    plan = _plan(json.dumps({"model": "gpt-5.1", "max_tokens": 8, "messages": USER}).encode(), endpoint="messages")
    with pytest.raises(UpstreamProtocolError):
        plan.translate_response(200, {"content-type": "application/json"}, answer)


def test_a_string_found_inside_json_is_read_as_it_is() -> None:
    """Text taken from parsed JSON (a tool call's arguments) is already characters: nothing to refuse."""
    assert JsonBudget.for_request().loads('{"bullet": "\u2022"}') == {"bullet": "\u2022"}
