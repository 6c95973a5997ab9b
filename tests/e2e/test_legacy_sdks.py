"""The previous SDK majors (openai 2.x on httpx, anthropic 0.x with ``x-api-key`` — docs/pitfalls.md#p21) against the
engine server, through ``legacy_client.py`` running in a separate interpreter.

The interpreter is the pinned ``legacy`` environment (``tests/pinned_envs.py``). One worker process
serves the whole module, so the SDK import cost is paid once.
"""

import json
import os
import selectors
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from e2e_support import (
    RICH_USAGE,
    USER_MESSAGES,
    WEATHER_CALLS,
    anthropic_tools,
    assert_upstream_credentials,
    openai_tools,
)
from fakes import EngineServer, FakeProvider
from pinned_envs import pinned_python

SCRIPT = Path(__file__).with_name("legacy_client.py")
RESULT_TIMEOUT = 30.0
_SDK_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL")


class LegacyWorker:
    """``legacy_client.py --serve`` in the legacy interpreter: one JSON line in, one out."""

    def __init__(self, python: str) -> None:
        env = {key: value for key, value in os.environ.items() if key not in _SDK_ENV}
        self._process = subprocess.Popen(
            [python, str(SCRIPT), "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=env,
        )
        self._selector = selectors.DefaultSelector()
        assert self._process.stdout is not None
        self._selector.register(self._process.stdout, selectors.EVENT_READ)

    def run(self, scenario: Dict[str, Any]) -> Dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(scenario) + "\n")
        self._process.stdin.flush()
        if not self._selector.select(RESULT_TIMEOUT):
            pytest.fail(f"the legacy client did not answer within {RESULT_TIMEOUT}s: {scenario}")
        line = self._process.stdout.readline()
        if not line:
            stderr = self._process.stderr.read() if self._process.stderr else ""
            pytest.fail(f"the legacy client died:\n{stderr}")
        return json.loads(line)  # type: ignore[no-any-return]

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=10)


@pytest.fixture(scope="module")
def legacy_worker() -> Iterator[LegacyWorker]:
    worker = LegacyWorker(pinned_python("legacy"))
    yield worker
    worker.close()


class Legacy:
    """Scenario helpers bound to this test's engine server."""

    def __init__(self, worker: LegacyWorker, engine: EngineServer) -> None:
        self._worker, self._engine = worker, engine

    def openai(self, call: str, **params: Any) -> Dict[str, Any]:
        scenario = {"sdk": "openai", "base_url": self._engine.openai_base_url, "call": call, "params": params}
        return self._worker.run(scenario)

    def anthropic(self, call: str, **params: Any) -> Dict[str, Any]:
        scenario = {"sdk": "anthropic", "base_url": self._engine.anthropic_base_url, "call": call, "params": params}
        return self._worker.run(scenario)


@pytest.fixture
def legacy(legacy_worker: LegacyWorker, engine: EngineServer) -> Legacy:
    return Legacy(legacy_worker, engine)


def _ok(outcome: Dict[str, Any]) -> Any:
    assert outcome["ok"], f"legacy SDK call failed: {json.dumps(outcome, indent=1)[:3000]}"
    return outcome["result"]


def _fold_openai_chunks(chunks: List[Dict[str, Any]]) -> Dict[str, Any]:
    content, calls, finish, usage = "", {}, None, None  # type: ignore[var-annotated]
    for chunk in chunks:
        usage = chunk.get("usage") or usage
        for choice in chunk["choices"]:
            content += choice["delta"].get("content") or ""
            finish = choice.get("finish_reason") or finish
            for call in choice["delta"].get("tool_calls") or []:
                entry = calls.setdefault(call["index"], {"name": "", "arguments": ""})
                entry["name"] += (call.get("function") or {}).get("name") or ""
                entry["arguments"] += (call.get("function") or {}).get("arguments") or ""
    tools = [(calls[i]["name"], json.loads(calls[i]["arguments"])) for i in sorted(calls)]
    return {"content": content, "tool_calls": tools, "finish_reason": finish, "usage": usage}


def test_legacy_sdk_majors(legacy: Legacy, provider: FakeProvider) -> None:
    provider.reply(text="hi")
    versions = legacy.openai("create", model="gpt-5.1", messages=USER_MESSAGES)["versions"]
    assert versions["openai"].startswith("2.") and versions["anthropic"].startswith("0."), versions


# OpenAI 2.x -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("model", "backend"), [("claude-sonnet-4-6", "anthropic"), ("gpt-5.1", "openai")])
def test_openai_non_stream(legacy: Legacy, provider: FakeProvider, model: str, backend: str) -> None:
    provider.reply(text="It is sunny.", usage=RICH_USAGE)
    completion = _ok(legacy.openai("create", model=model, messages=USER_MESSAGES))
    assert completion["choices"][0]["message"]["content"] == "It is sunny."
    assert completion["choices"][0]["finish_reason"] == "stop"
    assert completion["usage"]["prompt_tokens"] == RICH_USAGE.prompt_tokens
    assert completion["usage"]["prompt_tokens_details"]["cached_tokens"] == RICH_USAGE.cache_read
    assert_upstream_credentials(provider.last.request, backend)


@pytest.mark.parametrize(("model", "backend"), [("claude-sonnet-4-6", "anthropic"), ("gpt-5.1", "openai")])
def test_openai_stream_with_tools(
    legacy: Legacy, provider: FakeProvider, chunking: str, model: str, backend: str
) -> None:
    provider.reply(text="Checking both.", tool_calls=WEATHER_CALLS, usage=RICH_USAGE)
    chunks = _ok(legacy.openai(
        "create_stream", model=model, messages=USER_MESSAGES, tools=openai_tools("get_weather", "get_time"),
        stream_options={"include_usage": True},
    ))
    folded = _fold_openai_chunks(chunks)
    assert folded["content"] == "Checking both."
    assert folded["tool_calls"] == WEATHER_CALLS
    assert folded["finish_reason"] == "tool_calls"
    assert folded["usage"]["completion_tokens"] == RICH_USAGE.output
    assert_upstream_credentials(provider.last.request, backend)


@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "gpt-5.1"])
def test_openai_stream_helper(legacy: Legacy, provider: FakeProvider, chunking: str, model: str) -> None:
    provider.reply(tool_calls=WEATHER_CALLS)
    final = _ok(legacy.openai(
        "stream_helper", model=model, messages=USER_MESSAGES, tools=openai_tools("get_weather", "get_time")
    ))
    calls = final["choices"][0]["message"]["tool_calls"]
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == WEATHER_CALLS
    assert final["choices"][0]["message"]["role"] == "assistant"


def test_openai_translated_error(legacy: Legacy, provider: FakeProvider) -> None:
    provider.reply(error=(529, None))
    outcome = legacy.openai("create", model="claude-sonnet-4-6", messages=USER_MESSAGES)
    assert not outcome["ok"] and outcome["error_class"] == "InternalServerError" and outcome["status"] == 503


# OpenAI 2.x, Responses ----------------------------------------------------------------------------
# Every backend kind: Anthropic (composed through Chat), Chat (groq), a backend serving Responses.
RESPONSES_MODELS = ["claude-sonnet-4-6", "groq:llama-3.3-70b", "gpt-5.1"]
RESPONSES_TOOLS = [
    {"type": "function", "name": tool["function"]["name"], "parameters": tool["function"]["parameters"],
     "strict": False}
    for tool in openai_tools("get_weather", "get_time")
]


@pytest.mark.parametrize("model", RESPONSES_MODELS)
def test_openai_responses_create_and_function_call_output(
    legacy: Legacy, provider: FakeProvider, model: str
) -> None:
    provider.reply(text="Checking both.", tool_calls=WEATHER_CALLS, usage=RICH_USAGE)
    first = _ok(legacy.openai("responses_create", model=model, input=USER_MESSAGES, tools=RESPONSES_TOOLS))
    calls = [item for item in first["output"] if item["type"] == "function_call"]
    assert [(call["name"], json.loads(call["arguments"])) for call in calls] == WEATHER_CALLS
    assert first["usage"]["input_tokens"] == RICH_USAGE.prompt_tokens
    provider.reply(text="Sunny, 14:00.")
    outputs = [{"type": "function_call_output", "call_id": call["call_id"], "output": "done"} for call in calls]
    history = [{key: value for key, value in item.items() if value is not None} for item in first["output"]]
    second = _ok(legacy.openai("responses_create", model=model, input=[*USER_MESSAGES, *history, *outputs],
                               tools=RESPONSES_TOOLS))
    assert [part["text"] for item in second["output"] if item["type"] == "message" for part in item["content"]] == [
        "Sunny, 14:00."
    ]


@pytest.mark.parametrize("model", RESPONSES_MODELS)
def test_openai_responses_stream_helper(legacy: Legacy, provider: FakeProvider, chunking: str, model: str) -> None:
    provider.reply(thinking="Two tools.", text="Checking.", tool_calls=WEATHER_CALLS, usage=RICH_USAGE)
    final = _ok(legacy.openai("responses_stream_helper", model=model, input=USER_MESSAGES, tools=RESPONSES_TOOLS))
    assert [item["type"] for item in final["output"]] == ["reasoning", "message", "function_call", "function_call"]
    assert [(item["name"], json.loads(item["arguments"])) for item in final["output"][2:]] == WEATHER_CALLS
    assert final["status"] == "completed" and final["usage"]["output_tokens"] == RICH_USAGE.output


@pytest.mark.parametrize("model", RESPONSES_MODELS)
def test_openai_responses_previous_response_id_chain(legacy: Legacy, provider: FakeProvider, model: str) -> None:
    previous = None
    for text, user in [("Hi Ada.", "I am Ada."), ("You are Ada.", "Who am I?"), ("Asked twice.", "Again?")]:
        provider.reply(text=text)
        extra = {"previous_response_id": previous} if previous else {}
        previous = _ok(legacy.openai("responses_stream_helper", model=model, input=user, **extra))["id"]
    upstream = json.dumps(provider.last.request.json)
    for earlier in ("I am Ada.", "Hi Ada.", "Who am I?", "You are Ada."):
        assert earlier in upstream, "turns 1 and 2 were replayed in front of turn 3"


def test_openai_responses_raw_stream_events(legacy: Legacy, provider: FakeProvider, chunking: str) -> None:
    provider.reply(text="Hello.")
    events = _ok(legacy.openai("responses_create_stream", model="claude-sonnet-4-6", input="Hi"))
    kinds = [event["type"] for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert [event["sequence_number"] for event in events] == list(range(len(events)))


# Anthropic 0.x ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("model", "backend"), [("gpt-5.1", "openai"), ("claude-sonnet-4-6", "anthropic")])
def test_anthropic_non_stream(legacy: Legacy, provider: FakeProvider, model: str, backend: str) -> None:
    provider.reply(text="It is sunny.", usage=RICH_USAGE)
    message = _ok(legacy.anthropic("create", model=model, max_tokens=300, messages=USER_MESSAGES))
    assert [block["type"] for block in message["content"]] == ["text"]
    assert message["content"][0]["text"] == "It is sunny."
    assert message["stop_reason"] == "end_turn"
    assert message["usage"]["input_tokens"] == RICH_USAGE.input
    assert message["usage"]["cache_read_input_tokens"] == RICH_USAGE.cache_read
    assert_upstream_credentials(provider.last.request, backend)  # 0.x sent x-api-key (P21)


@pytest.mark.parametrize("model", ["gpt-5.1", "claude-sonnet-4-6"])
def test_anthropic_stream_helper(legacy: Legacy, provider: FakeProvider, chunking: str, model: str) -> None:
    provider.reply(thinking="Two tools needed.", text="Checking.", tool_calls=WEATHER_CALLS, usage=RICH_USAGE)
    final = _ok(legacy.anthropic(
        "stream_helper", model=model, max_tokens=300, messages=USER_MESSAGES,
        tools=anthropic_tools("get_weather", "get_time"),
    ))
    assert [block["type"] for block in final["content"]] == ["thinking", "text", "tool_use", "tool_use"]
    assert [(block["name"], block["input"]) for block in final["content"][2:]] == WEATHER_CALLS
    assert final["stop_reason"] == "tool_use"
    assert final["usage"]["input_tokens"] == RICH_USAGE.input
    assert final["usage"]["output_tokens"] == RICH_USAGE.output


def test_anthropic_raw_stream_events(legacy: Legacy, provider: FakeProvider, chunking: str) -> None:
    """0.x whitelists event names (docs/protocol-rules.md#sse-framing): an unknown or missing name would
    drop events."""
    provider.reply(text="Hello.", tool_calls=WEATHER_CALLS[:1])
    events = _ok(legacy.anthropic("create_stream", model="gpt-5.1", max_tokens=300, messages=USER_MESSAGES))
    kinds = [event["type"] for event in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds.count("content_block_start") == 2


def test_anthropic_translated_errors(legacy: Legacy, provider: FakeProvider) -> None:
    provider.reply(error=(503, None))
    outcome = legacy.anthropic("create", model="gpt-5.1", max_tokens=300, messages=USER_MESSAGES)
    assert not outcome["ok"] and outcome["error_class"] == "OverloadedError" and outcome["status"] == 529
    provider.reply(text="cut", fail_midstream=True)
    outcome = legacy.anthropic("stream_helper", model="gpt-5.1", max_tokens=300, messages=USER_MESSAGES)
    assert not outcome["ok"] and outcome["error_class"] == "APIStatusError", outcome


def test_anthropic_count_tokens_translated(legacy: Legacy, provider: FakeProvider) -> None:
    counted = _ok(legacy.anthropic("count_tokens", model="gpt-5.1", messages=USER_MESSAGES))
    assert counted["input_tokens"] > 0
    assert provider.exchanges == []
