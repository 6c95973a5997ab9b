"""Fixtures for the child-side shim tests: the shim activated in this process (as the injected
``sitecustomize`` would) against the fake provider, with a real telemetry socket."""

from pathlib import Path
from typing import Any, Dict, Iterator

import pytest
from fakes import FakeProvider
from shim_child_support import ShimSession, TelemetryCollector, snapshot_config, write_snapshot

from shim import bootstrap
from shim.env_names import CONFIG_SNAPSHOT, PROXY_URL, SHIM_DEBUG, TELEMETRY_SOCKET
from shim.runtime import reset_runtime


@pytest.fixture
def telemetry() -> Iterator[TelemetryCollector]:
    collector = TelemetryCollector()
    yield collector
    collector.close()


@pytest.fixture
def shim_config(provider: FakeProvider) -> Dict[str, Any]:
    """The configuration in the host's snapshot (:func:`snapshot_config`); a module may add to it."""
    return snapshot_config(provider.root_url)


@pytest.fixture
def shim_env(provider: FakeProvider, telemetry: TelemetryCollector, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch, shim_config: Dict[str, Any]) -> ShimSession:
    """The environment the host gives a child, without activating anything yet."""
    snapshot = write_snapshot(tmp_path, shim_config)
    monkeypatch.setenv(CONFIG_SNAPSHOT, str(snapshot))
    monkeypatch.setenv(TELEMETRY_SOCKET, telemetry.path)
    monkeypatch.delenv(PROXY_URL, raising=False)
    monkeypatch.setenv(SHIM_DEBUG, "1")
    return ShimSession(provider, telemetry, snapshot)


@pytest.fixture
def shim(shim_env: ShimSession) -> Iterator[ShimSession]:
    """The shim active in this process; deactivated (every patch restored) afterwards."""
    reset_runtime()
    assert bootstrap.activate()
    shim_env.telemetry.wait_for(lambda d: d.get("kind") == "hello", timeout=2)
    shim_env.telemetry.clear()
    try:
        yield shim_env
    finally:
        bootstrap.deactivate()
        reset_runtime()
