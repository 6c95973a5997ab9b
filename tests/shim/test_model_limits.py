"""The output-limit table and how a translated request is clamped to it (shim/model_limits.py)."""

import json
from typing import Any, Dict

import pytest

from shim.config import ConfigError, RouterConfig
from shim.model_limits import MODEL_OUTPUT_LIMITS, model_output_limit, output_limit
from shim.plan import ClientCall, plan_call


@pytest.mark.parametrize(
    ("model", "limit"),
    [
        ("gpt-4o", 16384),
        ("gpt-4o-mini-2024-07-18", 16384),
        ("openai/gpt-4.1", 32768),
        ("gpt-5.1", 128000),
        ("o3-mini", 100000),
        ("deepseek-chat", 8192),
        ("claude-opus-5-5", 128000),
        ("claude-haiku-4-5-20251001", 64000),
        ("claude-opus-4-1-20250805", 32000),
        ("claude-opus-4-20250514", 32000),
        ("claude-3-5-haiku-20241022", 8192),
        ("Claude-Sonnet-4-6", 128000),
        ("qwen3-coder", None),
        ("llama3:8b", None),
    ],
)
def test_table_lookup(model: str, limit: Any) -> None:
    assert model_output_limit(model, {}) == limit


@pytest.mark.parametrize("row", MODEL_OUTPUT_LIMITS, ids=lambda row: row.glob)
def test_every_row_has_a_public_source_and_is_reachable(row: Any) -> None:
    assert row.source.startswith("https://") and row.max_output_tokens > 0
    sample = row.glob.replace("*", "x")  # a model id only this row's glob was written for
    assert model_output_limit(sample, {}) == row.max_output_tokens, f"{row.glob} is shadowed by an earlier row"


def test_configured_limits_override_the_table_first_match_wins() -> None:
    overrides = {"gpt-4o*": 4096, "gpt-*": 1000, "qwen3-*": 32768}
    assert model_output_limit("gpt-4o", overrides) == 4096
    assert model_output_limit("gpt-5", overrides) == 1000
    assert model_output_limit("Qwen/qwen3-coder", overrides) == 32768


def test_the_backend_ceiling_and_the_model_limit_both_apply() -> None:
    assert output_limit("gpt-4o", None, {}) == 16384
    assert output_limit("gpt-4o", 8192, {}) == 8192
    assert output_limit("gpt-5", 200000, {}) == 128000
    assert output_limit("my-local-model", 4096, {}) == 4096
    assert output_limit("my-local-model", None, {}) is None


def test_config_validates_model_max_output_tokens() -> None:
    assert RouterConfig.from_dict({"model_max_output_tokens": {"qwen*": 32768}}).model_max_output_tokens == {
        "qwen*": 32768
    }
    for bad in ({"qwen*": 0}, {"qwen*": "many"}, ["qwen*"]):
        with pytest.raises(ConfigError, match="model_max_output_tokens"):
            RouterConfig.from_dict({"model_max_output_tokens": bad})


def _config(protocol: str, **extra: Any) -> RouterConfig:
    backend = {"protocol": protocol, "base_url": "http://127.0.0.1:9/v1" if protocol == "openai" else "http://127.0.0.1:9"}
    return RouterConfig.from_dict({"backends": {"b": backend}, "default_backend": "b", **extra})


def _planned_body(config: RouterConfig, endpoint: str, body: Dict[str, Any]) -> Dict[str, Any]:
    plan = plan_call(config, ClientCall(endpoint, {}, json.dumps(body).encode()), now=0.0, call_id="c1")
    assert plan.upstream_body
    translated: Dict[str, Any] = json.loads(plan.upstream_body)
    return translated


def test_claude_codes_128000_is_clamped_for_an_openai_model_with_a_note() -> None:
    body = {"model": "gpt-4o", "max_tokens": 128000, "messages": [{"role": "user", "content": "hi"}]}
    plan = plan_call(_config("openai"), ClientCall("messages", {}, json.dumps(body).encode()), now=0.0, call_id="c")
    assert json.loads(plan.upstream_body)["max_tokens"] == 16384
    assert any("clamped max_tokens 128000 to 16384" in note for note in plan.notes)


def test_a_configured_model_limit_clamps_a_model_the_table_does_not_know() -> None:
    config = _config("openai", model_max_output_tokens={"qwen3-*": 32768})
    body = {"model": "qwen3-coder", "max_tokens": 128000, "messages": [{"role": "user", "content": "hi"}]}
    assert _planned_body(config, "messages", body)["max_tokens"] == 32768


def test_an_openai_clients_large_limit_is_clamped_for_an_older_claude() -> None:
    messages = [{"role": "user", "content": "hi"}]
    body = {"model": "claude-opus-4-1", "max_completion_tokens": 100000, "messages": messages}
    assert _planned_body(_config("anthropic"), "chat", body)["max_tokens"] == 32000
