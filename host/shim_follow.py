"""How a ``router shim`` run follows the configuration files while its program runs
(docs/configuration.md#shimmed-programs).

A thread of the host looks at the files once a second (:class:`~host.config_source.ConfigWatcher`).
A change that loads is handed to the run's proxy (for non-Python children and aiohttp hand-offs)
and written over the run's snapshot, atomically and 0600, which the shimmed Python processes look
at, at most once a second, on their next call (``shim/runtime.py``). A change that does not load
leaves everything as it was and is said once on stderr. The run's registry entry says which
version of the files it serves, so ``router route add`` … can confirm it like a ``router proxy``.

The host does not take the reload signal: its main thread waits on the child with the forwarded
signals blocked (see :mod:`host.launcher`), and an unexpected ``SIGUSR1`` would end it. Its entry
says so and the CLI waits for the next poll instead.
"""

import threading
from typing import Callable, Dict, Optional

from .config_source import ConfigReloaded, ConfigWatcher, ReloadOutcome
from .log_text import PROBLEM_LIMIT, printable
from .proxy_registry import Registration
from .run_dir import RunDir
from .shim_proxy import BackgroundProxy

__all__ = ["POLL_SECONDS", "ShimConfigFollower"]

POLL_SECONDS = 1.0
_STOP_SECONDS = 2.0


class ShimConfigFollower:
    """``start()`` after the snapshot and the proxy exist; ``stop()`` before they go."""

    def __init__(
        self, watcher: ConfigWatcher, run: RunDir, proxy: BackgroundProxy, registration: Optional[Registration],
        say: Callable[[str], None], verbose: bool,
    ) -> None:
        self._watcher = watcher
        self._run = run
        self._proxy = proxy
        self._registration = registration
        self._say = say
        self._verbose = verbose
        self._generation = 1
        self._serving = watcher.fingerprint
        self._rejected: Optional[Dict[str, str]] = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="router-shim-config", daemon=True)

    def start(self) -> "ShimConfigFollower":
        self._publish()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(_STOP_SECONDS)
        if self._registration is not None:
            self._registration.remove()

    def _follow(self) -> None:
        while not self._stopping.wait(POLL_SECONDS):
            try:
                outcome = self._watcher.poll()
                if outcome is not None:
                    self._apply(outcome)
            except Exception as exc:  # the program runs on with the configuration it has
                self._say(f"router shim: warning: cannot follow configuration changes ({type(exc).__name__}: {exc})")
                return

    def _apply(self, outcome: ReloadOutcome) -> None:
        if isinstance(outcome, ConfigReloaded):
            config = outcome.loaded.config
            self._run.replace_snapshot(config)
            self._proxy.adopt_config(config, outcome.fingerprint)
            self._generation += 1
            self._serving, self._rejected = outcome.fingerprint, None
            if self._verbose:
                self._say(f"router shim: configuration reloaded: generation {self._generation}")
        else:
            self._rejected = {"fingerprint": outcome.fingerprint, "problem": outcome.problem}
            problem = printable(outcome.problem, PROBLEM_LIMIT)
            self._say(f"router shim: configuration not reloaded, the program keeps the previous one: {problem}")
        self._publish()

    def _publish(self) -> None:
        if self._registration is None:
            return
        try:
            self._registration.publish(self._generation, self._serving, self._rejected, reload_signal=False)
        except OSError:
            self._registration = None  # no confirmation for the CLI; the run itself goes on
