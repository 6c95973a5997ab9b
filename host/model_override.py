"""``--model TARGET`` of ``router proxy`` and ``router shim``: every call of the run goes to one target.

"Run this agent on another model without touching its code": the target is written as a route's
(``backend`` or ``backend:model``, or a chain of them), comes before every routing rule, and is
kept across configuration reloads (docs/operator-switches.md#model-override). Checked at start, so
a mistyped backend is one clear line, not an error on every call.
"""

import dataclasses
from typing import Optional

from shim.config import RouterConfig
from shim.targets import TargetSyntaxError, chain_backends, describe_chain, parse_chain

from .config_store import LoadedConfig

__all__ = ["ModelOverrideRefused", "describe_override", "with_model_override"]


class ModelOverrideRefused(ValueError):
    """The ``--model`` value is not a target of this configuration; the message says why."""


def with_model_override(loaded: LoadedConfig, target: Optional[str]) -> LoadedConfig:
    """``loaded`` with every call sent to ``target`` (``loaded`` itself when there is none)."""
    if target is None:
        return loaded
    config = loaded.config
    try:
        chain = parse_chain(target, "--model")
    except TargetSyntaxError as problem:
        raise ModelOverrideRefused(str(problem)) from None
    unknown = [name for name in chain_backends(chain) if name not in config.backends]
    if unknown:
        configured = ", ".join(sorted(config.backends)) or "none; add one with: router backend add"
        raise ModelOverrideRefused(f"--model {target!r}: no backend named {unknown[0]!r} (configured: {configured})")
    overridden: RouterConfig = dataclasses.replace(config, model_override=chain)
    return dataclasses.replace(loaded, config=overridden)


def describe_override(config: RouterConfig) -> Optional[str]:
    """One line for a banner: where every call goes, or None without ``--model``."""
    if config.model_override is None:
        return None
    return f"every call goes to {describe_chain(config.model_override)} (--model)"
