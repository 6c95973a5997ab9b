"""The SDKs' aiohttp clients, plain aiohttp, LiteLLM and LangChain in real children under ``router shim``.

Every call is checked three ways: the fake provider got it in the *backend's* protocol with the
backend's real key (never the placeholder the child sees), the program got the right text or tool
call back, and the host's stderr summary counted it. No test sets an API key.
"""

import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest
from fakes import FakeProvider
from pinned_envs import pinned_python
from shim_support import BACKEND_KEYS, ShimResult, run_shim, write_script

from shim.env_names import PLACEHOLDER_API_KEY

TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}
WEATHER_CALL = ("get_weather", {"city": "Paris"})
BACKEND_PATHS = {"anthropic": "/v1/messages", "openai": "/v1/chat/completions"}
# LiteLLM must not fetch its price map from the internet (the network guard would refuse it anyway).
LITELLM_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}

def _run(interpreter: str, script: str, home: Path, workdir: Path, env: Optional[Dict[str, str]] = None) -> ShimResult:
    ran = run_shim([interpreter, str(write_script(workdir, script))], home, cwd=workdir, env=env)
    assert ran.returncode == 0, ran.explain()
    return ran


def _assert_backend_saw(provider: FakeProvider, expected: Sequence[Tuple[str, str]]) -> None:
    """The fake got exactly these (backend, upstream model) calls, in order, each in the backend's
    protocol and with the backend's real key."""
    calls = [request for request in provider.requests if request.path.split("?")[0] in BACKEND_PATHS.values()]
    seen = [(_backend_of(request.path), (request.json or {}).get("model")) for request in calls]
    assert seen == list(expected), [request.path for request in provider.requests]
    for request, (backend, _) in zip(calls, expected, strict=True):
        key = request.header("x-api-key") if backend == "anthropic" else request.header("authorization")
        assert key == (BACKEND_KEYS[backend] if backend == "anthropic" else f"Bearer {BACKEND_KEYS[backend]}")
        assert PLACEHOLDER_API_KEY not in json.dumps(request.headers)


def _backend_of(path: str) -> str:
    return "anthropic" if path.split("?")[0] == BACKEND_PATHS["anthropic"] else "openai"


def _assert_counted(ran: ShimResult, calls: int) -> None:
    """The host's summary counted exactly ``calls`` calls and no error (streams included: a stream
    an SDK stops reading at its end marker is complete, not abandoned)."""
    headline = f"router shim: {calls} calls, 0 errors"
    assert headline in ran.stderr, f"expected {headline!r}\n{ran.stderr}"


def _summary(ran: ShimResult) -> str:
    return " | ".join(line.strip() for line in ran.stderr.splitlines() if line.startswith(("router shim:", "  ")))


def _queue(provider: FakeProvider, *replies: Any) -> None:
    for reply in replies:
        if isinstance(reply, tuple):
            provider.reply(tool_calls=[reply])
        else:
            provider.reply(text=reply)


# 1. The SDKs' DefaultAioHttpClient ---------------------------------------------------------
OPENAI_AIOHTTP_SCRIPT = """
import asyncio, openai
MESSAGES = [{"role": "user", "content": "weather?"}]

async def text_of(stream):
    return "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])

async def main():
    out = {}
    async with openai.AsyncOpenAI(http_client=openai.DefaultAioHttpClient(), max_retries=0) as client:
        out["transport"] = type(client._client._transport).__name__
        reply = await client.chat.completions.create(model="claude-sonnet-4-6", messages=MESSAGES, tools=[TOOL])
        call = reply.choices[0].message.tool_calls[0]
        out["translated"] = [call.function.name, json.loads(call.function.arguments)]
        stream = await client.chat.completions.create(model="claude-sonnet-4-6", messages=MESSAGES, stream=True)
        out["translated_stream"] = await text_of(stream)
        same = await client.chat.completions.create(model="gpt-5.1", messages=MESSAGES)
        out["same"] = same.choices[0].message.content
        stream = await client.chat.completions.create(model="gpt-5.1", messages=MESSAGES, stream=True)
        out["same_stream"] = await text_of(stream)
    report(out)

asyncio.run(main())
""".replace("TOOL", json.dumps(TOOL))

ANTHROPIC_AIOHTTP_SCRIPT = """
import asyncio, anthropic
MESSAGES = [{"role": "user", "content": "weather?"}]
TOOLS = [{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]

async def main():
    out = {}
    async with anthropic.AsyncAnthropic(http_client=anthropic.DefaultAioHttpClient(), max_retries=0) as client:
        out["transport"] = type(client._client._transport).__name__
        reply = await client.messages.create(model="gpt-5.1", max_tokens=50, messages=MESSAGES, tools=TOOLS)
        use = [block for block in reply.content if block.type == "tool_use"][0]
        out["translated"] = [use.name, use.input]
        async with client.messages.stream(model="gpt-5.1", max_tokens=50, messages=MESSAGES) as stream:
            out["translated_stream"] = "".join([text async for text in stream.text_stream])
        same = await client.messages.create(model="claude-sonnet-4-6", max_tokens=50, messages=MESSAGES)
        out["same"] = same.content[0].text
        async with client.messages.stream(model="claude-sonnet-4-6", max_tokens=50, messages=MESSAGES) as stream:
            out["same_stream"] = "".join([text async for text in stream.text_stream])
    report(out)

asyncio.run(main())
"""

AIOHTTP_SDK_CASES = {
    # sdk: (script, translated backend/model, same-protocol backend/model)
    "openai": (OPENAI_AIOHTTP_SCRIPT, ("anthropic", "claude-sonnet-4-6"), ("openai", "gpt-5.1")),
    "anthropic": (ANTHROPIC_AIOHTTP_SCRIPT, ("openai", "gpt-5.1"), ("anthropic", "claude-sonnet-4-6")),
}


@pytest.mark.parametrize("sdk", sorted(AIOHTTP_SDK_CASES))
def test_default_aiohttp_client_translated_and_same_protocol_streams(
    sdk: str, provider: FakeProvider, router_home: Path, workdir: Path
) -> None:
    script, translated, same = AIOHTTP_SDK_CASES[sdk]
    _queue(provider, WEATHER_CALL, "translated stream", "same protocol", "same stream")
    ran = _run(sys.executable, script, router_home, workdir)
    result = ran.result()
    assert "Aiohttp" in result.pop("transport")  # really the aiohttp-backed client, not httpx2's own
    assert result == {
        "translated": ["get_weather", {"city": "Paris"}],
        "translated_stream": "translated stream",
        "same": "same protocol",
        "same_stream": "same stream",
    }
    _assert_backend_saw(provider, [translated, translated, same, same])
    _assert_counted(ran, 4)


# 2. Plain aiohttp: routed calls are handed to the host's proxy; other requests are untouched ---
PLAIN_AIOHTTP_SCRIPT = """
import asyncio, aiohttp, os
MESSAGES = [{"role": "user", "content": "hi"}]

def anthropic_text(lines):
    deltas = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    return "".join(d["delta"]["text"] for d in deltas if d["type"] == "content_block_delta")

async def main():
    out = {}
    async with aiohttp.ClientSession() as session:
        body = {"model": "claude-sonnet-4-6", "stream": True, "messages": MESSAGES}
        async with session.post("https://api.openai.com/v1/chat/completions", json=body,
                                headers={"authorization": "Bearer program-key"}) as response:
            lines = [line.decode().strip() async for line in response.content]
            out["openai_stream"] = [response.status, openai_stream_text(lines)]
        body = {"model": "gpt-5.1", "max_tokens": 50, "stream": True, "messages": MESSAGES}
        async with session.post("https://api.anthropic.com/v1/messages", data=json.dumps(body),
                                headers={"x-api-key": "program-key", "anthropic-version": "2023-06-01"}) as response:
            lines = []
            async for chunk in response.content.iter_any():  # raw reads, as they arrive
                lines.append(chunk)
            text = b"".join(lines).decode()
            out["anthropic_stream"] = [response.status, anthropic_text(text.splitlines())]
        async with session.get(os.environ["FAKE_ROOT"] + "/not-an-llm-path?x=1",
                               headers={"authorization": "Bearer program-key"}) as response:
            out["other"] = [response.status, (await response.read()).decode()]
    # A session with base_url= joins relative paths inside _request: the shim must judge the joined URL.
    async with aiohttp.ClientSession(base_url="https://api.openai.com/v1/") as session:
        body = {"model": "gpt-5.1", "messages": MESSAGES}
        async with session.post("chat/completions", json=body) as response:
            out["base_url"] = [response.status, (await response.json())["choices"][0]["message"]["content"]]
    report(out)

asyncio.run(main())
"""


def test_plain_aiohttp_streams_are_handed_to_the_proxy_and_other_requests_untouched(
    provider: FakeProvider, router_home: Path, workdir: Path
) -> None:
    _queue(provider, "one two three", "four five", "joined to base_url")
    script = write_script(workdir, PLAIN_AIOHTTP_SCRIPT.replace("out = {}", "out = {'pid': os.getpid()}", 1))
    ran = run_shim([sys.executable, str(script)], router_home, flags=["-v"], cwd=workdir,
                   env={"FAKE_ROOT": provider.root_url})
    assert ran.returncode == 0, ran.explain()
    result = ran.result()
    child_pid = result.pop("pid")
    # Handed to the host's proxy, the calls are still the child's: -v and the events name its pid.
    call_lines = [line for line in ran.stderr.splitlines() if line.startswith("router: pid ")]
    assert len(call_lines) == 3 and all(line.startswith(f"router: pid {child_pid} ") for line in call_lines)
    assert not any(h.request.header("x-router-caller") for h in provider.exchanges)  # never sent upstream
    assert result["openai_stream"] == [200, "one two three"]
    assert result["anthropic_stream"] == [200, "four five"]
    assert result["base_url"] == [200, "joined to base_url"]
    _assert_backend_saw(provider, [("anthropic", "claude-sonnet-4-6"), ("openai", "gpt-5.1"), ("openai", "gpt-5.1")])
    (other,) = [exchange for exchange in provider.exchanges if exchange.request.path.startswith("/not-an-llm")]
    assert other.request.path == "/not-an-llm-path?x=1"
    assert other.request.header("authorization") == "Bearer program-key"  # not rewritten
    assert result["other"] == [404, other.sent_body.decode()]
    _assert_counted(ran, 3)  # the GET is no LLM call: not counted


# 3. LiteLLM --------------------------------------------------------------------------------
LITELLM_SCRIPT = """
import asyncio, litellm, importlib.metadata as metadata
MODEL = "LITELLM_MODEL"
MESSAGES = [{"role": "user", "content": "weather?"}]
out = {"versions": [metadata.version("litellm"), metadata.version("openai")]}
# No tools= here: litellm 1.106 then imports its MCP handler, which needs the optional `mcp` package.
reply = litellm.completion(model=MODEL, messages=MESSAGES, max_tokens=50)
out["sync"] = reply.choices[0].message.content
stream = litellm.completion(model=MODEL, messages=MESSAGES, max_tokens=50, stream=True)
out["sync_stream"] = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

async def run_async():
    reply = await litellm.acompletion(model=MODEL, messages=MESSAGES, max_tokens=50)
    stream = await litellm.acompletion(model=MODEL, messages=MESSAGES, max_tokens=50, stream=True)
    text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
    return [reply.choices[0].message.content, text]

out["async"], out["async_stream"] = asyncio.run(run_async())
report(out)
"""

LITELLM_MODELS = {
    "anthropic/claude-sonnet-4-6": ("anthropic", "claude-sonnet-4-6"),
    "openai/gpt-4o-mini": ("openai", "gpt-4o-mini"),
}


@pytest.mark.parametrize("venv", ["frameworks", "litellm-openai3"])
@pytest.mark.parametrize("model", sorted(LITELLM_MODELS))
def test_litellm_completion_and_acompletion_sync_async_stream(
    venv: str, model: str, provider: FakeProvider, router_home: Path, workdir: Path
) -> None:
    python = pinned_python(venv)
    _queue(provider, "sync reply", "sync stream", "async reply", "async stream")
    script = write_script(workdir, LITELLM_SCRIPT.replace("LITELLM_MODEL", model))
    ran = run_shim([python, str(script)], router_home, flags=["-v"], cwd=workdir, env=LITELLM_ENV)
    assert ran.returncode == 0, ran.explain()
    result = ran.result()
    litellm_version, openai_version = result.pop("versions")
    # Each venv exists for one openai major (tests/pinned_envs.py): make sure the program ran on it.
    assert openai_version.startswith("3.") == (venv == "litellm-openai3"), (litellm_version, openai_version)
    assert result == {
        "sync": "sync reply",
        "sync_stream": "sync stream",
        "async": "async reply",
        "async_stream": "async stream",
    }
    _assert_backend_saw(provider, [LITELLM_MODELS[model]] * 4)
    _assert_counted(ran, 4)


# 4. LangChain ------------------------------------------------------------------------------
LANGCHAIN_SCRIPT = """
from langchain_anthropic import ChatAnthropic
from langchain_openai import ChatOpenAI

out = {}
chat_openai = ChatOpenAI(model="claude-sonnet-4-6", max_retries=0)
reply = chat_openai.bind_tools([TOOL]).invoke("weather?")
out["openai_invoke"] = [[call["name"], call["args"]] for call in reply.tool_calls]
out["openai_stream"] = "".join(chunk.content for chunk in chat_openai.stream("hi"))
chat_anthropic = ChatAnthropic(model="gpt-4o-mini", max_tokens=50, max_retries=0)
out["anthropic_invoke"] = chat_anthropic.invoke("hi").content
out["anthropic_stream"] = "".join(chunk.text for chunk in chat_anthropic.stream("hi"))
report(out)
""".replace("TOOL", json.dumps(TOOL))


def test_langchain_chat_openai_and_chat_anthropic_cross_protocol(
    provider: FakeProvider, router_home: Path, workdir: Path
) -> None:
    python = pinned_python("frameworks")
    _queue(provider, WEATHER_CALL, "streamed via openai", "anthropic says hi", "anthropic streams")
    ran = _run(python, LANGCHAIN_SCRIPT, router_home, workdir)
    assert ran.result() == {
        "openai_invoke": [["get_weather", {"city": "Paris"}]],
        "openai_stream": "streamed via openai",
        "anthropic_invoke": "anthropic says hi",
        "anthropic_stream": "anthropic streams",
    }
    expected: List[Tuple[str, str]] = [("anthropic", "claude-sonnet-4-6")] * 2 + [("openai", "gpt-4o-mini")] * 2
    _assert_backend_saw(provider, expected)
    _assert_counted(ran, 4)
