"""Where a route may send a call: targets, balanced groups and the chains tried in order.

The ``config.toml`` forms (docs/routing.md#configuration), all accepted wherever a route, an alias or
``default_backend`` names where calls go::

    backend = "anthropic"                                     # one target
    backend = "openrouter:anthropic/claude-sonnet-4.5"        # one target, another model
    backend = ["anthropic", "openai:gpt-5.1"]                 # a chain: tried in order
    backend = [{ balance = ["anthropic", "anthropic-eu"], weights = [3, 1] }, "openai:gpt-5.1"]

A *target* is ``NAME`` or ``NAME:model``: a configured backend, and the model to ask it for (without
one, the model the client asked for). A *group* is one step of a chain: one target, or several
equivalent ones balanced by weight (``balance``, ``weights``, ``sticky``). A *chain* is the groups in
the order they are tried. This module parses and writes those forms; which target a call gets is
:mod:`shim.balancing` and :mod:`shim.fallback`.
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

__all__ = [
    "MAX_CHAIN_TARGETS",
    "AliasEntry",
    "Chain",
    "Target",
    "TargetGroup",
    "TargetSyntaxError",
    "alias_entries_data",
    "chain_backends",
    "chain_data",
    "describe_chain",
    "parse_alias_entries",
    "parse_chain",
]

# A chain longer than this is a mistake, and each target costs a plan when the ones before it fail.
MAX_CHAIN_TARGETS = 16


class TargetSyntaxError(ValueError):
    """A target, group or chain is malformed; the message names where (``ConfigError`` wraps it)."""


@dataclass(frozen=True)
class Target:
    """A configured backend, and the model to ask it for (None: the model the client asked for)."""

    backend: str
    model: Optional[str] = None

    def __str__(self) -> str:
        return self.backend if self.model is None else f"{self.backend}:{self.model}"


@dataclass(frozen=True)
class TargetGroup:
    """One step of a chain: a single target, or equivalent targets balanced by ``weights``.

    ``sticky``: calls of one conversation keep the member that holds its prompt cache
    (docs/routing.md#prompt-cache-stickiness)."""

    targets: Tuple[Target, ...]
    weights: Tuple[float, ...] = ()  # one per target; () means equal weights
    sticky: bool = True

    @property
    def balanced(self) -> bool:
        return len(self.targets) > 1

    def weight_of(self, index: int) -> float:
        return self.weights[index] if self.weights else 1.0

    def __str__(self) -> str:
        if not self.balanced:
            return str(self.targets[0])
        members = ", ".join(f"{target}×{self.weight_of(i):g}" for i, target in enumerate(self.targets))
        return f"balance({members}{'' if self.sticky else ', not sticky'})"


Chain = Tuple[TargetGroup, ...]
# An alias lists model names, resolved like any model name (a ``NAME:`` prefix pins the backend), or
# balanced groups whose members all name their backend and model.
AliasEntry = Union[str, TargetGroup]


def parse_target(raw: Any, where: str, *, model_required: bool = False) -> Target:
    """``"NAME"`` or ``"NAME:model"`` (the model may itself contain colons: ``ollama:llama3:8b``)."""
    if not isinstance(raw, str) or not raw:
        raise TargetSyntaxError(f"{where} must be a backend name or 'backend:model'")
    backend, sep, model = raw.partition(":")
    if not backend or (sep and not model):
        raise TargetSyntaxError(f"{where}: {raw!r} is not 'backend' or 'backend:model'")
    if model_required and not sep:
        raise TargetSyntaxError(f"{where}: {raw!r} must name its model ('backend:model')")
    return Target(backend, model if sep else None)


def parse_chain(raw: Any, where: str) -> Chain:
    """A route's or ``default_backend``'s value: one target, or a list of targets and groups."""
    if isinstance(raw, list):
        if not raw:
            raise TargetSyntaxError(f"{where} must name at least one backend")
        chain = tuple(_parse_step(item, f"{where}[{index}]") for index, item in enumerate(raw))
    else:
        chain = (TargetGroup((parse_target(raw, where),)),)
    _check_chain(chain, where)
    return chain


def _parse_step(raw: Any, where: str, *, model_required: bool = False) -> TargetGroup:
    if isinstance(raw, Mapping):
        return parse_group(raw, where, model_required=model_required)
    return TargetGroup((parse_target(raw, where, model_required=model_required),))


def parse_group(raw: Mapping[str, Any], where: str, *, model_required: bool = False) -> TargetGroup:
    """``{balance = [targets…], weights = [numbers…], sticky = true}``."""
    unknown = sorted(set(raw) - {"balance", "weights", "sticky"})
    if unknown:
        raise TargetSyntaxError(f"{where}: unknown field {unknown[0]!r} (a group has balance, weights, sticky)")
    members = raw.get("balance")
    if not isinstance(members, list) or not members:
        raise TargetSyntaxError(f"{where}.balance must be a list of targets ('backend' or 'backend:model')")
    targets = tuple(
        parse_target(item, f"{where}.balance[{index}]", model_required=model_required)
        for index, item in enumerate(members)
    )
    if len(set(targets)) != len(targets):
        raise TargetSyntaxError(f"{where}.balance names a target twice")
    sticky = raw.get("sticky", True)
    if not isinstance(sticky, bool):
        raise TargetSyntaxError(f"{where}.sticky must be true or false")
    return TargetGroup(targets, _parse_weights(raw.get("weights"), len(targets), where), sticky)


def _parse_weights(raw: Any, count: int, where: str) -> Tuple[float, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) != count:
        raise TargetSyntaxError(f"{where}.weights must have one number per target in balance ({count})")
    for weight in raw:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight < float("inf"):
            raise TargetSyntaxError(f"{where}.weights must be positive numbers, not {weight!r}")
    return tuple(float(weight) for weight in raw)


def _check_chain(chain: Chain, where: str) -> None:
    targets = [target for group in chain for target in group.targets]
    if len(targets) > MAX_CHAIN_TARGETS:
        raise TargetSyntaxError(f"{where} names {len(targets)} targets; the limit is {MAX_CHAIN_TARGETS}")
    if len(set(targets)) != len(targets):
        raise TargetSyntaxError(f"{where} names a target twice (a target is retried by the fallback policy)")


def parse_alias_entries(raw: Any, where: str) -> Tuple[AliasEntry, ...]:
    """An alias: one model name, or a list of model names and groups (members as ``backend:model``)."""
    if isinstance(raw, str):
        if not raw:
            raise TargetSyntaxError(f"{where} must be a non-empty string")
        return (raw,)
    if not isinstance(raw, list) or not raw:
        raise TargetSyntaxError(f"{where} must be a model name or a list of model names and groups")
    entries: List[AliasEntry] = []
    for index, item in enumerate(raw):
        here = f"{where}[{index}]"
        if isinstance(item, Mapping):
            entries.append(parse_group(item, here, model_required=True))
        elif isinstance(item, str) and item:
            entries.append(item)
        else:
            raise TargetSyntaxError(f"{here} must be a model name or a group table")
    if len(entries) > MAX_CHAIN_TARGETS:
        raise TargetSyntaxError(f"{where} lists {len(entries)} entries; the limit is {MAX_CHAIN_TARGETS}")
    return tuple(entries)


def chain_backends(chain: Chain) -> Tuple[str, ...]:
    """The backend names a chain refers to, in order (for reference checks and the CLI)."""
    return tuple(target.backend for group in chain for target in group.targets)


def chain_data(chain: Chain) -> Any:
    """The ``config.toml`` value that parses back to ``chain`` (a plain string for one target)."""
    if len(chain) == 1 and not chain[0].balanced:
        return str(chain[0].targets[0])
    return [_group_data(group) for group in chain]


def _group_data(group: TargetGroup) -> Any:
    if not group.balanced:
        return str(group.targets[0])
    data: Dict[str, Any] = {"balance": [str(target) for target in group.targets]}
    if group.weights:
        data["weights"] = [int(w) if w.is_integer() else w for w in group.weights]
    if not group.sticky:
        data["sticky"] = False
    return data


def alias_entries_data(entries: Tuple[AliasEntry, ...]) -> Any:
    """The ``config.toml`` value of an alias (a plain string for one model name)."""
    if len(entries) == 1 and isinstance(entries[0], str):
        return entries[0]
    return [entry if isinstance(entry, str) else _group_data(entry) for entry in entries]


def describe_chain(chain: Chain) -> str:
    """One line for people: ``anthropic → openai:gpt-5.1``."""
    return " → ".join(str(group) for group in chain)
