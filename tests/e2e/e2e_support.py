"""Helpers shared by the end-to-end tests: request pieces, SDK calls in sync or async mode, and the
assertions every routed call must satisfy (credentials, upstream path)."""

import asyncio
import json
import re
from typing import Any, Dict, List, Tuple

from fakes import BACKEND_KEYS, EngineServer, RecordedRequest, UsageSpec
from sdk_clients import anthropic_client, async_anthropic_client, async_openai_client, openai_client

__all__ = [
    "RICH_USAGE",
    "USER_MESSAGES",
    "WEATHER_CALLS",
    "accumulate_openai_chunks",
    "anthropic_create",
    "anthropic_tools",
    "assert_upstream_credentials",
    "openai_create",
    "openai_tools",
]

USER_MESSAGES = [{"role": "user", "content": "What is the weather in Paris, and what time is it there?"}]
# Every usage field non-zero and distinct, so a swapped or dropped field cannot go unnoticed (P8).
RICH_USAGE = UsageSpec(input=37, output=58, cache_read=1024, cache_write=210, reasoning=21)
WEATHER_CALLS: List[Tuple[str, Dict[str, Any]]] = [
    ("get_weather", {"city": "Paris", "unit": "celsius"}),
    ("get_time", {"timezone": "Europe/Paris"}),
]
_SCHEMAS = {
    "get_weather": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["city"],
    },
    "get_time": {"type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]},
    "list_files": {"type": "object", "properties": {}},
}


def openai_tools(*names: str) -> List[Dict[str, Any]]:
    return [
        {"type": "function", "function": {"name": name, "description": f"{name} tool", "parameters": _SCHEMAS[name]}}
        for name in names
    ]


def anthropic_tools(*names: str) -> List[Dict[str, Any]]:
    return [{"name": name, "description": f"{name} tool", "input_schema": _SCHEMAS[name]} for name in names]


def openai_create(engine: EngineServer, mode: str, **params: Any) -> Any:
    """``chat.completions.create`` with the sync or the async client; a stream is drained to a list."""
    if mode == "sync":
        with openai_client(engine) as client:
            result = client.chat.completions.create(**params)
            return list(result) if params.get("stream") else result

    async def run() -> Any:
        async with async_openai_client(engine) as client:
            result = await client.chat.completions.create(**params)
            return [chunk async for chunk in result] if params.get("stream") else result

    return asyncio.run(run())


def anthropic_create(engine: EngineServer, mode: str, **params: Any) -> Any:
    """``messages.create`` with the sync or the async client; a stream is drained to a list of events."""
    if mode == "sync":
        with anthropic_client(engine) as client:
            result = client.messages.create(**params)
            return list(result) if params.get("stream") else result

    async def run() -> Any:
        async with async_anthropic_client(engine) as client:
            result = await client.messages.create(**params)
            return [event async for event in result] if params.get("stream") else result

    return asyncio.run(run())


def assert_upstream_credentials(request: RecordedRequest, backend: str) -> None:
    """The backend's own key arrived in its protocol's header style; the client's placeholder key
    ("router") reached the provider nowhere (docs/protocol-rules.md#credentials, docs/pitfalls.md#p21)."""
    for name, value in request.headers.items():
        assert not re.search(r"\brouter\b", value), f"placeholder key leaked upstream in {name}: {value!r}"
    key = BACKEND_KEYS[backend]
    if backend == "anthropic":
        assert request.header("x-api-key") == key
        assert request.header("authorization") is None
        assert request.header("anthropic-version"), "Anthropic requires anthropic-version"
    else:
        assert request.header("authorization") == f"Bearer {key}"
        assert request.header("x-api-key") is None


def accumulate_openai_chunks(chunks: List[Any]) -> Dict[str, Any]:
    """Fold SDK ``ChatCompletionChunk`` objects, asserting what strict mode does not check
    (docs/protocol-rules.md#sdk-conformance):
    role only first, id/name only on a tool call's first delta, tool indexes 0..k-1."""
    content, reasoning, calls = [], [], {}  # type: ignore[var-annotated]
    finish_reason, usage = None, None
    for position, chunk in enumerate(chunks):
        usage = chunk.usage if chunk.usage is not None else usage
        for choice in chunk.choices:
            delta = choice.delta
            assert (delta.role is not None) == (position == 0), f"role must appear in the first chunk only: {chunk}"
            content.append(delta.content or "")
            reasoning.append((delta.model_extra or {}).get("reasoning_content") or "")
            for call in delta.tool_calls or []:
                _accumulate_call(calls, call)
            finish_reason = choice.finish_reason or finish_reason
    tool_calls = [(calls[i]["name"], json.loads(calls[i]["arguments"]), calls[i]["id"]) for i in sorted(calls)]
    return {
        "content": "".join(content),
        "reasoning": "".join(reasoning),
        "tool_calls": tool_calls,
        "finish_reason": finish_reason,
        "usage": usage,
    }


def _accumulate_call(calls: Dict[int, Dict[str, str]], call: Any) -> None:
    if call.index not in calls:
        assert call.index == len(calls), f"tool index {call.index} is not the next one (P3)"
        assert call.id and call.type == "function" and call.function and call.function.name, call
        calls[call.index] = {"id": call.id, "name": call.function.name, "arguments": call.function.arguments or ""}
        return
    assert call.id is None and call.type is None, f"tool id/type repeated (P4): {call}"
    assert call.function is not None and call.function.name is None, f"tool name repeated (P4): {call}"
    calls[call.index]["arguments"] += call.function.arguments or ""
