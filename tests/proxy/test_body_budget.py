"""The budget for every request body held at once (host/proxy/body_budget.py): room is taken from
bodies still arriving, the longest waiting since their last bytes first, never from calls being
served; a dropped body's bytes come back at once, and only once."""

from typing import List

from host.proxy.body_budget import ARRIVING, EVICTED, HELD, RELEASED, BodyBudget, BodyClaim


def _claims(budget: BodyBudget, dropped: List[str], *names: str) -> List[BodyClaim]:
    return [budget.claim(lambda name=name: dropped.append(name)) for name in names]


def test_room_comes_from_the_body_that_has_waited_longest() -> None:
    budget, dropped = BodyBudget(30), []
    first, second, third, newcomer = _claims(budget, dropped, "first", "second", "third", "newcomer")
    for claim in (first, second, third):
        assert claim.cover(10)
    assert first.cover(10)  # no more bytes, but progress: "second" now waited longest
    assert newcomer.cover(15)
    assert dropped == ["second", "third"] and (second.state, third.state) == (EVICTED, EVICTED)
    assert budget.held == 25 and budget.evicted == 2


def test_calls_being_served_are_never_dropped() -> None:
    budget, dropped = BodyBudget(20), []
    served, arriving, newcomer = _claims(budget, dropped, "served", "arriving", "newcomer")
    assert served.cover(15)
    served.complete()
    assert arriving.cover(5)
    assert not newcomer.cover(10)  # dropping "arriving" would not make room enough: nobody is dropped
    assert dropped == [] and (served.state, arriving.state) == (HELD, ARRIVING) and budget.refused == 1
    assert budget.held == 20 and newcomer.size == 0
    assert newcomer.cover(5)  # this much it can have, from "arriving"
    assert dropped == ["arriving"] and budget.held == 20


def test_a_body_that_cannot_be_dropped_keeps_its_room() -> None:
    budget = BodyBudget(10)
    undroppable, newcomer = budget.claim(None), budget.claim(None)
    assert undroppable.cover(10)
    assert not newcomer.cover(1) and undroppable.state == ARRIVING


def test_a_dropped_body_gives_its_bytes_back_once() -> None:
    budget, dropped = BodyBudget(10), []
    victim, newcomer = _claims(budget, dropped, "victim", "newcomer")
    assert victim.cover(10) and newcomer.cover(10)
    assert not victim.cover(10)  # its read goes on a moment: it is told it was dropped
    victim.release()  # its call ends: nothing more to give back
    newcomer.release()
    assert budget.held == 0 and (victim.state, newcomer.state) == (EVICTED, RELEASED)
