"""Failures of the shim itself: reported to the host, printed only on request, never raised.

The program must never break because of the shim (docs/shim.md#failures), but silent failures are
invisible, so each one sends a ``shim_error`` datagram (a place and an exception class, never a
message that could carry a key or a body) and, with ``ROUTER_SHIM_DEBUG=1``, prints a traceback.
"""

import os
import sys

from .env_names import SHIM_DEBUG
from .lifecycle_events import shim_error_datagram
from .telemetry_sender import process_sender

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~20 modules on 3.9 and this module loads during start-up
    from typing import Optional, Set

__all__ = ["debug_enabled", "report_failure"]

_reported_once: "Set[str]" = set()


def debug_enabled() -> bool:
    return os.environ.get(SHIM_DEBUG) == "1"


def report_failure(
    where: str, error: "Optional[BaseException]" = None, *, detail: str = "", once: bool = False
) -> None:
    """Tell the host that ``where`` failed. ``detail`` must be safe to send (no secrets);
    ``once``: report this ``where`` at most once per process."""
    try:
        if once:
            if where in _reported_once:
                return
            _reported_once.add(where)
        message = _message(where, error, detail)
        process_sender().send(shim_error_datagram(os.getpid(), message))
        if debug_enabled():
            _print_debug(message, error)
    except Exception:
        pass


def _message(where: str, error: "Optional[BaseException]", detail: str) -> str:
    parts = [where]
    if error is not None:
        parts.append(type(error).__name__)
    if detail:
        parts.append(detail)
    return ": ".join(parts)


def _print_debug(message: str, error: "Optional[BaseException]") -> None:
    sys.stderr.write(f"[router shim] {message}\n")
    if error is not None:
        import traceback

        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
