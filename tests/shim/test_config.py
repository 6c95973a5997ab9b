"""RouterConfig.from_dict (shim/config.py): validation names the field; defaults."""

from typing import Any, Dict

import pytest

from shim.config import DEFAULT_MAX_TOKENS, DEFAULT_SHORTCUTS, Backend, ConfigError, RouterConfig, RouteRule


def valid() -> Dict[str, Any]:
    return {
        "backends": {
            "anthropic": {
                "protocol": "anthropic",
                "base_url": "https://api.anthropic.com/",
                "api_key": "sk-ant-SECRET",
            },
            "local": {
                "protocol": "openai",
                "base_url": "http://127.0.0.1:8000/v1",
                "models": ["llama-*"],
                "max_tokens_field": "max_completion_tokens",
                "max_output_tokens": 8192,
            },
        },
        "aliases": {"fast": "local:llama-3"},
        "routes": [{"match": "qwen*", "backend": "local"}],
        "default_backend": "anthropic",
        "shortcuts": {"opus": "claude-opus-5"},
        "default_max_tokens": 2048,
    }


def test_full_config() -> None:
    config = RouterConfig.from_dict(valid())
    anthropic = config.backends["anthropic"]
    local = config.backends["local"]
    assert anthropic == Backend("anthropic", "anthropic", "https://api.anthropic.com", "sk-ant-SECRET")
    assert local.models == ("llama-*",)
    assert (local.max_tokens_field, local.max_output_tokens, local.api_key) == ("max_completion_tokens", 8192, None)
    assert config.aliases == {"fast": "local:llama-3"}
    assert config.routes == (RouteRule("qwen*", "local"),)
    assert config.default_backend == "anthropic"
    assert config.shortcuts == {**DEFAULT_SHORTCUTS, "opus": "claude-opus-5"}
    assert config.default_max_tokens == 2048


def test_defaults() -> None:
    config = RouterConfig.from_dict({})
    assert dict(config.backends) == {}
    assert dict(config.aliases) == {}
    assert config.routes == ()
    assert config.default_backend is None
    assert config.shortcuts == DEFAULT_SHORTCUTS
    assert config.default_max_tokens == DEFAULT_MAX_TOKENS == 4096
    backend = RouterConfig.from_dict({"backends": {"b": {"protocol": "openai", "base_url": "http://h"}}}).backends["b"]
    assert (backend.models, backend.max_tokens_field, backend.max_output_tokens) == ((), "max_tokens", None)


def test_dataclass_defaults_match_from_dict() -> None:
    assert RouterConfig() == RouterConfig.from_dict({})


def test_base_url_trailing_slash_is_removed_and_url_for_joins() -> None:
    backend = RouterConfig.from_dict(valid()).backends["anthropic"]
    assert backend.url_for("/v1/messages") == "https://api.anthropic.com/v1/messages"


def test_repr_never_shows_the_key() -> None:
    config = RouterConfig.from_dict(valid())
    assert "SECRET" not in repr(config)
    assert "SECRET" not in repr(config.backends["anthropic"])


def test_config_is_frozen() -> None:
    config = RouterConfig.from_dict(valid())
    with pytest.raises(AttributeError):
        config.default_backend = "local"  # type: ignore[misc]


def set_path(data: Dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    target = data
    for key in keys[:-1]:
        target = target[key]
    if value is DELETE:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value


DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("backends", [], "backends must be a table"),
        ("backends.local", "x", "backends.local must be a table"),
        ("backends.local.protocol", "grpc", "backends.local.protocol"),
        ("backends.local.protocol", DELETE, "backends.local.protocol"),
        ("backends.local.base_url", "ftp://x", "backends.local.base_url"),
        ("backends.local.base_url", DELETE, "backends.local.base_url"),
        ("backends.local.base_url", 5, "backends.local.base_url"),
        ("backends.local.api_key", "", "backends.local.api_key"),
        ("backends.local.api_key", 5, "backends.local.api_key"),
        ("backends.local.models", "llama-*", "backends.local.models"),
        ("backends.local.models", ["ok", ""], "backends.local.models"),
        ("backends.local.models", [1], "backends.local.models"),
        ("backends.local.max_tokens_field", "max_output", "backends.local.max_tokens_field"),
        ("backends.local.max_output_tokens", 0, "backends.local.max_output_tokens"),
        ("backends.local.max_output_tokens", True, "backends.local.max_output_tokens"),
        ("backends.local.max_output_tokens", 1.5, "backends.local.max_output_tokens"),
        ("aliases", ["x"], "aliases"),
        ("aliases.fast", "", "aliases.fast"),
        ("aliases.fast", 3, "aliases.fast"),
        ("routes", {"match": "x"}, "routes"),
        ("routes", ["x"], "routes[0]"),
        ("routes", [{"match": "", "backend": "local"}], "routes[0].match"),
        ("routes", [{"match": "a", "backend": "local"}, {"match": "b"}], "routes[1].backend"),
        ("routes", [{"match": "a", "backend": "nope"}], "'nope'"),
        ("default_backend", "nope", "default_backend"),
        ("default_backend", "", "default_backend"),
        ("shortcuts.opus", None, "shortcuts.opus"),
        ("default_max_tokens", -1, "default_max_tokens"),
        ("default_max_tokens", "4096", "default_max_tokens"),
    ],
)
def test_validation_error_names_the_field(path: str, value: Any, message: str) -> None:
    data = valid()
    set_path(data, path, value)
    with pytest.raises(ConfigError) as caught:
        RouterConfig.from_dict(data)
    assert message in str(caught.value)


@pytest.mark.parametrize("name", ["", "a:b", "a/b"])
def test_backend_names_cannot_contain_separators(name: str) -> None:
    with pytest.raises(ConfigError, match="backend name"):
        RouterConfig.from_dict({"backends": {name: {"protocol": "openai", "base_url": "http://h"}}})


@pytest.mark.parametrize("data", [None, [], "x", 3])
def test_top_level_must_be_a_table(data: Any) -> None:
    with pytest.raises(ConfigError, match="table"):
        RouterConfig.from_dict(data)


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


def test_check_references_on_a_directly_built_config() -> None:
    config = RouterConfig(routes=(RouteRule("x", "ghost"),))
    with pytest.raises(ConfigError, match="ghost"):
        config.check_references()


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_replay_reasoning_must_be_a_boolean(value: object) -> None:
    table = {"protocol": "openai", "base_url": "http://x/v1", "replay_reasoning": value}
    with pytest.raises(ConfigError, match=r"backends\.x\.replay_reasoning must be true or false"):
        RouterConfig.from_dict({"backends": {"x": table}})
