"""One routed call's attempts, each with its own plan: the loop both drivers carry out.

:class:`~shim.fallback.FallbackSession` decides which target comes next; this module turns each of
its attempts into a :class:`~shim.plan.Plan` for that target (:meth:`Plan.for_target`: the body is
parsed once per call), skips targets that cannot take the request, and hands the driver two kinds
of step (docs/routing.md#drivers)::

    step = attempts.start(now)
    while isinstance(step, Send):
        wait step.wait; attempts.sending(now); send step.plan's request
        step = attempts.answered(status, headers, now=…, wall_now=…)    # or attempts.failed(error, now)
        (a Send after an answer: read and close that answer first, it goes nowhere)
    Finish: give the client step.answer when set (the engine's own), else the last answer or failure,
    rendered with step.plan; step.exhausted → mark it final (x-should-retry: false)

then ``failed_before_first_byte`` if the delivered answer breaks before the client saw a byte of it,
``committed()`` once it did, and ``close()`` always. The drivers' sync and async variants differ
only in how they wait and send.
"""

from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Union

from .balancing import RandomSource
from .cooldown import HealthBook
from .fallback import Answered, Attempt, Deliver, Failed, FallbackSession
from .plan import ANSWER_LOCALLY, REFUSED, ClientResponse, Plan

__all__ = ["CallAttempts", "Finish", "Send"]


class Send(NamedTuple):
    """Wait ``wait`` seconds, then send ``plan``'s upstream request."""

    plan: Plan
    wait: float
    number: int  # 1 for the call's first attempt


class Finish(NamedTuple):
    """The call's outcome goes to the client: ``answer`` when the engine made it (a refusal, a local
    answer), else the last attempt's answer or failure, rendered with ``plan``. ``exhausted``: a
    failure the policy gave up on; the client must not retry it (docs/routing.md#sdk-retries)."""

    plan: Plan
    exhausted: bool
    answer: Optional[ClientResponse] = None


Step = Union[Send, Finish]


class CallAttempts:
    """See the module docstring. ``plan``: the call's plan (for its route's first target)."""

    def __init__(self, plan: Plan, book: HealthBook, random: RandomSource) -> None:
        assert plan.route is not None, "only routed calls have attempts"
        self._base = plan
        self.plan = plan  # the plan of the latest attempt
        self.session = FallbackSession(plan.route, book, random, plan.conversation())
        self._answer: Optional[ClientResponse] = None

    def start(self, now: float) -> Step:
        return self._resolve(self.session.start(now), now)

    def sending(self, now: float) -> None:
        self.session.sending(now)

    def answered(self, status: int, headers: Mapping[str, str], *, now: float, wall_now: float) -> Step:
        """The upstream answered ``status`` (headers read, body not yet)."""
        return self._resolve(self.session.outcome(Answered.from_headers(status, headers, wall_now=wall_now), now), now)

    def failed(self, error: BaseException, now: float) -> Step:
        """Sending or reading the answer failed (``error``: the driver's typed upstream failure)."""
        return self._resolve(self.session.outcome(Failed(error), now), now)

    def failed_before_first_byte(self, error: BaseException, now: float) -> Step:
        return self._resolve(self.session.failed_before_first_byte(error, now), now)

    def committed(self) -> None:
        self.session.committed()
        self._base.forget_alternatives()
        self.plan.forget_alternatives()

    def close(self) -> None:
        self.session.close()

    # For the call's event --------------------------------------------------------------------
    @property
    def fallbacks(self) -> int:
        return self.session.fallbacks

    def attempts(self) -> Optional[List[Dict[str, Any]]]:
        """Every attempt, for the event; None when there was only one (the event says it all)."""
        records = self.session.records
        if len(records) < 2:
            return None
        return [{"backend": r.backend, "model": r.model, "status": r.status, "failure": r.failure,
                 "ms": r.ms, "wait_ms": r.wait_ms} for r in records]

    def _resolve(self, step: Union[Attempt, Deliver], now: float) -> Step:
        """Plans for the session's attempts until one can be sent, or the call is over."""
        while isinstance(step, Attempt):
            plan = self._base.for_target(step.target)
            self.plan = plan
            disposition = plan.disposition
            if disposition == REFUSED:
                assert plan.refusal is not None
                self._answer = plan.refusal_response()
                step = self.session.unplannable(plan.refusal, now)
            elif disposition == ANSWER_LOCALLY:
                self._answer = plan.local_response  # count_tokens for a backend that cannot count: no request
                return Finish(plan, self.session.answered_locally().exhausted, self._answer)
            else:
                self._answer = None
                return Send(plan, step.wait, step.number)
        return Finish(self.plan, step.exhausted, self._answer)
