"""The label values ``/metrics`` may use: a bounded set that follows the configuration.

Every distinct label value is a series Prometheus keeps for the life of the process, and the model
name is the client's choice: labelled as sent, 20,000 made-up names cost the proxy ~190 MiB and a
``/metrics`` of 80 MB (docs/telemetry-bounds.md#metrics). So a value is one the *configuration*
names, and everything else is :data:`OTHER`:

* ``backend``: a configured backend's name, ``none`` for a call with no route;
* ``model`` (the model sent upstream): the name itself when the configuration spells it out (an
  alias, its target, a shortcut, a backend's or a route's model written without a wildcard); else
  the glob that covers it (a route's, a backend's ``models``, a built-in family's: ``claude-*``);
* ``endpoint``: one of the router's endpoints (``chat``, ``messages``, ``responses`` …);
* ``status``: the HTTP status, a three-digit number (0 for no response).

The set is derived from one :class:`~shim.config.RouterConfig`; a reload gives the next calls a new
set (:meth:`MetricLabels.for_config` keeps the last one). Series already created stay, as Prometheus
counters must: their number grows with configuration changes, never with what clients send.
"""

from fnmatch import fnmatchcase
from typing import Dict, FrozenSet, Optional, Tuple

from shim.config import RouterConfig
from shim.protocols import ENDPOINT_PROTOCOL, MODELS
from shim.routing import BUILTIN_FAMILIES
from shim.targets import TargetGroup

__all__ = ["NO_BACKEND", "OTHER", "MetricLabels"]

OTHER = "other"
NO_BACKEND = "none"
_WILDCARDS = frozenset("*?[")
_ENDPOINTS = frozenset({*ENDPOINT_PROTOCOL, MODELS})
# Model names remembered, only those the configuration covers (a name labelled OTHER costs a pass over
# the globs each time: cheap, and nothing kept); a full memo starts again. Names kept in the memo last,
# and long-lived strings spread over memory hold it from the allocator (docs/proxy-limits.md#memory-after-a-burst).
_MEMO_LIMIT = 1024


class MetricLabels:
    """Label values for one configuration. Not thread-safe to share across loops; cheap to rebuild."""

    def __init__(self, config: RouterConfig) -> None:
        self.config = config
        self.backends: FrozenSet[str] = frozenset(config.backends)
        names, globs = _configured_models(config)
        self.exact_models: FrozenSet[str] = names
        self.model_globs: Tuple[str, ...] = globs
        self._memo: Dict[str, str] = {}

    @classmethod
    def for_config(cls, config: RouterConfig, previous: "Optional[MetricLabels]") -> "MetricLabels":
        """``previous`` when it was built from this very configuration object, else a new set."""
        return previous if previous is not None and previous.config is config else cls(config)

    def backend(self, name: Optional[str]) -> str:
        if name is None:
            return NO_BACKEND
        return name if name in self.backends else OTHER

    def model(self, name: str) -> str:
        label = self._memo.get(name)
        if label is None:
            label = self._model_label(name)
            if label is not OTHER:  # a name nothing covers is not kept: made-up names would fill the memo
                if len(self._memo) >= _MEMO_LIMIT:
                    self._memo.clear()
                self._memo[name] = label
        return label

    def _model_label(self, name: str) -> str:
        if name in self.exact_models:
            return name
        for glob in self.model_globs:
            if fnmatchcase(name, glob):
                return glob
        return OTHER

    @staticmethod
    def endpoint(name: str) -> str:
        return name if name in _ENDPOINTS else OTHER

    @staticmethod
    def status(status: int) -> str:
        return str(status) if 0 <= status <= 999 else OTHER


def _configured_models(config: RouterConfig) -> Tuple[FrozenSet[str], Tuple[str, ...]]:
    """(the model names the configuration spells out, the globs it routes by, in routing order)."""
    written = [*config.aliases, *config.shortcuts, *config.shortcuts.values()]
    for entries in config.aliases.values():
        for entry in entries:
            if isinstance(entry, TargetGroup):
                written += [target.model for target in entry.targets if target.model]
            else:
                prefix, sep, rest = entry.partition(":")
                written.append(rest if sep and prefix in config.backends else entry)
    chains = [rule.chain for rule in config.routes] + ([config.default_backend] if config.default_backend else [])
    written += [target.model for chain in chains for group in chain for target in group.targets if target.model]
    patterns = [rule.match for rule in config.routes]
    patterns += [pattern for backend in config.backends.values() for pattern in backend.models]
    patterns += [glob for glob, _ in BUILTIN_FAMILIES]
    exact = {name for name in [*written, *patterns] if name and not _WILDCARDS & set(name)}
    globs = tuple(dict.fromkeys(pattern for pattern in patterns if _WILDCARDS & set(pattern)))
    return frozenset(exact), globs
