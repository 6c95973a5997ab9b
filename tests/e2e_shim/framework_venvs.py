"""Child venvs for the framework tests (LiteLLM, LangChain), built once into the pytest cache.

They are large, so they live neither in /work/venv nor in the project's test extras. Two venvs,
because the packages' current releases cannot share one openai major: ``langchain-openai`` pulls
the resolver to a LiteLLM that pins ``openai<3`` (legacy ``httpx`` everywhere), while LiteLLM with
``openai>=3`` is the case SHIM.md §1 names: LiteLLM hands legacy ``httpx`` clients to an ``httpx2``
SDK. A venv that cannot be built fails the test (never a skip: the proof must not vanish quietly).
"""

import subprocess
import sys
from pathlib import Path
from typing import Dict, Sequence

import pytest

__all__ = ["VENV_PACKAGES", "cached_venv_python"]

VENV_PACKAGES: Dict[str, Sequence[str]] = {
    "frameworks": ("litellm", "langchain-openai", "langchain-anthropic"),
    "litellm-openai3": ("litellm", "openai>=3"),
}
_BUILD_TIMEOUT = 900


def cached_venv_python(config: pytest.Config, name: str) -> str:
    """The interpreter of venv ``name`` (see :data:`VENV_PACKAGES`), built on first use."""
    cache = Path(config.cache.mkdir(f"shim-{name}-venv"))  # type: ignore[union-attr]
    python = cache / "venv" / "bin" / "python"
    if (cache / "ready").exists() and python.exists():
        return str(python)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *VENV_PACKAGES[name]]
    for command in ([sys.executable, "-m", "venv", "--clear", str(cache / "venv")], pip):
        done = subprocess.run(command, capture_output=True, text=True, timeout=_BUILD_TIMEOUT, check=False)
        if done.returncode != 0:
            pytest.fail(f"could not build the {name} child venv: {' '.join(command)}: {done.stderr[-600:]}")
    (cache / "ready").write_text("ok")
    return str(python)
