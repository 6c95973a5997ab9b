"""The real ``router proxy`` as a child process, configured against the fake provider."""

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

__all__ = [
    "BACKEND_KEYS", "CLIENT_KEY", "ProxyProcess", "closed_port", "limit_open_files", "write_proxy_config",
    "write_responses_config",
]

# Backend keys reach the proxy through key_env variables, as a user's would.
BACKEND_KEYS = {"anthropic": "sk-ant-PROXYTEST-secret", "openai": "sk-openai-PROXYTEST-secret", "groq": "gsk-PROXYTEST"}
KEY_ENV = {name: f"PROXYTEST_{name.upper()}_KEY" for name in BACKEND_KEYS}
CLIENT_KEY = "router-client-placeholder"  # what clients send when no ROUTER_API_KEY is set
_START_TIMEOUT = 15.0


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _provider_backends(root: str) -> str:
    """The ``anthropic`` and ``openai`` tables every configuration here starts with (the fake at ``root``)."""
    return f"""
[backends.anthropic]
protocol = "anthropic"
base_url = "{root}"
key_env = "{KEY_ENV['anthropic']}"

[backends.openai]
protocol = "openai"
base_url = "{root}/v1"
key_env = "{KEY_ENV['openai']}"
"""


def _write_config(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(text)
    return path


def write_proxy_config(home: Path, provider_root: str, dead_port: int, blackhole_port: int) -> Path:
    """anthropic / openai / groq on the fake; ``dead`` (nothing listening) and ``blackhole`` (accepts,
    never answers) for the failure paths."""
    root = provider_root.rstrip("/")
    return _write_config(home, _provider_backends(root) + f"""max_tokens_field = "max_completion_tokens"

[backends.groq]
protocol = "openai"
base_url = "{root}/v1"
key_env = "{KEY_ENV['groq']}"
models = ["llama-*", "llama-3.3-70b"]

[backends.dead]
protocol = "openai"
base_url = "http://127.0.0.1:{dead_port}/v1"
models = ["dead-*"]

[backends.blackhole]
protocol = "anthropic"
base_url = "http://127.0.0.1:{blackhole_port}"
models = ["slow-*"]

[aliases]
fast = "groq:llama-3.1-8b-instant"
""")


def write_responses_config(home: Path, provider_root: str) -> Path:
    """``anthropic`` and ``openai`` on the fake, and ``native``: an OpenAI-protocol backend that serves
    Responses itself (its ``native-*`` models), for the tests of the three upstream formats."""
    root = provider_root.rstrip("/")
    return _write_config(home, _provider_backends(root) + f"""
[backends.native]
protocol = "openai"
base_url = "{root}/v1"
key_env = "{KEY_ENV['groq']}"
models = ["native-*"]
responses_api = true
""")


def limit_open_files(limit: int) -> None:
    """In the child, before exec: ``ulimit -n limit`` (soft and hard: the proxy cannot raise it)."""
    import resource

    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


class ProxyProcess:
    """``python -m host proxy --port 0 -v …``; the URL comes from the banner's first line."""

    def __init__(self, home: Path, args: Sequence[str] = (), env: Optional[Dict[str, str]] = None,
                 max_open_files: Optional[int] = None, python_args: Sequence[str] = ("-m", "host")) -> None:
        """``python_args``: what runs the router (a ``-c`` script may prepare the interpreter first)."""
        self.home = home
        full_env = {k: v for k, v in os.environ.items() if k != "ROUTER_API_KEY"}
        full_env.update({KEY_ENV[name]: key for name, key in BACKEND_KEYS.items()})
        full_env.update({"ROUTER_HOME": str(home), **(env or {})})
        command = [sys.executable, *python_args, "proxy", "--port", "0", "-v", *args]
        self.process = subprocess.Popen(
            command, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
            preexec_fn=None if max_open_files is None else lambda: limit_open_files(max_open_files),
        )
        self.stdout_lines: List[str] = []
        self.stderr_lines: List[str] = []
        self._new_line = threading.Condition()  # notified for every line, on either stream
        self._first_line: queue.Queue[str] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._pump, args=(self.process.stdout, self.stdout_lines, True), daemon=True),
            threading.Thread(target=self._pump, args=(self.process.stderr, self.stderr_lines, False), daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self.url = ""

    def _pump(self, stream, sink: List[str], announce: bool) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            with self._new_line:
                sink.append(line)
                self._new_line.notify_all()
            if announce and len(sink) == 1:
                self._first_line.put(line)
        if announce and not sink:
            self._first_line.put("")

    def wait_ready(self) -> "ProxyProcess":
        """Block until the banner is out; fail with the process output if it never comes."""
        try:
            line = self._first_line.get(timeout=_START_TIMEOUT)
        except queue.Empty:
            line = ""
        prefix = "router proxy listening on "
        if not line.startswith(prefix):
            self.stop()
            raise AssertionError(f"proxy did not start: {line!r} {''.join(self.stderr_lines)}")
        self.url = line[len(prefix) :].strip()
        return self

    def wait_for_stderr(self, wanted: Callable[[str], bool], timeout: float = 10.0) -> str:
        """The first stderr line ``wanted`` accepts, once the process has printed it; fails after ``timeout``."""
        def first_wanted() -> Optional[str]:
            return next((text for text in self.stderr_lines if wanted(text)), None)

        with self._new_line:
            found = self._new_line.wait_for(first_wanted, timeout)
        assert found is not None, f"no such line within {timeout}s: {''.join(self.stderr_lines)}"
        return found

    def finish(self, timeout: float = 10.0) -> int:
        """Wait for the process to end by itself; its exit code."""
        code = self.process.wait(timeout)
        for thread in self._threads:
            thread.join(timeout=2)
        return code

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.finish(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    def resident_bytes(self) -> int:
        """The process's resident memory now (``VmRSS``, Linux)."""
        return self._status_bytes("VmRSS:")

    def peak_resident_bytes(self) -> int:
        """The most it has held resident so far (``VmHWM``, its high-water mark; Linux)."""
        return self._status_bytes("VmHWM:")

    def _status_bytes(self, field: str) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"no {field} line in /proc/{self.process.pid}/status")

    @property
    def output(self) -> str:
        return "".join(self.stdout_lines + self.stderr_lines)
