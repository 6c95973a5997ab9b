"""Fixtures for the dashboard tests: a private ROUTER_HOME, the helpers of the proxy and shim suites, and
one headless Chromium per test module (a fresh page per test)."""

import sys
from pathlib import Path
from typing import Iterator

import pytest

_TESTS = Path(__file__).resolve().parent.parent
sys.path.extend([str(_TESTS / "proxy"), str(_TESTS / "e2e_shim")])  # proxy_process, shim_support

from chromium import Chromium  # noqa: E402


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "router-home"
    path.mkdir()
    monkeypatch.setenv("ROUTER_HOME", str(path))
    monkeypatch.delenv("ROUTER_API_KEY", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    return path


@pytest.fixture
def browser() -> Iterator[Chromium]:
    with Chromium() as chromium:
        yield chromium
