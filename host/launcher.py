"""Start CMD exactly as a shell would, forward signals to it, and report its exit status.

The child inherits stdin, stdout, stderr, the controlling terminal and the process group, so it
behaves as it does without ``router shim`` (a ``Ctrl-C`` typed at the terminal reaches it directly).
The host forwards ``SIGINT``/``SIGTERM``/``SIGHUP`` that *a process* sent to the host (``kill``,
``timeout``, a supervisor), but not those the terminal driver already delivered to the whole
foreground process group — forwarding those would hit the child twice (e.g. a second
``KeyboardInterrupt`` inside its clean-up).

Telling the two apart needs ``siginfo.si_code`` (``<= 0``: sent by a process; ``> 0``: by the
kernel), which only ``sigtimedwait`` gives. So :class:`SignalGate` blocks those signals in the host
*before any thread starts* (threads inherit the mask), the child is spawned with the original mask
(``posix_spawn(setsigmask=…)``), and the main thread waits with ``sigtimedwait``. Where that call
does not exist (macOS), a plain handler forwards every signal except a terminal ``SIGINT``.

Exit code: the child's, or ``128 + N`` when it died of signal N (the shell convention).
"""

import os
import signal
import sys
from types import FrameType, TracebackType
from typing import Dict, Mapping, Optional, Sequence, Set, Type

__all__ = ["FORWARDED_SIGNALS", "CommandNotRunnable", "SignalGate", "exit_code_for_status"]

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# What subprocess.Popen(restore_signals=True) restores: Python itself ignores these at start-up.
_RESET_IN_CHILD = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ") if hasattr(signal, name))
_WAIT_SLICE_SECONDS = 0.5
_HAS_SIGWAIT = hasattr(signal, "sigtimedwait") and hasattr(signal, "pthread_sigmask")


class CommandNotRunnable(Exception):
    """CMD could not be started; ``exit_code`` follows the shell (127 not found, 126 not executable)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def exit_code_for_status(status: int) -> int:
    """A ``waitpid`` status as a shell exit code: the code, or 128+N after death by signal N."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


class SignalGate:
    """Enter before starting any thread; :meth:`run` spawns CMD and waits for it."""

    def __init__(self) -> None:
        self._original_mask: Set[signal.Signals] = set()
        self._blocked = False

    def __enter__(self) -> "SignalGate":
        if _HAS_SIGWAIT:
            watched = {*FORWARDED_SIGNALS, signal.SIGCHLD}
            self._original_mask = set(signal.pthread_sigmask(signal.SIG_BLOCK, watched))  # type: ignore[arg-type]
            self._blocked = True
        return self

    def __exit__(
        self, kind: Optional[Type[BaseException]], value: Optional[BaseException], trace: Optional[TracebackType]
    ) -> None:
        if self._blocked:
            # Signals that came after the child ended were meant for it, not for us: drop them.
            while signal.sigtimedwait({*FORWARDED_SIGNALS, signal.SIGCHLD}, 0) is not None:
                pass
            signal.pthread_sigmask(signal.SIG_SETMASK, self._original_mask)
            self._blocked = False

    def run(self, argv: Sequence[str], env: Mapping[str, str]) -> int:
        """Run ``argv`` with ``env``; the exit code as a shell reports it."""
        pid = _spawn(argv, env, self._original_mask)
        if self._blocked:
            return _wait_with_sigwait(pid)
        return _wait_with_handlers(pid)


def _spawn(argv: Sequence[str], env: Mapping[str, str], child_mask: Set[signal.Signals]) -> int:
    try:
        return os.posix_spawnp(argv[0], list(argv), dict(env), setsigmask=child_mask, setsigdef=_RESET_IN_CHILD)
    except FileNotFoundError:
        raise CommandNotRunnable(f"{argv[0]}: command not found", 127) from None
    except PermissionError:
        raise CommandNotRunnable(f"{argv[0]}: permission denied", 126) from None
    except OSError as exc:
        raise CommandNotRunnable(f"{argv[0]}: {exc.strerror or exc}", 126) from None


def _reap(pid: int) -> Optional[int]:
    """The exit code if the child has ended, else None."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return 0
    return exit_code_for_status(status) if done == pid else None


def _wait_with_sigwait(pid: int) -> int:
    watched = {*FORWARDED_SIGNALS, signal.SIGCHLD}
    while True:
        code = _reap(pid)
        if code is not None:
            return code
        info = signal.sigtimedwait(watched, _WAIT_SLICE_SECONDS)
        if info is not None and info.si_signo in FORWARDED_SIGNALS and info.si_code <= 0:
            _forward(pid, info.si_signo)  # si_code > 0: the terminal sent it to the child as well


def _wait_with_handlers(pid: int) -> int:
    """Fallback without sigtimedwait: forward from a handler; skip a terminal's Ctrl-C."""
    previous: Dict[int, object] = {}

    def forward(number: int, frame: Optional[FrameType]) -> None:
        if number != signal.SIGINT or not _child_shares_foreground_terminal():
            _forward(pid, number)

    for forwarded in FORWARDED_SIGNALS:
        previous[forwarded] = signal.signal(forwarded, forward)
    try:
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                return exit_code_for_status(status)
            except InterruptedError:  # pragma: no cover - PEP 475 retries for us
                continue
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)  # type: ignore[arg-type]


def _child_shares_foreground_terminal() -> bool:
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


def _forward(pid: int, number: int) -> None:
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        pass  # it just ended; the next reap sees it
