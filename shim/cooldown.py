"""Each backend's health as one process sees it: a circuit breaker, and the calls in flight.

A backend is in one of four named states (docs/routing.md#cooldowns)::

    CLOSED ──(N failures within the window, or a retry-after)──► COOLING(until)
    COOLING ──(until passes)──► PROBE_DUE ──(an attempt starts)──► PROBING
    PROBING ──(its answer)──► CLOSED        PROBING ──(its failure)──► COOLING
    PROBING ──(no word for `duration` seconds: the probe was lost)──► PROBE_DUE

COOLING and PROBING backends are *skipped* when a call has somewhere else to go; a call whose
every target is skipped still goes to the one available soonest (the breaker reorders calls, it
never turns one away: docs/routing.md#cooldowns). Only failures that fall back count; an answer a
backend gives (even a 4xx: it is up and answering) closes the breaker.

State is per process (the proxy has one book, each shimmed process its own) and kept behind
:class:`HealthBook`, the few operations the engine needs, so a store shared by several proxy
replicas can implement it later. The engine reads no clock: every method takes ``now``, the
driver's monotonic clock in seconds. Thread-safe: a shimmed program calls from many threads.
"""

import threading
from dataclasses import dataclass
from typing import Dict, List, Optional, Protocol

from .fallback_policy import CooldownPolicy

__all__ = [
    "CLOSED",
    "COOLING",
    "PROBE_DUE",
    "PROBING",
    "BackendStatus",
    "CooldownBook",
    "HealthBook",
]

CLOSED = "closed"  # in use
COOLING = "cooling"  # skipped until ``until``
PROBE_DUE = "probe_due"  # the cooling is over: the next attempt is its probe
PROBING = "probing"  # one probe attempt is under way; the others still skip the backend

_MAX_BACKENDS = 1024  # names come from the configuration; a bound all the same (reloads add names)


@dataclass(frozen=True)
class BackendStatus:
    """What :meth:`HealthBook.status` reports about one backend (``router route explain``, ``/cooldowns``)."""

    state: str
    seconds_left: float  # until the cooling ends (0 unless COOLING)
    recent_failures: int
    in_flight: int


class HealthBook(Protocol):
    """What the engine asks about backends and tells about attempts."""

    def available_at(self, backend: str, now: float) -> float:
        """When ``backend`` may be chosen again: ``now`` or earlier when it may be chosen now."""

    def in_flight(self, backend: str) -> int:
        """Attempts started and not yet ended, in this process."""

    def attempt_started(self, backend: str, now: float) -> None:
        """An attempt goes to ``backend`` (the probe, when one is due)."""

    def attempt_ended(self, backend: str, now: float, *, failed: bool, retry_after: Optional[float]) -> None:
        """The attempt ended: ``failed`` (a failure that falls back) or not; ``retry_after``: the
        seconds the backend asked for, if any."""

    def call_ended(self, backend: str) -> None:
        """The attempt that answered the call finished its delivery (it leaves the in-flight count)."""

    def status(self, backend: str, now: float) -> BackendStatus: ...


class _Health:
    """One backend's record (guarded by the book's lock)."""

    __slots__ = ("failures", "in_flight", "probe_started", "state", "until")

    def __init__(self) -> None:
        self.state = CLOSED
        self.until = 0.0
        self.failures: List[float] = []  # times of recent failures, oldest first, at most policy.failures
        self.in_flight = 0
        self.probe_started = 0.0


class CooldownBook:
    """The in-process :class:`HealthBook`. ``policy`` may be replaced when the configuration changes
    (:meth:`use_policy`): the backends' records are the process's, not a configuration's."""

    def __init__(self, policy: CooldownPolicy) -> None:
        self._policy = policy
        self._lock = threading.Lock()
        self._records: Dict[str, _Health] = {}

    def use_policy(self, policy: CooldownPolicy) -> None:
        self._policy = policy

    def _record(self, backend: str) -> _Health:
        record = self._records.get(backend)
        if record is None:
            if len(self._records) >= _MAX_BACKENDS:
                self._forget_idle()
            record = self._records[backend] = _Health()
        return record

    def _forget_idle(self) -> None:
        for name in [name for name, record in self._records.items() if record.in_flight == 0]:
            del self._records[name]

    def _advance(self, record: _Health, now: float) -> str:
        """The state at ``now``: time alone moves COOLING on, and a lost probe's turn on."""
        if record.state == COOLING and now >= record.until:
            record.state = PROBE_DUE
        elif record.state == PROBING and now >= record.probe_started + self._policy.duration:
            record.state = PROBE_DUE
        return record.state

    def available_at(self, backend: str, now: float) -> float:
        with self._lock:
            record = self._records.get(backend)
            if record is None:
                return now
            state = self._advance(record, now)
            if state == COOLING:
                return record.until
            if state == PROBING:
                return record.probe_started + self._policy.duration
            return now

    def in_flight(self, backend: str) -> int:
        record = self._records.get(backend)
        return 0 if record is None else record.in_flight

    def attempt_started(self, backend: str, now: float) -> None:
        with self._lock:
            record = self._record(backend)
            record.in_flight += 1
            if self._advance(record, now) == PROBE_DUE:
                record.state, record.probe_started = PROBING, now

    def attempt_ended(self, backend: str, now: float, *, failed: bool, retry_after: Optional[float]) -> None:
        if not failed:
            record = self._records.get(backend)
            if record is not None and record.state == CLOSED and not record.failures:
                return  # the usual answer: nothing changes (read without the lock: a miss takes it below)
        with self._lock:
            record = self._record(backend)
            if failed:
                record.in_flight = max(0, record.in_flight - 1)
                self._failed(record, now, retry_after)
            elif record.state != CLOSED or record.failures:
                record.state, record.failures = CLOSED, []

    def _failed(self, record: _Health, now: float, retry_after: Optional[float]) -> None:
        policy = self._policy
        cooling_for = 0.0
        if record.state in (PROBING, PROBE_DUE):
            cooling_for = policy.duration  # the probe failed: cool again
        elif policy.failures:
            horizon = now - policy.window
            recent = [at for at in record.failures if at > horizon]
            recent.append(now)
            record.failures = recent[-policy.failures:]
            if len(record.failures) >= policy.failures:
                cooling_for = policy.duration
        if retry_after:
            cooling_for = max(cooling_for, min(retry_after, policy.max_retry_after))
        if cooling_for > 0:
            record.state, record.until, record.failures = COOLING, max(record.until, now + cooling_for), []

    def call_ended(self, backend: str) -> None:
        with self._lock:
            record = self._records.get(backend)
            if record is not None:
                record.in_flight = max(0, record.in_flight - 1)

    def status(self, backend: str, now: float) -> BackendStatus:
        with self._lock:
            record = self._records.get(backend)
            if record is None:
                return BackendStatus(CLOSED, 0.0, 0, 0)
            state = self._advance(record, now)
            left = max(0.0, record.until - now) if state == COOLING else 0.0
            horizon = now - self._policy.window
            recent = sum(1 for at in record.failures if at > horizon)
            return BackendStatus(state, left, recent, record.in_flight)
