"""Balanced groups (shim/balancing.py) and conversation affinity (shim/affinity.py)."""

import random
from collections import Counter
from typing import Any, Dict

import pytest
from routing_support import Clock, backends_of, route_for, run_call, session

from shim.affinity import ConversationKey
from shim.balancing import member_order
from shim.cooldown import CooldownBook
from shim.fallback_policy import CooldownPolicy

CALLS = 1000


def first_choices(chain: Any, calls: int = CALLS, seed: int = 11, body: Any = None) -> Counter:
    """Which backend each of ``calls`` sequential calls goes to first (nothing in flight between them)."""
    route, book, clock, rng = route_for(chain), CooldownBook(CooldownPolicy()), Clock(), random.Random(seed)
    counts: Counter = Counter()
    for number in range(calls):
        conversation = ConversationKey({}, body(number)) if body else None
        order = member_order(route.chain[0], book, clock.now, rng, conversation.value if conversation else None)
        counts[order[0].backend.name] += 1
    return counts


@pytest.mark.parametrize("weights", [[1, 1], [3, 1], [1, 2, 7]])
def test_weights_are_respected_over_a_thousand_calls(weights: list) -> None:
    names = ["a", "b", "c"][: len(weights)]
    counts = first_choices([{"balance": names, "weights": weights}])
    for name, weight in zip(names, weights, strict=True):
        expected = CALLS * weight / sum(weights)
        # binomial standard deviation at most 16 for 1,000 calls: four of them is a test that does not flake
        assert abs(counts[name] - expected) <= 4 * (CALLS * 0.25) ** 0.5, counts


def test_equal_weights_without_weights_field() -> None:
    counts = first_choices([{"balance": ["a", "b"]}])
    assert abs(counts["a"] - CALLS / 2) <= 64


def test_members_follow_in_weighted_order_and_cooling_ones_are_left_out() -> None:
    route, book, clock = route_for([{"balance": ["a", "b", "c"]}]), CooldownBook(CooldownPolicy(failures=1)), Clock()
    book.attempt_ended("b", clock.now, failed=True, retry_after=None)
    for seed in range(20):
        order = member_order(route.chain[0], book, clock.now, random.Random(seed), None)
        assert sorted(t.backend.name for t in order) == ["a", "c"]


def test_least_in_flight_breaks_the_tie_between_two_draws() -> None:
    route, book, clock = route_for([{"balance": ["a", "b"]}]), CooldownBook(CooldownPolicy()), Clock()
    for _ in range(5):
        book.attempt_started("a", clock.now)  # a is busy: five calls in flight
    counts = Counter(member_order(route.chain[0], book, clock.now, random.Random(seed), None)[0].backend.name
                     for seed in range(CALLS))
    # a wins only when both draws are a (a quarter of the time); else b, the less loaded one
    assert abs(counts["a"] - CALLS / 4) <= 4 * (CALLS * 0.1875) ** 0.5, counts


def conversation(number: int) -> Dict[str, Any]:
    return {"system": "You are a coding agent.", "messages": [{"role": "user", "content": f"task {number}"}]}


def test_one_conversation_keeps_its_backend() -> None:
    counts = first_choices([{"balance": ["a", "b", "c"]}], calls=200, body=lambda _: conversation(42))
    assert len(counts) == 1 and sum(counts.values()) == 200


def test_many_conversations_spread_by_weight() -> None:
    counts = first_choices([{"balance": ["a", "b"], "weights": [3, 1]}], body=conversation)
    assert abs(counts["a"] - 750) <= 4 * (CALLS * 0.1875) ** 0.5, counts


def test_a_sticky_conversation_moves_only_while_its_backend_cools_down() -> None:
    route = route_for([{"balance": ["a", "b", "c"]}], {"retries": 0})
    book, clock = CooldownBook(CooldownPolicy(failures=1, duration=30)), Clock()
    key = ConversationKey({"x-claude-code-session-id": "s-1"}, {})
    home = member_order(route.chain[0], book, clock.now, random.Random(0), key.value)[0].backend.name
    book.attempt_ended(home, clock.now, failed=True, retry_after=None)
    elsewhere = {member_order(route.chain[0], book, clock.now, random.Random(s), key.value)[0].backend.name
                 for s in range(30)}
    assert home not in elsewhere and len(elsewhere) == 2  # balanced over the others meanwhile
    clock.advance(31)
    book.attempt_ended(home, clock.now, failed=False, retry_after=None)
    assert member_order(route.chain[0], book, clock.now, random.Random(5), key.value)[0].backend.name == home


def test_a_group_that_is_not_sticky_balances_every_call() -> None:
    counts = first_choices([{"balance": ["a", "b"], "sticky": False}], calls=400, body=lambda _: conversation(42))
    assert counts["a"] > 100 and counts["b"] > 100


def test_the_session_uses_the_conversation_for_sticky_groups() -> None:
    route = route_for([{"balance": ["a", "b", "c"]}])
    book, clock = CooldownBook(CooldownPolicy()), Clock()
    chosen = set()
    for seed in range(30):
        call = session(route, book, seed=seed)
        call._conversation = ConversationKey({}, conversation(7))
        chosen.add(backends_of(run_call(call, [200], clock)[0])[0])
    assert len(chosen) == 1


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        # the session header decides, whatever the body
        (({"x-claude-code-session-id": "abc"}, conversation(1)), ({"x-claude-code-session-id": "abc"}, conversation(2)),
         True),
        (({"x-claude-code-session-id": "abc"}, conversation(1)), ({"x-claude-code-session-id": "xyz"}, conversation(1)),
         False),
        # then prompt_cache_key
        (({}, {**conversation(1), "prompt_cache_key": "k"}), ({}, {**conversation(2), "prompt_cache_key": "k"}), True),
        # then the opening of the conversation: later turns do not change it
        (({}, conversation(1)), ({}, {**conversation(1), "messages": [*conversation(1)["messages"],
                                                                       {"role": "assistant", "content": "done"},
                                                                       {"role": "user", "content": "more"}]}), True),
        (({}, conversation(1)), ({}, conversation(2)), False),
        (({}, {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": [
            {"type": "text", "text": "hi"}]}]}), ({}, {"messages": [{"role": "system", "content": "t"},
                                                               {"role": "user", "content": "hi"}]}), False),
        (({}, {"instructions": "be brief", "input": "hello"}), ({}, {"instructions": "be brief", "input": "hello"}),
         True),
        (({}, {**conversation(1), "tools": [{"name": "read"}]}), ({}, {**conversation(1), "tools": [
            {"type": "function", "function": {"name": "write"}}]}), False),
    ],
)
def test_conversation_keys(first: tuple, second: tuple, same: bool) -> None:
    assert (ConversationKey(*first).value == ConversationKey(*second).value) is same


def test_a_call_with_nothing_to_identify_it_has_no_key() -> None:
    assert ConversationKey({}, {"model": "m"}).value is None
    assert ConversationKey({}, {"messages": "not a list", "system": 3}).value is None
