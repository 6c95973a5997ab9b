"""How calls fall back and how long a failing backend is left alone: the settings and their defaults.

``[fallback]`` in ``config.toml`` sets the policy of every chain; a route's ``fallback = {…}`` table
overrides fields for that route. ``[cooldown]`` sets the circuit breaker, which is per backend and
so has no per-route form. Defaults and their reasons: docs/routing.md#defaults.
"""

from dataclasses import dataclass, field, replace
from typing import Any, Dict, FrozenSet, Mapping

__all__ = [
    "DEFAULT_FALLBACK_STATUSES",
    "CooldownPolicy",
    "FallbackPolicy",
    "PolicyError",
    "parse_cooldown",
    "parse_fallback",
]

# Statuses that say "not now" or "not here" rather than "not this request": both official SDKs retry
# 408, 409, 429 and >= 500 (docs/protocol-rules.md#retry-hints); 529 is Anthropic's "overloaded".
DEFAULT_FALLBACK_STATUSES: FrozenSet[int] = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


class PolicyError(ValueError):
    """A ``[fallback]``/``[cooldown]`` value is invalid; the message names the field."""


@dataclass(frozen=True)
class FallbackPolicy:
    """What one call does when an attempt fails before its answer reached the client.

    ``retries``: further tries of the same target (after a backoff) before the next one; a balanced
    group's other members are tried first, without waiting. None by default: a chain moves on at
    once, and a single target keeps the client SDK's own retries (docs/routing.md#sdk-retries).
    ``backoff``/``max_backoff``: the first wait and its cap (doubling, each wait cut by up to a
    quarter at random); a ``retry-after`` longer than the backoff is waited instead.
    ``max_wait``: all the waiting one call may do; a wait that does not fit moves on instead.
    ``max_attempts``: upstream requests one call may make. ``statuses``: the upstream statuses that
    fall back (besides any answer carrying ``x-should-retry: true``)."""

    retries: int = 0
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_wait: float = 15.0
    max_attempts: int = 8
    statuses: FrozenSet[int] = field(default=DEFAULT_FALLBACK_STATUSES)

    def as_data(self) -> Dict[str, Any]:
        """The ``[fallback]`` table that parses back to this policy."""
        return {
            "retries": self.retries, "backoff": self.backoff, "max_backoff": self.max_backoff,
            "max_wait": self.max_wait, "max_attempts": self.max_attempts, "statuses": sorted(self.statuses),
        }


@dataclass(frozen=True)
class CooldownPolicy:
    """The circuit breaker of each backend, per process (docs/routing.md#cooldowns).

    ``failures`` failures within ``window`` seconds, with no success between them, make a backend cool
    down for ``duration`` seconds (0 failures: only a ``retry-after`` does); an answer carrying
    ``retry-after`` makes it cool down that long at once, up to ``max_retry_after``."""

    failures: int = 3
    window: float = 60.0
    duration: float = 30.0
    max_retry_after: float = 300.0

    def as_data(self) -> Dict[str, Any]:
        return {"failures": self.failures, "window": self.window, "duration": self.duration,
                "max_retry_after": self.max_retry_after}


def parse_fallback(raw: Any, where: str, base: FallbackPolicy) -> FallbackPolicy:
    """``base`` with the fields ``raw`` sets (the global ``[fallback]``, or a route's overrides)."""
    table = _table(raw, where, FallbackPolicy.__dataclass_fields__)
    values: Dict[str, Any] = {}
    if "retries" in table:
        values["retries"] = _int(table["retries"], f"{where}.retries", minimum=0)
    if "max_attempts" in table:
        values["max_attempts"] = _int(table["max_attempts"], f"{where}.max_attempts", minimum=1)
    for name in ("backoff", "max_backoff", "max_wait"):
        if name in table:
            values[name] = _seconds(table[name], f"{where}.{name}", zero_allowed=name == "max_wait")
    if "statuses" in table:
        values["statuses"] = _statuses(table["statuses"], f"{where}.statuses")
    policy = replace(base, **values)
    if policy.max_backoff < policy.backoff:
        raise PolicyError(f"{where}.max_backoff ({policy.max_backoff:g}) is below backoff ({policy.backoff:g})")
    return policy


def parse_cooldown(raw: Any, where: str) -> CooldownPolicy:
    table = _table(raw, where, CooldownPolicy.__dataclass_fields__)
    values: Dict[str, Any] = {}
    if "failures" in table:
        values["failures"] = _int(table["failures"], f"{where}.failures", minimum=0)
    for name in ("window", "duration", "max_retry_after"):
        if name in table:
            values[name] = _seconds(table[name], f"{where}.{name}", zero_allowed=name == "max_retry_after")
    return replace(CooldownPolicy(), **values)


def _table(raw: Any, where: str, known: Mapping[str, Any]) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{where} must be a table")
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise PolicyError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(known)})")
    return raw


def _int(raw: Any, where: str, *, minimum: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < minimum:
        raise PolicyError(f"{where} must be an integer ≥ {minimum}")
    return raw


_LONGEST_SECONDS = 3600.0  # nothing here should wait an hour: a larger value is a unit mistake


def _seconds(raw: Any, where: str, *, zero_allowed: bool) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise PolicyError(f"{where} must be a number of seconds")
    if not (0 <= raw <= _LONGEST_SECONDS) or (raw == 0 and not zero_allowed):
        low = "0" if zero_allowed else "more than 0"
        raise PolicyError(f"{where} must be {low} and at most {_LONGEST_SECONDS:g} seconds")
    return float(raw)


def _statuses(raw: Any, where: str) -> FrozenSet[int]:
    if not isinstance(raw, list):
        raise PolicyError(f"{where} must be a list of HTTP statuses (400–599)")
    for status in raw:
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise PolicyError(f"{where} must list HTTP error statuses (400–599), not {status!r}")
    return frozenset(raw)
