"""The request bodies the proxy holds at once, across every call (docs/proxy-limits.md#request-bodies).

Each body has its own cap (``--max-body-mib``), but a cap per body is no cap on the process: the
connection cap lets a thousand clients send one each, and 30 connections that each sent 32 MiB
less one byte held 960 MiB of the proxy. The budget (``--max-bodies-mib``) counts every body from
its first byte until its call ends — the body, its parse and what is forwarded live that long —
or until it is refused part way (nothing of it is kept then; the rest is read only to be dropped).

A full budget must not lock real clients out: a first version refused every new call while
stalled bodies held the room, so 32 connections sending bodies that never end stopped all calls.
So a body still arriving has asked for nothing yet and can be dropped, as the connection cap drops
a connection that has not finished its head: a call that needs room takes it from the bodies still
arriving, the one that has waited longest since its last bytes first (their connections are
closed). Only when the room is held by calls being served is the new one refused, as overloaded,
with a retry hint — the proxy is busy, not the request wrong.

Each claim is in one of these states::

    ARRIVING ──body complete──► HELD ──call ends──► RELEASED
        │                                             ▲
        └──── refused part way, call ends, or gone ───┘
        └──── dropped to make room ──► EVICTED (its bytes given back at once)

The event loop is the only thread that claims or releases: no lock.
"""

from collections import OrderedDict
from typing import Callable, Optional

__all__ = ["ARRIVING", "EVICTED", "HELD", "RELEASED", "BodyBudget", "BodyClaim"]

ARRIVING = "arriving"
HELD = "held"
RELEASED = "released"
EVICTED = "evicted"


class BodyBudget:
    """Bytes of request bodies held at once, at most :attr:`limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        # Claims whose body is still arriving, the longest since its last bytes first.
        self._arriving: OrderedDict[BodyClaim, None] = OrderedDict()
        self.refused = 0  # claims that found no room (for tests)
        self.evicted = 0  # bodies still arriving dropped to make room

    def claim(self, drop: Optional[Callable[[], None]] = None) -> "BodyClaim":
        """An empty share for one call's body; ``drop`` closes its connection, should the room its
        body holds while still arriving be needed (None: it cannot be dropped)."""
        return BodyClaim(self, drop)

    def _make_room(self, needed: int, claimant: "BodyClaim") -> None:
        """Drop bodies still arriving, the longest waiting first, until ``needed`` bytes are free —
        none, if dropping them all would not free enough (calls being served hold the rest)."""
        victims = [claim for claim in self._arriving if claim is not claimant and claim.droppable]
        if self.held - sum(victim.size for victim in victims) + needed > self.limit:
            return
        for victim in victims:
            if self.held + needed <= self.limit:
                return
            victim.evict()


class BodyClaim:
    """One call's share of the budget: :meth:`cover` as its body arrives, :meth:`complete` once it is
    whole, :meth:`release` when the call ends (whatever way it ends)."""

    __slots__ = ("_budget", "_drop", "size", "state")

    def __init__(self, budget: BodyBudget, drop: Optional[Callable[[], None]]) -> None:
        self._budget = budget
        self._drop = drop
        self.size = 0
        self.state = ARRIVING

    @property
    def droppable(self) -> bool:
        return self.state == ARRIVING and self._drop is not None

    def cover(self, total: int) -> bool:
        """The body has come to ``total`` bytes (or declares them): hold that many, dropping bodies
        still arriving to make room if it must, and count this as progress. False, holding nothing
        more, when the room is held by calls being served, or when this claim was dropped itself."""
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
        """The call has ended, or its body was refused part way: its bytes go back (again: nothing)."""
        if self.state != EVICTED:
            self._give_back(RELEASED)

    def _give_back(self, state: str) -> None:
        self._budget.held -= self.size
        self._budget._arriving.pop(self, None)
        if state == EVICTED:
            self._budget.evicted += 1
        self.size = 0
        self.state = state
