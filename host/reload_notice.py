"""After a CLI edit: make running proxies look at the files now, and say whether they took the change.

The CLI knows the fingerprint of the files it just wrote (:func:`~host.config_source.current_fingerprint`);
each running proxy's registry entry says the fingerprint it serves, or the one it refused and why.
So the CLI signals every live entry's process (``SIGUSR1``: "check now"; without it the proxy
would still notice within a second) and re-reads the entries until each one confirms, refuses, or
:data:`CONFIRM_SECONDS` pass (docs/configuration.md#what-the-cli-says).
"""

import os
import signal
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

from .config_source import current_fingerprint
from .proxy_registry import ProxyRecord, live_records, read_record

__all__ = ["CONFIRM_SECONDS", "ProxyAnswer", "notify_running_proxies"]

CONFIRM_SECONDS = 2.0
_RECHECK_SECONDS = 0.02
_RELOAD_SIGNAL = getattr(signal, "SIGUSR1", None)


@dataclass(frozen=True)
class ProxyAnswer:
    """How one running process answered. ``outcome``: ``"confirmed"``, ``"refused"``, ``"gone"``, ``"silent"``."""

    record: ProxyRecord
    outcome: str

    def line(self) -> str:
        where = _where(self.record)
        if self.outcome == "confirmed":
            return f"{where} picked this up (configuration generation {self.record.generation})"
        if self.outcome == "refused":
            return (f"{where} did not take this change and keeps serving the previous configuration: "
                    f"{self.record.rejected_problem}")
        if self.outcome == "gone":
            return f"{where} stopped before it confirmed"
        return (f"{where} (pid {self.record.pid}) did not confirm within {CONFIRM_SECONDS:g} s; it rereads the "
                f"files every second, see its output")


def _where(record: ProxyRecord) -> str:
    if record.kind == "shim":
        return f"the running `router shim` (pid {record.pid})"
    return f"the running proxy on :{record.port}"


def notify_running_proxies(
    clock: Callable[[], float] = time.monotonic, pause: Callable[[float], None] = time.sleep
) -> Optional[List[ProxyAnswer]]:
    """Signal and wait for every running proxy; None when none runs."""
    expected = current_fingerprint()
    records = live_records()
    if not records:
        return None
    for record in records:
        _signal(record)
    pending: Dict[str, ProxyRecord] = {str(record.path): record for record in records}
    answers: List[ProxyAnswer] = []
    deadline = clock() + CONFIRM_SECONDS
    while pending:
        for key, record in list(pending.items()):
            answer = _answer(record, read_record(record.path), expected)
            if answer is not None:
                answers.append(answer)
                del pending[key]
        if not pending or clock() >= deadline:
            break
        pause(_RECHECK_SECONDS)  # a bounded poll of a few small files, in a short-lived CLI process
    answers.extend(ProxyAnswer(record, "silent") for record in pending.values())
    return sorted(answers, key=lambda answer: (answer.record.port, answer.record.pid))


def _answer(before: ProxyRecord, now: Optional[ProxyRecord], expected: str) -> Optional[ProxyAnswer]:
    if now is None:
        return ProxyAnswer(before, "gone")
    if now.fingerprint == expected:
        return ProxyAnswer(now, "confirmed")
    if now.rejected_fingerprint == expected:
        return ProxyAnswer(now, "refused")
    return None


def _signal(record: ProxyRecord) -> None:
    """Ask for a check now, if the process says it takes the signal (to any other, SIGUSR1 would be
    fatal). The pid is the live owner's: its registry lock is held (see the registry)."""
    if _RELOAD_SIGNAL is None or not record.reload_signal:
        return
    try:
        os.kill(record.pid, _RELOAD_SIGNAL)
    except (ProcessLookupError, PermissionError):
        pass  # it just ended (the next read says so), or is not ours to signal (it still polls)
