"""Running real children through the real ``router shim`` against the loopback fake provider.

Every child script starts with ``import _netguard``: a resolver guard (written next to the script)
that refuses any host but loopback, so a call the shim fails to route errors out locally instead of
leaving the machine. It patches ``socket.getaddrinfo`` only, far below the seams the shim patches.
"""

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from fakes.engine_server import BACKEND_KEYS

__all__ = [
    "BACKEND_KEYS",
    "NETGUARD",
    "ShimResult",
    "base_env",
    "router_command",
    "run_shim",
    "write_router_home",
    "write_script",
]

NETGUARD = textwrap.dedent(
    """
    import socket as _socket

    _real_getaddrinfo = _socket.getaddrinfo
    _LOOPBACK = ("127.0.0.1", "localhost", "::1", None, b"127.0.0.1", b"localhost")


    def _loopback_only(host, *args, **kwargs):
        if host not in _LOOPBACK:
            raise OSError("e2e network guard: refusing to resolve %r (the shim did not route this call)" % (host,))
        return _real_getaddrinfo(host, *args, **kwargs)


    _socket.getaddrinfo = _loopback_only
    """
)
_RESULT_PREFIX = "RESULT "


@dataclass(frozen=True)
class ShimResult:
    returncode: int
    stdout: str
    stderr: str

    def result(self) -> Any:
        """The JSON the script printed on its ``RESULT`` line."""
        for line in reversed(self.stdout.splitlines()):
            if line.startswith(_RESULT_PREFIX):
                return json.loads(line[len(_RESULT_PREFIX) :])
        raise AssertionError(f"no RESULT line\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}")

    def explain(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def write_router_home(home: Path, provider_root: str) -> None:
    """config.toml with three backends on the fake; their keys only in the 0600 credentials file."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    root = provider_root.rstrip("/")
    (home / "config.toml").write_text(
        textwrap.dedent(
            f"""
            [backends.anthropic]
            protocol = "anthropic"
            base_url = "{root}"

            [backends.openai]
            protocol = "openai"
            base_url = "{root}/v1"
            max_tokens_field = "max_completion_tokens"

            [backends.groq]
            protocol = "openai"
            base_url = "{root}/v1"
            """
        )
    )
    keys = "\n".join(f'{name} = "{key}"' for name, key in BACKEND_KEYS.items())
    credentials = home / "credentials.toml"
    credentials.write_text(f"[keys]\n{keys}\n")
    credentials.chmod(0o600)


# Defined in every script write_script writes.
_SCRIPT_HELPERS = textwrap.dedent("""
    def report(obj):
        print('RESULT ' + json.dumps(obj), flush=True)

    def openai_stream_text(lines):
        \"\"\"The text an OpenAI chat-completions stream carries, from its SSE lines.\"\"\"
        out = []
        for line in lines:
            if line.startswith("data: ") and line != "data: [DONE]":
                choices = json.loads(line[6:])["choices"]
                if choices and choices[0]["delta"].get("content"):
                    out.append(choices[0]["delta"]["content"])
        return "".join(out)

""").lstrip("\n")


def write_script(directory: Path, body: str, name: str = "agent.py") -> Path:
    """``body`` (dedented) after the network guard; prints ``RESULT <json>`` via ``report(obj)``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "_netguard.py").write_text(NETGUARD)
    prelude = "import _netguard, json, sys\n\n" + _SCRIPT_HELPERS
    path = directory / name
    path.write_text(prelude + textwrap.dedent(body))
    return path


def base_env(home: Path, extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The test's own environment without any API key or PYTHONPATH, with ROUTER_HOME set."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k not in ("PYTHONPATH",)}
    env = {k: v for k, v in env.items() if not k.startswith(("ROUTER_", "OPENAI_", "ANTHROPIC_"))}
    env["ROUTER_HOME"] = str(home)
    env["ROUTER_SHIM_DEBUG"] = "1"
    env.update(extra or {})
    return env


def router_command() -> List[str]:
    """The installed console script next to this interpreter, else ``python -m host``."""
    script = Path(sys.executable).parent / "router"
    return [str(script)] if script.exists() else [sys.executable, "-m", "host"]


def run_shim(
    argv: Sequence[str],
    home: Path,
    *,
    flags: Sequence[str] = (),
    cwd: Optional[Path] = None,
    env: Optional[Mapping[str, str]] = None,
    stdin: Optional[str] = None,
    timeout: float = 120,
) -> ShimResult:
    """``router shim FLAGS -- ARGV``, waited for."""
    completed = subprocess.run(
        [*router_command(), "shim", *flags, "--", *argv],
        cwd=str(cwd) if cwd else None,
        env=base_env(home, env),
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    result = ShimResult(completed.returncode, completed.stdout, completed.stderr)
    # Whatever a test checks, the shim must never make `site` report a failure of its own.
    assert "Error in sitecustomize" not in result.stderr, result.explain()
    return result
