"""Which backend serves a model name: a pure function of the configuration and the name.

Order (first hit wins):

1. ``NAME:model`` where NAME is a configured backend → that backend, prefix stripped. An unknown
   prefix (Ollama's ``llama3:8b``) is part of the model name and left untouched.
2. ``[aliases]`` — one hop; the target may itself carry a ``NAME:`` prefix. The target then goes
   through steps 1 and 3–6 (never through the aliases again, so aliases cannot loop).
3. ``[[routes]]`` globs, in file order.
4. Each backend's own ``models`` globs, in backend order (a backend that says it serves
   ``llama-*`` gets ``llama-*`` without a separate route).
5. Built-in families: ``claude-*`` and the shortcuts ``opus``/``sonnet``/``haiku`` (expanded to
   the configured full ids) → the backend named ``anthropic``; ``gpt-*``, ``o1*``, ``o3*``,
   ``o4*``, ``chatgpt-*``, ``text-embedding-*`` → the backend named ``openai``. Only when such a
   backend is configured.
6. ``default_backend``.

Otherwise there is no route, and the call goes where the client sent it, untouched.

Results are cached per configuration object and model name (:func:`resolve_route` runs on every
call; a program uses a handful of model names). The cache assumes what every caller does: a
``RouterConfig`` is not changed in place once it routes calls (it is frozen; its mappings are
built once by ``RouterConfig.from_dict``).
"""

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Dict, Optional, Tuple

from .config import Backend, RouterConfig

__all__ = ["BUILTIN_FAMILIES", "Route", "resolve_route"]

# (glob, backend name) pairs for step 5.
BUILTIN_FAMILIES: Tuple[Tuple[str, str], ...] = (
    ("claude-*", "anthropic"),
    ("gpt-*", "openai"),
    ("o1*", "openai"),
    ("o3*", "openai"),
    ("o4*", "openai"),
    ("chatgpt-*", "openai"),
    ("text-embedding-*", "openai"),
)


@dataclass(frozen=True)
class Route:
    """Where one model name goes and why."""

    requested_model: str
    backend: Backend
    upstream_model: str
    rule: str  # human-readable: which rule matched, e.g. "route 'llama-*'"


_CACHE_LIMIT = 256  # model names remembered for one configuration; a full cache starts again


class _RouteCache:
    """The routes of the most recent configuration. One (config, routes) pair replaced as a whole, so
    threads racing on two configurations can lose entries but never read another config's route.
    ``RouterConfig`` holds dicts, so it cannot be a dict key; identity (``is``) is the test."""

    def __init__(self) -> None:
        self.entry: Tuple[Optional[RouterConfig], Dict[str, Optional[Route]]] = (None, {})

    def routes_for(self, config: RouterConfig) -> Dict[str, Optional[Route]]:
        entry = self.entry
        if entry[0] is not config or len(entry[1]) >= _CACHE_LIMIT:
            entry = self.entry = (config, {})
        return entry[1]


_route_cache = _RouteCache()


def resolve_route(config: RouterConfig, model: str) -> Optional[Route]:
    """The route for ``model``, or None when nothing matches (the call is left alone)."""
    routes = _route_cache.routes_for(config)
    try:
        return routes[model]
    except KeyError:
        route = routes[model] = _resolve_route(config, model)
        return route
    except TypeError:  # an unhashable "model" from an unchecked caller: no caching, same answer as before
        return _resolve_route(config, model)


def _resolve_route(config: RouterConfig, model: str) -> Optional[Route]:
    prefixed = _by_prefix(config, model)  # step 1 comes before the aliases, even for an alias key
    if prefixed is not None:
        return prefixed
    alias_target = config.aliases.get(model)
    if alias_target is not None:
        route = _resolve_name(config, alias_target)
        if route is None:
            return None
        rule = f"alias {model!r} → {alias_target!r}, then {route.rule}"
        return Route(model, route.backend, route.upstream_model, rule)
    route = _resolve_name(config, model)
    if route is None:
        return None
    return Route(model, route.backend, route.upstream_model, route.rule)


def _resolve_name(config: RouterConfig, model: str) -> Optional[Route]:
    return (
        _by_prefix(config, model)
        or _by_user_route(config, model)
        or _by_backend_models(config, model)
        or _by_family(config, model)
        or _by_default(config, model)
    )


def _by_prefix(config: RouterConfig, model: str) -> Optional[Route]:
    prefix, sep, rest = model.partition(":")
    backend = config.backends.get(prefix) if sep else None
    if backend is None or not rest:
        return None
    return Route(model, backend, rest, f"prefix '{prefix}:'")


def _by_user_route(config: RouterConfig, model: str) -> Optional[Route]:
    for rule in config.routes:
        if fnmatchcase(model, rule.match):
            return Route(model, config.backends[rule.backend], model, f"route {rule.match!r}")
    return None


def _by_backend_models(config: RouterConfig, model: str) -> Optional[Route]:
    for backend in config.backends.values():
        for pattern in backend.models:
            if fnmatchcase(model, pattern):
                return Route(model, backend, model, f"backend {backend.name!r} models {pattern!r}")
    return None


def _by_family(config: RouterConfig, model: str) -> Optional[Route]:
    shortcut = config.shortcuts.get(model)
    if shortcut is not None and "anthropic" in config.backends:
        return Route(model, config.backends["anthropic"], shortcut, f"shortcut {model!r} → {shortcut!r}")
    for pattern, backend_name in BUILTIN_FAMILIES:
        backend = config.backends.get(backend_name)
        if backend is not None and fnmatchcase(model, pattern):
            return Route(model, backend, model, f"built-in family {pattern!r}")
    return None


def _by_default(config: RouterConfig, model: str) -> Optional[Route]:
    if config.default_backend is None:
        return None
    return Route(model, config.backends[config.default_backend], model, "default_backend")
