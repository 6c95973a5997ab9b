"""Presets: every well-known backend is added by name alone, with the URL and key variable its
provider documents; base URLs are normalized to each SDK's convention."""

import json
from pathlib import Path
from typing import Optional

import pytest
from host_cli_helpers import load_toml

from host.config_store import load_config
from host.presets import PRESETS, BackendSpecError, backend_table, normalize_base_url
from host.run_dir import snapshot_document
from shim.config import RouterConfig

# (name, protocol, base URL, default key env, max_tokens_field) as the issue specifies them.
EXPECTED_PRESETS = [
    ("openai", "openai", "https://api.openai.com/v1", "OPENAI_API_KEY", "max_completion_tokens"),
    ("anthropic", "anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY", None),
    ("groq", "openai", "https://api.groq.com/openai/v1", "GROQ_API_KEY", None),
    ("openrouter", "openai", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", None),
    ("deepseek", "openai", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY", None),
    ("mistral", "openai", "https://api.mistral.ai/v1", "MISTRAL_API_KEY", None),
    ("together", "openai", "https://api.together.xyz/v1", "TOGETHER_API_KEY", None),
    ("fireworks", "openai", "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY", None),
    ("xai", "openai", "https://api.x.ai/v1", "XAI_API_KEY", None),
    ("ollama", "openai", "http://127.0.0.1:11434/v1", None, None),
    ("lmstudio", "openai", "http://127.0.0.1:1234/v1", None, None),
    ("vllm", "openai", "http://127.0.0.1:8000/v1", None, None),
    ("litellm", "openai", "http://127.0.0.1:4000/v1", "LITELLM_API_KEY", None),
]


def test_every_preset_is_tested() -> None:
    assert sorted(PRESETS) == sorted(row[0] for row in EXPECTED_PRESETS)


@pytest.mark.parametrize(("name", "protocol", "base_url", "key_env", "max_tokens_field"), EXPECTED_PRESETS)
def test_preset_added_by_name_alone(
    invoke, home: Path, name: str, protocol: str, base_url: str, key_env: Optional[str], max_tokens_field: Optional[str]
) -> None:
    result = invoke("backend", "add", name)
    table = load_toml(home / "config.toml")["backends"][name]
    assert table["protocol"] == protocol
    assert table["base_url"] == base_url
    assert table.get("key_env") == key_env
    assert table.get("max_tokens_field") == max_tokens_field
    if key_env:
        assert f"--key-env {key_env}" in result.stderr  # says which variable it chose
    [row] = json.loads(invoke("backend", "list", "--json").stdout)
    assert (row["name"], row["protocol"], row["base_url"]) == (name, protocol, base_url)
    assert row["key"] == (f"env {key_env} (unset)" if key_env else "none")


def test_only_deepseek_gets_reasoning_replayed(invoke, home: Path) -> None:
    # DeepSeek requires earlier thinking back as reasoning_content; strict servers reject it.
    for name in PRESETS:
        invoke("backend", "add", name)
    backends = load_toml(home / "config.toml")["backends"]
    assert [name for name, table in backends.items() if table.get("replay_reasoning")] == ["deepseek"]


def test_only_openai_serves_responses_itself(invoke, home: Path) -> None:
    """Only OpenAI's own API has /v1/responses for certain (docs/responses-api.md); other servers
    that have it (vLLM, OpenRouter) say so with responses_api = true by hand."""
    for name in PRESETS:
        invoke("backend", "add", name)
    backends = load_toml(home / "config.toml")["backends"]
    assert [name for name, table in backends.items() if table.get("responses_api")] == ["openai"]
    assert [name for name, table in backends.items() if table.get("responses_only_models")] == ["openai"]


def test_responses_settings_round_trip_from_config_toml_to_the_shim(invoke, home: Path) -> None:
    """config.toml (as ``backend add openai`` wrote it, plus a hand-edited vLLM) → load_config →
    the shim's snapshot → the engine: the Responses settings survive every step."""
    invoke("backend", "add", "openai")
    with open(home / "config.toml", "a", encoding="utf-8") as handle:
        handle.write('[backends.vllm]\nprotocol = "openai"\nbase_url = "http://127.0.0.1:8000/v1"\n'
                     'responses_api = true\nresponses_only_models = ["gpt-oss-*"]\n')
    loaded = load_config({})
    snapshot = json.loads(json.dumps(snapshot_document(loaded.config)))
    engine = RouterConfig.from_dict(snapshot["config"])
    assert engine == loaded.config
    openai, vllm = engine.backends["openai"], engine.backends["vllm"]
    assert openai.responses_api and openai.responses_only("gpt-5-pro") and openai.responses_only("gpt-5.1-codex")
    assert not openai.responses_only("gpt-5.1")
    assert vllm.responses_api and vllm.responses_only_models == ("gpt-oss-*",)


def test_litellm_key_is_optional_and_said_so(invoke) -> None:
    assert "optional" in invoke("backend", "add", "litellm").stderr


def test_preset_url_can_be_overridden(invoke, home: Path) -> None:
    invoke("backend", "add", "ollama", "--base-url", "http://gpu-box:11434/v1")
    table = load_toml(home / "config.toml")["backends"]["ollama"]
    assert table["base_url"] == "http://gpu-box:11434/v1"


@pytest.mark.parametrize(
    ("protocol", "given", "expected", "changed"),
    [
        ("anthropic", "https://api.anthropic.com/v1", "https://api.anthropic.com", True),
        ("anthropic", "https://api.anthropic.com/v1/", "https://api.anthropic.com", True),
        ("anthropic", "https://gw.example/anthropic/v1/messages", "https://gw.example/anthropic", True),
        ("anthropic", "https://api.deepseek.com/anthropic", "https://api.deepseek.com/anthropic", False),
        ("openai", "https://api.groq.com/openai/v1/chat/completions", "https://api.groq.com/openai/v1", True),
        ("openai", "http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000/v1", False),
    ],
)
def test_base_urls_follow_the_sdk_convention(protocol: str, given: str, expected: str, changed: bool) -> None:
    normalized, notes = normalize_base_url(protocol, given)
    assert normalized == expected
    assert any("removed" in note for note in notes) is changed


def test_openai_url_without_v1_is_kept_with_a_hint() -> None:
    url = "https://generativelanguage.googleapis.com/v1beta/openai"
    normalized, notes = normalize_base_url("openai", url)
    assert normalized == url
    assert any("usually end in /v1" in note for note in notes)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/v1", "example.com/v1", "https:///v1", "https://x.example/v1?k=1", "https://u:p@x.example/v1"]
)
def test_urls_that_cannot_be_base_urls_are_refused(url: str) -> None:
    with pytest.raises(BackendSpecError) as caught:
        normalize_base_url("openai", url)
    assert caught.value.option == "--base-url"
    assert "u:p" not in str(caught.value)


def test_backend_table_needs_a_url_for_unknown_names() -> None:
    with pytest.raises(BackendSpecError, match="not a preset"):
        backend_table("my-gateway")


def test_backend_table_collects_options() -> None:
    table, _ = backend_table(
        "box", base_url="http://box/v1", models=["qwen*, llama-*", "phi-*"], max_output_tokens=8192,
        max_tokens_field="max_tokens",
    )
    assert table == {
        "protocol": "openai", "base_url": "http://box/v1", "models": ["qwen*", "llama-*", "phi-*"],
        "max_tokens_field": "max_tokens", "max_output_tokens": 8192,
    }
