"""Which backend serves a model name: a pure function of the configuration and the name.

Order (first hit wins; ``--model TARGET`` of ``router proxy``/``router shim`` comes before all of
them and sends every call to its target):

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

A route, an alias and ``default_backend`` may name a chain of targets (shim/targets.py): the
:class:`Route` then carries every group of it (:attr:`Route.chain`), in order, each target resolved
to its backend and upstream model, and the fallback policy that applies (the route's own, else the
configuration's ``[fallback]``). An alias that lists several names resolves each one and chains the
results in order (a target reached twice is tried once, where it first appears). :attr:`Route.backend`
and :attr:`Route.upstream_model` are the first target's, so a single-target route reads as it always did.

Results are cached per configuration object and model name (:func:`resolve_route` runs on every
call; a program uses a handful of model names). The cache assumes what every caller does: a
``RouterConfig`` is not changed in place once it routes calls (it is frozen; its mappings are
built once by ``RouterConfig.from_dict``).
"""

from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import Dict, List, Optional, Set, Tuple

from .config import Backend, RouterConfig
from .fallback_policy import FallbackPolicy
from .targets import Chain, TargetGroup

__all__ = ["BUILTIN_FAMILIES", "Route", "RouteGroup", "RouteTarget", "resolve_route"]

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
class RouteTarget:
    """One place a call can go: a backend and the model to ask it for."""

    backend: Backend
    upstream_model: str

    def __str__(self) -> str:
        return f"{self.backend.name}:{self.upstream_model}"


@dataclass(frozen=True)
class RouteGroup:
    """One step of a route's chain: one target, or equivalent ones balanced by weight (shim/balancing.py)."""

    targets: Tuple[RouteTarget, ...]
    weights: Tuple[float, ...] = ()  # one per target; (): equal
    sticky: bool = True

    def weight_of(self, index: int) -> float:
        return self.weights[index] if self.weights else 1.0


_DEFAULT_POLICY = FallbackPolicy()


@dataclass(frozen=True)
class Route:
    """Where one model name goes and why: the first target (``backend``, ``upstream_model``), and
    the whole chain when there is more than one (:attr:`chain`)."""

    requested_model: str
    backend: Backend
    upstream_model: str
    rule: str  # human-readable: which rule matched, e.g. "route 'llama-*'"
    groups: Tuple[RouteGroup, ...] = ()  # (): the one target above
    policy: FallbackPolicy = _DEFAULT_POLICY
    # Every group, in the order they are tried: built once (every routed call reads it).
    chain: Tuple[RouteGroup, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        chain = self.groups or (RouteGroup((RouteTarget(self.backend, self.upstream_model),)),)
        object.__setattr__(self, "chain", chain)

    @property
    def targets(self) -> Tuple[RouteTarget, ...]:
        return tuple(target for group in self.chain for target in group.targets)

    @property
    def has_alternatives(self) -> bool:
        """More than one target: there is somewhere to fall back to or to balance over."""
        return len(self.groups) > 1 or (len(self.groups) == 1 and len(self.groups[0].targets) > 1)

    @property
    def may_fall_back(self) -> bool:
        """A failed attempt could lead to another: the route offers other targets, or retries."""
        return self.has_alternatives or self.policy.retries > 0

    def to(self, target: RouteTarget) -> "Route":
        """This route aimed at ``target`` (one of its chain's): what a plan for that attempt uses."""
        if target.backend is self.backend and target.upstream_model == self.upstream_model:
            return self
        return replace(self, backend=target.backend, upstream_model=target.upstream_model)


_CACHE_LIMIT = 256  # model names remembered for one configuration; a full cache starts again
# Longer names are resolved every time, never kept: the cache is bounded in bytes as well as in entries
# (a client may send a model name of megabytes; docs/telemetry-bounds.md).
_CACHED_NAME_LIMIT = 256


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
    if len(model) > _CACHED_NAME_LIMIT:
        return _resolve_route(config, model)
    routes = _route_cache.routes_for(config)
    try:
        return routes[model]
    except KeyError:
        route = routes[model] = _resolve_route(config, model)
        return route
    except TypeError:  # an unhashable "model" from an unchecked caller: no caching, same answer as before
        return _resolve_route(config, model)


def _resolve_route(config: RouterConfig, model: str) -> Optional[Route]:
    if config.model_override is not None:  # --model: before every rule (docs/operator-switches.md#model-override)
        return _chain_route(config, model, config.model_override, "--model override", config.fallback)
    prefixed = _by_prefix(config, model)  # step 1 comes before the aliases, even for an alias key
    if prefixed is not None:
        return prefixed
    entries = config.aliases.get(model)
    if entries is not None:
        return _by_alias(config, model, entries)
    route = _resolve_name(config, model)
    if route is None:
        return None
    return replace(route, requested_model=model)


def _by_alias(config: RouterConfig, model: str, entries: Tuple[object, ...]) -> Optional[Route]:
    """Each entry resolved (a name through steps 1 and 3–6, a group as written), chained in order."""
    groups: List[RouteGroup] = []
    rules: List[str] = []
    policy: Optional[FallbackPolicy] = None
    for entry in entries:
        if isinstance(entry, TargetGroup):
            groups.append(_group(config, entry, model))
            rules.append(str(entry))
            continue
        route = _resolve_name(config, str(entry))
        if route is None:
            continue  # this name has no route: the others may
        groups.extend(route.chain)
        rules.append(route.rule if len(entries) == 1 else f"{entry!r} by {route.rule}")
        policy = route.policy if policy is None else policy
    chain = _without_repeats(groups)
    if not chain:
        return None
    shown = repr(entries[0]) if len(entries) == 1 else repr(list(map(str, entries)))
    rule = f"alias {model!r} → {shown}, then " + "; ".join(rules)
    return _route(model, chain, rule, policy or config.fallback)


def _without_repeats(groups: List[RouteGroup]) -> Tuple[RouteGroup, ...]:
    """A target reached twice is tried where it first appears (retries are the policy's business)."""
    seen: Set[Tuple[str, str]] = set()
    kept: List[RouteGroup] = []
    for group in groups:
        members = [(i, t) for i, t in enumerate(group.targets) if (t.backend.name, t.upstream_model) not in seen]
        seen.update((t.backend.name, t.upstream_model) for _, t in members)
        if len(members) == len(group.targets):
            kept.append(group)
        elif members:
            weights = tuple(group.weight_of(i) for i, _ in members) if group.weights else ()
            kept.append(RouteGroup(tuple(t for _, t in members), weights, group.sticky))
    return tuple(kept)


def _route(model: str, chain: Tuple[RouteGroup, ...], rule: str, policy: FallbackPolicy) -> Route:
    first = chain[0].targets[0]
    groups = chain if len(chain) > 1 or len(chain[0].targets) > 1 else ()
    return Route(model, first.backend, first.upstream_model, rule, groups, policy)


def _group(config: RouterConfig, group: TargetGroup, model: str) -> RouteGroup:
    targets = tuple(
        RouteTarget(config.backends[target.backend], model if target.model is None else target.model)
        for target in group.targets
    )
    return RouteGroup(targets, group.weights, group.sticky)


def _chain_route(config: RouterConfig, model: str, chain: Chain, rule: str, policy: FallbackPolicy) -> Route:
    return _route(model, tuple(_group(config, group, model) for group in chain), rule, policy)


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
    return Route(model, backend, rest, f"prefix '{prefix}:'", policy=config.fallback)


def _by_user_route(config: RouterConfig, model: str) -> Optional[Route]:
    for rule in config.routes:
        if fnmatchcase(model, rule.match):
            return _chain_route(config, model, rule.chain, f"route {rule.match!r}", rule.policy or config.fallback)
    return None


def _by_backend_models(config: RouterConfig, model: str) -> Optional[Route]:
    for backend in config.backends.values():
        for pattern in backend.models:
            if fnmatchcase(model, pattern):
                return Route(model, backend, model, f"backend {backend.name!r} models {pattern!r}",
                             policy=config.fallback)
    return None


def _by_family(config: RouterConfig, model: str) -> Optional[Route]:
    shortcut = config.shortcuts.get(model)
    if shortcut is not None and "anthropic" in config.backends:
        return Route(model, config.backends["anthropic"], shortcut, f"shortcut {model!r} → {shortcut!r}",
                     policy=config.fallback)
    for pattern, backend_name in BUILTIN_FAMILIES:
        backend = config.backends.get(backend_name)
        if backend is not None and fnmatchcase(model, pattern):
            return Route(model, backend, model, f"built-in family {pattern!r}", policy=config.fallback)
    return None


def _by_default(config: RouterConfig, model: str) -> Optional[Route]:
    if config.default_backend is None:
        return None
    return _chain_route(config, model, config.default_backend, "default_backend", config.fallback)
