"""``config.toml`` ⇄ :class:`shim.config.RouterConfig`, plus the small edits the CLI makes.

The file (in the state directory, see :mod:`host.paths`)::

    default_backend = "groq"            # optional
    default_max_tokens = 4096           # optional
    [backends.groq]
    protocol = "openai"                 # openai | anthropic
    base_url = "https://api.groq.com/openai/v1"
    key_env = "GROQ_API_KEY"            # optional: the key is read from this variable
    models = ["llama-*"]                # optional globs; also max_tokens_field, max_output_tokens,
                                        # replay_reasoning, mid_conversation_system (auto | keep | hoist)
    [aliases]
    fast = "groq:llama-3.1-8b-instant"
    [[routes]]
    match = "mistral-*"
    backend = "groq"                    # or a chain: ["groq", "openai:gpt-4o-mini"] (docs/routing.md)
    [fallback]                          # optional: retries, backoff, max_wait … (docs/routing.md)
    [cooldown]                          # optional: the circuit breaker of each backend
    [shortcuts]                         # optional: opus / sonnet / haiku → full Claude ids
    [model_max_output_tokens]           # optional: model glob → output limit (shim/model_limits.py)
    "qwen3-*" = 32768

Keys never live here: a backend's key comes from ``key_env`` or, without it, from the
credentials file (:mod:`host.credentials`). The engine's :meth:`RouterConfig.from_dict` is the one
validator of the routing data; this module adds the file-level rules (no secrets, no unknown backend
fields, Anthropic base URLs without ``/v1``) and turns every problem into a one-line
:class:`StateFileError` naming the file. Edits are applied to the parsed document and written back
whole and atomically, so settings this module does not know (other tools' tables) survive; TOML
comments do not (the standard library cannot round-trip them).
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import tomli_w

from shim.config import ConfigError, RouterConfig
from shim.protocols import ANTHROPIC
from shim.targets import TargetGroup, chain_backends

from .credentials import load_keys
from .outer_run import OuterRunKeys
from .paths import StateFileError, atomic_write, config_path, credentials_path, read_toml
from .telemetry_retention import TelemetryRetention

__all__ = [
    "BACKEND_FIELDS",
    "CONFIG_MODE",
    "KeySource",
    "LoadedConfig",
    "backend_users",
    "load_config",
    "save_document",
    "valid_env_name",
]

CONFIG_MODE = 0o600  # not secret, but the directory is private anyway; no reason to widen it
BACKEND_FIELDS = (
    "protocol", "base_url", "key_env", "models", "max_tokens_field", "max_output_tokens", "replay_reasoning",
    "mid_conversation_system",
    "responses_api", "responses_only_models",
)
# The engine-level keys of the document passed to RouterConfig.from_dict as they are.
_ENGINE_KEYS = (
    "aliases", "routes", "default_backend", "shortcuts", "default_max_tokens", "model_max_output_tokens", "fallback",
    "cooldown",
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class KeySource:
    """Where a backend's key comes from, described without any part of the key."""

    kind: str  # "stored" | "env" | "none"
    env: Optional[str] = None
    present: bool = False  # the key is available right now

    def describe(self) -> str:
        if self.kind == "stored":
            return "stored (credentials file)"
        if self.kind == "env":
            return f"env {self.env} ({'set' if self.present else 'unset'})"
        return "none"


@dataclass(frozen=True)
class LoadedConfig:
    """The parsed file, the engine configuration built from it, and each backend's key source."""

    path: Path
    document: Dict[str, Any]
    config: RouterConfig
    key_sources: Dict[str, KeySource]


def load_config(environ: Mapping[str, str], model_override: Optional[str] = None) -> LoadedConfig:
    """Read config.toml and the credentials file of the current state directory and validate.

    A missing config file is an empty configuration. Any problem: :class:`StateFileError`.
    ``model_override``: the ``--model`` target of this run, applied to every load (a reload too).
    """
    path = config_path()
    document = read_toml(path)
    keys = load_keys(credentials_path())
    return LoadedConfig(path, document, *_build(path, document, keys, environ, model_override))


def save_document(path: Path, document: Dict[str, Any], environ: Mapping[str, str]) -> None:
    """Validate ``document`` (never write a file the next command could not load), then write it."""
    _build(path, document, {}, environ)
    try:
        atomic_write(path, tomli_w.dumps(document).encode("utf-8"), CONFIG_MODE)
    except OSError as exc:
        raise StateFileError(path, f"cannot be written: {exc.strerror or exc}") from None


def backend_users(config: RouterConfig, name: str) -> List[str]:
    """What in the configuration names backend ``name`` as a target (routes, alias groups,
    default_backend): what would no longer load without it."""
    users = [f"route {rule.match!r}" for rule in config.routes if name in chain_backends(rule.chain)]
    for alias, entries in config.aliases.items():
        groups = tuple(entry for entry in entries if isinstance(entry, TargetGroup))
        if name in chain_backends(groups):
            users.append(f"alias {alias!r}")
    if config.default_backend is not None and name in chain_backends(config.default_backend):
        users.append("default_backend")
    return users


def valid_env_name(name: str) -> bool:
    """A portable environment variable name."""
    return _ENV_NAME.fullmatch(name) is not None


def _build(
    path: Path, document: Mapping[str, Any], keys: Mapping[str, str], environ: Mapping[str, str],
    model_override: Optional[str] = None,
) -> Tuple[RouterConfig, Dict[str, KeySource]]:
    try:
        TelemetryRetention.from_table(document.get("telemetry", {}))  # the store reads it; refused here, at once
        backends = _backend_tables(document)
        outer = OuterRunKeys(environ)
        resolved = {name: _key(name, table, keys, environ, outer) for name, table in backends.items()}
        sources = {name: _key_source(name, table, keys, resolved[name]) for name, table in backends.items()}
        engine = {key: document[key] for key in _ENGINE_KEYS if key in document}
        engine["backends"] = {name: _engine_backend(table, resolved[name]) for name, table in backends.items()}
        if model_override is not None:
            engine["model_override"] = model_override
        return RouterConfig.from_dict(engine), sources
    except ConfigError as exc:
        raise StateFileError(path, str(exc)) from None


def _backend_tables(document: Mapping[str, Any]) -> Dict[str, Mapping[str, Any]]:
    backends = document.get("backends", {})
    if not isinstance(backends, dict) or not all(isinstance(table, dict) for table in backends.values()):
        raise ConfigError("backends must be a table of tables ([backends.NAME])")
    for name, table in backends.items():
        _check_backend_table(name, table)
    return backends


def _check_backend_table(name: str, table: Mapping[str, Any]) -> None:
    where = f"backends.{name}"
    if "api_key" in table:
        # Say where keys go; never repeat the value.
        raise ConfigError(
            f"{where}.api_key: keys do not belong in config.toml; remove the line and run "
            f"'router backend add {name} --key -' (stores it privately) or set key_env"
        )
    unknown = sorted(set(table) - set(BACKEND_FIELDS))
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(BACKEND_FIELDS)})")
    key_env = table.get("key_env")
    if key_env is not None and not (isinstance(key_env, str) and valid_env_name(key_env)):
        raise ConfigError(f"{where}.key_env must be the name of an environment variable")
    base_url = table.get("base_url")
    if table.get("protocol") == ANTHROPIC and isinstance(base_url, str) and base_url.rstrip("/").endswith("/v1"):
        root = base_url.rstrip("/")[: -len("/v1")]
        raise ConfigError(
            f"{where}.base_url ends in /v1, but Anthropic base URLs are the host root "
            f"(the router appends /v1/messages): use {root!r}"
        )


def _key(
    name: str, table: Mapping[str, Any], keys: Mapping[str, str], environ: Mapping[str, str], outer: OuterRunKeys
) -> Optional[str]:
    """The backend's key: from its variable (under ``router shim``, where the variable holds a
    placeholder, the outer run's key: host/outer_run.py), else from the credentials file."""
    env = table.get("key_env")
    if env is None:
        return keys.get(name)
    value = environ.get(env) or None
    if OuterRunKeys.withheld(value):
        return outer.key_for(name, table.get("base_url"))
    return value


def _key_source(name: str, table: Mapping[str, Any], keys: Mapping[str, str], key: Optional[str]) -> KeySource:
    env = table.get("key_env")
    if env is not None:
        return KeySource("env", env, key is not None)
    if name in keys:
        return KeySource("stored", present=True)
    return KeySource("none")


def _engine_backend(table: Mapping[str, Any], key: Optional[str]) -> Dict[str, Any]:
    """The table in RouterConfig.from_dict's shape: key_env resolved into api_key."""
    engine = {field: value for field, value in table.items() if field != "key_env"}
    if key is not None:
        engine["api_key"] = key
    return engine
