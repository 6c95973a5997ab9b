"""Library mode: route this process's LLM calls without ``router shim`` (notebooks, servers).

``activate()`` does in-process what ``router shim`` does around a child: it loads the user's
configuration from ``$ROUTER_HOME`` (this runs in the user's own interpreter, where the router is
installed, so the host package is at hand), opens the telemetry store, binds the small loopback
proxy the aiohttp hand-off needs (uvicorn loads only if a call uses it), hands all three to the
shim (:class:`shim.runtime.InProcessHost`) and turns the shim on. Call events go straight to the
store: there is no host collector to receive them. ``deactivate()`` undoes every step — the
patched attributes, the placeholder keys, the proxy, the store (flushed) — and may be followed by
another ``activate()``, which reads the configuration again.

A process already started under ``router shim`` is routed by that shim; ``activate()`` then does
nothing and returns False. A forked child keeps routing (the configuration is inherited) and gets
its own store writer, which writes each event before the call returns: ``multiprocessing`` ends
forked workers with ``os._exit``, so nothing buffered would survive them.
"""

import atexit
import os
import sys
import threading
from typing import Dict, Optional

from shim import bootstrap, env_names
from shim.runtime import InProcessHost, use_in_process_host
from shim.telemetry import event_from_message
from shim.telemetry_sender import TelemetrySender

from .config_store import LoadedConfig, load_config
from .event_sink import EventSink, open_sink
from .shim_proxy import BackgroundProxy

__all__ = ["LibraryRouting", "activate", "deactivate", "is_active"]

_GUARD = "_router_shim_package"  # sitecustomize_template's guard: one active shim per process
_GUARD_VALUE = "shim (library mode)"
_CHILD_FLUSH_SECONDS = 5.0


class StoreSender(TelemetrySender):
    """A telemetry sender whose "socket" is the sink: each encoded event is decoded again and recorded
    (priced, stored, exported). Same counting of drops as the socket sender; never raises."""

    def __init__(self, sink: EventSink, flush_each: bool = False) -> None:
        super().__init__(None)
        self._sink = sink
        self._flush_each = flush_each

    def _send(self, data: bytes) -> bool:
        import json

        event = event_from_message(json.loads(data))
        if event is None:
            return False
        self._sink.record(event)
        if self._flush_each and self._sink.store is not None:
            self._sink.store.flush(_CHILD_FLUSH_SECONDS)
        return True


class LibraryRouting:
    """One activation: what was started and what must be put back."""

    def __init__(self, loaded: LoadedConfig) -> None:
        self.loaded = loaded
        self.pid = os.getpid()
        self.sink = open_sink()
        self.proxy = BackgroundProxy(loaded.config, self.sink.record).start()
        self.placeholders = _set_placeholder_keys()
        self._child_sinks: Dict[int, EventSink] = {}

    def new_sender(self) -> TelemetrySender:
        """The sender for the process asking: ours, or a forked child's own (with its own store writer)."""
        pid = os.getpid()
        if pid == self.pid:
            return StoreSender(self.sink)
        sink = self._child_sinks.get(pid)
        if sink is None:
            sink = self._child_sinks[pid] = open_sink()
        return StoreSender(sink, flush_each=True)

    def stop(self) -> None:
        _remove_placeholder_keys(self.placeholders)
        if os.getpid() == self.pid:
            self.proxy.stop()
        for sink in [self.sink, *self._child_sinks.values()]:
            sink.close()


_lock = threading.RLock()
_active: Optional[LibraryRouting] = None
_exit_hook_installed = False


def is_active() -> bool:
    """True between a successful :func:`activate` and :func:`deactivate`."""
    return _active is not None


def activate() -> bool:
    """Route this process's LLM calls with the configuration in ``$ROUTER_HOME``.

    False when it already was, or when ``router shim`` already routes this process. A broken
    configuration raises :class:`host.paths.StateFileError` (one line naming the file)."""
    global _active
    with _lock:
        if _active is not None or getattr(sys, _GUARD, None):
            return False
        loaded = load_config(os.environ)
        routing = LibraryRouting(loaded)
        use_in_process_host(InProcessHost(loaded.config, routing.proxy.url, routing.new_sender))
        setattr(sys, _GUARD, _GUARD_VALUE)
        if not bootstrap.activate():
            _undo(routing)
            return False
        _active = routing
        _install_exit_hook()
        return True


def deactivate() -> bool:
    """Stop routing: restore every patched attribute and environment variable, stop the proxy, store
    the events still queued. False when library mode was not active."""
    global _active
    with _lock:
        routing, _active = _active, None
        if routing is None:
            return False
        bootstrap.deactivate()
        _undo(routing)
        return True


def _undo(routing: LibraryRouting) -> None:
    use_in_process_host(None)
    if getattr(sys, _GUARD, None) == _GUARD_VALUE:
        delattr(sys, _GUARD)
    routing.stop()


def _install_exit_hook() -> None:
    """Store what is queued when the interpreter exits (the writer thread is a daemon)."""
    global _exit_hook_installed
    if not _exit_hook_installed:
        atexit.register(deactivate)
        _exit_hook_installed = True


def _set_placeholder_keys() -> Dict[str, str]:
    """What ``router shim`` gives a child: SDK constructors need *a* key; the real one goes on the wire
    only for routed calls. Only variables that are unset get one; returns those it set."""
    added: Dict[str, str] = {}
    for name in (env_names.OPENAI_API_KEY, env_names.ANTHROPIC_API_KEY):
        if not os.environ.get(name):
            os.environ[name] = added[name] = env_names.PLACEHOLDER_API_KEY
    return added


def _remove_placeholder_keys(added: Dict[str, str]) -> None:
    for name, value in added.items():
        if os.environ.get(name) == value:
            del os.environ[name]
