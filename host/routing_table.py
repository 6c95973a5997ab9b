"""The current routing table as data: what ``router mcp`` and the dashboard show.

Backends (protocol, base URL, the glob list, where the key comes from — described, never any part
of the key), aliases, routes in the order they are tried, the default backend, and the built-in
model families with the backend each reaches (or None when no backend has that name).
"""

from typing import Any, Dict, List

from shim.routing import BUILTIN_FAMILIES
from shim.targets import alias_entries_data, chain_data

from .config_store import LoadedConfig

__all__ = ["routing_table"]


def routing_table(loaded: LoadedConfig) -> Dict[str, Any]:
    config = loaded.config
    backends: List[Dict[str, Any]] = [
        {"name": name, "protocol": backend.protocol, "base_url": backend.base_url, "models": list(backend.models),
         "key": loaded.key_sources[name].describe()}
        for name, backend in config.backends.items()
    ]
    families: Dict[str, List[str]] = {}
    for pattern, backend_name in BUILTIN_FAMILIES:
        families.setdefault(backend_name, []).append(pattern)
    return {
        "config": str(loaded.path),
        "backends": backends,
        "aliases": {name: alias_entries_data(entries) for name, entries in config.aliases.items()},
        "routes": [{"match": rule.match, "backend": chain_data(rule.chain)} for rule in config.routes],
        "default_backend": None if config.default_backend is None else chain_data(config.default_backend),
        "families": [{"patterns": patterns, "backend": name if name in config.backends else None}
                     for name, patterns in families.items()],
        "shortcuts": {name: {"model": model, "backend": "anthropic" if "anthropic" in config.backends else None}
                      for name, model in config.shortcuts.items()},
    }
