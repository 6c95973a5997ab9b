"""``GET /metrics``: the proxy's calls in Prometheus text format, through the official ``prometheus_client``.

A private :class:`~prometheus_client.CollectorRegistry` (never the global one: two proxies in one
process, or tests, must not share or collide). Labels: backend, the model actually sent upstream,
the HTTP status, the token kind and (for requests and their durations) the endpoint the client
called (``chat``, ``messages``, ``responses`` …), each from a set bounded by the configuration and
the router's own endpoints, never by what clients send (:mod:`.metric_labels`,
docs/telemetry-bounds.md#metrics). Attempts and fallbacks are counted per backend
(docs/routing.md#telemetry): the outcome of an attempt is its HTTP status or the class of its
failure, both from small fixed sets.
"""

from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Callable, Dict, Optional, Tuple

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from shim.config import RouterConfig
from shim.telemetry import CallEvent

from .metric_labels import MetricLabels

__all__ = ["CONTENT_TYPE", "TOKEN_KINDS", "ProxyMetrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write", "reasoning")
# The event's counts in TOKEN_KINDS order. Names built once: a name built per call is a new string
# each time, and CPython's attribute cache keeps the last one looked up for each slot alive, spread
# over memory the allocator could otherwise give back (docs/proxy-limits.md#memory-after-a-burst).
_TOKEN_COUNTS = attrgetter(*(f"{kind}_tokens" for kind in TOKEN_KINDS))
# LLM calls take from tens of milliseconds (a cached short answer) to minutes (long streams).
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
_NO_CONFIG = RouterConfig()


class ProxyMetrics:
    """Counters and histograms fed one :class:`CallEvent` at a time (:meth:`observe`).

    ``config`` returns the configuration serving new calls (the proxy's current generation): the
    label values follow it."""

    content_type = CONTENT_TYPE

    def __init__(self, config: Callable[[], RouterConfig] = lambda: _NO_CONFIG) -> None:
        self._config = config
        self._labels: Optional[MetricLabels] = None
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "router_requests", "LLM calls answered, by backend, upstream model, client endpoint and HTTP status",
            ("backend", "model", "endpoint", "status"), registry=self.registry,
        )
        self.latency = Histogram(
            "router_request_duration_seconds", "Time until the last byte reached the client",
            ("backend", "model", "endpoint", "status"), buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.tokens = Counter(
            "router_tokens", "Tokens reported by the backends, by kind (input excludes cache reads/writes)",
            ("backend", "model", "kind"), registry=self.registry,
        )
        self.cost = Counter(
            "router_cost_usd", "Estimated cost in US dollars (calls of unknown price are not counted)",
            ("backend", "model"), registry=self.registry,
        )
        self.unpriced = Counter(
            "router_unpriced_requests", "Calls whose cost is unknown (model not in the price library, or no usage)",
            ("backend", "model"), registry=self.registry,
        )
        self.attempts = Counter(
            "router_attempts", "Upstream attempts, by backend and outcome (an HTTP status or a failure class)",
            ("backend", "outcome"), registry=self.registry,
        )
        self.fallbacks = Counter(
            "router_fallbacks", "Times a call left a backend for another target of its route",
            ("backend",), registry=self.registry,
        )
        # Bounded like the labels: configured backends × configured models × endpoints × statuses seen.
        self._series: Dict[Tuple[str, str, str, str], _Series] = {}
        self._attempt_series: Dict[Tuple[str, str], Any] = {}

    def observe(self, event: CallEvent, cost: Optional[float]) -> None:
        series = self._series_for(event)
        series.requests.inc()
        series.latency.observe(max(0.0, event.latency_ms) / 1000.0)
        for count, tokens in zip(_TOKEN_COUNTS(event), series.tokens, strict=True):
            if count:
                tokens.inc(count)
        if cost is None:
            series.unpriced.inc()
        elif cost > 0:
            series.cost.inc(cost)
        self._observe_attempts(event)

    def _observe_attempts(self, event: CallEvent) -> None:
        if event.backend is None:
            return  # no route: no attempt of the router's
        labels = self._labels = MetricLabels.for_config(self._config(), self._labels)
        attempts = event.attempts or [{"backend": event.backend, "status": event.status, "failure": None}]
        for index, attempt in enumerate(attempts):
            backend = labels.backend(attempt.get("backend"))
            outcome = _attempt_outcome(attempt, labels)
            child = self._attempt_series.get((backend, outcome))
            if child is None:
                child = self._attempt_series[(backend, outcome)] = self.attempts.labels(backend, outcome)
            child.inc()
            following = attempts[index + 1] if index + 1 < len(attempts) else None
            if following is not None and following.get("backend") != attempt.get("backend"):
                self.fallbacks.labels(backend).inc()

    def _series_for(self, event: CallEvent) -> "_Series":
        """The labelled children for this event's backend, model, endpoint and status, looked up once
        per combination: ``labels()`` validates and locks on every call, ~8 of them per event."""
        labels = self._labels = MetricLabels.for_config(self._config(), self._labels)
        backend = labels.backend(event.backend)
        model = labels.model(event.upstream_model or event.requested_model)
        endpoint = labels.endpoint(event.endpoint)
        status = labels.status(event.status)
        key = (backend, model, endpoint, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series(
                requests=self.requests.labels(backend, model, endpoint, status),
                latency=self.latency.labels(backend, model, endpoint, status),
                tokens=tuple(self.tokens.labels(backend, model, kind) for kind in TOKEN_KINDS),
                cost=self.cost.labels(backend, model),
                unpriced=self.unpriced.labels(backend, model),
            )
        return series

    def render(self) -> bytes:
        """The exposition text (``CONTENT_TYPE``)."""
        return generate_latest(self.registry)


def _attempt_outcome(attempt: Dict[str, Any], labels: MetricLabels) -> str:
    """An attempt's ``outcome`` label: its failure class (a fixed set) or its HTTP status."""
    failure = attempt.get("failure")
    if failure:
        return str(failure)
    status = attempt.get("status")
    return labels.status(status) if isinstance(status, int) else "no_answer"


@dataclass(frozen=True)
class _Series:
    """One label combination's children of every metric (``tokens`` in :data:`TOKEN_KINDS` order)."""

    requests: Any
    latency: Any
    tokens: Tuple[Any, ...]
    cost: Any
    unpriced: Any

