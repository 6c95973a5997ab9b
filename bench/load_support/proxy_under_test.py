"""One real ``router proxy`` in front of :mod:`.faulty_provider`, both child processes, and what to
measure of the proxy: resident memory, open descriptors, ``/metrics``.

The proxy runs as a user would start it (``python -m host proxy``), from a temporary
``ROUTER_HOME`` whose backends ``openai`` and ``anthropic`` point at the fake, so the built-in
families route ``gpt-*`` and ``claude-*``. Its descriptor limit is set to ``--nofile`` (1024, a
common default) so that descriptor exhaustion shows as it would for a user.
"""

import http.client
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from proxy_support.processes import child_pids, rss_kib

__all__ = ["ProxyUnderTest", "percentile"]

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
_START_SECONDS = 30.0


def _limit_descriptors(soft: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, hard), hard))


class ProxyUnderTest:
    """``start()``, then :attr:`url`, :meth:`rss_mib`, :meth:`open_fds`, :meth:`metrics_size`; ``stop()``."""

    def __init__(self, extra_args: Sequence[str] = (), nofile: int = 1024, extra_config: str = "",
                 own_provider_for: str = "") -> None:
        self._extra_args = list(extra_args)
        self._nofile = nofile
        self._extra_config = extra_config  # TOML appended to the config (e.g. a [telemetry] table)
        # A model name routed to a fake provider of its own (backend "own"), so that one client's
        # calls do not queue in the fake behind everyone else's (bench/hostile.py says why).
        self._own_provider_for = own_provider_for
        self.home = Path(tempfile.mkdtemp(prefix="router-bench-home-"))
        self.provider: Optional[subprocess.Popen[str]] = None
        self.own_provider: Optional[subprocess.Popen[str]] = None
        self.proxy: Optional[subprocess.Popen[str]] = None
        self.url = ""
        self.provider_port = 0
        self.own_provider_port = 0

    def start(self) -> "ProxyUnderTest":
        self.provider, self.provider_port = _start_provider()
        if self._own_provider_for:
            self.own_provider, self.own_provider_port = _start_provider()
        self._write_config(self.own_provider_port)
        env = {**os.environ, "ROUTER_HOME": str(self.home), "BENCH_OPENAI_KEY": "sk-bench-openai",
               "BENCH_ANTHROPIC_KEY": "sk-ant-bench"}
        env.pop("ROUTER_API_KEY", None)
        env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        self.proxy = subprocess.Popen(
            [sys.executable, "-m", "host", "proxy", "--port", "0", *self._extra_args], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            preexec_fn=lambda: _limit_descriptors(self._nofile),
        )
        assert self.proxy.stdout is not None
        deadline = time.monotonic() + _START_SECONDS
        prefix = "router proxy listening on "
        while time.monotonic() < deadline:
            line = self.proxy.stdout.readline()
            if line.startswith(prefix):
                self.url = line[len(prefix):].strip()
                break
            if not line:
                raise RuntimeError("the proxy did not start")
        threading_drain(self.proxy)
        return self

    def _write_config(self, own_port: int) -> None:
        root = f"http://127.0.0.1:{self.provider_port}"
        own = textwrap.dedent(f"""
            [backends.own]
            protocol = "openai"
            base_url = "http://127.0.0.1:{own_port}/v1"
            key_env = "BENCH_OPENAI_KEY"

            [[routes]]
            match = "{self._own_provider_for}"
            backend = "own"
            """) if own_port else ""
        (self.home / "config.toml").write_text(textwrap.dedent(f"""
            [backends.openai]
            protocol = "openai"
            base_url = "{root}/v1"
            key_env = "BENCH_OPENAI_KEY"

            [backends.anthropic]
            protocol = "anthropic"
            base_url = "{root}"
            key_env = "BENCH_ANTHROPIC_KEY"
            """) + own + self._extra_config)

    @property
    def pid(self) -> int:
        assert self.proxy is not None
        return self.proxy.pid

    @property
    def port(self) -> int:
        return int(urlsplit(self.url).port or 0)

    def alive(self) -> bool:
        return self.proxy is not None and self.proxy.poll() is None

    def rss_mib(self) -> float:
        return rss_kib(self.pid) / 1024

    def tree_rss_mib(self) -> float:
        """The proxy's resident MiB and its children's: what it holds, wherever it put it."""
        return self.rss_mib() + self.children_rss_mib()

    def children_rss_mib(self) -> float:
        """Resident MiB of the processes the proxy started (its store's reading process, while it lives)."""
        return sum(rss_kib(pid) for pid in child_pids(self.pid)) / 1024

    def resident_kinds(self) -> Dict[str, float]:
        """Resident MiB by kind of mapping (``/proc/PID/smaps``): ``heap`` is glibc's main arena; ``anonymous``
        is everything else the process allocated (CPython's object arenas, other threads' malloc arenas,
        large blocks glibc maps on their own, thread stacks); ``files`` the mapped libraries."""
        kinds: Dict[str, float] = {"heap": 0.0, "anonymous": 0.0, "files": 0.0, "other": 0.0}
        kind = "other"
        for line in Path(f"/proc/{self.pid}/smaps").read_text().splitlines():
            fields = line.split()
            if fields and "-" in fields[0] and len(fields) >= 5 and not fields[0].endswith(":"):
                name = fields[5] if len(fields) > 5 else ""
                kind = ("heap" if name == "[heap]" else "anonymous" if not name
                        else "files" if name.startswith("/") else "other")
            elif fields and fields[0] == "Rss:":
                kinds[kind] += int(fields[1]) / 1024
        return kinds

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def metrics_size(self, timeout: float = 60.0) -> int:
        """Bytes of ``GET /metrics`` (-1 when it could not be fetched)."""
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            connection.request("GET", "/metrics")
            size = len(connection.getresponse().read())
            connection.close()
            return size
        except OSError:
            return -1

    def stop(self) -> None:
        for process in (self.proxy, self.provider, self.own_provider):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
        shutil.rmtree(self.home, ignore_errors=True)


def _start_provider() -> "Tuple[subprocess.Popen[str], int]":
    """A fake provider process, and its port once it says it is ready."""
    provider = subprocess.Popen(
        [sys.executable, "-m", "load_support.faulty_provider"], cwd=BENCH, stdout=subprocess.PIPE, text=True,
    )
    assert provider.stdout is not None
    line = provider.stdout.readline()
    if not line.startswith("READY "):
        provider.kill()
        raise RuntimeError(f"the fake provider did not start: {line!r}")
    return provider, int(line.split()[1])


def threading_drain(process: "subprocess.Popen[str]") -> None:
    """Read the proxy's stdout on a thread so that it can never block on a full pipe."""
    import threading

    def drain() -> None:
        assert process.stdout is not None
        for _ in process.stdout:
            pass

    threading.Thread(target=drain, daemon=True).start()


def percentile(values: List[float], fraction: float) -> Optional[float]:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]  # nearest rank

