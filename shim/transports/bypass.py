"""A context-variable switch that keeps the shim from routing its own traffic.

Whenever a shim transport hands a request to a lower layer (the client's own transport for a
routed call, or the inner transport for a pass-through), it sets the switch; every patched seam
checks it first. This matters when layers stack: openai's ``DefaultAioHttpClient`` is an httpx2
client whose transport calls aiohttp, which is patched too (docs/shim.md#httpx-and-httpx2).
"""

from contextvars import ContextVar, Token
from typing import Any, Optional

__all__ = ["bypassed", "is_bypassed"]

_BYPASS: ContextVar[bool] = ContextVar("router_shim_bypass", default=False)


def is_bypassed() -> bool:
    return _BYPASS.get()


class bypassed:  # lower case: it reads as the function it replaced, ``with bypassed():``
    """``with bypassed():`` — the switch is on inside. A class rather than a ``@contextmanager``
    generator: it is entered on every routed call, and costs a third as much."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token: Optional[Token[bool]] = _BYPASS.set(True)

    def __exit__(self, *exc: Any) -> None:
        if self._token is not None:
            _BYPASS.reset(self._token)
            self._token = None
