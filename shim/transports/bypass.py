"""A context-variable switch that keeps the shim from routing its own traffic.

Whenever a shim transport hands a request to a lower layer (the client's own transport for a
routed call, or the inner transport for a pass-through), it sets the switch; every patched seam
checks it first. This matters when layers stack: openai's ``DefaultAioHttpClient`` is an httpx2
client whose transport calls aiohttp, which is patched too (DESIGN.md "Executor").
"""

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

__all__ = ["bypassed", "is_bypassed"]

_BYPASS: ContextVar[bool] = ContextVar("router_shim_bypass", default=False)


def is_bypassed() -> bool:
    return _BYPASS.get()


@contextmanager
def bypassed() -> Iterator[None]:
    token = _BYPASS.set(True)
    try:
        yield
    finally:
        _BYPASS.reset(token)
