"""Fixtures for ``router shim`` end-to-end tests: a ROUTER_HOME on the fake provider, and the child
interpreters (this venv, the legacy-SDK venv, a fresh venv without this project or wrapt, pyenv)."""

import subprocess
import sys
from pathlib import Path
from typing import Iterator

import fakes.legacy_sdks
import pytest
from fakes import FakeProvider
from shim_support import write_router_home


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
    """openai 2.x (httpx) + anthropic 0.x: ``ROUTER_LEGACY_PYTHON``, or a venv built once."""
    return fakes.legacy_sdks.legacy_python()


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
                pytest.fail(f"could not build the clean child venv: {' '.join(command[:4])}: {done.stderr[-300:]}")
        (cache / "ready").write_text("ok")
    yield str(python)
