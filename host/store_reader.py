"""``router proxy``'s reads of its telemetry store, in a process of their own that lives while reads come
(docs/telemetry-bounds.md#reads-in-a-process-of-their-own).

A read of a big window allocates megabytes (SQLite's sort and page cache, the rows, the answer) and
frees them; the allocator keeps some of those pages mapped for as long as the process lives, pinned
by a few blocks still in use. In the proxy that stayed after a client's burst of ``/stats`` requests;
in a process of its own it goes when the process ends, :data:`IDLE_SECONDS` after the last read.

Parent side :class:`ReaderProcess`, child side :func:`main`. Frames are one JSON object per line: the
proxy writes ``{"read": NAME, "params": {...}}`` and waits for ``{"answer": {...}}`` or
``{"failed": "TypeName"}``, one read at a time. The child ends when its stdin closes — the proxy closes
it when idle or at shutdown, and the system closes it when the proxy dies however it dies — so no
reading process outlives its proxy. It runs in its own session (the terminal's Ctrl-C is the proxy's
to handle), with an environment that holds no key (it needs none: it reads one file).
"""

import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Dict, List, Mapping, Optional, Sequence

from .store_reads import Answer, InProcessReads, StoreReadFailed, StoreReads, run_read

__all__ = ["IDLE_SECONDS", "READ_TIMEOUT_SECONDS", "ReaderProcess", "main", "store_reads"]

IDLE_SECONDS = 10.0  # the dashboard asks every 0.5 s: an open page keeps one process, not one a read
READ_TIMEOUT_SECONDS = 120.0  # a week's summary of a million calls takes tens of seconds
ANSWER_LIMIT_BYTES = 64 << 20  # far above any answer (groups are capped); a bound on a broken child
# A read is a page's refresh; a call is someone waiting. Where cores are few, the system runs the
# proxy's calls before a read (the reader's own process: the proxy's priority is left as it is).
READER_NICENESS = 10
_STOP_SECONDS = 5.0  # a child told to stop (stdin closed) that has not ended by then is killed
# What a reading process keeps of the proxy's environment: where programs and locales are, and the
# time zone (``by=day`` groups by local day). Nothing else: the proxy's may hold provider keys.
_KEPT_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "LC_TIME", "TZ", "TMPDIR")
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)  # where ``host`` is imported from
# -I: no PYTHON* variables, no user site; the package found where this proxy found it.
_CHILD_CODE = ("import sys; sys.path.insert(0, sys.argv.pop(1)); "
               "from host.store_reader import main; main(sys.argv[1:])")


class ReaderProcess:
    """Reads of the store at ``home``, in a child process started by the first read and stopped
    ``idle_seconds`` after the latest. Thread-safe; one read at a time."""

    def __init__(self, home: Path, idle_seconds: float = IDLE_SECONDS,
                 read_timeout: float = READ_TIMEOUT_SECONDS) -> None:
        self.home = home
        self._idle_seconds = idle_seconds
        self.read_timeout = read_timeout  # seconds a read's answer may take (changeable between reads)
        self._lock = threading.Lock()
        self._child: Optional[subprocess.Popen[bytes]] = None
        self._reads = 0  # reads asked so far: a stop scheduled before the latest read is void
        self._idle_timer: Optional[threading.Timer] = None
        self._closed = False

    @property
    def pid(self) -> Optional[int]:
        """The reading process's id while there is one."""
        child = self._child
        return child.pid if child is not None else None

    def read(self, name: str, params: Mapping[str, Any]) -> Answer:
        request = json.dumps({"read": name, "params": dict(params)}).encode() + b"\n"
        with self._lock:
            if self._closed:
                raise StoreReadFailed("the proxy is shutting down")
            self._reads += 1
            try:
                return self._ask(request)
            finally:
                self._stop_when_idle(self._reads)

    def close(self) -> None:
        """At shutdown, from any thread: no more reads; the child ends now (a read under way fails)."""
        self._closed = True
        timer, self._idle_timer = self._idle_timer, None
        if timer is not None:
            timer.cancel()
        if self._lock.acquire(blocking=False):
            try:
                self._stop_child()
            finally:
                self._lock.release()
        else:  # a read holds the child: kill it, and that read ends at once and reaps it
            child = self._child
            if child is not None:
                child.kill()

    # The child -------------------------------------------------------------------------------
    def _ask(self, request: bytes) -> Answer:
        child = self._running_child()
        assert child.stdin is not None and child.stdout is not None
        try:
            child.stdin.write(request)
            child.stdin.flush()
            frame = json.loads(_answer_line(child.stdout, self.read_timeout))
        except _TooSlow as problem:
            self._stop_child(kill=True)  # stuck, or busy for nobody: the client has its answer
            raise StoreReadFailed(str(problem)) from None
        except (OSError, ValueError, _NoAnswer) as problem:  # ValueError: a line that is not JSON
            self._stop_child(kill=True)
            raise StoreReadFailed(str(problem) or "the reading process could not be reached") from None
        if "failed" in frame:
            raise StoreReadFailed(f"the read failed ({frame['failed']})")
        answer: Answer = frame["answer"]
        return answer

    def _running_child(self) -> "subprocess.Popen[bytes]":
        child = self._child
        if child is not None and child.poll() is None:
            return child
        if child is not None:  # it ended between reads (killed from outside): a new one
            self._stop_child()
        if self._closed:  # close() came while this read waited for its turn
            raise StoreReadFailed("the proxy is shutting down")
        self._child = subprocess.Popen(
            [sys.executable, "-I", "-c", _CHILD_CODE, _PACKAGE_ROOT, str(self.home)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=_child_environment(os.environ), start_new_session=True)
        return self._child

    def _stop_child(self, kill: bool = False) -> None:
        """End the child and reap it (``pid`` is None only once it is gone)."""
        child = self._child
        if child is None:
            return
        if kill:
            child.kill()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:  # a pipe whose reader is gone: nothing to flush to
                    pass
        try:
            child.wait(_STOP_SECONDS)
        except subprocess.TimeoutExpired:  # stuck in a read that no one waits for any more
            child.kill()
            child.wait()
        self._child = None

    def _stop_when_idle(self, reads: int) -> None:
        if self._closed:
            return
        timer = threading.Timer(self._idle_seconds, self._stop_if_idle, args=(reads,))
        timer.daemon = True
        previous, self._idle_timer = self._idle_timer, timer
        if previous is not None:
            previous.cancel()
        timer.start()

    def _stop_if_idle(self, reads: int) -> None:
        with self._lock:
            if self._reads == reads:  # no read since this timer was set
                self._stop_child()


class _NoAnswer(Exception):
    """The child ended, or sent more than an answer can be."""


class _TooSlow(_NoAnswer):
    """No answer within the read's time."""


def _answer_line(stream: IO[bytes], timeout: float) -> bytes:
    """One line from the child's stdout, within ``timeout`` seconds in all. ``poll``, not ``select``:
    a proxy holding a thousand connections has descriptors past ``select``'s limit of 1024."""
    fd, size = stream.fileno(), 0
    chunks: List[bytes] = []
    waiting = select.poll()
    waiting.register(fd, select.POLLIN)
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not waiting.poll(left * 1000):
            raise _TooSlow(f"the store took longer than {timeout:g} s to read")
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            raise _NoAnswer("the reading process ended without an answer")
        chunks.append(chunk)
        size += len(chunk)
        if chunk.endswith(b"\n"):  # one request, one line: nothing can follow it
            return b"".join(chunks)
        if size > ANSWER_LIMIT_BYTES:
            raise _NoAnswer("the reading process sent more than an answer can be")


def store_reads(home: Path) -> StoreReads:
    """The proxy's reads of the store at ``home``: in a reading process where the system can wait on
    a pipe with a timeout (``poll``: Linux, macOS), else on the proxy's worker thread as before."""
    if not hasattr(select, "poll"):
        return InProcessReads(home)
    return ReaderProcess(home, IDLE_SECONDS, READ_TIMEOUT_SECONDS)  # read now: a test may shorten them


def _child_environment(environment: Mapping[str, str]) -> Dict[str, str]:
    return {name: environment[name] for name in _KEPT_ENVIRONMENT if name in environment}


# The child ------------------------------------------------------------------------------------
def main(argv: Sequence[str]) -> None:
    """``argv``: the store's home. Answers one request line at a time until stdin closes."""
    home = Path(argv[0])
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # anything printed by accident must not land between frames
    os.nice(READER_NICENESS)
    for line in iter(sys.stdin.buffer.readline, b""):
        out.write(_answer(home, line) + b"\n")
        out.flush()


def _answer(home: Path, line: bytes) -> bytes:
    try:
        request = json.loads(line)
        frame: Mapping[str, Any] = {"answer": run_read(home, request["read"], request["params"])}
        return json.dumps(frame, allow_nan=False).encode()
    except Exception as error:  # any read's failure is the proxy's to report; only its type crosses
        # (a message can hold the store's path, which the proxy does not tell clients)
        return json.dumps({"failed": type(error).__name__}).encode()
