"""The budget for every request body held at once (host/proxy/body_budget.py): room is taken from
bodies still arriving — stalled ones first, the longest waiting first, then of those still coming
in the one that would take longest to finish — never from calls being served; a dropped body's
bytes come back at once, and only once."""

from typing import List

from host.proxy.body_budget import ARRIVING, EVICTED, HELD, RELEASED, STALLED_AFTER, BodyBudget, BodyClaim


def _claims(budget: BodyBudget, dropped: List[str], *names: str) -> List[BodyClaim]:
    return [budget.claim(lambda name=name: dropped.append(name)) for name in names]


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_of_bodies_as_far_from_their_end_the_one_that_has_waited_longest_goes_first() -> None:
    budget, dropped = BodyBudget(30, _Clock()), []
    first, second, third, newcomer = _claims(budget, dropped, "first", "second", "third", "newcomer")
    for claim in (first, second, third):
        assert claim.cover(10)
    assert first.cover(10)  # no more bytes, but progress: "second" now waited longest
    assert newcomer.cover(15)
    assert dropped == ["second", "third"] and (second.state, third.state) == (EVICTED, EVICTED)
    assert budget.held == 25 and budget.evicted == 2


def test_of_bodies_still_coming_in_the_one_furthest_from_its_end_goes_first() -> None:
    """Not the one whose last bytes are oldest: bodies all arriving at once are read in whatever
    order the loop finds them, and a client's upload was as likely to go as a flood's body."""
    clock = _Clock()
    budget, dropped = BodyBudget(30, clock), []
    upload, flood, newcomer = _claims(budget, dropped, "upload", "flood", "newcomer")
    assert upload.declare(8) and flood.declare(20)
    clock.now += 0.5
    assert upload.cover(4) and flood.cover(4)  # at these paces: 0.5 s to go, and 2 s
    assert newcomer.declare(10)
    assert dropped == ["flood"] and upload.state == ARRIVING and budget.held == 18


def test_bodies_that_trickle_go_before_an_upload_they_undercut_in_size() -> None:
    """A flood that declares a little less than an upload and sends a byte every 0.9 s (never
    stalled) does not get the upload dropped, as an order by size alone would."""
    clock = _Clock()
    budget, dropped = BodyBudget(80, clock), []
    upload, *trickles = _claims(budget, dropped, "upload", "trickle 1", "trickle 2", "trickle 3")
    assert upload.declare(20) and all(trickle.declare(19) for trickle in trickles)
    for step in range(1, 11):
        clock.now += 0.45
        assert upload.cover(step)
        if step % 2 == 0:
            assert all(trickle.cover(step // 2) for trickle in trickles)
    newcomer = budget.claim(lambda: dropped.append("newcomer"))
    assert newcomer.declare(20)  # 17 to free: one trickle, the one that has waited longest of them
    assert dropped == ["trickle 1"] and upload.state == ARRIVING


def test_a_body_of_no_declared_length_has_as_far_to_go_as_it_has_come() -> None:
    clock = _Clock()
    budget = BodyBudget(100, clock)
    chunked, declared, silent = budget.claim(None), budget.claim(None), budget.claim(None)
    assert chunked.cover(10) and declared.declare(40) and declared.cover(10) and silent.declare(5)
    clock.now += 2.0
    assert chunked.seconds_to_finish(clock.now) == 2.0  # 10 bytes in 2 s, 10 more to come
    assert declared.seconds_to_finish(clock.now) == 6.0  # 30 bytes left at 5 a second
    assert silent.seconds_to_finish(clock.now) == 10.0  # no byte yet: counted as one in 2 s


def test_stalled_bodies_go_before_larger_ones_still_coming_in() -> None:
    clock = _Clock()
    budget, dropped = BodyBudget(30, clock), []
    stalled, older_stall, coming, newcomer = _claims(budget, dropped, "stalled", "older stall", "coming", "newcomer")
    assert older_stall.cover(4) and stalled.cover(5)
    clock.now += STALLED_AFTER
    assert coming.cover(20)  # held: 29
    assert newcomer.cover(6)  # 5 to free: the stalled ones, longest waiting first, are enough
    assert dropped == ["older stall", "stalled"] and coming.state == ARRIVING and budget.held == 26


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
