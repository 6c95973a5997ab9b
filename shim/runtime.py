"""Per-process state of a shimmed program: the configuration, the LLM hosts, the telemetry sender.

Loaded lazily (the first time a patched library needs it, never during start-up) and PID-aware:
after ``fork`` the child gets its own :class:`Runtime` — same configuration (the snapshot file may
be gone by then), a new sender, a new hello — because the parent's socket and counters are not
its own (docs/shim.md#subprocesses-and-fork).

The configuration follows the host's: ``router shim`` replaces the snapshot (an atomic rename) when
the user's files change, and :func:`current_runtime` looks at the snapshot's ``stat`` at most once
per :data:`RECHECK_SECONDS`, on a call; between two looks a call costs one clock read. A changed
snapshot gives a new :class:`Runtime` with the same sender and call ids: a call that already holds
the old one finishes on it (docs/configuration.md#shimmed-programs).
"""

from __future__ import annotations  # RouterConfig is imported lazily (see load_snapshot)

import copy
import os
import threading
import time
from typing import Callable, Optional, Tuple

from .call_ids import CallIds
from .env_names import (
    CONFIG_SNAPSHOT,
    PROXY_URL,
    SHIM_BODIES,
    SNAPSHOT_VERSION,
    USER_ANTHROPIC_BASE_URL,
    USER_OPENAI_BASE_URL,
)
from .failures import report_failure
from .lifecycle_events import program_name
from .telemetry_sender import TelemetrySender, process_sender

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .config import RouterConfig
    from .host_proxy import HostProxy
    from .llm_calls import LLMHosts
    from .responses_store import MemoryResponseStore
    from .telemetry import CallFields
    from .usage import Usage

__all__ = [
    "RECHECK_SECONDS", "InProcessHost", "RoutingState", "Runtime", "current_runtime", "host_proxy_from_environment",
    "load_snapshot", "reset_runtime", "use_in_process_host",
]

RECHECK_SECONDS = 1.0
Stamp = Tuple[int, int, int]  # (inode, size, mtime_ns) of the snapshot a configuration was read from

class Runtime:
    """What every shim transport needs, for one process.

    This module is imported with the transports (when the program imports an HTTP library), so
    the configuration, the host table and the telemetry schema are imported when a runtime is first
    built (the program's first HTTP request) or first reports a call, not before."""

    def __init__(
        self, config: RouterConfig, host_proxy: Optional[HostProxy], snapshot: Optional[str] = None,
        stamp: Optional[Stamp] = None, sender: Optional[TelemetrySender] = None,
    ) -> None:
        from .telemetry import EventHead, write_call_event

        self.pid = os.getpid()
        self.config = config
        self.host_proxy = host_proxy
        self.llm_hosts = _llm_hosts(config, host_proxy)
        self.snapshot = snapshot  # the file the configuration follows (None: fixed)
        self.stamp = stamp  # the version of it ``config`` was read from
        self.recheck_at = time.monotonic() + RECHECK_SECONDS
        self.program = program_name()
        # Looked up and written once per process, not per event (reading the environment, getppid and
        # writing these four fields cost ~2 µs of a call's telemetry budget). A runtime is per PID, so
        # a forked child gets its own. ppid is the parent that started this process, as the hello said,
        # also after a reparenting (to init, or a subreaper) that would say nothing about who called.
        self.sender: TelemetrySender = sender if sender is not None else process_sender()
        self._event_head = EventHead("shim", self.pid, os.getppid(), self.program)
        self._write_call_event = write_call_event
        self._call_ids = CallIds(hex_digits=24)  # 96 random bits: unguessable within a process's store
        self._routing: Optional[RoutingState] = None  # made on the first routed call (see routing_state)
        self._responses: Optional[MemoryResponseStore] = None
        self._responses_lock = threading.Lock()
        # router shim -vv (docs/operator-switches.md#bodies): read once; off, no call keeps a byte more.
        self.log_bodies = os.environ.get(SHIM_BODIES) == "1"

    @property
    def routing_state(self) -> RoutingState:
        """This process's cooldown book and random source (docs/routing.md#state-per-process): shared
        by every runtime of the process (a new configuration keeps them), a forked child's its own."""
        state = self._routing
        if state is None:
            with _lock:
                if self._routing is None:
                    self._routing = RoutingState(self.config)
                state = self._routing
        return state

    @property
    def responses(self) -> MemoryResponseStore:
        """The Responses calls this process answered, for ``previous_response_id`` and
        ``GET``/``DELETE /v1/responses/{id}``: the engine's in-process store, bounded by entries,
        bytes and age (docs/responses-api.md#state-previous_response_id). Created on first use; a
        forked child starts with an empty one (its parent's records stay the parent's)."""
        store = self._responses
        if store is None:
            with self._responses_lock:
                if self._responses is None:
                    from .responses_store import MemoryResponseStore

                    self._responses = MemoryResponseStore()
                store = self._responses
        return store

    @property
    def proxy_url(self) -> Optional[str]:
        """The host's proxy (``http://127.0.0.1:PORT``), or None when the host runs none."""
        return self.host_proxy.url if self.host_proxy else None

    @property
    def caller(self) -> str:
        """This process as the host's proxy should report it (``CALLER_HEADER``): a call handed to the
        proxy is still this process's call, not the host's."""
        import json

        from .telemetry import TEXT_LIMIT  # loaded already: __init__ imports the module

        head = self._event_head.fields
        return json.dumps({"pid": head["pid"], "ppid": head["ppid"], "program": head["program"][:TEXT_LIMIT]})

    def with_config(self, config: RouterConfig, stamp: Optional[Stamp]) -> Runtime:
        """This process's runtime with another configuration: same sender, event head and call ids."""
        successor = copy.copy(self)
        successor.config = config
        successor.llm_hosts = _llm_hosts(config, self.host_proxy)
        successor.stamp = stamp
        successor._routing = self.routing_state  # the backends' health outlives a configuration
        successor._routing.book.use_policy(config.cooldown)
        return successor

    def new_call_id(self) -> str:
        """A unique id for a call (translated responses are named after it)."""
        return self._call_ids.next()

    def report_call(self, call: CallFields, usage: Optional[Usage]) -> None:
        """Send one call event. Never raises."""
        try:
            sender = self.sender
            event = self._write_call_event(self._event_head, call, usage, sender.dropped)
            sender.send(event, carries_drop_count=True)
        except Exception as error:
            report_failure("telemetry event", error, once=True)


class RoutingState:
    """The backends' cooldown book and the random source of one process's routed calls."""

    def __init__(self, config: RouterConfig) -> None:
        import random

        from .cooldown import CooldownBook

        self.book = CooldownBook(config.cooldown)
        self.random = random.Random()


class InProcessHost:
    """What a host running *inside* this process hands the shim instead of the environment's files
    (library mode, ``router.activate()``): the configuration, the URL of its proxy for the aiohttp
    hand-off, and a factory of the sender call events go to. The factory is called again in a forked
    child, whose runtime is its own (the parent's sender may rely on threads the child does not have)."""

    def __init__(self, config: RouterConfig, proxy_url: Optional[str],
                 new_sender: Callable[[], TelemetrySender]) -> None:
        self.config = config
        self.proxy_url = proxy_url
        self.new_sender = new_sender


_lock = threading.Lock()
_runtime: Optional[Runtime] = None
_in_process_host: Optional[InProcessHost] = None


def use_in_process_host(host: Optional[InProcessHost]) -> None:
    """Take the configuration and the telemetry sender from ``host`` (None: from the environment
    again, as under ``router shim``); the next call builds a new runtime."""
    global _in_process_host
    with _lock:
        _in_process_host = host
    reset_runtime()


def current_runtime() -> Runtime:
    """This process's runtime, created on first use and again after a fork; a new one when the
    host replaced the snapshot (looked at once per :data:`RECHECK_SECONDS` at most)."""
    global _runtime
    runtime = _runtime
    if runtime is not None and runtime.pid == os.getpid():
        if time.monotonic() < runtime.recheck_at:
            return runtime
        return _rechecked(runtime)
    with _lock:
        if _runtime is None or _runtime.pid != os.getpid():
            _runtime = _new_runtime(_runtime)
        return _runtime


def _rechecked(runtime: Runtime) -> Runtime:
    """``runtime``, or its successor when the snapshot changed since it was read."""
    global _runtime
    with _lock:
        current = _runtime if _runtime is not None and _runtime.pid == runtime.pid else runtime
        current.recheck_at = time.monotonic() + RECHECK_SECONDS
        if current.snapshot is None:
            return current
        try:
            seen = _stamp(os.stat(current.snapshot))
        except OSError:  # gone (the host ended before this process): keep what we have
            return current
        if seen != current.stamp:
            config, stamp = _read_snapshot(current.snapshot)
            if config is None:  # reported once; this version is not read again
                current.stamp = seen
            else:
                current = _runtime = current.with_config(config, stamp)
        return current


def reset_runtime() -> None:
    """Forget the state (deactivation, tests): the next use loads the snapshot again."""
    global _runtime
    with _lock:
        _runtime = None


def _new_runtime(parent: Optional[Runtime]) -> Runtime:
    host = _in_process_host
    if host is not None:
        # No snapshot: a fixed configuration. Its proxy serves only the aiohttp hand-off (no base URL
        # points programs at it), so no user base URL is known for unrouted calls.
        from .host_proxy import HostProxy

        proxy = HostProxy(host.proxy_url, {}) if host.proxy_url else None
        return Runtime(host.config, proxy, sender=host.new_sender())
    if parent is not None:  # forked: the parent's configuration is ours too (the fork hook said hello)
        return Runtime(parent.config, parent.host_proxy, parent.snapshot, parent.stamp)
    path = os.environ.get(CONFIG_SNAPSHOT) or None
    config, stamp = _read_snapshot(path)
    config = config if config is not None else _empty_config()
    return Runtime(config, host_proxy_from_environment(), path, stamp)


def host_proxy_from_environment() -> Optional[HostProxy]:
    """The host's proxy as ``router shim`` described it in this process's environment, or None."""
    url = os.environ.get(PROXY_URL)
    if not url:
        return None
    from .host_proxy import HostProxy
    from .protocols import ANTHROPIC, OPENAI

    user_base_urls = {OPENAI: os.environ.get(USER_OPENAI_BASE_URL, ""),
                      ANTHROPIC: os.environ.get(USER_ANTHROPIC_BASE_URL, "")}
    return HostProxy(url, user_base_urls)


def _llm_hosts(config: RouterConfig, host_proxy: Optional[HostProxy]) -> LLMHosts:
    """The configured backends' hosts, and the host's proxy: the base URLs the host sets for the tree
    point there, and a call this process makes to it is routed here, not sent on an extra hop
    (docs/shim-process-tree.md)."""
    from .llm_calls import LLMHosts

    urls = [backend.base_url for backend in config.backends.values()]
    return LLMHosts([*urls, host_proxy.url] if host_proxy else urls)


def load_snapshot(path: Optional[str]) -> RouterConfig:
    """The configuration in the host's snapshot file; an empty one (nothing routed) on any problem."""
    config, _ = _read_snapshot(path)
    return config if config is not None else _empty_config()


def _read_snapshot(path: Optional[str]) -> Tuple[Optional[RouterConfig], Optional[Stamp]]:
    """The configuration in the snapshot and the version of the file it came from (``fstat`` of the
    file read, so the two always match); ``(None, None)`` on any problem, which is reported.

    The snapshot as it is now when it can be read; else (the host has ended and its snapshot with it:
    docs/secrets.md#the-run-directory) the copy this process read when it started."""
    import json

    from .config import RouterConfig

    if not path:
        return None, None
    try:
        try:
            with open(path, "rb") as snapshot:
                stamp = _stamp(os.fstat(snapshot.fileno()))
                raw = snapshot.read()
        except OSError:
            from .bootstrap import early_snapshot

            early = early_snapshot(path)
            if early is None:
                raise
            raw, stamp = early
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("version") != SNAPSHOT_VERSION:
            report_failure("config snapshot", detail="unknown snapshot version")
            return None, None
        return RouterConfig.from_dict(data.get("config", {})), stamp
    except Exception as error:
        # ConfigError messages name fields, never values; other errors are reported by class only.
        detail = str(error) if type(error).__name__ == "ConfigError" else ""
        report_failure("config snapshot", error, detail=detail)
        return None, None


def _empty_config() -> RouterConfig:
    from .config import RouterConfig

    return RouterConfig()


def _stamp(info: os.stat_result) -> Stamp:
    return info.st_ino, info.st_size, info.st_mtime_ns

