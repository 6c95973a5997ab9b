"""Fixtures for the end-to-end tests: official-SDK clients and a raw HTTP client pointed at the test
engine server. The client factories live in ``sdk_clients`` (importable by helpers; a conftest is not)."""

from typing import Iterator

import anthropic
import httpx
import openai
import pytest
from fakes import EngineServer
from sdk_clients import TIMEOUT, anthropic_client, openai_client


@pytest.fixture
def oai(engine: EngineServer) -> Iterator[openai.OpenAI]:
    with openai_client(engine) as client:
        yield client


@pytest.fixture
def ant(engine: EngineServer) -> Iterator[anthropic.Anthropic]:
    with anthropic_client(engine) as client:
        yield client


@pytest.fixture
def raw_http(engine: EngineServer) -> Iterator[httpx.Client]:
    """A plain HTTP client on the engine's root, for exact bytes and stream grammar."""
    with httpx.Client(base_url=engine.root_url, timeout=TIMEOUT) as client:
        yield client
