"""Everything the request handlers share for the life of one proxy process."""

import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from shim.config import RouterConfig
from shim.cooldown import CooldownBook
from shim.responses_store import MemoryResponseStore, ResponseStore

from .body_budget import BodyBudget
from .generation import ConfigGeneration
from .settings import ProxySettings
from .stats import ProxyStats
from .upstream import UpstreamClient

if TYPE_CHECKING:  # the telemetry modules load only for a proxy that records (router proxy)
    from ..event_sink import EventSink
    from ..peer_process import PeerFinder
    from .metrics import ProxyMetrics

__all__ = ["ProxyState"]


@dataclass
class ProxyState:
    """The configuration generation serving new calls, the settings, and the shared upstream client
    (created at lifespan start-up, closed at shutdown).

    ``generation`` is replaced whole by :meth:`adopt` (on the event loop), never edited: a call reads
    it once at its start (docs/configuration.md#live-reload)."""

    generation: ConfigGeneration
    settings: ProxySettings
    stats: ProxyStats = field(default_factory=ProxyStats)
    upstream: Optional[UpstreamClient] = None
    sink: "Optional[EventSink]" = None  # the store/metrics/OTel fan-out; None: events stay in ``stats`` only
    metrics: "Optional[ProxyMetrics]" = None  # GET /metrics; None: 404
    # Responses calls it answered (previous_response_id, GET/DELETE /v1/responses/{id}): SQLite under
    # ROUTER_HOME for ``router proxy`` (response_store.py), in memory for the proxy ``router shim`` runs.
    responses: ResponseStore = field(default_factory=MemoryResponseStore)
    # Who sent a call that carries no caller header (router shim's proxy only: its clients are the tree's).
    peers: "Optional[PeerFinder]" = None
    # Each backend's cooldown state and calls in flight: the process's, across configuration generations
    # (docs/routing.md#state-per-process). Built from the first generation's [cooldown] by __post_init__.
    health: Optional[CooldownBook] = None
    # Balancing draws and backoff jitter (the engine draws no random number of its own).
    rng: random.Random = field(default_factory=random.Random)
    # The request bodies held at once (body_budget.py); room for one of the largest at least.
    bodies: BodyBudget = field(init=False)

    def __post_init__(self) -> None:
        if self.health is None:
            self.health = CooldownBook(self.generation.config.cooldown)
        self.bodies = BodyBudget(max(self.settings.max_bodies_bytes, self.settings.max_body_bytes))

    @property
    def book(self) -> CooldownBook:
        assert self.health is not None  # set by __post_init__
        return self.health

    @property
    def client(self) -> UpstreamClient:
        assert self.upstream is not None, "the upstream client exists from lifespan start-up on"
        return self.upstream

    def adopt(self, config: RouterConfig, fingerprint: str) -> ConfigGeneration:
        """Make ``config`` serve every call that starts from now on; returns the new generation."""
        self.generation = self.generation.successor(config, fingerprint, time.time())
        self.book.use_policy(config.cooldown)
        return self.generation
