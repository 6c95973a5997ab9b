"""Model name → backend (shim/routing.py): each step of the documented order and their precedence."""

from typing import Any, Dict, Optional

import pytest

from shim.config import ConfigError, RouterConfig
from shim.routing import resolve_route


def backend(protocol: str, *models: str) -> Dict[str, Any]:
    return {"protocol": protocol, "base_url": f"https://{protocol}.example/v1", "models": list(models)}


def make(**data: Any) -> RouterConfig:
    data.setdefault(
        "backends",
        {
            "anthropic": backend("anthropic"),
            "openai": backend("openai"),
            "local": backend("openai", "llama-*", "qwen*"),
            "groq": backend("openai", "llama-3*"),
        },
    )
    return RouterConfig.from_dict(data)


def where(config: RouterConfig, model: str) -> Optional[tuple]:
    route = resolve_route(config, model)
    return None if route is None else (route.backend.name, route.upstream_model)


# Step 1: NAME:model prefix -------------------------------------------------------------------


def test_prefix_names_a_backend_and_is_stripped() -> None:
    route = resolve_route(make(), "groq:mixtral-8x7b")
    assert route is not None
    assert (route.backend.name, route.upstream_model, route.requested_model) == (
        "groq",
        "mixtral-8x7b",
        "groq:mixtral-8x7b",
    )
    assert "prefix" in route.rule


def test_prefix_keeps_later_colons_in_the_model() -> None:
    assert where(make(), "local:llama3:8b") == ("local", "llama3:8b")


def test_unknown_prefix_is_part_of_the_model_name() -> None:
    assert where(make(), "llama3:8b") is None
    assert where(make(default_backend="local"), "llama3:8b") == ("local", "llama3:8b")


def test_prefix_with_empty_model_is_not_a_prefix() -> None:
    assert where(make(), "openai:") is None


def test_prefix_beats_routes_models_and_families() -> None:
    config = make(routes=[{"match": "*", "backend": "local"}])
    assert where(config, "anthropic:gpt-4o") == ("anthropic", "gpt-4o")


def test_prefix_beats_alias() -> None:
    config = make(aliases={"fast": "groq:llama-3.1-8b", "openai:gpt-4o": "local:llama-3"})
    assert where(config, "openai:fast") == ("openai", "fast")
    assert where(config, "openai:gpt-4o") == ("openai", "gpt-4o")


# Step 2: aliases -----------------------------------------------------------------------------


def test_alias_target_with_prefix() -> None:
    route = resolve_route(make(aliases={"fast": "groq:llama-3.1-8b"}), "fast")
    assert route is not None
    assert (route.backend.name, route.upstream_model, route.requested_model) == ("groq", "llama-3.1-8b", "fast")
    assert "alias" in route.rule


def test_alias_target_goes_through_the_other_steps() -> None:
    config = make(aliases={"smart": "claude-opus-4-7", "cheap": "qwen2"})
    assert where(config, "smart") == ("anthropic", "claude-opus-4-7")
    assert where(config, "cheap") == ("local", "qwen2")


def test_alias_is_one_hop_only() -> None:
    config = make(aliases={"a": "b", "b": "openai:gpt-4o"})
    assert where(config, "b") == ("openai", "gpt-4o")
    assert where(config, "a") is None  # "b" is not an alias again; nothing else matches "b"


def test_alias_loop_terminates() -> None:
    config = make(aliases={"a": "b", "b": "a"})
    assert where(config, "a") is None


def test_alias_beats_routes() -> None:
    config = make(aliases={"gpt-4o": "anthropic:claude-sonnet-4-6"}, routes=[{"match": "gpt-*", "backend": "local"}])
    assert where(config, "gpt-4o") == ("anthropic", "claude-sonnet-4-6")


def test_alias_to_a_shortcut() -> None:
    assert where(make(aliases={"best": "opus"}), "best") == ("anthropic", "claude-opus-4-7")


# Step 3: routes ------------------------------------------------------------------------------


def test_routes_in_file_order() -> None:
    config = make(routes=[{"match": "gpt-4*", "backend": "local"}, {"match": "gpt-*", "backend": "groq"}])
    assert where(config, "gpt-4o") == ("local", "gpt-4o")
    assert where(config, "gpt-3.5") == ("groq", "gpt-3.5")


def test_routes_beat_backend_models_and_families() -> None:
    config = make(routes=[{"match": "llama-*", "backend": "openai"}, {"match": "claude-*", "backend": "local"}])
    assert where(config, "llama-3.1") == ("openai", "llama-3.1")
    assert where(config, "claude-opus-4-7") == ("local", "claude-opus-4-7")


def test_route_globs_are_case_sensitive() -> None:
    config = make(routes=[{"match": "Mistral-*", "backend": "local"}])
    assert where(config, "mistral-7b") is None


# Step 4: backend models ----------------------------------------------------------------------


def test_backend_models_in_backend_order() -> None:
    # "local" (llama-*) comes before "groq" (llama-3*) in the backends table.
    assert where(make(), "llama-3.1-70b") == ("local", "llama-3.1-70b")
    reordered = make(
        backends={
            "groq": backend("openai", "llama-3*"),
            "local": backend("openai", "llama-*"),
        }
    )
    assert where(reordered, "llama-3.1-70b") == ("groq", "llama-3.1-70b")


def test_backend_models_beat_families() -> None:
    config = make(
        backends={"anthropic": backend("anthropic"), "proxy": backend("openai", "claude-*")},
    )
    assert where(config, "claude-sonnet-4-6") == ("proxy", "claude-sonnet-4-6")


# Step 5: families and shortcuts --------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "backend_name"),
    [
        ("claude-opus-4-7", "anthropic"),
        ("claude-3-haiku-20240307", "anthropic"),
        ("gpt-4o", "openai"),
        ("o1-mini", "openai"),
        ("o3", "openai"),
        ("o4-mini", "openai"),
        ("chatgpt-4o-latest", "openai"),
        ("text-embedding-3-small", "openai"),
    ],
)
def test_families(model: str, backend_name: str) -> None:
    assert where(make(), model) == (backend_name, model)


@pytest.mark.parametrize("model", ["mistral-large", "o2", "gpt4", "Claude-3"])
def test_names_outside_the_families_have_no_route(model: str) -> None:
    assert where(make(), model) is None


def test_families_only_when_the_named_backend_exists() -> None:
    config = make(backends={"local": backend("openai", "llama-*")})
    assert where(config, "claude-opus-4-7") is None
    assert where(config, "gpt-4o") is None
    assert where(config, "opus") is None


def test_family_backend_is_found_by_name_not_by_protocol() -> None:
    config = make(backends={"my-anthropic": backend("anthropic"), "openai": backend("openai")})
    assert where(config, "claude-opus-4-7") is None
    assert where(config, "gpt-4o") == ("openai", "gpt-4o")


@pytest.mark.parametrize(
    ("model", "full"), [("opus", "claude-opus-4-7"), ("sonnet", "claude-sonnet-4-6"), ("haiku", "claude-haiku-4-5")]
)
def test_default_shortcuts(model: str, full: str) -> None:
    route = resolve_route(make(), model)
    assert route is not None
    assert (route.backend.name, route.upstream_model, route.requested_model) == ("anthropic", full, model)


def test_configured_shortcut_overrides_the_default() -> None:
    assert where(make(shortcuts={"opus": "claude-opus-5"}), "opus") == ("anthropic", "claude-opus-5")


def test_routes_beat_shortcuts() -> None:
    assert where(make(routes=[{"match": "opus", "backend": "local"}]), "opus") == ("local", "opus")


# Step 6: default_backend ---------------------------------------------------------------------


def test_default_backend_catches_the_rest() -> None:
    route = resolve_route(make(default_backend="local"), "mistral-large")
    assert route is not None
    assert (route.backend.name, route.upstream_model, route.rule) == ("local", "mistral-large", "default_backend")


def test_default_backend_comes_last() -> None:
    config = make(default_backend="local")
    assert where(config, "gpt-4o") == ("openai", "gpt-4o")
    assert where(config, "opus") == ("anthropic", "claude-opus-4-7")


def test_no_route_without_a_default() -> None:
    assert resolve_route(make(), "mistral-large") is None
    assert resolve_route(RouterConfig(), "gpt-4o") is None


def test_alias_to_nowhere_has_no_route() -> None:
    assert resolve_route(make(aliases={"x": "mistral"}), "x") is None


# Chains: several targets, tried in order -----------------------------------------------------


def chain_of(config: RouterConfig, model: str) -> list:
    """Each group of the route's chain as [(backend, upstream model, weight), …]."""
    route = resolve_route(config, model)
    assert route is not None
    return [[(t.backend.name, t.upstream_model, group.weight_of(i)) for i, t in enumerate(group.targets)]
            for group in route.chain]


def test_a_plain_route_is_a_chain_of_one() -> None:
    route = resolve_route(make(routes=[{"match": "m*", "backend": "local"}]), "mistral")
    assert route is not None and not route.has_alternatives and route.groups == ()
    assert [(t.backend.name, t.upstream_model) for t in route.targets] == [("local", "mistral")]


def test_route_chain_resolves_each_target_in_order() -> None:
    config = make(routes=[{"match": "claude-sonnet-*", "backend": [
        "anthropic", "groq:llama-3.3-70b", {"balance": ["openai:gpt-5.1", "local:qwen3"], "weights": [3, 1]}]}])
    assert chain_of(config, "claude-sonnet-4-6") == [
        [("anthropic", "claude-sonnet-4-6", 1.0)],
        [("groq", "llama-3.3-70b", 1.0)],
        [("openai", "gpt-5.1", 3.0), ("local", "qwen3", 1.0)],
    ]
    route = resolve_route(config, "claude-sonnet-4-6")
    assert route is not None and route.has_alternatives
    # the first target is the route's backend and model, as for a single-target route
    assert (route.backend.name, route.upstream_model, route.rule) == ("anthropic", "claude-sonnet-4-6",
                                                                      "route 'claude-sonnet-*'")
    second = route.to(route.chain[1].targets[0])
    assert (second.backend.name, second.upstream_model, second.chain) == ("groq", "llama-3.3-70b", route.chain)


def test_a_single_balanced_group_has_alternatives() -> None:
    route = resolve_route(make(default_backend=[{"balance": ["openai", "local"]}]), "mistral")
    assert route is not None and route.has_alternatives and route.rule == "default_backend"
    assert [(t.backend.name, t.upstream_model) for t in route.targets] == [("openai", "mistral"), ("local", "mistral")]


def test_alias_list_chains_each_name_as_it_resolves() -> None:
    config = make(
        aliases={"smart": ["claude-opus-4-7", "gpt-5.1", "mistral", "groq:llama-3.3"]},
        routes=[{"match": "gpt-5*", "backend": ["openai", "local:qwen3"]}],
    )
    # claude → family; gpt-5.1 → a route with its own chain; mistral → no route, skipped; groq → prefix
    assert chain_of(config, "smart") == [
        [("anthropic", "claude-opus-4-7", 1.0)],
        [("openai", "gpt-5.1", 1.0)],
        [("local", "qwen3", 1.0)],
        [("groq", "llama-3.3", 1.0)],
    ]
    route = resolve_route(config, "smart")
    assert route is not None and route.requested_model == "smart"
    assert route.rule.startswith("alias 'smart' → ['claude-opus-4-7', 'gpt-5.1', 'mistral', 'groq:llama-3.3']")


def test_alias_groups_and_repeated_targets() -> None:
    config = make(aliases={"fast": [
        {"balance": ["groq:llama-3.3", "local:llama-3.3"], "weights": [2, 1]}, "local:llama-3.3", "openai:gpt-4o"]})
    # local:llama-3.3 is in the group already: it is tried there, not a second time
    assert chain_of(config, "fast") == [
        [("groq", "llama-3.3", 2.0), ("local", "llama-3.3", 1.0)],
        [("openai", "gpt-4o", 1.0)],
    ]


def test_alias_whose_names_all_have_no_route() -> None:
    assert resolve_route(make(aliases={"x": ["mistral", "yi-nothing"]}), "x") is None


def test_default_backend_chain() -> None:
    assert chain_of(make(default_backend=["local", "openai:gpt-4o-mini"]), "mistral-large") == [
        [("local", "mistral-large", 1.0)], [("openai", "gpt-4o-mini", 1.0)]]


def test_routes_carry_their_fallback_policy() -> None:
    config = make(fallback={"retries": 3}, routes=[{"match": "a*", "backend": "local", "fallback": {"retries": 0}}])
    own, default = resolve_route(config, "a1"), resolve_route(config, "gpt-4o")
    assert own is not None and own.policy.retries == 0
    assert default is not None and default.policy.retries == 3  # the built-in family takes [fallback]
    alias = resolve_route(make(aliases={"x": ["a1", "gpt-4o"]},
                               routes=[{"match": "a*", "backend": "local", "fallback": {"retries": 0}}]), "x")
    assert alias is not None and alias.policy.retries == 0  # the first name's route decides


# --model: before every step -----------------------------------------------------------------


@pytest.mark.parametrize("model", ["groq:mixtral", "fast", "llama-3.3", "claude-sonnet-4-6", "made-up", "x" * 300])
def test_the_model_override_comes_before_every_step(model: str) -> None:
    config = make(aliases={"fast": "groq:llama-3.1"}, routes=[{"match": "claude-*", "backend": "openai"}],
                  model_override="anthropic:claude-x")
    route = resolve_route(config, model)
    assert route is not None
    assert (route.backend.name, route.upstream_model, route.requested_model) == ("anthropic", "claude-x", model)
    assert route.rule == "--model override"


def test_a_model_override_without_a_model_keeps_the_name_asked_for() -> None:
    assert where(make(model_override="local"), "gpt-5.1") == ("local", "gpt-5.1")


def test_a_model_override_chain_falls_back_in_order() -> None:
    route = resolve_route(make(model_override=["anthropic:claude-x", "openai:gpt-5.1"]), "whatever")
    assert route is not None
    assert [str(target) for target in route.targets] == ["anthropic:claude-x", "openai:gpt-5.1"]


def test_a_model_override_naming_an_unknown_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--model names unknown backend 'nosuch'"):
        make(model_override="nosuch:x")
