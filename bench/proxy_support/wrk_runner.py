"""Run ``wrk`` with a POST body and read its result as JSON.

wrk sends GETs unless a Lua script says otherwise, so each run gets a tiny generated script: the
method, headers and body (as a Lua long string), and a ``done()`` that prints one ``WRKJSON {…}``
line with the request count, the error counts and latency percentiles in microseconds. wrk times a
request until its whole response has arrived (chunked streams included), which is what a client
waiting for the end of a stream sees.
"""

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

from .processes import pinned

__all__ = ["WrkResult", "lua_script", "run_wrk"]

_DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50":%d,"p90":%d,"p99":%d,"mean":%.2f,"max":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
"""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput, errors and latency percentiles (milliseconds)."""

    requests: int
    seconds: float
    errors: int  # connect + read + write + timeout + non-2xx/3xx statuses
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _lua_string(text: str) -> str:
    """``text`` as a Lua long-bracket string that cannot be closed early by its content."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


def lua_script(body: str, headers: Mapping[str, str]) -> str:
    """A wrk script that POSTs ``body`` with ``headers`` and reports through ``done()``."""
    lines = ['wrk.method = "POST"', f"wrk.body = {_lua_string(body)}"]
    lines += [f"wrk.headers[ {_lua_string(name)} ] = {_lua_string(value)}" for name, value in headers.items()]
    return "\n".join(lines) + "\n" + _DONE


def _parse(stdout: str) -> Optional[WrkResult]:
    for line in stdout.splitlines():
        if line.startswith("WRKJSON "):
            data = json.loads(line[len("WRKJSON ") :])
            errors = sum(int(data[key]) for key in ("connect", "read", "write", "status", "timeout"))
            return WrkResult(
                requests=int(data["requests"]),
                seconds=data["duration_us"] / 1e6,
                errors=errors,
                p50_ms=data["p50"] / 1000,
                p90_ms=data["p90"] / 1000,
                p99_ms=data["p99"] / 1000,
                mean_ms=data["mean"] / 1000,
            )
    return None


def run_wrk(
    wrk: str, url: str, body: str, headers: Mapping[str, str], connections: int, seconds: float, core: int
) -> WrkResult:
    """One bounded wrk run (one thread, ``connections`` connections) pinned to ``core``.

    Raises RuntimeError with wrk's output when it produced no result.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua_script(body, headers))
    try:
        argv = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
        argv += ["-s", script.name, url]
        done = subprocess.run(pinned(core, argv), capture_output=True, text=True, timeout=seconds + 30)
    finally:
        Path(script.name).unlink(missing_ok=True)
    result = _parse(done.stdout)
    if result is None:
        raise RuntimeError(f"wrk gave no result (exit {done.returncode}): {done.stdout[-500:]} {done.stderr[-500:]}")
    return result
