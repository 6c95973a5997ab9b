"""The in-process circuit breaker (shim/cooldown.py), state by state; and a property test of whole
calls over random failure sequences (shim/fallback.py)."""

import random
import threading
from typing import List

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from routing_support import Clock, route_for

from shim.cooldown import CLOSED, COOLING, PROBE_DUE, PROBING, BackendStatus, CooldownBook
from shim.fallback import Answered, Attempt, Deliver, Failed, FallbackSession, FallbackStateError
from shim.fallback_policy import CooldownPolicy
from shim.upstream_failures import ConnectFailed, ConnectionCut, ReadTimeout


def fail(book: CooldownBook, now: float, retry_after: float = 0.0) -> None:
    book.attempt_started("x", now)
    book.attempt_ended("x", now, failed=True, retry_after=retry_after or None)


def test_failures_within_the_window_open_the_breaker() -> None:
    book = CooldownBook(CooldownPolicy(failures=3, window=10, duration=30))
    fail(book, 0)
    fail(book, 5)
    assert book.status("x", 5).state == CLOSED and book.status("x", 5).recent_failures == 2
    fail(book, 9)
    assert book.status("x", 9) == BackendStatus(COOLING, 30.0, 0, 0)
    assert book.available_at("x", 9) == 39


def test_old_failures_leave_the_window() -> None:
    book = CooldownBook(CooldownPolicy(failures=3, window=10))
    fail(book, 0)
    fail(book, 5)
    fail(book, 12)  # the first is 12 s old: two in the window
    assert book.status("x", 12).state == CLOSED


def test_an_answer_clears_the_count() -> None:
    book = CooldownBook(CooldownPolicy(failures=2))
    fail(book, 0)
    book.attempt_started("x", 1)
    book.attempt_ended("x", 1, failed=False, retry_after=None)
    book.call_ended("x")
    fail(book, 2)
    assert book.status("x", 2).state == CLOSED


def test_retry_after_cools_at_once_and_is_capped() -> None:
    book = CooldownBook(CooldownPolicy(failures=5, duration=30, max_retry_after=120))
    fail(book, 0, retry_after=45)
    assert book.available_at("x", 0) == 45
    fail(book, 50, retry_after=86400)
    assert book.available_at("x", 50) == 170  # a day was asked; two minutes is the most this process waits


def test_no_failure_count_means_only_retry_after_cools() -> None:
    book = CooldownBook(CooldownPolicy(failures=0))
    for at in range(10):
        fail(book, at)
    assert book.status("x", 10).state == CLOSED
    fail(book, 11, retry_after=3)
    assert book.status("x", 11).state == COOLING


def test_the_probe_and_a_lost_probe() -> None:
    book = CooldownBook(CooldownPolicy(failures=1, duration=10))
    fail(book, 0)
    assert book.status("x", 10).state == PROBE_DUE
    book.attempt_started("x", 10)  # the probe
    assert book.status("x", 10).state == PROBING and book.available_at("x", 10) == 20
    # nothing was heard of the probe for a whole duration: another may go
    assert book.status("x", 20).state == PROBE_DUE and book.available_at("x", 20) == 20


def test_policy_changes_keep_the_records() -> None:
    book = CooldownBook(CooldownPolicy(failures=2))
    fail(book, 0)
    book.use_policy(CooldownPolicy(failures=2, duration=5))
    fail(book, 1)
    assert book.available_at("x", 1) == 6


def test_in_flight_counts_under_threads() -> None:
    book = CooldownBook(CooldownPolicy())

    def calls() -> None:
        for _ in range(2000):
            book.attempt_started("x", 0)
            book.attempt_ended("x", 0, failed=False, retry_after=None)
            book.call_ended("x")

    threads = [threading.Thread(target=calls) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert book.in_flight("x") == 0


# The property: every call ends with exactly one answer or one error, and never more attempts than
# the policy allows -------------------------------------------------------------------------------

statuses = st.sampled_from([200, 201, 400, 401, 404, 408, 409, 422, 429, 500, 502, 503, 504, 529])
outcomes = st.one_of(
    statuses.map(Answered),
    st.builds(Answered, statuses, st.one_of(st.none(), st.floats(0.0, 40.0)), st.sampled_from([None, True, False])),
    st.builds(Failed, st.sampled_from([ConnectFailed(), ReadTimeout(), ValueError()])),
)
members = st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=3, unique=True)


@st.composite
def chains(draw: st.DrawFn) -> list:
    names = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=4, unique=True))
    chain: list = []
    while names:
        size = draw(st.integers(1, len(names)))
        group, names = names[:size], names[size:]
        chain.append(group[0] if size == 1 else {"balance": group, "weights": [draw(st.integers(1, 5)) for _ in group]})
    return chain


policies = st.fixed_dictionaries({
    "retries": st.integers(0, 3),
    "backoff": st.floats(0.01, 2.0),
    "max_wait": st.floats(0.0, 10.0),
    "max_attempts": st.integers(1, 10),
})


def _refuses_more(session: FallbackSession, now: float) -> None:
    for late in (lambda: session.outcome(Answered(200), now),
                 lambda: session.failed_before_first_byte(ReadTimeout(), now)):
        try:
            late()
        except FallbackStateError:
            continue
        raise AssertionError("a committed call accepted another outcome")


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(chain=chains(), policy=policies, script=st.lists(outcomes, max_size=40),
       cut_before_first_byte=st.lists(st.booleans(), max_size=10), failures=st.integers(0, 3), seed=st.integers())
def test_every_call_ends_with_exactly_one_delivery_within_its_bounds(
    chain: list, policy: dict, script: List[object], cut_before_first_byte: List[bool], failures: int, seed: int
) -> None:
    policy["max_backoff"] = max(policy["backoff"], 2.0)
    route = route_for(chain, policy)
    book, clock = CooldownBook(CooldownPolicy(failures=failures, duration=5)), Clock()
    for _ in range(3):  # a few calls on one book: the breaker's state carries over between them
        session = FallbackSession(route, book, random.Random(seed))
        deliveries, attempts, waited = 0, 0, 0.0
        step = session.start(clock.now)
        while True:
            if isinstance(step, Attempt):
                attempts += 1
                waited += step.wait
                clock.advance(step.wait)
                session.sending(clock.now)
                step = session.outcome(script.pop(0) if script else Answered(200), clock.advance(0.1))
                continue
            assert isinstance(step, Deliver)
            if cut_before_first_byte and cut_before_first_byte.pop(0):
                step = session.failed_before_first_byte(ConnectionCut(), clock.now)
                continue  # still one delivery to come: the previous one never reached the client
            deliveries += 1
            break
        session.committed()
        _refuses_more(session, clock.now)  # a delivered call takes no second outcome: never two answers
        session.close()
        targets = len(route.targets)
        assert deliveries == 1
        assert 1 <= attempts <= min(route.policy.max_attempts, targets * (1 + route.policy.retries))
        assert len(session.records) == attempts
        assert waited <= route.policy.max_wait + 1e-9
        assert all(book.in_flight(name) == 0 for name in "abcd")
