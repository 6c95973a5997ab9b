"""The resolved configuration the engine routes with: backends, aliases, routes, defaults.

The host builds it from ``config.toml`` plus the credentials store; the shim builds it from the
snapshot file the host writes. Both go through :meth:`RouterConfig.from_dict`, so there is one
validator. Secrets live only in :attr:`Backend.api_key`, which ``repr`` never shows.
"""

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Dict, List, Mapping, Optional, Tuple, Type

from .fallback_policy import CooldownPolicy, FallbackPolicy, PolicyError, parse_cooldown, parse_fallback
from .protocols import OPENAI, PROTOCOLS
from .targets import AliasEntry, Chain, TargetSyntaxError, chain_backends, parse_alias_entries, parse_chain
from .translate.system_placement import AUTO, MID_CONVERSATION_SYSTEM_SETTINGS

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_SHORTCUTS",
    "MAX_TOKENS_FIELDS",
    "Backend",
    "ConfigError",
    "RouteRule",
    "RouterConfig",
]

# Anthropic requires max_tokens; OpenAI clients often omit it. LiteLLM uses the same fallback
# (DEFAULT_ANTHROPIC_CHAT_MAX_TOKENS=4096): docs/protocol-rules.md#default-output-limit.
DEFAULT_MAX_TOKENS = 4096

# The shortcuts a user can type instead of a full Claude id. Configurable in config.toml
# ([shortcuts]) because ids move faster than releases of this tool.
DEFAULT_SHORTCUTS: Dict[str, str] = {
    "opus": "claude-opus-4-7",
    "sonnet": "claude-sonnet-4-6",
    "haiku": "claude-haiku-4-5",
}

# OpenAI reasoning models reject "max_tokens"; most OpenAI-compatible servers only know it.
MAX_TOKENS_FIELDS = ("max_tokens", "max_completion_tokens")


class ConfigError(ValueError):
    """The configuration is invalid; the message names the field and the problem."""


@dataclass(frozen=True)
class Backend:
    """One upstream API the router can send calls to."""

    name: str
    protocol: str
    base_url: str
    api_key: Optional[str] = field(default=None, repr=False)
    models: Tuple[str, ...] = ()  # globs of model names this backend serves (routing + listing)
    max_tokens_field: str = "max_tokens"  # which field carries the output limit (OpenAI protocol)
    max_output_tokens: Optional[int] = None  # clamp for max_tokens sent to this backend
    # Send earlier turns' thinking back as reasoning_content (DeepSeek requires it; strict servers
    # such as Mistral reject the unknown field, so it is off unless a backend asks for it).
    replay_reasoning: bool = False
    # OpenAI protocol only (docs/responses-api.md#upstream-endpoint-choice): the backend serves
    # POST /responses itself, so Responses clients reach it unchanged (the ``openai`` preset: yes).
    responses_api: bool = False
    # Globs of upstream model names served *only* on /responses (OpenAI's *-pro and codex models):
    # every client's calls for them are translated to Responses.
    responses_only_models: Tuple[str, ...] = ()
    # Where system messages from the middle of a conversation go: "auto", "keep" or "hoist"
    # (docs/system-messages.md). "hoist" is for servers whose chat template takes only a leading one.
    mid_conversation_system: str = AUTO

    def url_for(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def responses_only(self, upstream_model: str) -> bool:
        """``upstream_model`` is served only on this backend's /responses endpoint."""
        return any(fnmatchcase(upstream_model, glob) for glob in self.responses_only_models)


@dataclass(frozen=True)
class RouteRule:
    """A user route: the first rule whose glob matches the model name picks the targets, tried in
    order (shim/targets.py); ``policy``: this route's own fallback policy (None: the global one)."""

    match: str
    chain: Chain
    policy: Optional[FallbackPolicy] = None


@dataclass(frozen=True)
class RouterConfig:
    backends: Mapping[str, Backend] = field(default_factory=dict)
    # Alias name → model names (and balanced groups) it stands for, in fallback order.
    aliases: Mapping[str, Tuple[AliasEntry, ...]] = field(default_factory=dict)
    routes: Tuple[RouteRule, ...] = ()
    default_backend: Optional[Chain] = None
    shortcuts: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_SHORTCUTS))
    default_max_tokens: int = DEFAULT_MAX_TOKENS
    # Model glob → output limit, overriding shim/model_limits.py's table (first match in file order).
    model_max_output_tokens: Mapping[str, int] = field(default_factory=dict)
    fallback: FallbackPolicy = field(default_factory=FallbackPolicy)  # [fallback]: every chain's policy
    cooldown: CooldownPolicy = field(default_factory=CooldownPolicy)  # [cooldown]: each backend's breaker
    # ``--model TARGET`` of ``router proxy``/``router shim``: every call goes here, whatever its model
    # (docs/operator-switches.md#model-override). Never read from config.toml: an option of one run.
    model_override: Optional[Chain] = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RouterConfig":
        """Build and validate from plain data (parsed TOML or the shim's JSON snapshot).

        ``data["backends"]`` maps a name to a table with ``protocol``, ``base_url`` and optional
        ``api_key``, ``models``, ``max_tokens_field``, ``max_output_tokens``, ``replay_reasoning``,
        ``mid_conversation_system``, ``responses_api``, ``responses_only_models``. Routes, aliases and
        ``default_backend`` name targets and chains (shim/targets.py); ``fallback`` and ``cooldown`` are
        the tables of shim/fallback_policy.py.
        """
        if not isinstance(data, Mapping):
            raise ConfigError("the configuration must be a table")
        try:
            config = _parse(cls, data)
        except (TargetSyntaxError, PolicyError) as problem:
            raise ConfigError(str(problem)) from None
        config.check_references()
        return config

    def check_references(self) -> None:
        """Every target of a route, an alias group and the default must name a configured backend."""
        for rule in self.routes:
            self._check_chain(rule.chain, f"route {rule.match!r}")
        for name, entries in self.aliases.items():
            for entry in entries:
                if not isinstance(entry, str):
                    self._check_chain((entry,), f"alias {name!r}")
        if self.default_backend is not None:
            self._check_chain(self.default_backend, "default_backend")
        if self.model_override is not None:
            self._check_chain(self.model_override, "--model")

    def _check_chain(self, chain: Chain, where: str) -> None:
        for backend in chain_backends(chain):
            if backend not in self.backends:
                raise ConfigError(f"{where} names unknown backend {backend!r}")


def _parse(cls: Type[RouterConfig], data: Mapping[str, Any]) -> RouterConfig:
    fallback = parse_fallback(data.get("fallback", {}), "fallback", FallbackPolicy())
    default = data.get("default_backend")
    override = data.get("model_override")
    return cls(
        backends=_parse_backends(data.get("backends", {})),
        aliases=_parse_aliases(data.get("aliases", {})),
        routes=_parse_routes(data.get("routes", []), fallback),
        default_backend=None if default is None else parse_chain(default, "default_backend"),
        shortcuts={**DEFAULT_SHORTCUTS, **_parse_str_map(data.get("shortcuts", {}), "shortcuts")},
        default_max_tokens=_positive_int(data.get("default_max_tokens", DEFAULT_MAX_TOKENS), "default_max_tokens"),
        model_max_output_tokens=_parse_limits(data.get("model_max_output_tokens", {}), "model_max_output_tokens"),
        fallback=fallback,
        cooldown=parse_cooldown(data.get("cooldown", {}), "cooldown"),
        model_override=None if override is None else parse_chain(override, "--model"),
    )


def _parse_backends(raw: Any) -> Dict[str, Backend]:
    if not isinstance(raw, Mapping):
        raise ConfigError("backends must be a table of tables")
    return {str(name): _parse_backend(str(name), table) for name, table in raw.items()}


def _parse_backend(name: str, table: Any) -> Backend:
    where = f"backends.{name}"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table")
    if not name or ":" in name or "/" in name:
        raise ConfigError(f"{where}: a backend name must be non-empty, without ':' or '/'")
    protocol = table.get("protocol")
    if protocol not in PROTOCOLS:
        raise ConfigError(f"{where}.protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
    base_url = table.get("base_url")
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}.base_url must be an http:// or https:// URL")
    max_tokens_field = table.get("max_tokens_field", "max_tokens")
    if max_tokens_field not in MAX_TOKENS_FIELDS:
        raise ConfigError(f"{where}.max_tokens_field must be one of {', '.join(MAX_TOKENS_FIELDS)}")
    limit = table.get("max_output_tokens")
    responses_api = _bool(table.get("responses_api", False), f"{where}.responses_api")
    responses_only = tuple(_parse_str_list(table.get("responses_only_models", []), f"{where}.responses_only_models"))
    if protocol != OPENAI and (responses_api or responses_only):
        raise ConfigError(f"{where}: responses_api and responses_only_models are for OpenAI-protocol backends")
    return Backend(
        name=name,
        protocol=protocol,
        base_url=base_url.rstrip("/"),
        api_key=_optional_str(table.get("api_key"), f"{where}.api_key"),
        models=tuple(_parse_str_list(table.get("models", []), f"{where}.models")),
        max_tokens_field=max_tokens_field,
        max_output_tokens=None if limit is None else _positive_int(limit, f"{where}.max_output_tokens"),
        replay_reasoning=_bool(table.get("replay_reasoning", False), f"{where}.replay_reasoning"),
        mid_conversation_system=_choice(
            table.get("mid_conversation_system", AUTO), MID_CONVERSATION_SYSTEM_SETTINGS,
            f"{where}.mid_conversation_system",
        ),
        responses_api=responses_api,
        responses_only_models=responses_only,
    )


def _parse_routes(raw: Any, fallback: FallbackPolicy) -> Tuple[RouteRule, ...]:
    if not isinstance(raw, list):
        raise ConfigError("routes must be an array of tables ([[routes]])")
    rules: List[RouteRule] = []
    for position, table in enumerate(raw):
        where = f"routes[{position}]"
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where} must be a table with match and backend")
        unknown = sorted(set(table) - {"match", "backend", "fallback"})
        if unknown:
            raise ConfigError(f"{where}: unknown field {unknown[0]!r} (a route has match, backend, fallback)")
        match = table.get("match")
        if not isinstance(match, str) or not match:
            raise ConfigError(f"{where}.match must be a non-empty glob")
        if table.get("backend") in (None, ""):
            raise ConfigError(f"{where}.backend must name a backend (or a list of them)")
        chain = parse_chain(table["backend"], f"{where}.backend")
        policy = None if "fallback" not in table else parse_fallback(table["fallback"], f"{where}.fallback", fallback)
        rules.append(RouteRule(match=match, chain=chain, policy=policy))
    return tuple(rules)


def _parse_aliases(raw: Any) -> Dict[str, Tuple[AliasEntry, ...]]:
    if not isinstance(raw, Mapping):
        raise ConfigError("aliases must be a table of model names (or lists of them)")
    return {str(name): parse_alias_entries(entries, f"aliases.{name}") for name, entries in raw.items()}


def _parse_str_map(raw: Any, where: str) -> Dict[str, str]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a table of strings")
    for key, value in raw.items():
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}.{key} must be a non-empty string")
    return {str(key): value for key, value in raw.items()}


def _parse_str_list(raw: Any, where: str) -> List[str]:
    if not isinstance(raw, list) or not all(isinstance(item, str) and item for item in raw):
        raise ConfigError(f"{where} must be a list of non-empty strings")
    return list(raw)


def _parse_limits(raw: Any, where: str) -> Dict[str, int]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a table of model globs to positive integers")
    return {str(glob): _positive_int(limit, f"{where}.{glob}") for glob, limit in raw.items()}


def _choice(raw: Any, choices: Tuple[str, ...], where: str) -> str:
    if raw not in choices:
        raise ConfigError(f"{where} must be one of {', '.join(choices)}, not {raw!r}")
    return str(raw)


def _optional_str(raw: Any, where: str) -> Optional[str]:
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw:
        raise ConfigError(f"{where} must be a non-empty string")
    return raw


def _bool(raw: Any, where: str) -> bool:
    if not isinstance(raw, bool):
        raise ConfigError(f"{where} must be true or false")
    return raw


def _positive_int(raw: Any, where: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw <= 0:
        raise ConfigError(f"{where} must be a positive integer")
    return raw
