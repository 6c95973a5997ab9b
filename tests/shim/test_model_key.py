"""Where a body spells its model key, looked for piece by piece as the proxy receives it
(shim/model_key.py): however the body is cut, the pieces find what the whole body shows, and a plan
made with what they found is the plan made from the whole body (docs/protocol-rules.md#one-model-per-request)."""

import json
from typing import List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shim.config import RouterConfig
from shim.errors import InvalidRequestError
from shim.model_key import ModelKeys, replace_model
from shim.plan import ClientCall, plan_call
from shim.protocols import CHAT

# Bytes that make and break the spellings: the key's letters, quotes, backslashes, "\u006".
TEXT = st.text(alphabet=st.sampled_from(['"', "m", "o", "d", "e", "l", "\\", "u", "0", "6", "D", " ", ":"]),
               max_size=60)
CONFIG = RouterConfig.from_dict({"backends": {"local": {"protocol": "openai", "base_url": "http://127.0.0.1:8000/v1",
                                                        "models": ["llama-*"]}}})


def cut(raw: bytes, points: List[int]) -> List[bytes]:
    at = sorted({point % (len(raw) + 1) for point in points})
    return [raw[a:b] for a, b in zip([0, *at], [*at, len(raw)], strict=True)]


def fed(pieces: List[bytes]) -> ModelKeys:
    keys = ModelKeys()
    for piece in pieces:
        keys.feed(piece)
    return keys


@settings(max_examples=400, deadline=None)
@given(text=TEXT, points=st.lists(st.integers(min_value=0), max_size=10))
def test_pieces_find_what_the_whole_body_shows(text: str, points: List[int]) -> None:
    raw = text.encode()
    keys = fed(cut(raw, points))
    assert (keys.first, keys.escaped) == (raw.find(b'"model"'), b"\\u006" in raw)
    # Two spellings sharing a quote ('"model"model"', not JSON) are one to a count of the whole body.
    overlapping = sum(raw.startswith(b'"model"', at) for at in range(len(raw)))
    assert raw.count(b'"model"') <= keys.plain <= overlapping


def test_two_spellings_sharing_a_quote_count_at_most_twice() -> None:
    raw = b'"model"model"'
    assert ModelKeys.of(raw).plain == 1 and fed([raw[:3], raw[3:]]).plain == 2


def test_one_byte_at_a_time_finds_a_key_cut_everywhere() -> None:
    raw = b'{"messages": [], "model": "x", "mod\\u0065l": "y"}'
    keys = fed([raw[i:i + 1] for i in range(len(raw))])
    assert (keys.plain, keys.first, keys.escaped) == (1, raw.find(b'"model"'), True)


def plan_in_pieces(raw: bytes, pieces: List[bytes]) -> bytes:
    call = ClientCall(CHAT, {"content-type": "application/json"}, raw, model_keys=fed(pieces))
    return plan_call(CONFIG, call, now=0.0, call_id="call-1").upstream_body


@pytest.mark.parametrize("step", [1, 2, 3, 7])
def test_a_plan_from_keys_found_in_pieces_splices_as_one_from_the_whole_body(step: int) -> None:
    raw = b'{"messages" : [{"role":"user","content":"hi"}],\n "model" :  "local:llama-3" }'
    pieces = [raw[i:i + step] for i in range(0, len(raw), step)]
    assert plan_in_pieces(raw, pieces) == raw.replace(b"local:llama-3", b"llama-3")


@pytest.mark.parametrize("raw", [b'{"model": "llama-3", "messages": [], "model": "llama-3"}',
                                 b'{"model": "llama-3", "messages": [], "mod\\u0065l": "llama-3"}'],
                         ids=["plain", "escaped"])
def test_a_second_key_cut_between_pieces_is_refused(raw: bytes) -> None:
    second = raw.rindex(b'"mod')
    for at in range(second, second + 8):
        with pytest.raises(InvalidRequestError, match="2 top-level 'model' keys"):
            plan_in_pieces(raw, [raw[:at], raw[at:]])


def test_keys_not_given_are_looked_for() -> None:
    body = {"messages": [], "model": "a"}
    raw = json.dumps(body).encode()
    spliced = raw.replace(b'"a"', b'"b"')
    assert replace_model(raw, body, "b") == replace_model(raw, body, "b", ModelKeys.of(raw)) == spliced
