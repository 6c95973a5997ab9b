"""Helpers for the engine's routing tests: a configuration of plain backends, a session runner."""

import random
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from shim.config import RouterConfig
from shim.cooldown import CooldownBook
from shim.fallback import Answered, Attempt, Deliver, FallbackSession, Outcome
from shim.routing import Route, resolve_route

BACKENDS = ("a", "b", "c", "d")


def make_config(**data: Any) -> RouterConfig:
    data.setdefault("backends", {name: {"protocol": "openai", "base_url": f"http://{name}.test/v1"}
                                 for name in BACKENDS})
    return RouterConfig.from_dict(data)


def route_for(chain: Any, fallback: Optional[Dict[str, Any]] = None, **data: Any) -> Route:
    """The route of model ``m`` whose route names ``chain`` (with the route's own ``fallback`` table)."""
    rule: Dict[str, Any] = {"match": "m", "backend": chain}
    if fallback is not None:
        rule["fallback"] = fallback
    route = resolve_route(make_config(routes=[rule], **data), "m")
    assert route is not None
    return route


class Clock:
    """The driver's monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


Scripted = Union[int, Outcome]


def run_call(session: FallbackSession, outcomes: Sequence[Scripted], clock: Clock) -> Tuple[List[Attempt], Deliver]:
    """Drive ``session`` as a driver would: wait, send, report the next scripted outcome (a status or
    an outcome object); returns the attempts made and the final Deliver (the call is then closed)."""
    attempts: List[Attempt] = []
    script = list(outcomes)
    step: Union[Attempt, Deliver] = session.start(clock.now)
    while isinstance(step, Attempt):
        attempts.append(step)
        clock.advance(step.wait)
        session.sending(clock.now)
        scripted = script.pop(0) if script else 200
        outcome = Answered(scripted) if isinstance(scripted, int) else scripted
        step = session.outcome(outcome, clock.advance(0.01))
    session.close()
    return attempts, step


def session(route: Route, book: Optional[CooldownBook] = None, seed: int = 7) -> FallbackSession:
    return FallbackSession(route, book if book is not None else CooldownBook(make_config().cooldown),
                           random.Random(seed))


def backends_of(attempts: Sequence[Attempt]) -> List[str]:
    return [attempt.target.backend.name for attempt in attempts]
