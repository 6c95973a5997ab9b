"""Per-process state of a shimmed program: the configuration, the LLM hosts, the telemetry sender.

Loaded lazily (the first time a patched library needs it, never during start-up) and PID-aware:
after ``fork`` the child gets its own :class:`Runtime` — same configuration (the snapshot file may
be gone by then), a new sender, a new hello — because the parent's socket and counters are not
its own (docs/shim.md#subprocesses-and-fork).
"""

from __future__ import annotations  # RouterConfig is imported lazily (see load_snapshot)

import os
import threading
from typing import Optional

from .call_ids import CallIds
from .env_names import CONFIG_SNAPSHOT, PROXY_URL, SNAPSHOT_VERSION, USER_ANTHROPIC_BASE_URL, USER_OPENAI_BASE_URL
from .failures import report_failure
from .lifecycle_events import program_name
from .telemetry_sender import TelemetrySender, process_sender

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .config import RouterConfig
    from .host_proxy import HostProxy
    from .telemetry import CallFields
    from .usage import Usage

__all__ = ["Runtime", "current_runtime", "host_proxy_from_environment", "load_snapshot", "reset_runtime"]

class Runtime:
    """What every shim transport needs, for one process.

    This module is imported with the transports (when the program imports an HTTP library), so
    the configuration, the host table and the telemetry schema are imported when a runtime is first
    built (the program's first HTTP request) or first reports a call, not before."""

    def __init__(self, config: RouterConfig, host_proxy: Optional[HostProxy]) -> None:
        from .llm_calls import LLMHosts
        from .telemetry import EventHead, write_call_event

        self.pid = os.getpid()
        self.config = config
        # The host's proxy is an LLM host too: the base URLs the host sets for the tree point there,
        # and a call this process makes to it is routed here, not sent on an extra hop
        # (docs/shim-process-tree.md).
        urls = [backend.base_url for backend in config.backends.values()]
        self.llm_hosts = LLMHosts([*urls, host_proxy.url] if host_proxy else urls)
        self.host_proxy = host_proxy
        self.program = program_name()
        # Looked up and written once per process, not per event (reading the environment, getppid and
        # writing these four fields cost ~2 µs of a call's telemetry budget). A runtime is per PID, so
        # a forked child gets its own. ppid is the parent that started this process, as the hello said,
        # also after a reparenting (to init, or a subreaper) that would say nothing about who called.
        self.sender: TelemetrySender = process_sender()
        self._event_head = EventHead("shim", self.pid, os.getppid(), self.program)
        self._write_call_event = write_call_event
        self._call_ids = CallIds(counter_digits=8)  # per process: a forked child gets its own

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


_lock = threading.Lock()
_runtime: Optional[Runtime] = None


def current_runtime() -> Runtime:
    """This process's runtime, created on first use and again after a fork."""
    global _runtime
    runtime = _runtime
    if runtime is not None and runtime.pid == os.getpid():
        return runtime
    with _lock:
        if _runtime is None or _runtime.pid != os.getpid():
            _runtime = _new_runtime(_runtime)
        return _runtime


def reset_runtime() -> None:
    """Forget the state (deactivation, tests): the next use loads the snapshot again."""
    global _runtime
    with _lock:
        _runtime = None


def _new_runtime(parent: Optional[Runtime]) -> Runtime:
    if parent is not None:  # forked: the parent's configuration is ours too (the fork hook said hello)
        return Runtime(parent.config, parent.host_proxy)
    return Runtime(load_snapshot(os.environ.get(CONFIG_SNAPSHOT)), host_proxy_from_environment())


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


def load_snapshot(path: Optional[str]) -> RouterConfig:
    """The configuration in the host's snapshot file; an empty one (nothing routed) on any problem."""
    import json

    from .config import RouterConfig

    if not path:
        return RouterConfig()
    try:
        with open(path, "rb") as snapshot:
            data = json.loads(snapshot.read())
        if not isinstance(data, dict) or data.get("version") != SNAPSHOT_VERSION:
            report_failure("config snapshot", detail="unknown snapshot version")
            return RouterConfig()
        return RouterConfig.from_dict(data.get("config", {}))
    except Exception as error:
        # ConfigError messages name fields, never values; other errors are reported by class only.
        detail = str(error) if type(error).__name__ == "ConfigError" else ""
        report_failure("config snapshot", error, detail=detail)
        return RouterConfig()

