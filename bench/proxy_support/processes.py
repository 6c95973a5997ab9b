"""Start, watch and stop the processes the bench runs: pinned to a core, each in its own group.

Every process is started in a new session (``start_new_session``), so stopping it kills its whole
process group (LiteLLM's and Node's workers included) and nothing else. RSS is the sum of
``VmRSS`` over every live process of the group, read from ``/proc``.
"""

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

__all__ = [
    "ManagedProcess",
    "child_pids",
    "free_port",
    "group_cpu_seconds",
    "group_rss_kib",
    "pinned",
    "rss_kib",
    "start_process",
    "wait_for_port",
]


def pinned(core: int, argv: Sequence[str]) -> List[str]:
    """``argv`` run under ``taskset -c core`` (unpinned when taskset is missing)."""
    taskset = shutil.which("taskset")
    return [taskset, "-c", str(core), *argv] if taskset else list(argv)


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (the OS picks it; there is a small race, fine for a bench)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float, process: Optional[subprocess.Popen[bytes]] = None) -> bool:
    """Wait until 127.0.0.1:port accepts connections; False on timeout or if ``process`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def _pids_whose(field_index: int, value: int) -> List[int]:
    """The live processes whose ``/proc/PID/stat`` field ``field_index`` (counted after the command
    name, which may contain spaces: 1 the parent, 2 the group) is ``value``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it ended meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if len(fields) > field_index and int(fields[field_index]) == value:
            pids.append(int(entry.name))
    return pids


def _group_pids(pgid: int) -> List[int]:
    return _pids_whose(2, pgid)


def child_pids(pid: int) -> List[int]:
    """The live processes ``pid`` started (zombies included until it reaps them)."""
    return _pids_whose(1, pid)


def rss_kib(pid: int) -> int:
    """``VmRSS`` of ``pid``; 0 once it has ended (or is a zombie)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15 of stat)


def group_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) used so far by the live processes of group ``pgid``."""
    return sum(_cpu_ticks(pid) for pid in _group_pids(pgid)) / os.sysconf("SC_CLK_TCK")


def group_rss_kib(pgid: int) -> int:
    """Total resident memory (KiB) of every process in group ``pgid`` (children included).

    ``taskset`` execs its command, so the group is the server and whatever it forked.
    """
    return sum(rss_kib(pid) for pid in _group_pids(pgid))


@dataclass
class ManagedProcess:
    """A started process group with its log file; :meth:`stop` kills the whole group."""

    name: str
    popen: "subprocess.Popen[bytes]"
    log_path: Path
    extra: Dict[str, str] = field(default_factory=dict)

    @property
    def pgid(self) -> int:
        return self.popen.pid  # start_new_session: the leader's pid is the group id

    def alive(self) -> bool:
        return self.popen.poll() is None

    def rss_kib(self) -> int:
        return group_rss_kib(self.pgid)

    def cpu_seconds(self) -> float:
        return group_cpu_seconds(self.pgid)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the group, then SIGKILL whatever is left after ``grace`` seconds."""
        for signum, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
            try:
                os.killpg(self.pgid, signum)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and _group_pids(self.pgid):
                self.popen.poll()  # reap the leader so it does not linger as a zombie
                time.sleep(0.05)
            if not _group_pids(self.pgid):
                break
        self.popen.poll()


def start_process(
    name: str,
    argv: Sequence[str],
    log_dir: Path,
    env: Optional[Dict[str, str]] = None,
    cwd: Optional[Path] = None,
) -> ManagedProcess:
    """Start ``argv`` in a new session with stdout+stderr to ``log_dir/name.log``."""
    log_path = log_dir / f"{name}.log"
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    return ManagedProcess(name, popen, log_path)
