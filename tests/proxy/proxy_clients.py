"""SDK calls in sync or async mode, and the checks every routed call must pass."""

import asyncio
from typing import Any, Dict, List

import anthropic
import openai
from fakes import RecordedRequest
from proxy_process import BACKEND_KEYS, CLIENT_KEY

__all__ = ["USER", "anthropic_call", "assert_forwarded_with_backend_key", "openai_call", "tools_for"]

USER = [{"role": "user", "content": "What is the weather in Paris?"}]
_WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def tools_for(protocol: str) -> List[Dict[str, Any]]:
    if protocol == "openai":
        return [{"type": "function", "function": {"name": "get_weather", "parameters": _WEATHER_SCHEMA}}]
    return [{"name": "get_weather", "description": "weather", "input_schema": _WEATHER_SCHEMA}]


def openai_call(base_url: str, mode: str, **params: Any) -> Any:
    """``chat.completions.create`` through the proxy; a stream is drained to a list of chunks."""
    options = {"base_url": base_url + "/v1", "api_key": CLIENT_KEY, "max_retries": 0, "timeout": 10}
    if mode == "sync":
        with openai.OpenAI(**options) as client:
            result = client.chat.completions.create(**params)
            return list(result) if params.get("stream") else result

    async def run() -> Any:
        async with openai.AsyncOpenAI(**options) as client:
            result = await client.chat.completions.create(**params)
            return [chunk async for chunk in result] if params.get("stream") else result

    return asyncio.run(run())


def anthropic_call(base_url: str, mode: str, **params: Any) -> Any:
    """``messages.create`` through the proxy; a stream is drained to a list of events."""
    options = {"base_url": base_url, "api_key": CLIENT_KEY, "max_retries": 0, "timeout": 10}
    if mode == "sync":
        with anthropic.Anthropic(**options) as client:
            result = client.messages.create(**params)
            return list(result) if params.get("stream") else result

    async def run() -> Any:
        async with anthropic.AsyncAnthropic(**options) as client:
            result = await client.messages.create(**params)
            return [event async for event in result] if params.get("stream") else result

    return asyncio.run(run())


def assert_forwarded_with_backend_key(request: RecordedRequest, backend: str, path: str) -> None:
    """The call reached the right upstream path with the backend's key, never the client's."""
    assert request.path.split("?")[0] == path
    if backend == "anthropic":
        assert request.header("x-api-key") == BACKEND_KEYS[backend]
        assert request.header("authorization") is None
    else:
        assert request.header("authorization") == f"Bearer {BACKEND_KEYS[backend]}"
        assert request.header("x-api-key") is None
    assert all(CLIENT_KEY not in value for value in request.headers.values())
    assert request.header("accept-encoding") == "identity"
