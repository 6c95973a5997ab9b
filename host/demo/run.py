"""``router demo`` step by step: each step does one thing, checks it, and prints one line saying
what just happened and why it matters (details indented below it). A failed check stops the demo
with what to check, and exit code 1; missing SDKs give the install command and exit code 1.
"""

import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, List, Mapping, Sequence

from .agent import CLAUDE_MODEL, GPT_MODEL
from .home import agent_path, child_env, router_argv, write_demo_home
from .provider import DEMO_KEYS, DemoProvider
from .proxy_calls import CurlCall, ProxyStartError, RunningProxy, curl_calls, run_curl
from .wire_server import ANTHROPIC, OPENAI

__all__ = ["INSTALL_HINT", "DemoFailure", "missing_sdks", "run_demo"]

SDKS = ("openai", "anthropic")
INSTALL_HINT = "pip install 'router[demo]'   (from a checkout: pip install -e '.[demo]')"
_SHIM_TIMEOUT = 180.0
_SHOWN_WIDTH = 150

Say = Callable[[str], None]


class DemoFailure(Exception):
    """A step's check failed: ``what`` happened, ``check`` says where to look."""

    def __init__(self, what: str, check: str) -> None:
        super().__init__(what)
        self.what, self.check = what, check


def missing_sdks() -> List[str]:
    """The SDKs the example agent needs that this interpreter cannot import."""
    return [name for name in SDKS if importlib.util.find_spec(name) is None]


def run_demo(environ: Mapping[str, str], say: Say) -> int:
    """The whole demo; the exit code."""
    missing = missing_sdks()
    if missing:
        say(f"router demo needs the {' and '.join(missing)} SDK{'s' if len(missing) > 1 else ''} "
            f"in this Python ({sys.executable}). Install with:\n  {INSTALL_HINT}")
        return 1
    try:
        with DemoProvider() as provider, tempfile.TemporaryDirectory(prefix="router-demo-") as tmp:
            _Demo(provider, Path(tmp) / "router-home", environ, say).run()
    except DemoFailure as failure:
        say(f"router demo: FAILED: {failure.what}\n  check: {failure.check}")
        return 1
    return 0


class _Demo:
    def __init__(self, provider: DemoProvider, home: Path, environ: Mapping[str, str], say: Say) -> None:
        self.provider, self.home, self.say = provider, home, say
        self.env = child_env(home, environ)
        self.step_number = 0

    def step(self, line: str, details: Sequence[str] = ()) -> None:
        self.step_number += 1
        self.say(f"[{self.step_number}] {line}")
        for detail in details:
            self.say(f"      {detail}")

    def run(self) -> None:
        self.step(f"Started a demo provider at {self.provider.root_url}: it answers in Anthropic's and OpenAI's "
                  "real wire formats, so this demo needs no key and no network.")
        write_demo_home(self.home, self.provider.root_url, DEMO_KEYS)
        self.step("Wrote a temporary ROUTER_HOME with backends 'anthropic' and 'openai' on it (fake keys, stored "
                  "0600): what `router backend add` does with your real keys.", [str(self.home / "config.toml")])
        self.explain_routes()
        self.run_agent()
        self.run_proxy()
        self.show_stats()
        self.say("router demo: all steps passed. Next: add your real backends "
                 "(router backend add anthropic --key-env ANTHROPIC_API_KEY) and see README.md.")

    def router(self, *args: str, timeout: float = 30.0) -> str:
        done = subprocess.run(router_argv(*args), env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)
        if done.returncode != 0:
            raise DemoFailure(f"`router {' '.join(args)}` exited {done.returncode}: {done.stderr.strip()[-400:]}",
                              "that the router is installed in this Python: python -m host --help")
        return done.stdout

    def explain_routes(self) -> None:
        lines = []
        for model, protocol in ((CLAUDE_MODEL, OPENAI), (GPT_MODEL, ANTHROPIC)):
            report = json.loads(self.router("route", "explain", model, "--protocol", protocol, "--json"))
            if not report["translated"]:
                raise DemoFailure(f"{model} asked in {protocol} format is not translated: {report}",
                                  "the built-in model families in shim/routing.py")
            lines.append(f"router route explain {model} --protocol {protocol}: rule: {report['rule']} → backend "
                         f"{report['backend']} ({report['backend_protocol']}), translated")
        self.step("Asked the router where each call will go: the model name picks the backend, and a client "
                  "speaking the other protocol gets translated.", lines)

    def run_agent(self) -> None:
        argv = router_argv("shim", "-v", "--", sys.executable, agent_path())
        done = subprocess.run(argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=_SHIM_TIMEOUT, check=False)
        output = done.stdout.rstrip().splitlines()
        if done.returncode != 0 or "  agent: done" not in output:
            raise DemoFailure("the example agent under `router shim` did not finish:\n" + "\n".join(output[-15:]),
                              "the lines above; ROUTER_SHIM_DEBUG=1 router demo prints the shim's tracebacks")
        self._check_provider_saw(2)
        self.step(f"Ran an agent under `router shim -v -- python agent.py`: the openai SDK called {CLAUDE_MODEL} and "
                  f"the anthropic SDK called {GPT_MODEL}, streaming, with a tool call each - routed and translated "
                  "both ways inside the agent's own process, with no base URL and no key in its code; the last "
                  "lines are the shim's telemetry summary.", output)

    def _check_provider_saw(self, each: int) -> None:
        calls = dict(self.provider.calls)
        if calls[ANTHROPIC] < each or calls[OPENAI] < each:
            raise DemoFailure(f"the demo provider received {calls}, expected at least {each} calls per protocol",
                              "that the calls were routed: router route explain MODEL")

    def run_proxy(self) -> None:
        proxy = RunningProxy(router_argv("proxy", "--port", "0"), self.env)
        try:
            url = proxy.wait_ready()
        except ProxyStartError as exc:
            raise DemoFailure(f"`router proxy` did not start: {exc}", "run: router proxy --port 0") from None
        try:
            self.step(f"Started `router proxy` on {url} (a free port): one local endpoint for clients in any "
                      "language - point OPENAI_BASE_URL / ANTHROPIC_BASE_URL at it.")
            for call in curl_calls():
                self.curl(call, url)
        finally:
            proxy.stop()

    def curl(self, call: CurlCall, url: str) -> None:
        answer, real_curl = run_curl(call, url)
        missing = [marker for marker in call.expect if marker not in answer]
        if missing:
            raise DemoFailure(f"the proxy's answer to {call.title} lacks {missing}:\n{answer[-800:]}",
                              "the proxy output with: router proxy -v")
        shown = _highlights(answer, call.expect)
        how = "" if real_curl else " (curl is not installed: sent with Python's urllib instead)"
        self.step(f"Sent {call.title} through the proxy with curl{how}: the other vendor's stream came back in the "
                  "format curl asked for, tool call included.", [f"$ {call.shown(url)}", *shown])

    def show_stats(self) -> None:
        total = json.loads(self.router("stats", "--json"))["total"]
        if total["calls"] < 6:
            raise DemoFailure(f"router stats counted {total['calls']} calls, expected 6 (4 shim + 2 proxy)",
                              "the telemetry store in ROUTER_HOME: router stats --json")
        table = self.router("stats").rstrip().splitlines()
        self.step(f"`router stats` read all {total['calls']} calls back from the local telemetry store "
                  "(never bodies or keys): tokens, latency and cost per model, from the shim and the proxy alike.",
                  table)


def _highlights(answer: str, markers: Sequence[str]) -> List[str]:
    """The stream's first line and the first line showing each marker, shortened, then the count."""
    lines = [line for line in answer.splitlines() if line.strip()]
    picked = [0] + [next(i for i, line in enumerate(lines) if marker in line) for marker in markers]
    shown = [_shorten(lines[i]) for i in sorted(set(picked))]
    return [*shown, f"({len(lines)} lines in all)"]


def _shorten(line: str) -> str:
    """Head and tail of a long line: the event's type is at the start, an OpenAI delta at the end."""
    if len(line) <= _SHOWN_WIDTH:
        return line
    head = _SHOWN_WIDTH // 3
    return line[:head] + " ... " + line[-(_SHOWN_WIDTH - head - 5):]
