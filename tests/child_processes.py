"""What tests see of the processes a process started, from ``/proc`` (Linux)."""

import os
import time
from typing import Callable, List, Tuple

__all__ = ["WAIT_SECONDS", "children", "ended", "wait_until"]

WAIT_SECONDS = 30.0  # the longest a test waits for a process to start, answer or end


def _stat_fields(pid: int) -> List[str]:
    """``/proc/PID/stat`` after the command name (which may hold spaces): state, parent, …"""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def children(pid: int) -> List[Tuple[int, str]]:
    """The processes whose parent is ``pid``, with their state (``Z``: ended, not reaped)."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = _stat_fields(int(entry))
        except (FileNotFoundError, ProcessLookupError):  # it ended while we looked
            continue
        if int(fields[1]) == pid:
            found.append((int(entry), fields[0]))
    return found


def ended(pid: int) -> bool:
    """The process is gone, or a zombie its parent has not reaped (then it holds nothing but its id)."""
    try:
        return _stat_fields(pid)[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS) -> None:
    """Poll ``condition`` (what a test waits for has no signal to wait on) until true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what}"
        time.sleep(0.02)
