"""Real SDK code in real children, routed in-process by ``router shim`` to the loopback fake.

No test sets an API key: the children see placeholders, the fake must see the backends' real keys.
"""

import json
import sys
from pathlib import Path
from typing import Any, List

import pytest
from fakes import FakeProvider
from shim_support import BACKEND_KEYS, run_shim, write_script

from shim.env_names import PLACEHOLDER_API_KEY

TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}

OPENAI_SDK_SCRIPT = """
import asyncio, openai
TOOLS = [TOOL_JSON]
MESSAGES = [{"role": "user", "content": "weather?"}]
client = openai.OpenAI(max_retries=0)
out = {"version": openai.__version__}
sync = client.chat.completions.create(model="claude-sonnet-4-6", messages=MESSAGES, tools=TOOLS)
call = sync.choices[0].message.tool_calls[0]
out["sync"] = [call.function.name, call.function.arguments, sync.choices[0].finish_reason, sync.usage.prompt_tokens]

async def run_async():
    async_client = openai.AsyncOpenAI(max_retries=0)
    reply = await async_client.chat.completions.create(model="claude-sonnet-4-6", messages=MESSAGES)
    return reply.choices[0].message.content

out["async"] = asyncio.run(run_async())
pieces = []
for chunk in client.chat.completions.create(model="claude-sonnet-4-6", messages=MESSAGES, stream=True):
    if chunk.choices and chunk.choices[0].delta.content:
        pieces.append(chunk.choices[0].delta.content)
out["stream"] = "".join(pieces)
report(out)
""".replace("TOOL_JSON", json.dumps(TOOL))

ANTHROPIC_SDK_SCRIPT = """
import anthropic
client = anthropic.Anthropic(max_retries=0)
out = {"version": anthropic.__version__}
for model in ("gpt-5.1", "groq:llama-3.3-70b"):
    with client.messages.stream(model=model, max_tokens=50, messages=[{"role": "user", "content": "hi"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    out[model] = [text, final.stop_reason, final.usage.input_tokens, final.usage.output_tokens]
report(out)
"""


def _queue_openai_sdk_replies(provider: FakeProvider) -> None:
    provider.reply(tool_calls=[("get_weather", {"city": "Paris"})])
    provider.reply(text="async hello")
    provider.reply(text="streamed hello")


def _assert_anthropic_backend_saw_real_key(provider: FakeProvider, calls: int) -> None:
    messages = [request for request in provider.requests if request.path.startswith("/v1/messages")]
    assert len(messages) == calls, [request.path for request in provider.requests]
    for request in messages:
        assert request.header("x-api-key") == BACKEND_KEYS["anthropic"]
        assert PLACEHOLDER_API_KEY not in json.dumps(request.headers)


def _check_openai_result(result: Any) -> None:
    name, arguments, finish, prompt_tokens = result["sync"]
    assert (name, json.loads(arguments), finish) == ("get_weather", {"city": "Paris"}, "tool_calls")
    assert prompt_tokens == 37
    assert result["async"] == "async hello"
    assert result["stream"] == "streamed hello"


@pytest.mark.parametrize("python", ["venv", "legacy", "clean"])
def test_openai_sdk_sync_async_stream_with_tools_routed_to_anthropic_backend(
    python: str, request: pytest.FixtureRequest, provider: FakeProvider, router_home: Path, workdir: Path
) -> None:
    interpreter = {"venv": sys.executable, "legacy": "legacy_python", "clean": "clean_venv_python"}[python]
    if python != "venv":
        interpreter = request.getfixturevalue(interpreter)
    _queue_openai_sdk_replies(provider)
    script = write_script(workdir, OPENAI_SDK_SCRIPT)
    ran = run_shim([interpreter, str(script)], router_home, cwd=workdir)
    assert ran.returncode == 0, ran.explain()
    _check_openai_result(ran.result())
    _assert_anthropic_backend_saw_real_key(provider, 3)
    assert "router shim: 3 calls, 0 errors" in ran.stderr, ran.stderr


@pytest.mark.parametrize("python", ["venv", "legacy"])
def test_anthropic_sdk_streams_gpt_and_groq_models_to_openai_backends(
    python: str, request: pytest.FixtureRequest, provider: FakeProvider, router_home: Path, workdir: Path
) -> None:
    interpreter = sys.executable if python == "venv" else request.getfixturevalue("legacy_python")
    provider.reply(text="from gpt")
    provider.reply(text="from llama")
    ran = run_shim([interpreter, str(write_script(workdir, ANTHROPIC_SDK_SCRIPT))], router_home, cwd=workdir)
    assert ran.returncode == 0, ran.explain()
    result = ran.result()
    assert result["gpt-5.1"] == ["from gpt", "end_turn", 37, 18]
    assert result["groq:llama-3.3-70b"] == ["from llama", "end_turn", 37, 18]
    chats = [r for r in provider.requests if r.path == "/v1/chat/completions"]
    assert [r.json["model"] for r in chats] == ["gpt-5.1", "llama-3.3-70b"]
    assert [r.header("authorization") for r in chats] == [
        f"Bearer {BACKEND_KEYS['openai']}",
        f"Bearer {BACKEND_KEYS['groq']}",
    ]


PLAIN_HTTP_SCRIPT = """
import httpx, requests
BODY = {"model": "claude-sonnet-4-6", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
URL = "https://api.openai.com/v1/chat/completions"
HEADERS = {"authorization": "Bearer whatever-the-program-had"}

with requests.post(URL, json=BODY, headers=HEADERS, stream=True, timeout=30) as response:
    via_requests = openai_stream_text(line.decode() for line in response.iter_lines() if line)
with httpx.stream("POST", URL, json=BODY, headers=HEADERS, timeout=30) as response:
    via_httpx = openai_stream_text(response.iter_lines())
report({"requests": via_requests, "httpx": via_httpx})
"""


def test_plain_requests_and_httpx_streams_are_routed(provider: FakeProvider, router_home: Path, workdir: Path) -> None:
    provider.reply(text="one two three")
    provider.reply(text="four five")
    ran = run_shim([sys.executable, str(write_script(workdir, PLAIN_HTTP_SCRIPT))], router_home, cwd=workdir)
    assert ran.returncode == 0, ran.explain()
    assert ran.result() == {"requests": "one two three", "httpx": "four five"}
    _assert_anthropic_backend_saw_real_key(provider, 2)


UNROUTED_SCRIPT = """
import openai, os
client = openai.OpenAI(base_url=os.environ["FAKE_ROOT"] + "/v1", max_retries=0)
reply = client.chat.completions.create(model="my-unrouted-model", messages=[{"role": "user", "content": "hi"}])
report({"text": reply.choices[0].message.content})
"""


def test_call_without_route_goes_where_it_was_going_untouched(
    provider: FakeProvider, router_home: Path, workdir: Path
) -> None:
    provider.reply(text="direct")
    script = write_script(workdir, UNROUTED_SCRIPT)
    ran = run_shim([sys.executable, str(script)], router_home, cwd=workdir, env={"FAKE_ROOT": provider.root_url})
    assert ran.returncode == 0, ran.explain()
    assert ran.result() == {"text": "direct"}
    (only,) = provider.requests
    assert only.path == "/v1/chat/completions" and only.json["model"] == "my-unrouted-model"
    assert only.header("authorization") == f"Bearer {PLACEHOLDER_API_KEY}"  # untouched: what the SDK sent
    assert "(no route)" in ran.stderr


ENVIRON_SCRIPT = """
import os, subprocess
child = subprocess.run([sys.executable, "-c", "import os, json; print(json.dumps(dict(os.environ)))"],
                       capture_output=True, text=True).stdout
report({"env": dict(os.environ), "grandchild_env": json.loads(child)})
"""


def test_real_keys_never_reach_the_childs_environment(router_home: Path, workdir: Path) -> None:
    ran = run_shim([sys.executable, str(write_script(workdir, ENVIRON_SCRIPT))], router_home, cwd=workdir)
    assert ran.returncode == 0, ran.explain()
    result = ran.result()
    for env in (result["env"], result["grandchild_env"]):
        dumped = json.dumps(env)
        assert not [name for name, key in BACKEND_KEYS.items() if key in dumped]
        assert env["OPENAI_API_KEY"] == env["ANTHROPIC_API_KEY"] == PLACEHOLDER_API_KEY
        assert env["LITELLM_RUST"] == "false"
        assert env["PYTHONPATH"] == env["ROUTER_SHIM_DIR"]
    assert not Path(result["env"]["ROUTER_SHIM_CONFIG"]).exists()  # the run directory is gone


CLEAN_VENV_PROBE = """
import importlib.util
report({name: importlib.util.find_spec(name) is not None for name in ("wrapt", "host", "shim", "click")})
"""


def test_clean_child_venv_has_neither_this_project_nor_wrapt(clean_venv_python: str, workdir: Path) -> None:
    import subprocess

    script = write_script(workdir, CLEAN_VENV_PROBE)
    out = subprocess.run([clean_venv_python, str(script)], cwd=workdir, capture_output=True, text=True, check=True)
    probe = json.loads(out.stdout.split("RESULT ", 1)[1])
    assert probe == {"wrapt": False, "host": False, "shim": False, "click": False}


def _requests_paths(provider: FakeProvider) -> List[str]:
    return [request.path for request in provider.requests]
