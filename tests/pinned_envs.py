"""Every Python environment the tests build, installed from a committed lock, so a run depends on the
commit and not on the day's package index.

Each environment has a name, the packages it exists to test (its *requirements*, with the reason),
and a lock, ``tests/constraints/<name>.txt``: every distribution of that environment at an exact
version, as ``pip freeze`` wrote it when ``python tests/constraints/update.py`` last resolved the
requirements. Tests get an interpreter with :func:`pinned_python`; it installs the lock into a venv
under ``.venv-pinned/`` at the repository root, once, and reuses it until the lock changes (the
directory name carries a hash of the lock). A venv that cannot be built fails the test with pip's
reason: never a skip, so the proof cannot vanish quietly.

``python tests/pinned_envs.py`` builds every environment at once, several in parallel (``.ci/run``
does this before the test command, so tests do not build them one after another).
"""

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

__all__ = ["ENVIRONMENTS", "PinnedEnvironment", "PinnedEnvironmentError", "build_all", "pinned_python"]

REPO = Path(__file__).resolve().parents[1]
CONSTRAINTS = REPO / "tests" / "constraints"
# Several checkouts (git worktrees) may share one directory of built venvs: ROUTER_PINNED_VENVS.
VENVS = Path(os.environ.get("ROUTER_PINNED_VENVS") or REPO / ".venv-pinned")
_BUILD_TIMEOUT = 900


@dataclass(frozen=True)
class PinnedEnvironment:
    """A venv the tests run programs in: ``requirements`` say what it is for, the lock what it holds."""

    name: str
    requirements: Tuple[str, ...]
    why: str

    @property
    def lock(self) -> Path:
        return CONSTRAINTS / f"{self.name}.txt"


ENVIRONMENTS: Dict[str, PinnedEnvironment] = {
    env.name: env
    for env in (
        PinnedEnvironment(
            "sdks", ("openai", "anthropic"),
            "the current SDK majors (httpx2) alone: a child venv with neither this project nor wrapt",
        ),
        PinnedEnvironment(
            "legacy", ("openai<3", "anthropic<1"),
            "the previous SDK majors: openai 2.x and anthropic 0.x on legacy httpx, anthropic with x-api-key",
        ),
        PinnedEnvironment(
            "frameworks", ("litellm", "langchain-openai", "langchain-anthropic", "openai<3"),
            "LiteLLM and LangChain on openai 2.x: legacy httpx (and LiteLLM's aiohttp transport) everywhere",
        ),
        PinnedEnvironment(
            "litellm-openai3", ("litellm", "openai>=3"),
            "LiteLLM on openai 3.x: LiteLLM hands legacy httpx clients to an httpx2 SDK",
        ),
        PinnedEnvironment(
            "openai-agents", ("openai-agents",),
            "the OpenAI Agents SDK: its default model speaks the Responses API, and it exports traces to OpenAI",
        ),
        PinnedEnvironment(
            "pydantic-ai", ("pydantic-ai-slim[openai]",),
            "pydantic-ai's OpenAI provider: 'openai:MODEL' is a Responses model",
        ),
        PinnedEnvironment(
            "langchain-responses", ("langchain-openai",),
            "LangChain's ChatOpenAI with use_responses_api=True, on the current openai SDK",
        ),
        PinnedEnvironment(
            "claude-agent", ("claude-agent-sdk",),
            "claude-agent-sdk runs the Claude Code CLI (bundled in its wheel: a native binary, not Python) as a "
            "subprocess: the process-tree case, where a non-Python grandchild must reach the router",
        ),
    )
}


class PinnedEnvironmentError(RuntimeError):
    """A pinned environment could not be built; the message names the step and pip's last lines."""


def pinned_python(name: str) -> str:
    """The interpreter of environment ``name``, built from its lock on first use (thread- and
    process-safe: concurrent callers wait for one build)."""
    env = ENVIRONMENTS[name]
    venv = _venv_dir(env)
    python = venv / "bin" / "python"
    VENVS.mkdir(exist_ok=True)
    with open(VENVS / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / ".complete").exists():
            _build(env, venv)
    return str(python)


def build_all(names: Sequence[str] = (), jobs: int = 4) -> List[str]:
    """Build the named environments (all when none is named), ``jobs`` at a time; their interpreters."""
    chosen = list(names) or list(ENVIRONMENTS)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(pinned_python, chosen))


def _venv_dir(env: PinnedEnvironment) -> Path:
    digest = hashlib.sha256(env.lock.read_bytes()).hexdigest()[:12]
    return VENVS / f"{env.name}-{digest}"


def _build(env: PinnedEnvironment, venv: Path) -> None:
    for stale in VENVS.glob(f"{env.name}-*"):  # earlier locks of this environment
        if stale.is_dir() and stale != venv:
            shutil.rmtree(stale, ignore_errors=True)
    python = venv / "bin" / "python"
    steps = (
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        # --no-deps: the lock is the whole environment, resolved already; nothing else may come in.
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "-r", str(env.lock)],
    )
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=_BUILD_TIMEOUT, check=False)
        if done.returncode != 0:
            tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-4:])
            raise PinnedEnvironmentError(f"building the {env.name!r} environment failed at {step[2:4]}: {tail}")
    (venv / ".complete").write_text(env.lock.name + "\n")


if __name__ == "__main__":
    for interpreter in build_all(sys.argv[1:]):
        print(interpreter)
