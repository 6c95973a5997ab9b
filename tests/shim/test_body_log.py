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
    body = ("a" * (BODY_LOG_LIMIT - 11) + " " + secret + " " + "z" * 10_000).encode()
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


# What a body may carry, and what must come out of it. Each case is (text, the secret that must
# disappear, what must remain).
REDACTED_CASES = [
    # the newer providers' published key formats
    ("key fw_" + "A1b2C3d4" * 3, "fw_A1b2", "key "),  # Fireworks
    ("key tgp_v1_" + "Zz9_-Yy8" * 4, "tgp_v1_Zz9", "key "),  # Together
    ("key hf_" + "aBcDeFgH" * 4, "hf_aBcD", "key "),  # Hugging Face
    ("key nvapi-" + "Q-w_E1r2" * 8, "nvapi-Q-w", "key "),  # NVIDIA
    ("key pplx-" + "0a1b2c3d" * 6, "pplx-0a1b", "key "),  # Perplexity
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpw", "Authorization: "),
    # a header line a backend error quotes, with or without a scheme
    ("upstream said: x-api-key: local-key-of-no-shape rejected", "local-key-of-no-shape", "rejected"),
    ("X-Api-Key:plainvalue123", "plainvalue123", "X-Api-Key:"),
    ("api-key: azure0123456789", "azure0123456789", "api-key: "),
    ("x-goog-api-key: g00gle-plain", "g00gle-plain", "x-goog-api-key: "),
    ("authorization: token ghp-plain-value", "ghp-plain-value", "authorization: "),
    # an echoed environment, a URL query
    ("OPENAI_API_KEY=opaque-value-1 HOME=/root", "opaque-value-1", "HOME=/root"),
    ("export DB_PASSWORD=hunter2hunter2", "hunter2", "export DB_PASSWORD="),
    ("https://api.example.com/v1/models?api_key=qs-secret-9&x=1", "qs-secret-9", "&x=1"),
    ("GET /path?access_token=tok.en.value#frag", "tok.en.value", "#frag"),
    ("client_secret=abc123def456&grant_type=x", "abc123def456", "&grant_type=x"),
    # JSON fields named like secrets, by any prefix
    ('{"openai_api_key": "v-a-l-u-e"}', "v-a-l-u-e", '"openai_api_key": '),
    ('{"AUTH_TOKEN": "v-a-l-u-e"}', "v-a-l-u-e", '"AUTH_TOKEN": '),
    ('{"private_key": "-----BEGIN KEY-----"}', "BEGIN KEY", '"private_key": '),
    ('{"session-token": "sess-value"}', "sess-value", '"session-token": '),
    ('{"passwd": "p4ss"}', "p4ss", '"passwd": '),
    ('{"x-goog-api-key": "g-value"}', "g-value", '"x-goog-api-key": '),
    # JSON carried in a string: tool-call arguments, a tool result
    (json.dumps({"arguments": json.dumps({"password": "in-a-string", "user": "bob"})}), "in-a-string", "bob"),
    (json.dumps({"content": json.dumps({"api_key": "nested-value", "n": 1})}), "nested-value", '\\"n\\": 1'),
    (json.dumps({"output": "config: " + json.dumps({"client_secret": "cs value"})}), "cs value", "config: "),
]


@pytest.mark.parametrize(("text", "secret", "kept"), REDACTED_CASES)
def test_credentials_in_every_form_a_body_carries_them_are_redacted(text: str, secret: str, kept: str) -> None:
    shown = redacted(text)
    assert secret not in shown and REDACTED in shown
    assert kept in shown


NOT_REDACTED = [
    "ask-questions-about-everything-here please",  # "sk-" inside a word
    "task-management-dashboard-version-two",
    "the risk-assessment-framework-document",
    "hf_ but short",
    '{"max_tokens": 1024, "max_output_tokens": 10}',
    '{"prompt_cache_key": "session-42"}',  # a cache key is not a credential
    '{"logprobs": {"content": [{"token": "Hello", "logprob": -0.1}]}}',  # a logprobs entry's text
    '{"usage": {"input_tokens": 3, "cache_read_input_tokens": 0}}',
    "GITHUB_TOKEN=x",  # no secret word ends the name: "token" alone is too common to hide
    "max_tokens=100 temperature=0.2",
    "the authorization flow is described below",
    '{"secret_santa": "Alice"}',  # "secret" starts the name, it does not end it
]


@pytest.mark.parametrize("text", NOT_REDACTED)
def test_text_that_only_looks_like_a_credential_is_shown_unchanged(text: str) -> None:
    assert redacted(text) == text
