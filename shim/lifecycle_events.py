"""The lifecycle datagrams a shimmed process sends besides its call events.

``hello`` (once per process, on activation or after a fork) tells the host which processes and
Python versions were shimmed; ``shim_error`` reports a failure of the shim itself (never a secret:
a place and an exception class); ``dropped``, at exit, counts the call events this process could
not send and no later event reported (their count normally rides on the next event);
``local_answer`` says the process answered a non-LLM platform call itself (docs/platform-calls.md). They are
encoded by hand rather than with :mod:`json` because the hello is sent while ``sitecustomize``
runs, where every imported module counts against the start-up budget (≤ 5 ms,
≤ 10 modules: docs/shim.md#start-up-budget).
"""

import os
import sys

from .telemetry_sender import process_sender

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~20 modules on 3.9: only the type checker imports it here
    from typing import Sequence, Tuple, Union

    Field = Tuple[str, Union[int, str]]

__all__ = [
    "LIFECYCLE_VERSION", "dropped_datagram", "hello_datagram", "local_answer_datagram", "program_name",
    "report_drops_at_exit", "send_hello", "shim_error_datagram",
]

LIFECYCLE_VERSION = 1
_TEXT_LIMIT = 300  # keeps every datagram far below macOS's 2048-byte limit (docs/shim.md#telemetry-socket)


def hello_datagram(pid: int, ppid: int, program: str, python: str, executable: str) -> bytes:
    """``{"v":1,"kind":"hello","pid","ppid","program","python","executable"}``."""
    return _json_object(
        (("v", LIFECYCLE_VERSION), ("kind", "hello"), ("pid", pid), ("ppid", ppid), ("program", program),
         ("python", python), ("executable", executable))
    )


def shim_error_datagram(pid: int, message: str) -> bytes:
    """``{"v":1,"kind":"shim_error","pid","message"}``."""
    return _json_object((("v", LIFECYCLE_VERSION), ("kind", "shim_error"), ("pid", pid), ("message", message)))


def dropped_datagram(pid: int, count: int) -> bytes:
    """``{"v":1,"kind":"dropped","pid","count"}``."""
    return _json_object((("v", LIFECYCLE_VERSION), ("kind", "dropped"), ("pid", pid), ("count", count)))


def local_answer_datagram(pid: int, endpoint: str) -> bytes:
    """``{"v":1,"kind":"local_answer","pid","endpoint"}``."""
    return _json_object((("v", LIFECYCLE_VERSION), ("kind", "local_answer"), ("pid", pid), ("endpoint", endpoint)))


def report_drops_at_exit() -> None:
    """An ``atexit`` hook: tell the host how many events this process dropped since its last delivered
    one, which would otherwise be lost with it. Free when nothing was dropped; never raises."""
    try:
        sender = process_sender()  # after a fork: this process's own (nothing dropped yet)
        if sender.dropped:
            sender.send_final(dropped_datagram(os.getpid(), sender.dropped))
    except Exception:
        pass


def program_name() -> str:
    """What the host shows for this process: the script path (or ``-c``/``-m``) as Python got it."""
    argv = getattr(sys, "argv", None) or [""]
    return str(argv[0])


def send_hello() -> None:
    """Announce this process to the host (once per process: on activation, or after a fork)."""
    try:
        version = "{}.{}.{}".format(*sys.version_info[:3])
        datagram = hello_datagram(os.getpid(), os.getppid(), program_name(), version, sys.executable or "")
        process_sender().send(datagram)
    except Exception:
        pass


def _json_object(fields: "Sequence[Field]") -> bytes:
    parts = [_json_string(name) + ":" + _json_value(value) for name, value in fields]
    return ("{" + ",".join(parts) + "}").encode("utf-8")


def _json_value(value: "Union[int, str]") -> str:
    if isinstance(value, int):
        return str(value)
    return _json_string(value[:_TEXT_LIMIT])


def _json_string(text: str) -> str:
    """A JSON string literal. Control characters and lone surrogates (``surrogateescape``'d bytes
    in ``sys.argv``) are \\u-escaped, so the result always encodes to UTF-8."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif code < 0x20 or 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)
