"""One call over its route's chain: which target to try next, after how long, and when to stop.

The engine decides, the drivers (the proxy, the shim's transports) do the I/O. A driver makes one
:class:`FallbackSession` per routed call and follows its steps::

    step = session.start(now)                       # an Attempt: a target, and how long to wait first
    while isinstance(step, Attempt):
        wait step.wait; plan for step.target; session.sending(now); send
        step = session.outcome(Answered.from_headers(...) or Failed(error), now)
    # step is a Deliver: the last attempt's answer (or failure) goes to the client
    if the answer fails before its first byte reached the client:
        step = session.failed_before_first_byte(error, now)   # maybe another Attempt
    session.committed()   # the first byte went out: nothing changes any more
    session.close()       # always (finally): the attempt leaves the in-flight count

States (named; each method says which it expects)::

    IDLE ─start─► ATTEMPTING ─outcome/unplannable─► ATTEMPTING (next Attempt) │ ANSWERING (Deliver)
    ANSWERING ─failed_before_first_byte─► ATTEMPTING │ ANSWERING
    ANSWERING ─committed─► COMMITTED          any ─close─► CLOSED

What falls back (docs/routing.md#what-falls-back): an answer whose status is in the policy's
``statuses`` or that carries ``x-should-retry: true``; a failure before the answer reached the client
that another try may not hit (a typed upstream failure, shim/upstream_failures.py: connection
refused, TLS, timeouts, a cut connection: :func:`failure_falls_back`). The same target is
retried after a capped, jittered backoff (or its ``retry-after``, when longer) as long as the call's
wait budget allows and the backend did not say ``x-should-retry: false``; a balanced group's other
members come first, without waiting. Then the next group. A call never makes more than
``max_attempts`` attempts, and ends with exactly one :class:`Deliver`.

The session reads no clock and draws no random number of its own: ``now`` (monotonic seconds) and
``random`` come from the driver.
"""

from email.utils import parsedate_to_datetime
from typing import Dict, FrozenSet, List, Mapping, NamedTuple, Optional, Tuple, Union

from .affinity import ConversationKey
from .balancing import RandomSource, member_order
from .cooldown import HealthBook
from .errors import RouterError, UpstreamError
from .routing import Route, RouteTarget
from .upstream_failures import UpstreamFailure

__all__ = [
    "ANSWERING",
    "ATTEMPTING",
    "CLOSED",
    "COMMITTED",
    "FALLBACK",
    "FIRST",
    "IDLE",
    "RETRY",
    "Answered",
    "Attempt",
    "AttemptRecord",
    "Deliver",
    "Failed",
    "FallbackSession",
    "FallbackStateError",
    "Outcome",
    "failure_falls_back",
    "retry_after_seconds",
]

# Session states.
IDLE = "idle"
ATTEMPTING = "attempting"
ANSWERING = "answering"
COMMITTED = "committed"
CLOSED = "closed"

# Why an attempt is made.
FIRST = "first"
RETRY = "retry"  # the same target again, after a wait
FALLBACK = "fallback"  # another target

_JITTER = 0.25  # a wait is cut by up to a quarter at random, as both official SDKs do


class FallbackStateError(RouterError):
    """A driver called a session method in a state that does not allow it (a bug in the driver)."""


# The values below are NamedTuples, not frozen dataclasses: as immutable, and built several times per
# call on every routed call's path, at a fraction of the cost.
class Answered(NamedTuple):
    """The upstream answered with ``status``; its retry hints, read from the headers."""

    status: int
    retry_after: Optional[float] = None  # seconds the backend asked for
    should_retry: Optional[bool] = None  # its ``x-should-retry``, when it sent one

    @classmethod
    def from_headers(cls, status: int, headers: Mapping[str, str], *, wall_now: float) -> "Answered":
        """``headers``' names in any case (looked up as given, then in lower case); ``wall_now``: unix
        seconds, for a ``retry-after`` written as a date."""
        if 200 <= status < 300:
            return _SUCCESSES.get(status) or cls(status)  # nothing to read: a success never falls back
        flag = _header(headers, "x-should-retry")
        should_retry = None if flag is None else flag.strip().lower() == "true"
        return cls(status, retry_after_seconds(headers, wall_now=wall_now), should_retry)


_SUCCESSES = {status: Answered(status) for status in (200, 201)}


class Failed(NamedTuple):
    """No answer (or not all of it) before anything reached the client: the driver's typed failure
    (:class:`~shim.upstream_failures.UpstreamFailure`), or an in-band error the answer began with."""

    error: BaseException


Outcome = Union[Answered, Failed]


class Attempt(NamedTuple):
    """Send the call to ``target`` after waiting ``wait`` seconds. ``number`` counts from 1."""

    target: RouteTarget
    wait: float
    number: int
    reason: str  # FIRST, RETRY or FALLBACK


class Deliver(NamedTuple):
    """The last attempt's answer, or its failure, goes to the client. ``exhausted``: it is a failure
    that would have fallen back, on a route that offered other tries (another target, or retries),
    and they are spent: the client's SDK must not retry it on top (docs/routing.md#sdk-retries). A
    route of one target and no retries offers none: its failures reach the SDK as the backend sent
    them, and the SDK's retries are the only ones, as without the router."""

    exhausted: bool


Step = Union[Attempt, Deliver]
_DELIVER = {False: Deliver(False), True: Deliver(True)}


class AttemptRecord:
    """One attempt, for the call's telemetry event (filled in as the attempt goes)."""

    __slots__ = ("backend", "failure", "model", "ms", "status", "wait_ms")

    def __init__(self, backend: str, model: str, wait_ms: float = 0.0) -> None:
        self.backend = backend
        self.model = model
        self.status = 0  # 0: no answer
        self.failure: Optional[str] = None  # the failure's class name, when it had no (whole) answer
        self.ms = 0.0  # from sending to its outcome
        self.wait_ms = wait_ms  # waited before sending


def failure_falls_back(error: BaseException, statuses: FrozenSet[int]) -> bool:
    """A failure without a (whole) answer that another try may not hit (docs/routing.md#what-falls-back).

    Every typed transport failure (:mod:`shim.upstream_failures`: refused, DNS, TLS, a timeout
    before the answer or between two reads, a connection cut, an answer that is not HTTP or is too
    large) falls back: both official SDKs retry each of them, and so does the router. An error the
    backend sent in-band follows its kind's status, like an answer with that status. The engine's
    own verdicts do not (an answer that broke its protocol, a request a target cannot take), nor
    does anything a driver did not type: that is a bug to see, not a backend to leave."""
    if isinstance(error, UpstreamFailure):
        return True
    if isinstance(error, UpstreamError):
        kind = error.kind
        return error.should_retry is True or kind.anthropic_status in statuses or kind.openai_status in statuses
    return False


class FallbackSession:
    """The attempts of one call; see the module docstring."""

    def __init__(
        self, route: Route, book: HealthBook, random: RandomSource, conversation: Optional[ConversationKey] = None
    ) -> None:
        self.route = route
        self.policy = route.policy
        self.state = IDLE
        self._book = book
        self._random = random
        self._conversation = conversation
        self._chain = route.chain
        self._group = -1  # index in the chain of the group being tried
        self._members: List[RouteTarget] = []  # the current group's members not tried yet, in order
        self._tries: Dict[TargetKey, int] = {}  # by (backend name, model): hashing a RouteTarget is slow
        self.records: List[AttemptRecord] = []
        self._current: Optional[RouteTarget] = None
        self._sent_at: Optional[float] = None
        self._waited = 0.0
        self._holding = False  # the current attempt counts in the backend's in-flight calls
        self.exhausted = False

    # Reading -----------------------------------------------------------------------------------
    @property
    def target(self) -> Optional[RouteTarget]:
        """The target of the latest attempt: the one that answered, once the call is delivered."""
        return self._current

    @property
    def fallbacks(self) -> int:
        """How many times the call moved to another target."""
        return sum(1 for before, after in zip(self.records, self.records[1:])
                   if (before.backend, before.model) != (after.backend, after.model))

    # Steps -------------------------------------------------------------------------------------
    def start(self, now: float) -> Attempt:
        self._expect(IDLE, "start")
        self.state = ATTEMPTING
        if not self.route.has_alternatives:
            return self._attempt(self._chain[0].targets[0], 0.0, FIRST)
        step = self._enter_next_group(now, FIRST) or self._soonest(now, FIRST)
        assert step is not None  # a chain has at least one target, none tried yet
        return step

    def sending(self, now: float) -> None:
        """The attempt the last step named is being sent now (after its wait)."""
        self._expect(ATTEMPTING, "sending")
        assert self._current is not None
        self._sent_at = now
        self._book.attempt_started(self._current.backend.name, now)
        self._holding = True

    def outcome(self, outcome: Outcome, now: float) -> Step:
        """What the attempt got; the next step."""
        self._expect(ATTEMPTING, "outcome")
        if self._sent_at is None:
            raise FallbackStateError("outcome() before sending()")
        record = self.records[-1]
        record.ms = (now - self._sent_at) * 1000.0
        if isinstance(outcome, Answered):
            record.status = outcome.status
        else:
            record.failure = type(outcome.error).__name__
        return self._after(outcome, now)

    def unplannable(self, error: BaseException, now: float) -> Step:
        """The attempt's target cannot take this request (its plan was refused: something its format
        cannot express): it is skipped without a request, and does not count against its backend."""
        self._expect(ATTEMPTING, "unplannable")
        if self._sent_at is not None:
            raise FallbackStateError("unplannable() after sending()")
        self.records[-1].failure = type(error).__name__
        step = None
        if len(self.records) < self.policy.max_attempts:
            step = self._other_member(now) or self._enter_next_group(now, FALLBACK) or self._soonest(now, FALLBACK)
        if step is not None:
            return step
        self.state = ANSWERING
        return _DELIVER[False]  # the refusal is the client's answer: its request, not a backend, failed

    def answered_locally(self) -> Deliver:
        """The attempt's target needs no request: the engine answers for it (count_tokens on a backend
        that has no such endpoint)."""
        self._expect(ATTEMPTING, "answered_locally")
        self.records[-1].status = 200
        self.state = ANSWERING
        return _DELIVER[False]

    def failed_before_first_byte(self, error: BaseException, now: float) -> Step:
        """The delivered answer failed before any of it reached the client (a stream cut or stalled
        before its first event, a body that could not be read): perhaps another target after all."""
        self._expect(ANSWERING, "failed_before_first_byte")
        if self.exhausted or not self._holding:
            return _DELIVER[self.exhausted]  # the final failure already: nothing more to try
        # an error a stream opened with is named by its kind ("overloaded"), as its status would be
        self.records[-1].failure = error.kind_name if isinstance(error, RouterError) else type(error).__name__
        self.state = ATTEMPTING
        return self._after(Failed(error), now)

    def committed(self) -> None:
        """The first byte of the answer reached the client."""
        self._expect(ANSWERING, "committed")
        self.state = COMMITTED

    def close(self) -> None:
        """The call is over (also when it was cancelled): idempotent."""
        if self._holding and self._current is not None:
            self._holding = False
            self._book.call_ended(self._current.backend.name)
        self.state = CLOSED

    # Decisions ---------------------------------------------------------------------------------
    def _after(self, outcome: Outcome, now: float) -> Step:
        assert self._current is not None
        backend = self._current.backend.name
        falls_back = self._falls_back(outcome)
        retry_after = outcome.retry_after if isinstance(outcome, Answered) else None
        self._book.attempt_ended(backend, now, failed=falls_back, retry_after=retry_after)
        if falls_back:
            self._holding = False  # attempt_ended took a failed attempt out of the in-flight count
            step = self._next_after_failure(outcome, now)
            if step is not None:
                return step
        self.state = ANSWERING
        self.exhausted = falls_back and (self.route.has_alternatives or self.policy.retries > 0)
        return _DELIVER[self.exhausted]

    def _falls_back(self, outcome: Outcome) -> bool:
        if isinstance(outcome, Failed):
            return failure_falls_back(outcome.error, self.policy.statuses)
        if outcome.status < 400:
            return False
        return outcome.should_retry is True or outcome.status in self.policy.statuses

    def _next_after_failure(self, outcome: Outcome, now: float) -> Optional[Attempt]:
        if len(self.records) >= self.policy.max_attempts:
            return None
        return (
            self._other_member(now)
            or self._retry(outcome, now)
            or self._enter_next_group(now, FALLBACK)
            or self._soonest(now, FALLBACK)
        )

    def _other_member(self, now: float) -> Optional[Attempt]:
        """The next member of the current group that is not cooling down (no wait: it is equivalent)."""
        while self._members:
            member = self._members.pop(0)
            if _key(member) not in self._tries and self._book.available_at(member.backend.name, now) <= now:
                return self._attempt(member, 0.0, FALLBACK)
        return None

    def _retry(self, outcome: Outcome, now: float) -> Optional[Attempt]:
        target = self._current
        assert target is not None
        tries = self._tries[_key(target)]
        if tries > self.policy.retries or (isinstance(outcome, Answered) and outcome.should_retry is False):
            return None
        asked = outcome.retry_after if isinstance(outcome, Answered) and outcome.retry_after else 0.0
        wait = max(self._backoff(tries), asked)
        if self._waited + wait > self.policy.max_wait:
            return None  # does not fit the call's wait budget: the next target instead
        if self._book.available_at(target.backend.name, now) > now + wait:
            return None  # its breaker opened (failures of this call or others'): leave it alone
        return self._attempt(target, wait, RETRY)

    def _backoff(self, tries: int) -> float:
        """The wait before try ``tries + 1``: doubling from ``backoff``, capped, cut by up to a quarter."""
        ceiling = min(self.policy.max_backoff, self.policy.backoff * 2.0 ** (tries - 1))
        return ceiling * (1.0 - _JITTER * self._random.random())

    def _enter_next_group(self, now: float, reason: str) -> Optional[Attempt]:
        """The first later group with a member not cooling down, entered."""
        for index in range(self._group + 1, len(self._chain)):
            group = self._chain[index]
            affinity = self._affinity() if len(group.targets) > 1 and group.sticky else None
            members = [m for m in member_order(group, self._book, now, self._random, affinity)
                       if _key(m) not in self._tries]
            if members:
                self._group, self._members = index, members[1:]
                return self._attempt(members[0], 0.0, reason)
        return None

    def _soonest(self, now: float, reason: str) -> Optional[Attempt]:
        """Every target left is cooling down: the call still goes somewhere, to the one available
        soonest (a cooldown reorders calls, it never turns one away)."""
        left = self._members + [t for group in self._chain[self._group + 1:] for t in group.targets]
        left = [target for target in left if _key(target) not in self._tries]
        if not left:
            return None
        chosen = min(left, key=lambda target: self._book.available_at(target.backend.name, now))
        self._group = max(self._group, next(i for i, g in enumerate(self._chain) if chosen in g.targets))
        self._members = [member for member in self._members if member != chosen]
        return self._attempt(chosen, 0.0, reason)

    def _affinity(self) -> Optional[int]:
        return None if self._conversation is None else self._conversation.value

    def _attempt(self, target: RouteTarget, wait: float, reason: str) -> Attempt:
        key = _key(target)
        self._tries[key] = self._tries.get(key, 0) + 1
        self._current, self._sent_at = target, None
        self._waited += wait
        self.records.append(AttemptRecord(target.backend.name, target.upstream_model, wait_ms=wait * 1000.0))
        return Attempt(target, wait, len(self.records), reason)

    def _expect(self, state: str, method: str) -> None:
        if self.state != state:
            raise FallbackStateError(f"{method}() in state {self.state!r}; it needs {state!r}")


TargetKey = Tuple[str, str]


def _key(target: RouteTarget) -> TargetKey:
    return target.backend.name, target.upstream_model


def retry_after_seconds(headers: Mapping[str, str], *, wall_now: float) -> Optional[float]:
    """The wait a backend asked for: ``retry-after-ms``, else ``retry-after`` in seconds or as an
    HTTP date (RFC 9110, section 10.2.3) — the order both official SDKs read them in. None when absent,
    unreadable or not positive."""
    milliseconds = _number(_header(headers, "retry-after-ms"))
    if milliseconds is not None:
        return milliseconds / 1000.0 if milliseconds > 0 else None
    raw = _header(headers, "retry-after")
    if raw is None:
        return None
    seconds = _number(raw)
    if seconds is None:
        seconds = _date_delta(raw, wall_now)
    return seconds if seconds is not None and seconds > 0 else None


def _header(headers: Mapping[str, str], name: str) -> Optional[str]:
    value = headers.get(name)
    if value is None and type(headers) is dict:  # a plain dict may keep the sender's case
        for key, item in headers.items():
            if key.lower() == name:
                return str(item)
    return value


def _number(raw: Optional[str]) -> Optional[float]:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if value == value and value != float("inf") else None  # not NaN, not infinite


def _date_delta(raw: str, wall_now: float) -> Optional[float]:
    try:
        return parsedate_to_datetime(raw).timestamp() - wall_now
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
