"""Fixtures for the telemetry tests: a private ROUTER_HOME."""

import sys
from pathlib import Path

import pytest

# The proxy tests' process helper (tests/proxy has no package: put its directory on the path).
sys.path.append(str(Path(__file__).resolve().parent.parent / "proxy"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "router-home"
    monkeypatch.setenv("ROUTER_HOME", str(path))
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    return path
