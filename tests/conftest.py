"""Shared fixtures for tests that need the network edge faked: one fake provider and one test-only
engine server per session (cheap to share, see ``tests/fakes``), reset before every test."""

import gc
from typing import Iterator

import pytest
from fakes import EngineServer, FakeProvider, engine_config

CHUNKINGS = ("per_event", "byte_by_byte")


@pytest.fixture(scope="session")
def _fake_provider_session() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        yield provider


@pytest.fixture(scope="session")
def _second_provider_session() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        yield provider


@pytest.fixture
def second(_second_provider_session: FakeProvider) -> Iterator[FakeProvider]:
    """Another fake provider on another port: a second backend, for fallbacks and balancing."""
    _second_provider_session.reset()
    yield _second_provider_session
    _second_provider_session.reset()


@pytest.fixture(scope="session")
def _engine_session(_fake_provider_session: FakeProvider) -> Iterator[EngineServer]:
    with EngineServer(engine_config(_fake_provider_session.root_url)) as engine:
        yield engine


@pytest.fixture
def provider(_fake_provider_session: FakeProvider) -> Iterator[FakeProvider]:
    """The fake provider with an empty script and no recorded calls."""
    _fake_provider_session.reset()
    yield _fake_provider_session
    _fake_provider_session.reset()


@pytest.fixture
def engine(_engine_session: EngineServer, provider: FakeProvider) -> Iterator[EngineServer]:
    """The engine server in front of ``provider``. A test fails if the engine hit an error outside
    its own hierarchy (a translator bug), even when the client happened to cope with it."""
    _engine_session.take_unexpected_errors()
    yield _engine_session
    errors = _engine_session.take_unexpected_errors()
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture(params=CHUNKINGS)
def chunking(request: pytest.FixtureRequest, provider: FakeProvider) -> str:
    """Parametrizes a stream test over how the upstream writes: one HTTP chunk per SSE event, or
    one per byte (the engine then reads the upstream one byte at a time)."""
    provider.byte_by_byte = request.param == "byte_by_byte"
    return str(request.param)


@pytest.fixture
def collector_off() -> Iterator[None]:
    """The cycle collector off for the test (after one collection): what only it could free stays,
    for the test to find (docs/proxy-limits.md#no-cycles-per-call)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
