"""The fallback session (shim/fallback.py): which target next, after how long, and when to stop.

Pure: a hand-moved clock, a seeded random source, the in-process cooldown book. The drivers' side
(real sockets, the SDKs) is in tests/proxy and tests/shim_child.
"""

import random

import pytest
from routing_support import Clock, backends_of, route_for, run_call, session

from shim.cooldown import CLOSED, COOLING, CooldownBook
from shim.errors import InvalidRequestError, UpstreamError, UpstreamProtocolError
from shim.fallback import (
    FALLBACK,
    FIRST,
    RETRY,
    Answered,
    Deliver,
    Failed,
    FallbackSession,
    FallbackStateError,
    retry_after_seconds,
)
from shim.fallback_policy import CooldownPolicy
from shim.upstream_failures import (
    AnswerTimeout,
    AnswerTooLarge,
    ConnectFailed,
    ConnectionCut,
    ConnectTimeout,
    ProtocolBroken,
    ReadTimeout,
    TLSFailed,
)

NO_RETRIES = {"retries": 0}


def test_a_single_target_that_answers() -> None:
    call = session(route_for("a"))
    attempts, deliver = run_call(call, [200], Clock())
    assert [(a.target.backend.name, a.reason, a.wait, a.number) for a in attempts] == [("a", FIRST, 0.0, 1)]
    assert deliver == Deliver(exhausted=False)
    assert [(r.backend, r.model, r.status, r.failure) for r in call.records] == [("a", "m", 200, None)]
    assert call.fallbacks == 0 and call.target is not None and call.target.backend.name == "a"


def test_the_next_target_after_a_failure_that_falls_back() -> None:
    call = session(route_for(["a", "b:other"], NO_RETRIES))
    attempts, deliver = run_call(call, [529, 200], Clock())
    assert [(a.target.backend.name, a.target.upstream_model, a.reason) for a in attempts] == [
        ("a", "m", FIRST), ("b", "other", FALLBACK)]
    assert deliver == Deliver(exhausted=False)
    assert [(r.backend, r.status) for r in call.records] == [("a", 529), ("b", 200)]
    assert call.fallbacks == 1


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_default_statuses_fall_back(status: int) -> None:
    attempts, _ = run_call(session(route_for(["a", "b"], NO_RETRIES)), [status, 200], Clock())
    assert backends_of(attempts) == ["a", "b"]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422, 402, 501])
def test_client_errors_do_not_fall_back(status: int) -> None:
    attempts, deliver = run_call(session(route_for(["a", "b"])), [status], Clock())
    assert backends_of(attempts) == ["a"]
    assert deliver == Deliver(exhausted=False)  # the answer goes to the client as it is


def test_a_route_chooses_its_own_statuses() -> None:
    attempts, _ = run_call(session(route_for(["a", "b"], {"retries": 0, "statuses": [401]})), [401, 200], Clock())
    assert backends_of(attempts) == ["a", "b"]
    attempts, _ = run_call(session(route_for(["a", "b"], {"retries": 0, "statuses": [401]})), [529], Clock())
    assert backends_of(attempts) == ["a"]


def test_x_should_retry_true_falls_back_whatever_the_status() -> None:
    attempts, _ = run_call(session(route_for(["a", "b"], NO_RETRIES)), [Answered(400, should_retry=True)], Clock())
    assert backends_of(attempts) == ["a", "b"]


def test_x_should_retry_false_skips_the_retry_but_not_the_next_target() -> None:
    attempts, _ = run_call(session(route_for(["a", "b"], {"retries": 2})), [Answered(529, should_retry=False)], Clock())
    assert [(a.target.backend.name, a.reason) for a in attempts] == [("a", FIRST), ("b", FALLBACK)]


def test_retry_the_same_target_with_a_jittered_doubling_backoff() -> None:
    route = route_for(["a", "b"], {"retries": 3, "backoff": 1, "max_backoff": 3, "max_wait": 60})
    no_breaker = CooldownBook(CooldownPolicy(failures=0))
    attempts, _ = run_call(session(route, no_breaker), [503, 503, 503, 503, 200], Clock())
    assert [(a.target.backend.name, a.reason) for a in attempts] == [
        ("a", FIRST), ("a", RETRY), ("a", RETRY), ("a", RETRY), ("b", FALLBACK)]
    waits = [a.wait for a in attempts[1:4]]
    for wait, ceiling in zip(waits, [1.0, 2.0, 3.0], strict=True):  # doubling, capped at max_backoff
        assert 0.75 * ceiling <= wait <= ceiling  # cut by up to a quarter, as the SDKs do
    assert attempts[4].wait == 0  # another target: no wait


def test_no_retry_once_the_backends_breaker_opened() -> None:
    route = route_for(["a", "b"], {"retries": 5, "backoff": 0.1, "max_wait": 60})
    book = CooldownBook(CooldownPolicy(failures=2, duration=30))
    attempts, _ = run_call(session(route, book), [503, 503, 200], Clock())
    # the second failure opened a's breaker: its 30 s are not waited, the call moves on
    assert [(a.target.backend.name, a.reason) for a in attempts] == [("a", FIRST), ("a", RETRY), ("b", FALLBACK)]


def test_retry_after_is_waited_when_longer_than_the_backoff() -> None:
    route = route_for(["a", "b"], {"retries": 1, "backoff": 0.5, "max_wait": 10})
    attempts, _ = run_call(session(route), [Answered(429, retry_after=3.0), 200], Clock())
    assert [(a.target.backend.name, a.reason) for a in attempts] == [("a", FIRST), ("a", RETRY)]
    assert attempts[1].wait >= 3.0


def test_a_retry_after_beyond_the_wait_budget_moves_on_at_once() -> None:
    route = route_for(["a", "b"], {"retries": 1, "max_wait": 10})
    book = CooldownBook(CooldownPolicy())
    clock = Clock()
    attempts, _ = run_call(session(route, book), [Answered(429, retry_after=30.0), 200], clock)
    assert [(a.target.backend.name, a.wait) for a in attempts] == [("a", 0.0), ("b", 0.0)]
    # and the backend is left alone for as long as it asked, by every call of this process
    assert book.status("a", clock.now).state == COOLING
    assert 29 < book.status("a", clock.now).seconds_left <= 30
    later, _ = run_call(session(route, book), [200], clock)
    assert backends_of(later) == ["b"]


def test_the_wait_budget_bounds_all_waiting_in_a_call() -> None:
    route = route_for(["a", "b"], {"retries": 5, "backoff": 2, "max_backoff": 2, "max_wait": 3})
    attempts, _ = run_call(session(route), [503, 503, 503, 503], Clock())
    assert sum(a.wait for a in attempts) <= 3
    assert backends_of(attempts) == ["a", "a", "b"]  # one wait of ≤ 2 s fits, a second would not


def test_exhausted_chain_delivers_the_last_failure_marked_final() -> None:
    call = session(route_for(["a", "b"], {"retries": 1, "backoff": 0.01}))
    attempts, deliver = run_call(call, [503, 503, 529, 529], Clock())
    assert backends_of(attempts) == ["a", "a", "b", "b"]
    assert deliver == Deliver(exhausted=True)
    assert call.exhausted and call.target is not None and call.target.backend.name == "b"


def test_a_lone_target_without_retries_leaves_retrying_to_the_client() -> None:
    # nothing else was offered: the failure goes out as the backend sent it (the SDK may retry it)
    attempts, deliver = run_call(session(route_for("a")), [529], Clock())
    assert backends_of(attempts) == ["a"] and deliver == Deliver(exhausted=False)
    attempts, deliver = run_call(session(route_for("a", {"retries": 1, "backoff": 0.01})), [529, 529], Clock())
    assert backends_of(attempts) == ["a", "a"] and deliver == Deliver(exhausted=True)


def test_max_attempts_bounds_the_call() -> None:
    route = route_for(["a", "b", "c", "d"], {"retries": 2, "backoff": 0.01, "max_attempts": 5})
    attempts, deliver = run_call(session(route), [503] * 20, Clock())
    assert len(attempts) == 5 and deliver.exhausted


def test_a_balanced_group_tries_its_other_member_first_without_waiting() -> None:
    route = route_for([{"balance": ["a", "b"]}, "c"], {"retries": 1, "backoff": 1})
    attempts, _ = run_call(session(route), [503, 503, 503, 200], Clock())
    first, second = attempts[0].target.backend.name, attempts[1].target.backend.name
    assert {first, second} == {"a", "b"} and attempts[1].wait == 0
    # then the member that failed last is retried (after a backoff), then the next group
    assert [(a.target.backend.name, a.reason) for a in attempts[2:]] == [(second, RETRY), ("c", FALLBACK)]


def test_cooldown_is_entered_skipped_probed_and_left() -> None:
    policy = CooldownPolicy(failures=2, window=60, duration=30)
    book, clock = CooldownBook(policy), Clock()
    route = route_for(["a", "b"], NO_RETRIES)
    for _ in range(2):
        run_call(session(route, book), [503, 200], clock)
    assert book.status("a", clock.now).state == COOLING
    attempts, _ = run_call(session(route, book), [200], clock)
    assert backends_of(attempts) == ["b"]  # skipped while it cools down
    clock.advance(31)
    probe = session(route, book)
    step = probe.start(clock.now)
    assert step.target.backend.name == "a"  # the probe
    probe.sending(clock.now)
    # while the probe is out, other calls still skip the backend
    assert backends_of(run_call(session(route, book), [200], clock)[0]) == ["b"]
    probe.outcome(Answered(200), clock.now)
    probe.close()
    assert book.status("a", clock.now).state == CLOSED
    assert backends_of(run_call(session(route, book), [200], clock)[0]) == ["a"]


def test_a_failed_probe_cools_down_again() -> None:
    book, clock = CooldownBook(CooldownPolicy(failures=1, duration=10)), Clock()
    route = route_for(["a", "b"], NO_RETRIES)
    run_call(session(route, book), [503, 200], clock)
    clock.advance(11)
    attempts, _ = run_call(session(route, book), [503, 200], clock)
    assert backends_of(attempts) == ["a", "b"]
    assert book.status("a", clock.now).state == COOLING


def test_when_every_target_cools_down_the_call_still_goes_to_the_soonest() -> None:
    book, clock = CooldownBook(CooldownPolicy(failures=1, duration=30)), Clock()
    route = route_for(["a", "b"], NO_RETRIES)
    run_call(session(route, book), [503, 503], clock)
    clock.advance(5)
    book.attempt_ended("b", clock.now, failed=True, retry_after=None)  # b cools until now+30, after a
    attempts, _ = run_call(session(route, book), [200], clock)
    assert backends_of(attempts) == ["a"]  # never turned away: a's cooling ends first


def test_a_single_target_route_is_never_turned_away() -> None:
    book, clock = CooldownBook(CooldownPolicy(failures=1)), Clock()
    run_call(session(route_for("a"), book), [503, 503], clock)
    assert book.status("a", clock.now).state == COOLING
    attempts, deliver = run_call(session(route_for("a"), book), [200], clock)
    assert backends_of(attempts) == ["a"] and not deliver.exhausted


def test_a_failure_before_the_first_byte_can_still_fall_back() -> None:
    call, clock = session(route_for(["a", "b"], NO_RETRIES)), Clock()
    call.start(clock.now)
    call.sending(clock.now)
    assert call.outcome(Answered(200), clock.now) == Deliver(False)
    # the stream was cut before the client saw a byte of it: b, as if a had never answered
    step = call.failed_before_first_byte(ConnectionCut(), clock.now)
    assert step.target.backend.name == "b" and step.reason == FALLBACK
    call.sending(clock.now)
    assert call.outcome(Answered(200), clock.now) == Deliver(False)
    assert [(r.backend, r.status, r.failure) for r in call.records] == [
        ("a", 200, "ConnectionCut"), ("b", 200, None)]


def test_after_the_first_byte_nothing_changes() -> None:
    call, clock = session(route_for(["a", "b"])), Clock()
    call.start(clock.now)
    call.sending(clock.now)
    call.outcome(Answered(200), clock.now)
    call.committed()
    with pytest.raises(FallbackStateError):
        call.failed_before_first_byte(ReadTimeout(), clock.now)
    with pytest.raises(FallbackStateError):
        call.outcome(Answered(503), clock.now)


def test_methods_out_of_order_are_driver_bugs() -> None:
    call = session(route_for("a"))
    with pytest.raises(FallbackStateError):
        call.sending(0.0)
    call.start(0.0)
    with pytest.raises(FallbackStateError, match="before sending"):
        call.outcome(Answered(200), 0.0)
    with pytest.raises(FallbackStateError):
        call.start(0.0)


def test_in_flight_counts_follow_attempts_and_the_delivered_call() -> None:
    book, clock = CooldownBook(CooldownPolicy()), Clock()
    call = FallbackSession(route_for(["a", "b"], NO_RETRIES), book, random.Random(1))
    call.start(clock.now)
    call.sending(clock.now)
    assert book.in_flight("a") == 1
    step = call.outcome(Answered(503), clock.now)
    assert book.in_flight("a") == 0  # the failed attempt is over
    assert step.target.backend.name == "b"
    call.sending(clock.now)
    call.outcome(Answered(200), clock.now)
    assert book.in_flight("b") == 1  # the answer is still being delivered (a stream)
    call.close()
    call.close()
    assert book.in_flight("b") == 0


@pytest.mark.parametrize("error", [ConnectFailed(), TLSFailed(), ConnectTimeout(), AnswerTimeout(), ReadTimeout(),
                                   ConnectionCut(), ProtocolBroken(), AnswerTooLarge()])
def test_transport_failures_fall_back(error: Exception) -> None:
    attempts, _ = run_call(session(route_for(["a", "b"], NO_RETRIES)), [Failed(error)], Clock())
    assert backends_of(attempts) == ["a", "b"]


@pytest.mark.parametrize("error", [UpstreamProtocolError("not JSON"), InvalidRequestError("bad"),
                                   ConnectionRefusedError(), ValueError("a driver's bug")])
def test_the_engines_own_verdicts_and_untyped_errors_do_not_fall_back(error: Exception) -> None:
    attempts, deliver = run_call(session(route_for(["a", "b"])), [Failed(error)], Clock())
    assert backends_of(attempts) == ["a"] and deliver == Deliver(False)


@pytest.mark.parametrize(("kind", "falls_back"), [("overloaded", True), ("rate_limit", True), ("api_error", True),
                                                  ("invalid_request", False), ("authentication", False)])
def test_an_in_band_error_falls_back_like_its_status(kind: str, falls_back: bool) -> None:
    error = UpstreamError("upstream said so", kind_name=kind, upstream_status=200)
    attempts, _ = run_call(session(route_for(["a", "b"], NO_RETRIES)), [Failed(error)], Clock())
    assert backends_of(attempts) == (["a", "b"] if falls_back else ["a"])


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "800", "retry-after": "9"}, 0.8),  # ms first, as the SDKs read it
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after": "Sun, 06 Nov 1994 08:49:47 GMT"}, 10.0),
        ({"retry-after": "0"}, None),
        ({"retry-after": "-3"}, None),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "nan"}, None),
        ({}, None),
    ],
)
def test_retry_after_readings(headers: dict, expected: object) -> None:
    wall_now = 784111777.0  # 08:49:37 GMT that day: the date is 10 s ahead
    assert retry_after_seconds(headers, wall_now=wall_now) == expected


def test_answered_from_headers_reads_the_hints_only_for_errors() -> None:
    assert Answered.from_headers(200, {"retry-after": "5"}, wall_now=0) == Answered(200)
    assert Answered.from_headers(429, {"retry-after": "5", "x-should-retry": "true"}, wall_now=0) == Answered(
        429, 5.0, True)
    assert Answered.from_headers(529, {"X-Should-Retry": "false"}, wall_now=0) == Answered(529, None, False)
