"""One configuration generation: everything the proxy derives from the configuration, as one value.

A running proxy swaps the whole generation at once (one attribute assignment on the event loop,
:attr:`ProxyState.generation`), never field by field: a call reads the generation once when it
starts and keeps it to its end, so a call already planned finishes on the configuration it was
planned with while the next call uses the new one (docs/configuration.md#live-reload).

What is *not* in a generation, and why:

- the upstream client: its pools are per origin (scheme, host, port), not per backend, and an idle
  connection lives at most 30 s, so an origin the new configuration no longer names is simply never
  asked for again; keeping the client keeps the warm connections of every backend that stays;
- the settings (ports, limits, timeouts): command-line options, fixed for the process's life;
- the counters and the telemetry sink: they describe the process, across generations.
"""

from dataclasses import dataclass

from shim.config import RouterConfig

from .models import ModelCatalog
from .upstream import BackendLimiter

__all__ = ["ConfigGeneration"]


@dataclass(frozen=True)
class ConfigGeneration:
    """``number`` counts generations in this process (1 at start); ``fingerprint`` names the version of
    the files it was loaded from (:func:`host.config_source.current_fingerprint`; empty when the
    configuration did not come from the files, as in tests)."""

    number: int
    fingerprint: str
    config: RouterConfig
    catalog: ModelCatalog  # GET /v1/models: this configuration's backends, aliases and shortcuts
    limiter: BackendLimiter  # per-backend concurrency, shared with the previous generation's (see there)
    loaded_at: float  # wall-clock seconds

    @classmethod
    def first(cls, config: RouterConfig, fingerprint: str, limiter: BackendLimiter, now: float) -> "ConfigGeneration":
        return cls(1, fingerprint, config, ModelCatalog(config, now), limiter.for_backends(config.backends), now)

    def successor(self, config: RouterConfig, fingerprint: str, now: float) -> "ConfigGeneration":
        """The next generation, carrying over what must outlive this one (each kept backend's limit)."""
        limiter = self.limiter.for_backends(config.backends)
        return ConfigGeneration(self.number + 1, fingerprint, config, ModelCatalog(config, now), limiter, now)
