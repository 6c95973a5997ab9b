"""``-vv`` body lines (shim/body_log.py): every key shape the router knows is redacted, bodies are cut
at 8 KB and escaped (docs/operator-switches.md#bodies)."""

import json

import pytest

from shim.body_log import BODY_LOG_LIMIT, REDACTED, BodyCapture, body_line, redacted

KEY_SHAPES = [
    "sk-ant-api03-" + "A1b2_C3d4-" * 8,  # Anthropic
    "sk-proj-" + "x9Y8z7W6" * 6,  # OpenAI project key
    "sk-" + "a" * 48,  # OpenAI legacy, DeepSeek
    "sk-or-v1-" + "0123456789abcdef" * 4,  # OpenRouter
    "gsk_" + "Q" * 52,  # Groq
    "xai-" + "k" * 80,  # xAI
    "AIza" + "S" * 35,  # Google
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl",  # a JWT
]


@pytest.mark.parametrize("secret", KEY_SHAPES)
def test_every_known_key_shape_is_redacted_anywhere_in_a_body(secret: str) -> None:
    body = json.dumps({"messages": [{"role": "user", "content": f"my key is {secret}, keep it"}]})
    text = redacted(body)
    assert secret not in text and secret[:12] not in text.replace(REDACTED, "")
    assert f"my key is {REDACTED}, keep it" in text


@pytest.mark.parametrize("header", ["Bearer", "bearer", "BEARER"])
def test_bearer_tokens_of_any_shape_are_redacted(header: str) -> None:
    assert redacted(f"Authorization: {header} opaque.Token_value~123") == f"Authorization: {REDACTED}"


@pytest.mark.parametrize("field", ["api_key", "apiKey", "x-api-key", "Authorization", "password", "client_secret",
                                   "access_token", "refresh-token", "secret"])
def test_secret_named_json_fields_are_redacted_whatever_their_value(field: str) -> None:
    body = json.dumps({field: 'short "quoted" value', "model": "gpt-5.1"})
    assert json.loads(redacted(body)) == {field: REDACTED, "model": "gpt-5.1"}


def test_the_keys_the_router_holds_are_redacted_by_value() -> None:
    configured = "local-server-key-without-a-known-shape"
    assert redacted(f'{{"note": "{configured}"}}', [configured, "x"]) == f'{{"note": "{REDACTED}"}}'


def test_a_body_is_cut_at_the_limit_and_a_key_on_the_limit_is_still_hidden() -> None:
    secret = KEY_SHAPES[0]
    body = ("a" * (BODY_LOG_LIMIT - 10) + secret + "z" * 10_000).encode()
    line = body_line("request body", body, len(body))
    assert line.startswith(f"  request body ({len(body)} bytes): ") and line.endswith("…")
    assert secret[:10] not in line and len(line) < BODY_LOG_LIMIT + 100


def test_control_characters_are_escaped_so_a_body_stays_one_line() -> None:
    line = body_line("response body", b'{"x": "a\nforged line\x1b[31m"}', 30)
    assert "\n" not in line and "\x1b" not in line and "\\n" in line and "\\e[31m" in line


def test_a_capture_keeps_only_what_the_line_shows_but_counts_everything() -> None:
    capture = BodyCapture()
    for _ in range(1000):
        capture.add(b"data: " + b"x" * 1000 + b"\n\n")
    assert capture.size == 1008 * 1000 and len(capture.data) < BODY_LOG_LIMIT + 1024
