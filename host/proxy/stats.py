"""In-memory counters and the most recent :class:`~shim.telemetry.CallEvent` s.

Until the telemetry store lands, this is where the proxy's events go: ``/health`` reports the
count and ``/stats`` the counters plus the recent events (never bodies or keys: events hold none).
"""

import collections
from typing import Any, Counter, Deque, Dict

from shim.telemetry import CallEvent

__all__ = ["ProxyStats"]

_RECENT_EVENTS = 200


class ProxyStats:
    """Counts every API request served and keeps the last few call events."""

    def __init__(self, keep: int = _RECENT_EVENTS) -> None:
        self.requests_served = 0
        self.by_status: Counter[int] = collections.Counter()
        self.by_backend: Counter[str] = collections.Counter()
        self.recent: Deque[CallEvent] = collections.deque(maxlen=keep)

    def count_request(self, status: int) -> None:
        """A request that is not an LLM call (model list) was answered."""
        self.requests_served += 1
        self.by_status[status] += 1

    def record(self, event: CallEvent) -> None:
        """One LLM call finished (or failed)."""
        self.count_request(event.status)
        self.by_backend[event.backend or "-"] += 1
        self.recent.append(event)

    def snapshot(self) -> Dict[str, Any]:
        return {
            "requests_served": self.requests_served,
            "by_status": {str(status): n for status, n in sorted(self.by_status.items())},
            "by_backend": dict(self.by_backend),
            # Each event's own fields, not ``dataclasses.asdict``: that deep-copies every value, and for
            # 200 events held the event loop ~4.6 ms a request, every other client waiting
            # (docs/proxy-limits.md#measured). The snapshot is made into JSON at once.
            "recent": [dict(vars(event)) for event in self.recent],
        }
