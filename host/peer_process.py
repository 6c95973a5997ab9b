"""Which local process is at the other end of a loopback TCP connection (Linux ``/proc``).

The proxy ``router shim`` runs serves the tree's processes that are not Python (the ``claude`` CLI,
``codex``, Node tools, ``curl``): they send no caller header, so the summary would only know "some
process". On Linux the kernel says who it was: ``/proc/net/tcp`` (and ``tcp6``) lists every socket
with its local and remote port and its inode (proc(5), "/proc/net/tcp"), and ``/proc/PID/fd/N`` of
the owner links to ``socket:[INODE]``. Only the descendants of this process are searched (``ppid``
from ``/proc/PID/stat``): the peer is in the tree the host started, and that keeps the search to a
few processes. It costs a few milliseconds once per connection, then a look at one process's
descriptors per call; elsewhere than Linux, or when anything is unreadable, the answer is None.
See docs/shim-process-tree.md#telemetry.
"""

import os
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple

__all__ = ["PeerFinder", "PeerProcess"]

_PROC = "/proc"
_TCP_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
_REMEMBERED = 256  # connections remembered; a long run with many connections starts again


@dataclass(frozen=True)
class PeerProcess:
    pid: int
    ppid: int
    program: str  # argv[0]'s base name, and the script for an interpreter (``node cli.js``)


class PeerFinder:
    """``find(client_port, server_port)``: the process of this one's tree that holds the client end."""

    def __init__(self, root_pid: int) -> None:
        self._root_pid = root_pid
        self._known: Dict[int, Tuple[PeerProcess, str]] = {}  # client port → (its process, "socket:[INODE]")

    def find(self, client_port: int, server_port: int) -> Optional[PeerProcess]:
        """Never raises. Blocking (file reads under /proc): call it off an event loop. A connection's
        later calls cost a look at its process's descriptors only, to make sure the port still
        belongs to that socket (a closed connection's port can be handed out again)."""
        try:
            known = self._known.get(client_port)
            if known is not None and _holds(known[0].pid, known[1]):
                return known[0]
            found = self._search(client_port, server_port)
        except Exception:  # /proc missing or unreadable: nothing to say
            return None
        if found is None:
            return None
        if len(self._known) >= _REMEMBERED:
            self._known.clear()
        self._known[client_port] = found
        return found[0]

    def _search(self, client_port: int, server_port: int) -> Optional[Tuple[PeerProcess, str]]:
        inode = _socket_inode(client_port, server_port)
        if inode is None:
            return None
        link = f"socket:[{inode}]"
        parents = _parents()
        for pid in _descendants(self._root_pid, parents):
            if _holds(pid, link):
                return PeerProcess(pid, parents.get(pid, 0), _program(pid)), link
        return None


def _socket_inode(local_port: int, remote_port: int) -> Optional[str]:
    """The inode of the socket whose local port is ``local_port`` and remote port ``remote_port``."""
    wanted_local, wanted_remote = f":{local_port:04X}", f":{remote_port:04X}"
    for table in _TCP_TABLES:
        try:
            with open(table) as handle:
                lines = handle.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()  # sl local rem st tx:rx tr:when retrnsmt uid timeout inode …
            if len(fields) > 9 and fields[1].endswith(wanted_local) and fields[2].endswith(wanted_remote):
                return fields[9]
    return None


def _parents() -> Dict[int, int]:
    """pid → ppid for every process (the 4th field of /proc/PID/stat, after the parenthesised name)."""
    parents: Dict[int, int] = {}
    for entry in os.listdir(_PROC):
        if not entry.isdigit():
            continue
        try:
            with open(f"{_PROC}/{entry}/stat", "rb") as handle:
                stat = handle.read()
            parents[int(entry)] = int(stat[stat.rindex(b")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # it ended meanwhile
    return parents


def _descendants(root: int, parents: Dict[int, int]) -> Iterator[int]:
    children: Dict[int, List[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    pending = list(children.get(root, ()))
    while pending:
        pid = pending.pop()
        yield pid
        pending.extend(children.get(pid, ()))


def _holds(pid: int, link: str) -> bool:
    directory = f"{_PROC}/{pid}/fd"
    try:
        names = os.listdir(directory)
    except OSError:
        return False
    for name in names:
        try:
            if os.readlink(f"{directory}/{name}") == link:
                return True
        except OSError:
            continue
    return False


_INTERPRETERS = ("node", "bun", "deno", "python", "pypy", "ruby", "perl", "sh", "bash")
_INLINE_CODE = frozenset({"-c", "-e", "--eval", "-p", "--print"})  # the program is text, not a file


def _program(pid: int) -> str:
    """``claude``, ``curl``, or ``node cli.js`` for an interpreter running a script."""
    try:
        with open(f"{_PROC}/{pid}/cmdline", "rb") as handle:
            argv = [part.decode("utf-8", "replace") for part in handle.read().split(b"\0") if part]
    except OSError:
        return ""
    if not argv:
        return ""
    name = os.path.basename(argv[0])
    if not name.startswith(_INTERPRETERS):
        return name
    for argument in argv[1:]:
        if argument in _INLINE_CODE:
            return name
        if not argument.startswith("-"):
            return f"{name} {os.path.basename(argument)}"
    return name
