"""Anthropic ``metadata.user_id`` → OpenAI ``user``: at most 64 characters, one user per user
(docs/clients/claude-code.md#metadata-user-id)."""

import json
import re

import pytest

from shim.json_budget import JsonBudget
from shim.translate.context import RequestOptions
from shim.translate.request_anthropic_to_openai import anthropic_request_to_openai
from shim.translate.user_identity import OPENAI_USER_MAX_CHARS, openai_user_id

DEVICE = "fecad97ad43de795a7ea183d1e1936a6b0ecf49269e9a4ffe0bd98af67225e78"
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _user_id(user_id: str) -> str:
    return openai_user_id(user_id, JsonBudget.for_request())


SESSION = "32f294aa-f09a-4afa-9985-2b1b614a6155"


def _claude_code_id(device: str = DEVICE, session: str = SESSION, account: str = "") -> str:
    return json.dumps({"device_id": device, "account_uuid": account, "session_id": session}, separators=(",", ":"))


def test_claude_codes_id_is_a_64_character_hash_that_survives_a_new_session() -> None:
    first = _user_id(_claude_code_id())
    assert len(_claude_code_id()) > 140 and HEX64.match(first)
    assert _user_id(_claude_code_id(session="0b8f5c6e-1111-4222-8333-944444444444")) == first


def test_another_device_or_account_is_another_user() -> None:
    first = _user_id(_claude_code_id())
    assert _user_id(_claude_code_id(device="0" * 64)) != first
    assert _user_id(_claude_code_id(account="5b7c1a2e-aaaa-4bbb-8ccc-dddddddddddd")) != first


def test_key_order_and_spacing_do_not_matter() -> None:
    reordered = json.dumps({"session_id": "s", "account_uuid": "", "device_id": DEVICE})
    assert _user_id(reordered) == _user_id(_claude_code_id())


@pytest.mark.parametrize("user_id", ["user-7d3f", "x" * OPENAI_USER_MAX_CHARS, "{not json", "[1, 2]"])
def test_a_short_id_that_is_not_a_json_object_passes_unchanged(user_id: str) -> None:
    assert _user_id(user_id) == user_id


def test_a_long_plain_id_is_hashed_whole() -> None:
    long_id = "u" * (OPENAI_USER_MAX_CHARS + 1)
    assert HEX64.match(_user_id(long_id)) and _user_id(long_id) != _user_id(long_id + "v")


def test_a_json_object_with_only_session_fields_is_hashed_whole() -> None:
    one = json.dumps({"session_id": "a", "device_id": ""})
    other = json.dumps({"session_id": "b", "device_id": ""})
    assert HEX64.match(_user_id(one)) and _user_id(one) != _user_id(other)


def test_the_translated_request_carries_the_bounded_user_with_a_note() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "metadata": {"user_id": _claude_code_id()}}
    result = anthropic_request_to_openai(body, RequestOptions("gpt-4o"))
    assert HEX64.match(result.body["user"])
    assert any("metadata.user_id" in note for note in result.notes)
