"""``import router; router.activate()``: route this Python process's LLM calls without ``router shim``.

For notebooks and long-running processes that are not started under ``router shim``. The same
configuration (``$ROUTER_HOME``), the same routing and translation, telemetry in the same store
(``router stats``, ``router dashboard``). In IPython or Jupyter: ``%load_ext router`` (and
``%unload_ext router``). See docs/library-mode.md.
"""

from typing import Any

from host.library_mode import activate, deactivate, is_active
from host.paths import StateFileError

__all__ = ["StateFileError", "activate", "deactivate", "is_active", "load_ipython_extension",
           "unload_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext router``: activate, and say so in one line."""
    if activate():
        print("router: this kernel's LLM calls are routed (router stats shows them; %unload_ext router stops)")
    elif is_active():
        print("router: already active in this kernel")
    else:
        print("router: this kernel already runs under router shim; its calls are routed by it")


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext router``: deactivate (every patch and variable restored)."""
    if deactivate():
        print("router: stopped; this kernel's calls go where they are sent again")
