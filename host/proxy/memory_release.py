"""Giving the system back the memory a burst of calls freed (docs/proxy-limits.md#memory-after-a-burst).

When a burst ends, what its calls allocated is freed, but glibc keeps the freed chunks in its free
lists for the process to reuse: the resident size stays at the burst's high-water mark. Nothing in
the proxy is wrong then, yet the machine has megabytes fewer for as long as the proxy lives.
``malloc_trim(0)`` returns every whole free page to the system, in under a millisecond.

The proxy calls it every :data:`RELEASE_SECONDS`, on a worker thread (``ctypes`` lets go of the GIL
for the call, so the event loop never waits for it; glibc's own locks keep it safe beside the loop's
allocations), whether or not a burst happened: a release with nothing to give back costs less than
deciding whether one is due. A C library without ``malloc_trim`` (macOS, musl) means no release.
"""

import asyncio
import ctypes
from typing import Callable, Optional

__all__ = ["RELEASE_SECONDS", "MemoryRelease", "free_memory_release"]

RELEASE_SECONDS = 30.0  # a burst's memory is back within this (the target: within 60 s)

Release = Callable[[], object]


def free_memory_release() -> Optional[Release]:
    """A call that gives glibc's free pages back to the system, or None where there is none."""
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library the process already uses
    except (OSError, AttributeError, TypeError):  # TypeError: Windows loads no library by None
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


class MemoryRelease:
    """Started at lifespan start-up (on the loop), stopped at shutdown. Never raises into the loop;
    a release still running when the next is due is not doubled."""

    def __init__(self, release: Optional[Release] = None, every: float = RELEASE_SECONDS) -> None:
        self._release = release if release is not None else free_memory_release()
        self._every = every
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._timer: Optional[asyncio.TimerHandle] = None
        self._running: Optional[asyncio.Future[object]] = None

    def start(self) -> None:
        if self._release is None:
            return
        self._loop = asyncio.get_running_loop()
        self._timer = self._loop.call_later(self._every, self._tick)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._loop = None

    def _tick(self) -> None:
        loop = self._loop
        if loop is None or self._release is None:
            return
        if self._running is None or self._running.done():
            self._running = loop.run_in_executor(None, self._release)
            self._running.add_done_callback(_ignore_outcome)
        self._timer = loop.call_later(self._every, self._tick)


def _ignore_outcome(done: "asyncio.Future[object]") -> None:
    """A release that failed changes nothing the proxy relies on: retrieve its exception so that
    asyncio does not log it as never retrieved, and try again at the next tick."""
    if not done.cancelled():
        done.exception()
