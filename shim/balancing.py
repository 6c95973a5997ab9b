"""In which order a balanced group's members are tried (docs/routing.md#load-balancing).

The first member is, in this order of preference:

1. for a ``sticky`` group and a call whose conversation is known (:mod:`shim.affinity`), the member
   that conversation hashes to — weighted rendezvous hashing, so conversations spread over the
   members in proportion to their weights and each keeps its member — unless that member is cooling
   down (then the call is balanced like any other);
2. otherwise a weighted choice between two weighted draws: the one with fewer calls in flight in
   this process, the first draw on a tie (the "power of two choices" of Mitzenmacher, with weights as
   Envoy's least-request balancer does). With nothing in flight, members are chosen exactly in
   proportion to their weights.

The other members follow in a weighted random order. Members that are cooling down are left out
(the session decides what to do when nothing else is left). Randomness comes from the driver
(``random``: anything with ``random() -> float`` in [0, 1)), so tests seed it.
"""

from math import log
from typing import List, Optional, Protocol, Sequence
from zlib import crc32

from .cooldown import HealthBook
from .routing import RouteGroup, RouteTarget

__all__ = ["RandomSource", "member_order"]


class RandomSource(Protocol):
    def random(self) -> float: ...


def member_order(
    group: RouteGroup, book: HealthBook, now: float, random: RandomSource, affinity: Optional[int]
) -> List[RouteTarget]:
    """The usable members of ``group`` (not cooling down at ``now``), best first."""
    usable = [i for i, target in enumerate(group.targets) if book.available_at(target.backend.name, now) <= now]
    if len(usable) <= 1:
        return [group.targets[i] for i in usable]
    first = _sticky_choice(group, affinity) if group.sticky and affinity is not None else None
    if first is None or first not in usable:
        first = _least_loaded_of_two(group, usable, book, random)
    rest = _weighted_shuffle(group, [i for i in usable if i != first], random)
    return [group.targets[first]] + [group.targets[i] for i in rest]


def _sticky_choice(group: RouteGroup, affinity: int) -> int:
    """Weighted rendezvous hashing over every member (cooling ones too, so a conversation comes back
    to its member once it has cooled down): the highest ``-weight / ln(u)``, ``u`` uniform from the
    hash of the conversation and the member."""
    best, best_score = 0, float("-inf")
    for index, target in enumerate(group.targets):
        member = crc32(f"{target.backend.name}:{target.upstream_model}".encode("utf-8", "replace"))
        uniform = (_mix((affinity << 32) | member) + 0.5) / 18446744073709551616.0  # (0, 1): never 0 or 1
        score = -group.weight_of(index) / log(uniform)
        if score > best_score:
            best, best_score = index, score
    return best


_MASK = (1 << 64) - 1


def _mix(value: int) -> int:
    """SplitMix64's finaliser: every input bit moves every output bit. CRC-32 alone cannot be used
    for the pair's score: it is affine in its start value, so two members' scores would move
    together from one conversation to the next."""
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


def _least_loaded_of_two(group: RouteGroup, usable: Sequence[int], book: HealthBook, random: RandomSource) -> int:
    first, second = _weighted_draw(group, usable, random), _weighted_draw(group, usable, random)
    if first != second:
        first_load = book.in_flight(group.targets[first].backend.name)
        if book.in_flight(group.targets[second].backend.name) < first_load:
            return second
    return first


def _weighted_draw(group: RouteGroup, members: Sequence[int], random: RandomSource) -> int:
    total = sum(group.weight_of(i) for i in members)
    point = random.random() * total
    for index in members:
        point -= group.weight_of(index)
        if point < 0:
            return index
    return members[-1]  # rounding at the very top of the range


def _weighted_shuffle(group: RouteGroup, members: List[int], random: RandomSource) -> List[int]:
    """Efraimidis–Spirakis: sort by ``u ** (1 / weight)``, largest first."""
    if len(members) <= 1:
        return members
    keys = {index: (1.0 - random.random()) ** (1.0 / group.weight_of(index)) for index in members}
    return sorted(members, key=keys.__getitem__, reverse=True)
