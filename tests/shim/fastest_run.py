"""The fastest of a few runs: what tests comparing two costs in one run measure (never a bound in
seconds: docs/proxy-limits.md#translation-work)."""

import time
from typing import Callable

__all__ = ["fastest"]


def fastest(run: Callable[[], object], times: int = 3) -> float:
    """Seconds the fastest of ``times`` calls of ``run`` took (the others met a busy machine)."""
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best
