"""The request bodies the proxy holds at once, across every call (docs/proxy-limits.md#request-bodies).

Each body has its own cap (``--max-body-mib``), but a cap per body is no cap on the process: the
connection cap lets a thousand clients send one each, and 30 connections that each sent 32 MiB
less one byte held 960 MiB of the proxy. The budget (``--max-bodies-mib``) counts every body from
its first byte until its call ends — the body, its parse and what is forwarded live that long.

A full budget must not lock real clients out: a first version refused every new call while
stalled bodies held the room, so 32 connections sending bodies that never end stopped all calls.
So a body still arriving has asked for nothing yet and can be dropped, as the connection cap drops
a connection that has not finished its head: a call that needs room takes it from the bodies still
arriving (their connections are closed). Which go first (docs/proxy-limits.md#request-bodies):

1. bodies that have *stalled* — none of their bytes read for :data:`STALLED_AFTER` seconds — the
   one that has waited longest first: what a client that stopped sending holds;
2. then the bodies still coming in, the one that would take longest to finish at the pace it has
   kept first (:meth:`BodyClaim.seconds_to_finish`). The order by the wait since the last bytes
   alone, used before, picks among bodies all arriving at once whichever the loop read first in its
   last turn: under every hostile-bench attack at once, 28 of 35 uploads of 8 MiB were dropped beside
   a flood of 32 MiB bodies. The largest first would keep those uploads, but a flood can choose its
   sizes: bodies declaring a little less than an upload, a byte a second each, would have it dropped
   every time. A body's time to finish counts what it has sent, which costs its sender the bytes
   (7 of 32 such uploads dropped now, against 26 of 32).

Only when the room is held by calls being served is the new one refused, as overloaded, with a
retry hint — the proxy is busy, not the request wrong.

Each claim is in one of these states::

    ARRIVING ──body complete──► HELD ──call ends──► RELEASED
        │                                             ▲
        └──────── call ends (or gone) ────────────────┘
        └──── dropped to make room ──► EVICTED (its bytes given back at once)

The event loop is the only thread that claims or releases: no lock.
"""

import time
from collections import OrderedDict
from typing import Callable, List, Optional

__all__ = ["ARRIVING", "EVICTED", "HELD", "RELEASED", "STALLED_AFTER", "BodyBudget", "BodyClaim"]

# A body that has sent nothing for this long has stalled: a client writing its request sends it as
# fast as the network takes it (the body timeout, 10 s by default, ends a stall in any case).
STALLED_AFTER = 1.0

ARRIVING = "arriving"
HELD = "held"
RELEASED = "released"
EVICTED = "evicted"


class BodyBudget:
    """Bytes of request bodies held at once, at most :attr:`limit`."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.held = 0
        self._clock = clock
        # Claims whose body is still arriving, the longest since its last bytes first.
        self._arriving: OrderedDict[BodyClaim, None] = OrderedDict()
        self.refused = 0  # claims that found no room (for tests)
        self.evicted = 0  # bodies still arriving dropped to make room

    def claim(self, drop: Optional[Callable[[], None]] = None) -> "BodyClaim":
        """An empty share for one call's body; ``drop`` closes its connection, should the room its
        body holds while still arriving be needed (None: it cannot be dropped)."""
        return BodyClaim(self, drop)

    def _make_room(self, needed: int, claimant: "BodyClaim") -> None:
        """Drop bodies still arriving, in :meth:`_victims`' order, until ``needed`` bytes are free —
        none, if dropping them all would not free enough (calls being served hold the rest)."""
        victims = self._victims(claimant)
        if self.held - sum(victim.size for victim in victims) + needed > self.limit:
            return
        for victim in victims:
            if self.held + needed <= self.limit:
                return
            victim.evict()

    def _victims(self, claimant: "BodyClaim") -> "List[BodyClaim]":
        """The bodies that may be dropped for ``claimant``: the stalled ones, longest waiting first,
        then those still coming in, the furthest from their end first (a stable sort keeps the
        longest waiting first among equals)."""
        now = self._clock()
        stalled: List[BodyClaim] = []
        coming: List[BodyClaim] = []
        for claim in self._arriving:  # the longest waiting first
            if claim is not claimant and claim.droppable:
                (stalled if claim.progressed_at <= now - STALLED_AFTER else coming).append(claim)
        coming.sort(key=lambda claim: claim.seconds_to_finish(now), reverse=True)
        return stalled + coming


class BodyClaim:
    """One call's share of the budget: :meth:`declare` for a length its head declares, :meth:`cover`
    as its body arrives, :meth:`complete` once it is whole, :meth:`release` when the call ends
    (whatever way it ends)."""

    __slots__ = ("_budget", "_drop", "declared", "progressed_at", "received", "size", "started_at", "state")

    def __init__(self, budget: BodyBudget, drop: Optional[Callable[[], None]]) -> None:
        self._budget = budget
        self._drop = drop
        self.size = 0  # bytes held: the declared length, else what has come
        self.declared: Optional[int] = None
        self.received = 0
        self.state = ARRIVING
        self.started_at = self.progressed_at = budget._clock()  # progress: bytes read (its claim, at first)

    @property
    def droppable(self) -> bool:
        return self.state == ARRIVING and self._drop is not None

    def declare(self, length: int) -> bool:
        """The body's head declares ``length`` bytes: hold them all at once (as :meth:`cover`)."""
        self.declared = length
        return self._hold(length)

    def cover(self, received: int) -> bool:
        """The body has come to ``received`` bytes: hold that many (a declared body holds them
        already), dropping bodies still arriving to make room if it must, and count this as
        progress. False, holding nothing more, when the room is held by calls being served, or when
        this claim was dropped itself."""
        if not self._hold(received):
            return False
        self.received = received
        return True

    def seconds_to_finish(self, now: float) -> float:
        """How long the rest of the body would take at the pace it has kept since its claim; a body
        of no declared length is taken to have as far to go as it has come. Before its first byte it
        counts as one: a client's head often comes a moment before its body (Python's http.client
        writes them apart), and such a body must not look the slowest of all."""
        left = self.received if self.declared is None else max(self.declared - self.received, 0)
        return left * (now - self.started_at) / max(self.received, 1)

    def _hold(self, total: int) -> bool:
        budget = self._budget
        if self.state != ARRIVING:
            return False
        more = total - self.size
        if more > 0:
            if budget.held + more > budget.limit:
                budget._make_room(more, self)
                if budget.held + more > budget.limit:
                    budget.refused += 1
                    return False
            budget.held += more
            self.size = total
        budget._arriving.pop(self, None)
        budget._arriving[self] = None  # to the back: it has just made progress
        self.progressed_at = budget._clock()
        return True

    def complete(self) -> None:
        """The body is whole: its call is being served, and it is no longer dropped for room."""
        if self.state == ARRIVING:
            self.state = HELD
            self._budget._arriving.pop(self, None)

    def evict(self) -> None:
        """Dropped for room: its bytes are given back now, and its connection is closed."""
        self._give_back(EVICTED)
        if self._drop is not None:
            self._drop()

    def release(self) -> None:
        if self.state != EVICTED:
            self._give_back(RELEASED)

    def _give_back(self, state: str) -> None:
        self._budget.held -= self.size
        self._budget._arriving.pop(self, None)
        if state == EVICTED:
            self._budget.evicted += 1
        self.size = 0
        self.state = state
