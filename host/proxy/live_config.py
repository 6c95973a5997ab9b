"""How ``router proxy`` follows its configuration files while it serves (docs/configuration.md#live-reload).

Once a second, on the event loop, :class:`~host.config_source.ConfigWatcher` compares the files'
``stat`` with what was loaded (two system calls; no thread, no dependency, nothing on the request
path). ``SIGUSR1`` asks for the same check at once: the CLI sends it after an edit so the change is
served within milliseconds rather than within the second. A change that loads becomes the next
configuration generation (:meth:`ProxyState.adopt`); one that does not leaves the current one
serving. Either way one line goes to stderr and the registry entry says which generation serves
and what was refused, which is what the CLI waits for.
"""

import asyncio
import sys
import time
from typing import Dict, Optional, TextIO

from ..config_source import ConfigReloaded, ConfigWatcher, ReloadOutcome
from ..log_text import PROBLEM_LIMIT, printable
from ..proxy_registry import Registration
from .state import ProxyState

__all__ = ["POLL_SECONDS", "LiveConfig"]

POLL_SECONDS = 1.0


class LiveConfig:
    """Started at lifespan start-up (on the loop), stopped at shutdown. Never raises into the loop."""

    def __init__(
        self, watcher: ConfigWatcher, registration: Optional[Registration], *, reload_signal: bool,
        log: TextIO = sys.stderr,
    ) -> None:
        self._watcher = watcher
        self._registration = registration
        self._reload_signal = reload_signal  # the process calls check_soon on SIGUSR1 (the registry says so)
        self._log = log
        self._state: Optional[ProxyState] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._timer: Optional[asyncio.TimerHandle] = None
        self._rejected: Optional[Dict[str, str]] = None  # {"fingerprint", "problem"} of the newest refused files
        self.checked_at = 0.0  # wall-clock time of the last look at the files (/health shows it: the watch is alive)

    def start(self, state: ProxyState) -> None:
        self._state = state
        self._loop = asyncio.get_running_loop()
        self._publish()
        self._timer = self._loop.call_later(POLL_SECONDS, self._tick)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._loop = None
        if self._registration is not None:
            self._registration.remove()

    def check_soon(self) -> None:
        """Look at the files now rather than at the next tick. Safe from a signal handler or a thread."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.check)

    def check(self) -> None:
        """One look at the files; apply what changed."""
        if self._state is None or self._loop is None:
            return
        outcome = self._watcher.poll()
        self.checked_at = time.time()
        if outcome is not None:
            self._apply(self._state, outcome)

    def _tick(self) -> None:
        try:
            self.check()
        finally:
            if self._loop is not None:
                self._timer = self._loop.call_later(POLL_SECONDS, self._tick)

    def _apply(self, state: ProxyState, outcome: ReloadOutcome) -> None:
        if isinstance(outcome, ConfigReloaded):
            generation = state.adopt(outcome.loaded.config, outcome.fingerprint)
            self._rejected = None
            backends = ", ".join(map(printable, generation.config.backends)) or "none"
            self._say(f"configuration reloaded: generation {generation.number} serves new calls (backends: {backends})")
        else:
            self._rejected = {"fingerprint": outcome.fingerprint, "problem": outcome.problem}
            self._say(f"configuration not reloaded, generation {state.generation.number} keeps serving: "
                      f"{printable(outcome.problem, PROBLEM_LIMIT)}")
        self._publish()

    def _publish(self) -> None:
        if self._registration is None or self._state is None:
            return
        generation = self._state.generation
        try:
            self._registration.publish(
                generation.number, generation.fingerprint, self._rejected, reload_signal=self._reload_signal
            )
        except OSError as exc:  # the proxy serves on; only the CLI's confirmation is lost
            self._say(f"cannot update {self._registration.path}: {exc.strerror or exc}")

    def _say(self, line: str) -> None:
        self._log.write(f"router proxy: {line}\n")
        self._log.flush()
