"""Running real client programs against the router, and reading back what reached the fake provider.

A client runs the way its users run it: pointed at a real ``router proxy`` process (its base URL
and a token of its own), or under ``router shim`` (which starts the proxy for a non-Python child
and sets the base URL itself). Its ``HOME`` is a fresh directory, so no user setting changes what
it does, and its environment routes every HTTP(S) request to a host other than loopback through a
proxy address nothing listens on: a call the router did not carry (telemetry, an update check, a
request that escaped the base URL) fails on the machine instead of leaving it.

The ``router`` home of a test has backends ``anthropic`` and ``openai`` on the fake provider, with
keys only the router knows; on the ``openai`` route, ``router route add 'claude-*' openai`` (run
as a user would) sends every Claude model to the OpenAI-protocol backend.
"""

import json
import os
import queue
import socket
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from fakes import FakeProvider, RecordedRequest

from host.credentials import store_key
from host.demo.home import router_argv
from host.demo.proxy_calls import RunningProxy

__all__ = [
    "BACKEND_KEYS",
    "CLIENT_TOKEN",
    "CREDENTIAL_HEADERS",
    "FALLBACK",
    "LAUNCHERS",
    "ROUTES",
    "UPSTREAM_PATHS",
    "ClientRun",
    "Launcher",
    "Proxies",
    "StreamingRun",
    "client_env",
    "closed_port",
    "model_calls",
    "roles",
    "run_client",
    "text_of",
    "tool_results",
    "tool_uses",
    "write_client_home",
]

ANTHROPIC, OPENAI = "anthropic", "openai"
ROUTES = (ANTHROPIC, OPENAI)  # the backend protocol a Claude model reaches on each route
FALLBACK = "fallback"  # a third kind of home: Claude models to the Anthropic backend, then the OpenAI one
UPSTREAM_PATHS = {ANTHROPIC: "/v1/messages", OPENAI: "/v1/chat/completions"}
BACKEND_KEYS = {ANTHROPIC: "sk-ant-CLIENTTEST-backend-key", OPENAI: "sk-CLIENTTEST-backend-key"}
CREDENTIAL_HEADERS = {
    ANTHROPIC: ("x-api-key", BACKEND_KEYS[ANTHROPIC]),
    OPENAI: ("authorization", f"Bearer {BACKEND_KEYS[OPENAI]}"),
}
CLIENT_TOKEN = "client-token-the-router-never-forwards"
_ROUTER_TIMEOUT = 60
# The user's own setup would change what a client or the router does: none of it reaches them.
_USER_PREFIXES = ("ROUTER_", "ANTHROPIC_", "OPENAI_", "CLAUDE", "CODEX_", "QWEN_")  # CLAUDECODE too
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def write_client_home(home: Path, provider_root: str, route: str) -> Path:
    """A ``ROUTER_HOME`` with both backends on the fake (keys in the 0600 credentials file, where
    ``router backend add NAME --key -`` stores them) and, for the ``openai`` route, the route rule
    (for ``fallback``: the chain of both)."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    root = provider_root.rstrip("/")
    (home / "config.toml").write_text(
        f'[backends.anthropic]\nprotocol = "anthropic"\nbase_url = "{root}"\n\n'
        f'[backends.openai]\nprotocol = "openai"\nbase_url = "{root}/v1"\n'
    )
    for name, key in BACKEND_KEYS.items():
        store_key(home / "credentials.toml", name, key)
    if route == OPENAI:
        _router(home, "route", "add", "claude-*", OPENAI)
    elif route == FALLBACK:
        _router(home, "route", "add", "claude-*", ANTHROPIC, OPENAI)
    return home


def _router(home: Path, *args: str) -> None:
    env = {**client_env(home.parent), "ROUTER_HOME": str(home)}
    done = subprocess.run(router_argv(*args), env=env, capture_output=True, text=True, timeout=_ROUTER_TIMEOUT,
                          check=False)
    assert done.returncode == 0, f"router {' '.join(args)}: {done.stdout}{done.stderr}"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_GUARD_PORT = closed_port()


def client_env(home_dir: Path, extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """This environment minus the user's router/provider/client settings and proxies, with ``HOME``
    on ``home_dir`` and the network guard of the module docstring."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(_USER_PREFIXES) and not key.endswith("_API_KEY") and key.lower() not in _PROXY_VARIABLES
    }
    env.pop("PYTHONPATH", None)
    guard = f"http://127.0.0.1:{_GUARD_PORT}"
    env.update({"HOME": str(home_dir), "HTTP_PROXY": guard, "HTTPS_PROXY": guard, "NO_PROXY": "127.0.0.1,localhost"})
    env.update(extra or {})
    return env


class Proxies:
    """One ``router proxy`` process per route (started on first use, stopped by :meth:`stop`)."""

    def __init__(self, homes: Mapping[str, Path]) -> None:
        self._homes = homes
        self._running: Dict[str, RunningProxy] = {}

    def url(self, route: str) -> str:
        if route not in self._running:
            home = self._homes[route]
            proxy = RunningProxy(router_argv("proxy", "--port", "0", "-v"),
                                 {**client_env(home.parent), "ROUTER_HOME": str(home)})
            proxy.wait_ready()
            self._running[route] = proxy
        return self._running[route].url

    def output(self, route: str) -> str:
        proxy = self._running.get(route)
        return "\n".join(proxy.lines) if proxy else ""

    def stop(self) -> None:
        for proxy in self._running.values():
            proxy.stop()


@dataclass(frozen=True)
class Launcher:
    """How a user starts the client: ``proxy`` (base URL and token set by hand) or ``shim``."""

    name: str

    def command(
        self, argv: Sequence[str], route: str, homes: Mapping[str, Path], proxies: Proxies
    ) -> Tuple[List[str], Dict[str, str]]:
        """The command line and the variables to add to :func:`client_env`."""
        home = homes[route]
        if self.name == "shim":
            return router_argv("shim", "--", *argv), {"ROUTER_HOME": str(home)}
        return list(argv), {"ANTHROPIC_BASE_URL": proxies.url(route), "ANTHROPIC_AUTH_TOKEN": CLIENT_TOKEN}


LAUNCHERS = (Launcher("proxy"), Launcher("shim"))


@dataclass(frozen=True)
class ClientRun:
    """A finished client process."""

    argv: Tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    context: str = ""  # e.g. the proxy's -v lines, for failure messages

    def last_json(self, where: Callable[[Dict[str, Any]], bool] = lambda _: True) -> Dict[str, Any]:
        """The last JSON object the client printed on a stdout line of its own that ``where`` accepts."""
        for line in reversed(self.stdout.splitlines()):
            if line.startswith("{"):
                parsed = json.loads(line)
                if isinstance(parsed, dict) and where(parsed):
                    return parsed
        raise AssertionError(f"no such JSON object on stdout\n{self.explain()}")

    def explain(self) -> str:
        return (f"$ {' '.join(self.argv)}\nexit {self.returncode}\n--- stdout\n{self.stdout[-4000:]}\n"
                f"--- stderr\n{self.stderr[-4000:]}\n{self.context}")


def run_client(argv: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float = 120) -> ClientRun:
    """Run a client to its end, stdin closed (a non-interactive run must not wait for input)."""
    done = subprocess.run(list(argv), env=dict(env), cwd=str(cwd), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout, check=False)
    return ClientRun(tuple(argv), done.returncode, done.stdout, done.stderr)


class StreamingRun:
    """A client whose stdout is read line by line while it runs (to see output before it ends)."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> None:
        self.argv = tuple(argv)
        self.process = subprocess.Popen(list(argv), env=dict(env), cwd=str(cwd), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self.lines: queue.Queue[Optional[str]] = queue.Queue()
        self.seen: List[str] = []
        self._stderr: List[str] = []
        # Each pipe has one reader of its own: a second one (communicate()) would take lines from it.
        self._readers = [threading.Thread(target=self._pump_stdout, args=(self.process.stdout,), daemon=True),
                         threading.Thread(target=self._pump_stderr, args=(self.process.stderr,), daemon=True)]
        for reader in self._readers:
            reader.start()

    def _pump_stdout(self, stream: Optional[IO[str]]) -> None:
        for line in stream or ():
            self.lines.put(line)
        self.lines.put(None)

    def _pump_stderr(self, stream: Optional[IO[str]]) -> None:
        self._stderr.extend(stream or ())

    def wait_for(self, wanted: Callable[[str], bool], timeout: float) -> Optional[str]:
        """The first stdout line ``wanted`` accepts, or None when the output ends or ``timeout``
        passes first."""
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                return None
            if line is None:
                return None
            self.seen.append(line)
            if wanted(line):
                return line

    def finish(self, timeout: float = 60) -> ClientRun:
        """Wait for the end (killing the client after ``timeout``); everything it printed."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for reader in self._readers:
            reader.join(timeout=5)
        while not self.lines.empty():
            line = self.lines.get_nowait()
            if line is not None:
                self.seen.append(line)
        return ClientRun(self.argv, self.process.returncode, "".join(self.seen), "".join(self._stderr))


# Reading what the fake provider received ---------------------------------------------------------
def model_calls(provider: FakeProvider, route: str) -> List[RecordedRequest]:
    """The requests that reached the backend of ``route`` at its model endpoint, in order."""
    path = UPSTREAM_PATHS[route]
    return [r for r in provider.requests if r.method == "POST" and r.path.split("?")[0] == path]


def text_of(content: Any) -> str:
    """The text of message content in either protocol: a string, or the ``text`` of its parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(text_of(part.get("text", part.get("content"))) for part in content if isinstance(part, dict))
    return ""


def roles(body: Mapping[str, Any]) -> List[str]:
    return [message.get("role", "?") for message in body.get("messages", [])]


def tool_uses(route: str, body: Mapping[str, Any]) -> List[Tuple[str, str, Any]]:
    """(id, name, input) of every tool call the assistant made in the conversation."""
    calls: List[Tuple[str, str, Any]] = []
    for message in body.get("messages", []):
        if message.get("role") != "assistant":
            continue
        if route == ANTHROPIC:
            calls += [(b["id"], b["name"], b["input"]) for b in _parts(message) if b.get("type") == "tool_use"]
        else:
            calls += [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
                      for c in message.get("tool_calls") or ()]
    return calls


def tool_results(route: str, body: Mapping[str, Any]) -> List[Tuple[str, str]]:
    """(id of the call, text) of every tool result in the conversation."""
    results: List[Tuple[str, str]] = []
    for message in body.get("messages", []):
        if route == ANTHROPIC:
            results += [(b["tool_use_id"], text_of(b.get("content"))) for b in _parts(message)
                        if b.get("type") == "tool_result"]
        elif message.get("role") == "tool":
            results.append((message["tool_call_id"], text_of(message.get("content"))))
    return results


def _parts(message: Mapping[str, Any]) -> List[Dict[str, Any]]:
    content = message.get("content")
    return [part for part in content if isinstance(part, dict)] if isinstance(content, list) else []
