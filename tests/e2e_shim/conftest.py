"""Fixtures for ``router shim`` end-to-end tests: a ROUTER_HOME on the fake provider, and the child
interpreters (this venv, and the pinned venvs of ``tests/pinned_envs.py``)."""

from pathlib import Path

import pytest
from fakes import FakeProvider
from pinned_envs import pinned_python
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
    """openai 2.x (httpx) + anthropic 0.x, pinned (tests/constraints/legacy.txt)."""
    return pinned_python("legacy")


@pytest.fixture(scope="session")
def clean_venv_python() -> str:
    """A venv with openai + anthropic only (neither this project nor wrapt), pinned (tests/constraints/sdks.txt)."""
    return pinned_python("sdks")


@pytest.fixture(scope="session")
def claude_agent_python() -> str:
    """claude-agent-sdk, whose wheel bundles the Claude Code CLI, pinned (tests/constraints/claude-agent.txt)."""
    return pinned_python("claude-agent")
