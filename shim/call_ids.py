"""Unique ids for calls (translated responses are named after them), cheaply.

A random prefix per instance, then a counter: one ``getrandom`` system call per process rather than
one per call (``uuid4()`` per call was 4–7 % of the proxy's time under load). A process that forks
must make a new instance in the child, or parent and child would count the same ids.
"""

import itertools
import os

__all__ = ["CallIds"]


class CallIds:
    """16 random hex digits, then a counter of ``counter_digits`` hex digits (wrapping at its width)."""

    def __init__(self, counter_digits: int) -> None:
        self._prefix = os.urandom(8).hex()
        self._numbers = itertools.count(1)
        self._mask = (1 << (4 * counter_digits)) - 1
        self._format = f"0{counter_digits}x"

    def next(self) -> str:
        return f"{self._prefix}{format(next(self._numbers) & self._mask, self._format)}"
