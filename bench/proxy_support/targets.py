"""The things the bench times: the fake itself, ``router proxy``, the LiteLLM proxy, claude-code-router.

Every proxy is configured against the same fake provider (an OpenAI-protocol backend at
``http://127.0.0.1:FAKE/v1``) so that ``gpt-4o-mini`` and ``claude-sonnet-4-5`` both go there, and
started pinned to the proxy core in its own process group, with a private home/config directory
under the run's work directory (nothing of the user's configuration is read or touched).
``router proxy`` also has the fake as an Anthropic backend (``http://127.0.0.1:FAKE``) for
``claude-haiku-4-5``: the Chat→Anthropic and Responses→Anthropic scenarios; the peers are set up
for the OpenAI backend only and report those scenarios n/a.
"""

import json
import os
import secrets
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from .processes import ManagedProcess, free_port, pinned, start_process, wait_for_port
from .scenarios import Scenario
from .wire_bodies import ANTHROPIC_BACKEND_MODEL, ANTHROPIC_MODEL, OPENAI_MODEL

__all__ = [
    "DirectTarget",
    "ProcessTarget",
    "Target",
    "TargetUnavailable",
    "ccr_target",
    "litellm_target",
    "router_proxy_argv",
    "router_target",
]

_PEERS_WITHOUT_ANTHROPIC = {"anthropic": "configured with the OpenAI-protocol fake only in this bench"}
_START_TIMEOUT = 90.0  # LiteLLM imports for a long time on a small machine


class TargetUnavailable(Exception):
    """The target could not be installed or started; the message is the reason for the n/a row."""


class Target:
    """Something that answers the scenarios at :attr:`base_url`."""

    name: str
    api_key: str  # what the client sends as its key: LiteLLM's master key; the others accept anything

    @property
    def base_url(self) -> str:
        raise NotImplementedError

    def unsupported_reason(self, scenario: Scenario) -> Optional[str]:
        """Why this target cannot serve ``scenario`` at all, or None."""
        return None

    def start(self) -> None:
        """Start (and wait until it accepts connections); raise :class:`TargetUnavailable`."""

    def stop(self) -> None:
        """Stop everything :meth:`start` started."""

    def rss_kib(self) -> Optional[int]:
        """Resident memory of the target's process group, None when it has no process."""
        return None

    def cpu_seconds(self) -> Optional[float]:
        """CPU time used so far by the target's process group, None when it has no process."""
        return None

    def server_pid(self) -> Optional[int]:
        """The pid of the serving process (taskset execs it), None when the target has none."""
        return None


@dataclass
class DirectTarget(Target):
    """The fake provider itself: the baseline every proxy's added latency is measured against."""

    fake_url: str
    name: str = "direct-to-fake"
    api_key: str = "bench-key"

    @property
    def base_url(self) -> str:
        return self.fake_url


@dataclass
class ProcessTarget(Target):
    """A proxy started as a pinned process group listening on 127.0.0.1:port."""

    name: str
    argv: List[str]
    port: int
    log_dir: Path
    env: Dict[str, str] = field(default_factory=dict)
    cwd: Optional[Path] = None
    api_key: str = "bench-key"
    process: Optional[ManagedProcess] = None
    # client protocol → why this peer cannot serve that client at all (the scenario is reported n/a)
    unsupported: Dict[str, str] = field(default_factory=dict)
    # backend protocol → why the bench did not configure this peer for such a backend (n/a as well)
    unsupported_backends: Dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, **self.env}
        self.process = start_process(self.name, self.argv, self.log_dir, env=env, cwd=self.cwd)
        if not wait_for_port(self.port, _START_TIMEOUT, self.process.popen):
            tail = self.process.log_tail(8).replace("\n", " | ")
            self.stop()
            raise TargetUnavailable(f"did not start listening on port {self.port}: {tail[-400:]}")

    def unsupported_reason(self, scenario: Scenario) -> Optional[str]:
        return self.unsupported.get(scenario.client) or self.unsupported_backends.get(scenario.backend)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def rss_kib(self) -> Optional[int]:
        return self.process.rss_kib() if self.process is not None else None

    def cpu_seconds(self) -> Optional[float]:
        return self.process.cpu_seconds() if self.process is not None else None

    def server_pid(self) -> Optional[int]:
        return self.process.popen.pid if self.process is not None else None


def floor_target(fake_port: int, work: Path, core: int, bench_dir: Path) -> ProcessTarget:
    """The minimal relay on router proxy's own stack (``floor_relay.py``): the stack's cost alone."""
    port = free_port()
    # Run as a script, not ``-m`` from bench/: there bench/shim.py would shadow the shim package it imports.
    script = bench_dir / "proxy_support" / "floor_relay.py"
    upstream = f"http://127.0.0.1:{fake_port}"
    argv = pinned(core, [sys.executable, str(script), "--upstream", upstream, "--port", str(port)])
    return ProcessTarget("floor relay", argv, port, work, cwd=work)


def router_proxy_argv() -> List[str]:
    """How to run ``router``: the executable next to this interpreter, else ``python -m host``."""
    exe = Path(sys.executable).parent / "router"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("router")
    return [found] if found else [sys.executable, "-m", "host"]


def _router_config(fake_port: int) -> str:
    # Routes rather than backend model globs: both client model names go to the one fake backend.
    return (
        "[backends.fake]\n"
        'protocol = "openai"\n'
        f'base_url = "http://127.0.0.1:{fake_port}/v1"\n'
        'key_env = "BENCH_FAKE_KEY"\n\n'
        f'[[routes]]\nmatch = "{OPENAI_MODEL}"\nbackend = "fake"\n\n'
        f'[[routes]]\nmatch = "{ANTHROPIC_MODEL}"\nbackend = "fake"\n\n'
        "[backends.fake-anthropic]\n"
        'protocol = "anthropic"\n'
        f'base_url = "http://127.0.0.1:{fake_port}"\n'
        'key_env = "BENCH_FAKE_KEY"\n\n'
        f'[[routes]]\nmatch = "{ANTHROPIC_BACKEND_MODEL}"\nbackend = "fake-anthropic"\n'
    )


def router_target(
    fake_port: int, work: Path, core: int, repo: Path, upstream_client: Optional[str] = None
) -> ProcessTarget:
    """``router proxy`` with a private ``ROUTER_HOME`` whose config.toml points at the fake.

    ``upstream_client`` (``"aiohttp"``, ``"httpx"``) starts it with ``--upstream-client`` to compare against the
    default client; None: the command exactly as users run it.
    """
    home = work / f"router-home-{upstream_client or 'default'}"
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    (home / "config.toml").write_text(_router_config(fake_port))
    port = free_port()
    options = ["--host", "127.0.0.1", "--port", str(port)]
    if upstream_client:
        options += ["--upstream-client", upstream_client]
    env = {"ROUTER_HOME": str(home), "BENCH_FAKE_KEY": "sk-fake-upstream"}
    argv = pinned(core, [*router_proxy_argv(), "proxy", *options])
    name = f"router proxy ({upstream_client})" if upstream_client else "router proxy"
    return ProcessTarget(name, argv, port, work, env=env, cwd=repo)


def _litellm_config(fake_port: int) -> str:
    entries = []
    for model in (OPENAI_MODEL, ANTHROPIC_MODEL):
        entries.append(
            f"  - model_name: {model}\n"
            "    litellm_params:\n"
            f"      model: openai/{OPENAI_MODEL}\n"
            f"      api_base: http://127.0.0.1:{fake_port}/v1\n"
            "      api_key: sk-fake-upstream\n"
        )
    # No database; the master key (required by current LiteLLM) comes from the environment.
    settings = "litellm_settings:\n  telemetry: false\n  drop_params: true\n  set_verbose: false\n"
    return "model_list:\n" + "".join(entries) + settings


def litellm_target(exe: Path, fake_port: int, work: Path, core: int) -> ProcessTarget:
    """The LiteLLM proxy (one worker) configured against the fake; no network beyond loopback."""
    config = work / "litellm.yaml"
    config.write_text(_litellm_config(fake_port))
    port = free_port()
    argv = [str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    master_key = "sk-" + secrets.token_hex(32)  # LiteLLM refuses to start without a strong one
    env = {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # do not fetch the price list from the internet
        "LITELLM_LOG": "ERROR",
        "DISABLE_SCHEMA_UPDATE": "True",
        "LITELLM_DONT_SHOW_FEEDBACK_BOX": "True",
        "NO_DOCS": "True",
        "HOME": str(work / "litellm-home"),
        "LITELLM_MASTER_KEY": master_key,
        # By default LiteLLM sends /v1/messages for OpenAI models to the Responses API; the
        # scenario is an OpenAI Chat Completions backend, so use that (the fake serves only it).
        "LITELLM_USE_CHAT_COMPLETIONS_URL_FOR_ANTHROPIC_MESSAGES": "True",
    }
    return ProcessTarget("litellm proxy", pinned(core, argv), port, work, env=env, api_key=master_key,
                         unsupported_backends=_PEERS_WITHOUT_ANTHROPIC)


def _ccr_config(fake_port: int, port: int, api_key: str) -> Dict[str, object]:
    return {
        "HOST": "127.0.0.1",
        "PORT": port,
        "APIKEY": api_key,
        "LOG": False,
        "NON_INTERACTIVE_MODE": True,
        "API_TIMEOUT_MS": 60000,
        "Providers": [
            {
                "name": "fake",
                "api_base_url": f"http://127.0.0.1:{fake_port}/v1/chat/completions",
                "api_key": "sk-fake-upstream",
                "models": [OPENAI_MODEL],
            }
        ],
        "Router": {"default": f"fake,{OPENAI_MODEL}"},
    }


def ccr_target(cli: Path, fake_port: int, work: Path, core: int) -> ProcessTarget:
    """claude-code-router (``ccr start``, foreground) with a private HOME holding its config.json."""
    node = shutil.which("node")
    if node is None:
        raise TargetUnavailable("node not found")
    home = work / "ccr-home"
    (home / ".claude-code-router").mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = _ccr_config(fake_port, port, "bench-key")
    (home / ".claude-code-router" / "config.json").write_text(json.dumps(config, indent=2))
    env = {"HOME": str(home), "CI": "true"}
    argv = pinned(core, [node, str(cli), "start"])
    # Its provider-selecting middleware only runs for paths ending in /v1/messages; the registered
    # /v1/chat/completions route then finds no provider and answers 404 "Provider 'undefined' not
    # found", whatever model name is sent (checked with 2.0.0's dist/cli.js).
    unsupported = {"openai": "serves Anthropic clients only (/v1/chat/completions: 404 Provider 'undefined')"}
    return ProcessTarget("claude-code-router", argv, port, work, env=env, unsupported=unsupported,
                         unsupported_backends=_PEERS_WITHOUT_ANTHROPIC)
