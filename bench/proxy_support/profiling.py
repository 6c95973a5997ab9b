"""Where does a proxy spend its time under load? py-spy samples, summarized by layer.

Used when ``router proxy`` misses a target: while wrk keeps 32 connections busy, ``py-spy record
--format raw`` samples the proxy process for a few seconds; the samples are then grouped by the
layer their innermost Python frame belongs to (upstream HTTP client, engine, proxy driver, ASGI
server, event loop), plus the inclusive share of the upstream client calls and the top functions
by self time. py-spy comes from PyPI into a small tools venv under the cache.
"""

import collections
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from .installers import InstallError, run_logged
from .processes import pinned
from .wrk_runner import lua_script

__all__ = ["LAYERS", "Profile", "ensure_py_spy", "profile_under_load", "summarize_raw"]

# (layer, path prefixes of a frame's file as py-spy prints it, e.g. "httpcore/_async/http11.py")
LAYERS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("upstream client (host/proxy/upstream*, httptools, httpx/httpcore/anyio/h11, aiohttp)",
     ("host/proxy/upstream", "httptools/", "httpx/", "httpcore/", "anyio/", "h11/", "aiohttp/")),
    ("engine (shim/)", ("shim/",)),
    ("proxy driver (host/proxy/)", ("host/proxy/",)),
    ("ASGI server (uvicorn)", ("uvicorn/",)),
    ("event loop (asyncio/uvloop)", ("asyncio/", "uvloop/")),
    ("json", ("json/",)),
    ("telemetry store (host/telemetry*)", ("host/telemetry",)),
    ("threads and locks (threading)", ("threading.py",)),
    ("uuid", ("uuid.py",)),
)
# Frames that mark "inside a call to the upstream client", counted inclusively.
_UPSTREAM_CALLS = ("HttptoolsUpstream.", "_Response.", "HttpxUpstream.", "_HttpxResponse.", "AiohttpUpstream.",
                   "_AiohttpResponse.")


@dataclass(frozen=True)
class Profile:
    """A summary of one py-spy recording."""

    samples: int
    layers: Dict[str, float]  # layer → share of samples (self time of the innermost frame)
    upstream_inclusive: float  # share of samples inside an upstream client call
    top_self: List[Tuple[str, float]]

    def render(self, title: str) -> str:
        lines = [f"{title}: {self.samples} samples"]
        lines.append(f"  inside upstream client calls (inclusive): {100 * self.upstream_inclusive:.0f}%")
        lines += [f"  {100 * share:4.0f}%  {layer}" for layer, share in self.layers.items()]
        lines.append("  top functions by self time:")
        lines += [f"  {100 * share:4.1f}%  {frame[:110]}" for frame, share in self.top_self]
        return "\n".join(lines)


def ensure_py_spy(cache: Path) -> Path:
    """Path to py-spy in ``cache/tools-venv`` (installed from PyPI on first use)."""
    venv = cache / "tools-venv"
    exe = venv / "bin" / "py-spy"
    if exe.exists():
        return exe
    log = cache / "tools-install.log"
    run_logged([sys.executable, "-m", "venv", str(venv)], "python -m venv", log)
    run_logged([str(venv / "bin" / "pip"), "install", "-q", "py-spy"], "pip install py-spy", log)
    if not exe.exists():
        raise InstallError(f"pip install py-spy finished but {exe} is missing")
    return exe


def _frame_file(frame: str) -> str:
    """``'func (httpcore/_async/http11.py:289)'`` → ``'httpcore/_async/http11.py'``."""
    inside = frame.rsplit(" (", 1)[-1].rstrip(")")
    return inside.rsplit(":", 1)[0]


def _layer(frame: str) -> str:
    path = _frame_file(frame)
    for layer, prefixes in LAYERS:
        if any(prefix in path for prefix in prefixes):
            return layer
    return "other"


def summarize_raw(lines: Sequence[str], top: int = 12) -> Profile:
    """Summarize py-spy's raw (collapsed stack) output: ``frame;frame;… count`` per line."""
    total, layers, own = 0, collections.Counter[str](), collections.Counter[str]()
    upstream = 0
    for line in lines:
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count, frames = int(count_text), stack.split(";")
        total += count
        layers[_layer(frames[-1])] += count
        own[frames[-1]] += count
        upstream += count if any(frame.startswith(_UPSTREAM_CALLS) for frame in frames) else 0
    if total == 0:
        return Profile(0, {}, 0.0, [])
    shares = {layer: count / total for layer, count in layers.most_common()}
    return Profile(total, shares, upstream / total, [(f, c / total) for f, c in own.most_common(top)])


def profile_under_load(
    py_spy: Path, pid: int, wrk: str, url: str, body: str, headers: Dict[str, str], seconds: int, client_core: int
) -> Profile:
    """Sample ``pid`` with py-spy for ``seconds`` while wrk keeps 32 connections busy."""
    with tempfile.TemporaryDirectory() as scratch:
        script, raw = Path(scratch) / "load.lua", Path(scratch) / "profile.txt"
        script.write_text(lua_script(body, headers))
        load_argv = [wrk, "-t1", "-c32", f"-d{seconds + 2}s", "-s", str(script), url]
        load = subprocess.Popen(pinned(client_core, load_argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            record = [str(py_spy), "record", "-p", str(pid), "-d", str(seconds), "-r", "250", "--nonblocking"]
            record += ["-f", "raw", "-o", str(raw)]
            subprocess.run(record, capture_output=True, timeout=seconds + 30, check=False)
        finally:
            load.wait(timeout=seconds + 30)
        lines = raw.read_text().splitlines() if raw.exists() else []
    return summarize_raw(lines)
