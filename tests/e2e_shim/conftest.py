"""Fixtures for ``router shim`` end-to-end tests: a ROUTER_HOME on the fake provider, and the child
interpreters (this venv, the legacy-SDK venv, a fresh venv without this project or wrapt, pyenv)."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from fakes import FakeProvider
from shim_support import write_router_home

LEGACY_PYTHON_ENV = "ROUTER_LEGACY_PYTHON"
_DEFAULT_LEGACY_PYTHON = "/work/legacy-venv/bin/python"


@pytest.fixture(scope="session")
def router_home(tmp_path_factory: pytest.TempPathFactory, _fake_provider_session: FakeProvider) -> Path:
    home = tmp_path_factory.mktemp("shim-e2e") / "router-home"
    write_router_home(home, _fake_provider_session.root_url)
    return home


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """Where the child runs (not the checkout, so ``host``/``shim`` are not importable from the cwd)."""
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def legacy_python() -> str:
    """openai 2.x (httpx) + anthropic 0.x, made by another helper."""
    path = os.environ.get(LEGACY_PYTHON_ENV, _DEFAULT_LEGACY_PYTHON)
    if not Path(path).exists():
        pytest.skip(f"no legacy-SDK venv at {path} (set {LEGACY_PYTHON_ENV})")
    return path


@pytest.fixture(scope="session")
def clean_venv_python(request: pytest.FixtureRequest) -> Iterator[str]:
    """A venv with openai + anthropic only (neither this project nor wrapt), built once and cached."""
    cache = Path(request.config.cache.mkdir("shim-clean-venv"))
    python = cache / "venv" / "bin" / "python"
    if not (cache / "ready").exists():
        build = [
            [sys.executable, "-m", "venv", "--clear", str(cache / "venv")],
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "openai", "anthropic"],
        ]
        for command in build:
            done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
            if done.returncode != 0:
                pytest.skip(f"could not build the clean child venv: {' '.join(command[:4])}: {done.stderr[-300:]}")
        (cache / "ready").write_text("ok")
    yield str(python)
