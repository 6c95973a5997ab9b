"""The request bodies the proxy holds at once, across every call (docs/proxy-limits.md#request-bodies).

Each body has its own cap (``--max-body-mib``), but a cap per body is no cap on the process: the
connection cap lets a thousand clients send one each, and 30 connections that each sent 32 MiB
less one byte held 960 MiB of the proxy. The budget (``--max-bodies-mib``) counts every body from
its first byte until its call ends — the body, its parse and what is forwarded live that long —
and a call whose body does not fit is refused before more of it is read (``read_body``), with
"overloaded" and a retry hint in its client's protocol: the proxy is busy, not the request wrong.

The event loop is the only thread that claims or releases: no lock.
"""

__all__ = ["BodyBudget", "BodyClaim"]


class BodyBudget:
    """Bytes of request bodies held at once, at most :attr:`limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.refused = 0  # claims that did not fit (for tests and the bench)

    def claim(self) -> "BodyClaim":
        """An empty share for one call's body."""
        return BodyClaim(self)


class BodyClaim:
    """One call's share of the budget: :meth:`grow` as its body arrives, :meth:`release` when the
    call ends (whatever way it ends)."""

    __slots__ = ("_budget", "size")

    def __init__(self, budget: BodyBudget) -> None:
        self._budget = budget
        self.size = 0

    def grow(self, size: int) -> bool:
        """Hold ``size`` more bytes; False, holding nothing more, when the budget cannot."""
        budget = self._budget
        if budget.held + size > budget.limit:
            budget.refused += 1
            return False
        budget.held += size
        self.size += size
        return True

    def release(self) -> None:
        self._budget.held -= self.size
        self.size = 0
