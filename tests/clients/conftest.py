"""Fixtures of the client tier: the pinned programs, one ``ROUTER_HOME`` per route on the session's
fake provider, and one ``router proxy`` per route shared by the module (started on first use).

Tests stay independent: the fake provider is reset before each one (``provider``), every client run
gets a fresh ``HOME`` and working directory, and the proxies keep no state a test depends on.
"""

from pathlib import Path
from typing import Dict, Iterator

import pytest
from clients_support import FALLBACK, ROUTES, Proxies, write_client_home
from fakes import FakeProvider
from pinned_node import pinned_node_bin


@pytest.fixture(scope="session")
def claude_bin() -> str:
    """Claude Code as ``tests/clients/node/package-lock.json`` pins it (installed on first use)."""
    return pinned_node_bin("claude")


@pytest.fixture(scope="session")
def codex_bin() -> str:
    """Codex CLI as ``tests/clients/node/package-lock.json`` pins it (installed on first use)."""
    return pinned_node_bin("codex")


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory, _fake_provider_session: FakeProvider) -> Dict[str, Path]:
    root = _fake_provider_session.root_url
    return {route: write_client_home(tmp_path_factory.mktemp(f"route-{route}") / "router-home", root, route)
            for route in ROUTES}


@pytest.fixture(scope="module")
def proxies(homes: Dict[str, Path]) -> Iterator[Proxies]:
    running = Proxies(homes)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def fallback_homes(tmp_path_factory: pytest.TempPathFactory, _fake_provider_session: FakeProvider) -> Dict[str, Path]:
    """A home whose Claude models go to the Anthropic backend, then to the OpenAI one
    (``router route add 'claude-*' anthropic openai``)."""
    home = tmp_path_factory.mktemp("route-fallback") / "router-home"
    return {FALLBACK: write_client_home(home, _fake_provider_session.root_url, FALLBACK)}


@pytest.fixture(scope="module")
def fallback_proxies(fallback_homes: Dict[str, Path]) -> Iterator[Proxies]:
    running = Proxies(fallback_homes)
    yield running
    running.stop()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A fresh HOME (``home/``) and working directory (``work/``) for one client run."""
    for name in ("home", "work"):
        (tmp_path / name).mkdir()
    return tmp_path


@pytest.fixture(scope="session")
def qwen_bin() -> str:
    """Qwen Code as ``tests/clients/node/package-lock.json`` pins it (installed on first use)."""
    return pinned_node_bin("qwen")
