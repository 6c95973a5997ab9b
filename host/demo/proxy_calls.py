"""The demo's ``router proxy`` part: start it on a free port, then the same two calls with ``curl``.

Without ``curl`` on PATH the same requests go out through ``urllib`` (and the demo says so): the
point is what comes back, and the printed command is the one to paste.
"""

import json
import queue
import shlex
import shutil
import subprocess
import threading
import urllib.request
from dataclasses import dataclass
from typing import IO, Any, Dict, List, Mapping, Optional, Tuple

from .agent import ANTHROPIC_TOOL, CLAUDE_MODEL, GPT_MODEL, OPENAI_TOOL, QUESTION

__all__ = ["CurlCall", "ProxyStartError", "RunningProxy", "curl_calls", "run_curl"]

_BANNER = "router proxy listening on "
_START_TIMEOUT = 20.0
_CALL_TIMEOUT = 30.0


class ProxyStartError(Exception):
    """``router proxy`` did not print its banner."""


@dataclass(frozen=True)
class CurlCall:
    """One request to the proxy and the text its answer must contain."""

    title: str
    path: str
    headers: Tuple[Tuple[str, str], ...]
    body: Dict[str, Any]
    expect: Tuple[str, ...]

    def argv(self, root: str) -> List[str]:
        headers = [arg for name, value in self.headers for arg in ("-H", f"{name}: {value}")]
        return ["curl", "-sS", "-N", f"{root}{self.path}", *headers, "-d", json.dumps(self.body)]

    def shown(self, root: str) -> str:
        """The command as a user would paste it."""
        return " ".join(shlex.quote(arg) for arg in self.argv(root))


def curl_calls() -> List[CurlCall]:
    """The agent's first turns, now from curl: OpenAI format to a claude model, Anthropic to a gpt one."""
    question = [{"role": "user", "content": QUESTION}]
    json_header = ("content-type", "application/json")
    return [
        CurlCall(f"OpenAI chat completions for {CLAUDE_MODEL}", "/v1/chat/completions", (json_header,),
                 {"model": CLAUDE_MODEL, "stream": True, "messages": question, "tools": [OPENAI_TOOL]},
                 ('"tool_calls"', '"finish_reason":"tool_calls"', "data: [DONE]")),
        CurlCall(f"Anthropic messages for {GPT_MODEL}", "/v1/messages",
                 (json_header, ("anthropic-version", "2023-06-01")),
                 {"model": GPT_MODEL, "max_tokens": 400, "stream": True, "messages": question,
                  "tools": [ANTHROPIC_TOOL]},
                 ("event: content_block_start", '"type":"tool_use"', '"stop_reason":"tool_use"',
                  "event: message_stop")),
    ]


def run_curl(call: CurlCall, root: str) -> Tuple[str, bool]:
    """(the answer's text, whether real curl sent it)."""
    if shutil.which("curl"):
        done = subprocess.run(call.argv(root), capture_output=True, text=True, timeout=_CALL_TIMEOUT, check=False)
        return done.stdout + done.stderr, True
    request = urllib.request.Request(f"{root}{call.path}", data=json.dumps(call.body).encode(),
                                     headers=dict(call.headers), method="POST")
    with urllib.request.urlopen(request, timeout=_CALL_TIMEOUT) as response:
        return response.read().decode(), False


class RunningProxy:
    """``router proxy --port 0`` as a child; :attr:`url` from its banner's first line."""

    def __init__(self, argv: List[str], env: Mapping[str, str]) -> None:
        self.process = subprocess.Popen(argv, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, bufsize=1)
        self.lines: List[str] = []
        self._first: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(self.process.stdout,), daemon=True).start()
        self.url = ""

    def _pump(self, stream: Optional[IO[str]]) -> None:
        for line in stream or ():
            self.lines.append(line.rstrip("\n"))
            if len(self.lines) == 1:
                self._first.put(line)
        self._first.put("")

    def wait_ready(self) -> str:
        try:
            line = self._first.get(timeout=_START_TIMEOUT)
        except queue.Empty:
            line = ""
        if not line.startswith(_BANNER):
            self.stop()
            raise ProxyStartError(" / ".join(self.lines[-5:]) or "no output")
        self.url = line[len(_BANNER):].strip()
        return self.url

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
