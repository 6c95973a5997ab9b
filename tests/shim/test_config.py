"""RouterConfig.from_dict (shim/config.py): validation names the field; defaults."""

from typing import Any, Dict

import pytest

from shim.config import DEFAULT_MAX_TOKENS, DEFAULT_SHORTCUTS, Backend, ConfigError, RouterConfig, RouteRule
from shim.fallback_policy import DEFAULT_FALLBACK_STATUSES, CooldownPolicy, FallbackPolicy
from shim.targets import Target, TargetGroup, alias_entries_data, chain_data, describe_chain


def one(backend: str, model: Any = None) -> tuple:
    """The chain of one target."""
    return (TargetGroup((Target(backend, model),)),)


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
    assert config.aliases == {"fast": ("local:llama-3",)}
    assert config.routes == (RouteRule("qwen*", one("local")),)
    assert config.default_backend == one("anthropic")
    assert config.shortcuts == {**DEFAULT_SHORTCUTS, "opus": "claude-opus-5"}
    assert config.default_max_tokens == 2048


def test_defaults() -> None:
    config = RouterConfig.from_dict({})
    assert dict(config.backends) == {}
    assert dict(config.aliases) == {}
    assert config.routes == ()
    assert config.default_backend is None
    assert config.fallback == FallbackPolicy() and config.cooldown == CooldownPolicy()
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
        config.default_backend = one("local")  # type: ignore[misc]


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
        ("routes", [{"match": "a", "backend": "local", "fallbak": {}}], "routes[0]: unknown field 'fallbak'"),
        ("routes", [{"match": "a", "backend": []}], "routes[0].backend must name at least one backend"),
        ("routes", [{"match": "a", "backend": ["local", "nope:m"]}], "route 'a' names unknown backend 'nope'"),
        ("routes", [{"match": "a", "backend": ["local", "local"]}], "routes[0].backend names a target twice"),
        ("routes", [{"match": "a", "backend": ["local", 3]}], "routes[0].backend[1]"),
        ("routes", [{"match": "a", "backend": "local:"}], "is not 'backend' or 'backend:model'"),
        ("routes", [{"match": "a", "backend": [{"balance": []}]}], "routes[0].backend[0].balance"),
        ("routes", [{"match": "a", "backend": [{"balance": ["local", "anthropic"], "weights": [1]}]}],
         "routes[0].backend[0].weights must have one number per target in balance (2)"),
        ("routes", [{"match": "a", "backend": [{"balance": ["local", "anthropic"], "weights": [1, 0]}]}],
         "weights must be positive numbers"),
        ("routes", [{"match": "a", "backend": [{"balance": ["local"], "sticky": "yes"}]}],
         "sticky must be true or false"),
        ("routes", [{"match": "a", "backend": [{"balance": ["local"], "weight": [1]}]}], "unknown field 'weight'"),
        ("routes", [{"match": "a", "backend": "local", "fallback": {"retries": -1}}],
         "routes[0].fallback.retries must be an integer ≥ 0"),
        ("routes", [{"match": "a", "backend": "local", "fallback": {"statuses": [200]}}],
         "routes[0].fallback.statuses must list HTTP error statuses"),
        ("routes", [{"match": "a", "backend": [f"local:m{i}" for i in range(17)]}], "the limit is 16"),
        ("default_backend", "nope", "default_backend"),
        ("default_backend", "", "default_backend"),
        ("default_backend", ["local", "nope"], "default_backend names unknown backend 'nope'"),
        ("aliases.fast", [], "aliases.fast"),
        ("aliases.fast", [{"balance": ["local"]}], "aliases.fast[0].balance[0]: 'local' must name its model"),
        ("aliases.fast", [{"balance": ["ghost:m"]}], "alias 'fast' names unknown backend 'ghost'"),
        ("fallback", [], "fallback must be a table"),
        ("fallback", {"retry": 1}, "fallback: unknown field 'retry'"),
        ("fallback", {"backoff": 0}, "fallback.backoff must be more than 0"),
        ("fallback", {"max_wait": 7200}, "fallback.max_wait must be 0 and at most 3600 seconds"),
        ("fallback", {"backoff": 2, "max_backoff": 1}, "fallback.max_backoff (1) is below backoff (2)"),
        ("fallback", {"max_attempts": 0}, "fallback.max_attempts must be an integer ≥ 1"),
        ("cooldown", {"duration": "30s"}, "cooldown.duration must be a number of seconds"),
        ("cooldown", {"failures": 1.5}, "cooldown.failures must be an integer ≥ 0"),
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
    config = RouterConfig(routes=(RouteRule("x", one("ghost")),))
    with pytest.raises(ConfigError, match="ghost"):
        config.check_references()


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_replay_reasoning_must_be_a_boolean(value: object) -> None:
    table = {"protocol": "openai", "base_url": "http://x/v1", "replay_reasoning": value}
    with pytest.raises(ConfigError, match=r"backends\.x\.replay_reasoning must be true or false"):
        RouterConfig.from_dict({"backends": {"x": table}})


CHAIN_FORMS = [
    "local",
    "local:llama3:8b",
    ["anthropic", "local:qwen"],
    [{"balance": ["anthropic", "local:claude"], "weights": [3, 1]}, "local:qwen"],
    [{"balance": ["anthropic", "local"], "sticky": False}],
    [{"balance": ["anthropic", "local"], "weights": [0.5, 1.5]}],
]


@pytest.mark.parametrize("form", CHAIN_FORMS)
def test_every_chain_form_reads_back_as_written(form: Any) -> None:
    """What the CLI and the shim's snapshot write is what the file said."""
    data = valid()
    data["routes"] = [{"match": "x*", "backend": form}]
    data["default_backend"] = form
    config = RouterConfig.from_dict(data)
    assert chain_data(config.routes[0].chain) == form
    assert config.default_backend is not None and chain_data(config.default_backend) == form


def test_a_chain_is_its_groups_in_order() -> None:
    data = valid()
    data["routes"] = [{"match": "x*", "backend": [
        "anthropic", {"balance": ["anthropic:claude-b", "local"], "weights": [2, 1]}, "local:qwen"]}]
    chain = RouterConfig.from_dict(data).routes[0].chain
    assert chain == (
        TargetGroup((Target("anthropic"),)),
        TargetGroup((Target("anthropic", "claude-b"), Target("local")), (2.0, 1.0)),
        TargetGroup((Target("local", "qwen"),)),
    )
    assert describe_chain(chain) == "anthropic → balance(anthropic:claude-b×2, local×1) → local:qwen"


def test_alias_lists_keep_model_names_and_groups() -> None:
    data = valid()
    data["aliases"] = {"smart": ["claude-opus-4-7", "local:qwen", {"balance": ["anthropic:a", "local:b"]}]}
    entries = RouterConfig.from_dict(data).aliases["smart"]
    assert entries == ("claude-opus-4-7", "local:qwen", TargetGroup((Target("anthropic", "a"), Target("local", "b"))))
    assert alias_entries_data(entries) == data["aliases"]["smart"]


def test_fallback_policy_global_and_per_route() -> None:
    data = valid()
    data["fallback"] = {"retries": 2, "max_wait": 4, "statuses": [429, 529]}
    data["routes"] = [{"match": "a*", "backend": "local", "fallback": {"retries": 0, "statuses": [401, 429]}},
                      {"match": "b*", "backend": "local"}]
    data["cooldown"] = {"failures": 5, "window": 10, "duration": 2.5}
    config = RouterConfig.from_dict(data)
    assert config.fallback == FallbackPolicy(retries=2, max_wait=4.0, statuses=frozenset({429, 529}))
    # a route's table overrides only the fields it names: max_wait comes from [fallback]
    assert config.routes[0].policy == FallbackPolicy(retries=0, max_wait=4.0, statuses=frozenset({401, 429}))
    assert config.routes[1].policy is None
    assert config.cooldown == CooldownPolicy(failures=5, window=10.0, duration=2.5)
    assert FallbackPolicy().statuses == DEFAULT_FALLBACK_STATUSES == {408, 409, 429, 500, 502, 503, 504, 529}
    assert RouterConfig.from_dict({**data, "fallback": config.fallback.as_data()}).fallback == config.fallback
