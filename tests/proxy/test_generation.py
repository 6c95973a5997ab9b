"""What a configuration generation carries across a reload: each kept backend's concurrency limit."""

import asyncio

import pytest

from host.proxy.generation import ConfigGeneration
from host.proxy.upstream import BackendLimiter, QueueTimeout
from shim.config import RouterConfig


def _config(*backends: str) -> RouterConfig:
    return RouterConfig.from_dict(
        {"backends": {name: {"protocol": "openai", "base_url": f"http://127.0.0.1:9/{name}/v1"} for name in backends}}
    )


def test_a_kept_backend_keeps_one_limit_across_generations_and_a_new_one_gets_its_own() -> None:
    async def scenario() -> None:
        first = ConfigGeneration.first(_config("a", "b"), "one", BackendLimiter(1, 0.05), 0.0)
        await first.limiter.acquire("a")  # a call planned on generation 1 holds a's only slot
        second = first.successor(_config("a", "c"), "two", 1.0)
        assert (second.number, second.fingerprint, list(second.config.backends)) == (2, "two", ["a", "c"])
        with pytest.raises(QueueTimeout):
            await second.limiter.acquire("a")  # the old call still counts against a's limit
        await second.limiter.acquire("c")  # a backend new in generation 2 has its own slot
        first.limiter.release("a")  # the old call ends on the limiter it started with
        await asyncio.wait_for(second.limiter.acquire("a"), 1.0)

    asyncio.run(scenario())

