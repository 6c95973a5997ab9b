"""What ``router shim``'s summary needs of a run's calls, kept in bounded memory however long the run.

A shimmed program may run for days and make millions of calls; keeping each call's event until the
end (the summary's only use for them) grew the host by about a kilobyte per call. So the collector
adds each event here as it arrives (docs/telemetry-bounds.md#a-shim-runs-summary): counts and token
sums are exact; latency percentiles are exact up to :data:`LATENCY_SAMPLE` calls per group and
estimated from a uniform sample of that many beyond; at most :data:`GROUP_LIMIT` (backend, model)
groups and :data:`CLIENT_LIMIT` proxied client processes are told apart, the rest counted together.
"""

import copy
import math
import random
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

from shim.telemetry import CallEvent

__all__ = [
    "CLIENT_LIMIT", "GROUP_LIMIT", "LATENCY_SAMPLE", "NO_ROUTE", "OTHER_GROUP", "CallStats", "RunCalls", "percentile",
]

LATENCY_SAMPLE = 10_000
GROUP_LIMIT = 200
CLIENT_LIMIT = 1000
NO_ROUTE = "(no route)"
OTHER_GROUP = ("(more)", "(other models)")
PROXY_SOURCE = "proxy"  # CallEvent.source of a call the proxy served for a process without the shim

Client = Tuple[int, int, str]  # pid, ppid, program


def percentile(values: List[float], fraction: float) -> Optional[float]:
    """Nearest-rank percentile (p50 of [1, 2, 3, 4] is 2); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass
class CallStats:
    """Calls, errors, tokens and latencies of one group (or of the whole run)."""

    calls: int = 0
    errors: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    has_tokens: bool = False
    latencies: List[float] = field(default_factory=list)  # every one, then a uniform sample of LATENCY_SAMPLE
    _random: random.Random = field(default_factory=lambda: random.Random(0), repr=False)

    def add(self, event: CallEvent) -> None:
        self.calls += 1
        if event.error or event.status == 0 or event.status >= 400:
            self.errors += 1
        if event.input_tokens is not None or event.output_tokens is not None:
            self.has_tokens = True
            self.tokens_in += event.input_tokens or 0
            self.tokens_out += event.output_tokens or 0
        self._sample(event.latency_ms)

    def _sample(self, latency: float) -> None:
        """Reservoir sampling (Vitter's algorithm R): each latency so far is kept with equal chance."""
        if len(self.latencies) < LATENCY_SAMPLE:
            self.latencies.append(latency)
            return
        slot = self._random.randrange(self.calls)
        if slot < LATENCY_SAMPLE:
            self.latencies[slot] = latency

    def latency(self, fraction: float) -> Optional[float]:
        return percentile(self.latencies, fraction)


@dataclass
class RunCalls:
    """Every call of a run, added one event at a time (:meth:`add`)."""

    total: CallStats = field(default_factory=CallStats)
    groups: Dict[Tuple[str, str], CallStats] = field(default_factory=dict)
    proxied_calls: int = 0  # calls the proxy served for processes without the shim
    proxied_by: Dict[Client, int] = field(default_factory=dict)
    proxied_elsewhere: int = 0  # proxied calls of clients beyond CLIENT_LIMIT

    @classmethod
    def of(cls, events: Iterable[CallEvent]) -> "RunCalls":
        calls = cls()
        for event in events:
            calls.add(event)
        return calls

    def add(self, event: CallEvent) -> None:
        self.total.add(event)
        key = (event.backend or NO_ROUTE, event.upstream_model or event.requested_model)
        group = self.groups.get(key)
        if group is None:
            key = key if len(self.groups) < GROUP_LIMIT else OTHER_GROUP
            group = self.groups.setdefault(key, CallStats())
        group.add(event)
        if event.source == PROXY_SOURCE:
            self._add_proxied(event)

    def _add_proxied(self, event: CallEvent) -> None:
        self.proxied_calls += 1
        client = (event.pid, event.ppid, event.program)
        if client in self.proxied_by or len(self.proxied_by) < CLIENT_LIMIT:
            self.proxied_by[client] = self.proxied_by.get(client, 0) + 1
        else:
            self.proxied_elsewhere += 1

    def copy(self) -> "RunCalls":
        return copy.deepcopy(self)
