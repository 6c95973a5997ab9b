"""A thread that runs Python without pause, as the proxy's event loop does under a flood: what a
writer thread beside it gets of the GIL (docs/telemetry-bounds.md#the-writer)."""

import contextlib
import threading
from typing import Iterator

__all__ = ["busy_thread"]


@contextlib.contextmanager
def busy_thread(on: bool = True) -> Iterator[None]:
    """Run the body with (``on``) or without a busy thread beside it."""
    if not on:
        yield
        return
    stop = threading.Event()
    thread = threading.Thread(target=_spin, args=(stop,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _spin(stop: threading.Event) -> None:
    total = 0
    while not stop.is_set():
        for number in range(1000):
            total += number
