"""Every process of the tree under ``router shim -- python agent.py`` reaches the router.

Python processes route in-process, also when their SDK reads the base URL the host set (the proxy's);
the others — ``curl`` started by a Python program, the ``claude`` CLI that claude-agent-sdk runs —
reach it through the proxy the host runs, and their calls are counted in the summary, ``-v`` and
``router stats``, named after the process that made them. The fake provider is the only upstream.
"""

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
from fakes import BACKEND_KEYS, FakeProvider
from shim_support import ShimResult, base_env, router_command, run_shim, write_router_home, write_script

from shim.env_names import PLACEHOLDER_API_KEY

CLAUDE_CODE_VERSION = "2.1.332"  # the CLI the claude-agent lock's wheel bundles (the project's pinned one)


@pytest.fixture
def home(tmp_path: Path, provider: FakeProvider) -> Path:
    """A ROUTER_HOME of this test's own (its telemetry store starts empty)."""
    path = tmp_path / "router-home"
    write_router_home(path, provider.root_url)
    return path


def stored_events(home: Path) -> List[Dict[str, Any]]:
    """Every event ``router stats`` reads, with the columns that say who made the call and how."""
    connection = sqlite3.connect(str(home / "telemetry.db"))
    connection.row_factory = sqlite3.Row
    try:
        rows = connection.execute("SELECT source, pid, ppid, program, backend, requested_model FROM events ORDER BY id")
        return [dict(row) for row in rows]
    finally:
        connection.close()


def stats_by_program(home: Path) -> Dict[str, int]:
    done = subprocess.run([*router_command(), "stats", "--since", "all", "--json", "--by", "program"],
                          env=base_env(home), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return {group["key"]: group["calls"] for group in json.loads(done.stdout)["groups"]}


CURL_SCRIPT = """
import os, shutil, subprocess

def curl(url, body, *headers):
    argv = ["curl", "-s", "--max-time", "20", url, "-H", "content-type: application/json"]
    for header in headers:
        argv += ["-H", header]
    done = subprocess.run(argv + ["-d", json.dumps(body)], capture_output=True, text=True, check=True, timeout=30)
    return json.loads(done.stdout)

prompt = [{"role": "user", "content": "hi"}]
chat = curl(os.environ["OPENAI_BASE_URL"] + "/chat/completions", {"model": "claude-sonnet-4-6", "messages": prompt},
            "authorization: Bearer " + os.environ["OPENAI_API_KEY"])
message = curl(os.environ["ANTHROPIC_BASE_URL"] + "/v1/messages",
               {"model": "gpt-5.1", "max_tokens": 64, "messages": prompt},
               "x-api-key: " + os.environ["ANTHROPIC_API_KEY"], "anthropic-version: 2023-06-01")
report({"pid": os.getpid(), "chat": chat["choices"][0]["message"]["content"], "message": message["content"][0]["text"]})
"""


def test_curl_started_by_a_python_program_reaches_the_router(provider: FakeProvider, home: Path,
                                                             workdir: Path) -> None:
    assert shutil.which("curl"), "this test needs curl on PATH"
    provider.reply(text="from anthropic")
    provider.reply(text="from openai")
    ran = run_shim([sys.executable, str(write_script(workdir, CURL_SCRIPT))], home, flags=["-v"], cwd=workdir)
    assert ran.returncode == 0, ran.explain()
    result = ran.result()
    assert (result["chat"], result["message"]) == ("from anthropic", "from openai")
    first, second = provider.requests
    assert (first.path, first.header("x-api-key")) == ("/v1/messages", BACKEND_KEYS["anthropic"])
    assert (second.path, second.header("authorization")) == ("/v1/chat/completions", f"Bearer {BACKEND_KEYS['openai']}")
    # Counted everywhere, and named after the process that made each call.
    assert "router shim: 2 calls, 0 errors" in ran.stderr, ran.explain()
    assert "2 calls came through the proxy from processes without the shim" in ran.stderr, ran.explain()
    assert ran.stderr.count(f" curl (child of {result['pid']})") == 2, ran.explain()
    assert "openai chat claude-sonnet-4-6 → anthropic/claude-sonnet-4-6 (translated) · 200" in ran.stderr
    assert "anthropic messages gpt-5.1 → openai/gpt-5.1 (translated) · 200" in ran.stderr
    events = stored_events(home)
    assert [(e["source"], e["program"], e["ppid"]) for e in events] == [("proxy", "curl", result["pid"])] * 2
    assert stats_by_program(home) == {"curl": 2}


SDK_SCRIPT = """
import os, openai
reply = openai.OpenAI(max_retries=0).chat.completions.create(  # base URL and key: from the environment
    model="claude-sonnet-4-6", messages=[{"role": "user", "content": "hi"}])
report({"pid": os.getpid(), "base_url": os.environ["OPENAI_BASE_URL"], "proxy": os.environ["ROUTER_SHIM_PROXY_URL"],
        "text": reply.choices[0].message.content})
"""


def test_python_sdk_reading_the_proxy_base_url_is_served_in_process(provider: FakeProvider, home: Path,
                                                                    workdir: Path) -> None:
    provider.reply(text="in-process")
    ran = run_shim([sys.executable, str(write_script(workdir, SDK_SCRIPT))], home, flags=["-v"], cwd=workdir)
    assert ran.returncode == 0, ran.explain()
    result = ran.result()
    assert result["base_url"] == result["proxy"] + "/v1"  # the SDK aimed at the proxy…
    assert result["text"] == "in-process"
    assert [r.path for r in provider.requests] == ["/v1/messages"]  # …the fake saw one call…
    assert provider.last.request.header("x-api-key") == BACKEND_KEYS["anthropic"]
    # …made by the shim in the program's own process: the proxy served nothing.
    events = stored_events(home)
    assert [(e["source"], e["pid"], e["backend"]) for e in events] == [("shim", result["pid"], "anthropic")]
    assert f"router: pid {result['pid']} openai chat claude-sonnet-4-6 → anthropic" in ran.stderr
    assert "through the proxy" not in ran.stderr, ran.explain()


GRANDCHILD_SCRIPT = """
import os, openai
client = openai.OpenAI(max_retries=0)  # OPENAI_BASE_URL: the proxy, set by the host over the user's own
routed = client.chat.completions.create(model="claude-sonnet-4-6", messages=[{"role": "user", "content": "hi"}])
unrouted = client.chat.completions.create(model="mystery-model", messages=[{"role": "user", "content": "hi"}])
report({"base_url": os.environ["OPENAI_BASE_URL"], "user": os.environ["ROUTER_SHIM_USER_OPENAI_BASE_URL"],
        "texts": [routed.choices[0].message.content, unrouted.choices[0].message.content]})
"""


def test_unrouted_call_aimed_at_the_proxy_goes_to_the_users_own_base_url(provider: FakeProvider, home: Path,
                                                                          workdir: Path) -> None:
    """A non-Python CMD gets the proxy's base URLs over the user's own; its Python grandchild routes a
    known model in-process and sends a model with no route where the user pointed it (here the fake),
    unchanged, with its own credentials — as without the router."""
    provider.reply(text="routed")
    provider.reply(text="the user's server")
    script = write_script(workdir, GRANDCHILD_SCRIPT)
    users_url = provider.root_url + "/v1"
    ran = run_shim(["sh", "-c", f'exec "{sys.executable}" "{script}"'], home, cwd=workdir,
                   env={"OPENAI_BASE_URL": users_url})
    assert ran.returncode == 0, ran.explain()
    result = ran.result()
    assert result["base_url"] != users_url and result["user"] == users_url
    assert result["texts"] == ["routed", "the user's server"]
    routed, unrouted = provider.requests
    assert routed.path == "/v1/messages" and routed.header("x-api-key") == BACKEND_KEYS["anthropic"]
    assert unrouted.path == "/v1/chat/completions" and unrouted.json["model"] == "mystery-model"
    assert unrouted.header("authorization") == f"Bearer {PLACEHOLDER_API_KEY}"  # the program's own
    assert [(e["source"], e["backend"]) for e in stored_events(home)] == [("shim", "anthropic"), ("shim", None)]
    assert "through the proxy" not in ran.stderr, ran.explain()


# claude-agent-sdk ------------------------------------------------------------------------------
AGENT_SCRIPT = """
import os, anyio
from claude_agent_sdk import AssistantMessage, ClaudeAgentOptions, ResultMessage, TextBlock, query
from claude_agent_sdk._cli_version import __cli_version__

async def main():
    texts, errors = [], []
    options = ClaudeAgentOptions(model=sys.argv[1], max_turns=1)
    async for message in query(prompt="Say hello.", options=options):
        if isinstance(message, AssistantMessage):
            texts += [block.text for block in message.content if isinstance(block, TextBlock)]
        if isinstance(message, ResultMessage) and message.is_error:
            errors.append(message.result)
    report({"pid": os.getpid(), "cli": __cli_version__, "texts": texts, "errors": errors})

anyio.run(main)
"""
# Claude Code's default model in this version: it gets mid-conversation system messages (a role
# "system" entry inside ``messages``), which a translation to an OpenAI backend has to carry.
CLAUDE_MODEL = "claude-opus-5-5"


def run_claude_agent(python: str, provider: FakeProvider, home: Path, workdir: Path) -> ShimResult:
    for _ in range(4):  # Claude Code may make more than one call for one prompt
        provider.reply(text="hello from the fake")
    claude_home = workdir / "claude-home"  # the CLI writes its settings and sessions under HOME
    claude_home.mkdir()
    env = {"HOME": str(claude_home), "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
    script = write_script(workdir, AGENT_SCRIPT)
    return run_shim([python, str(script), CLAUDE_MODEL], home, flags=["-v"], cwd=workdir, env=env, timeout=300)


def check_claude_agent_run(ran: ShimResult, provider: FakeProvider, home: Path, upstream_path: str) -> None:
    assert ran.returncode == 0, ran.explain()
    result = ran.result()
    assert result["cli"] == CLAUDE_CODE_VERSION
    assert result["texts"] == ["hello from the fake"] and result["errors"] == [], ran.explain()
    assert provider.requests and {r.path for r in provider.requests} == {upstream_path}
    events = stored_events(home)
    assert events and all(e["source"] == "proxy" and e["program"] == "claude" for e in events), events
    assert all(e["ppid"] == result["pid"] and e["requested_model"] == CLAUDE_MODEL for e in events), events
    calls = f"{len(events)} calls, " if len(events) > 1 else ""
    assert "came through the proxy from processes without the shim" in ran.stderr, ran.explain()
    assert f" claude ({calls}child of {result['pid']})" in ran.stderr, ran.explain()


def test_claude_agent_sdk_query_to_an_anthropic_backend(claude_agent_python: str, provider: FakeProvider,
                                                        home: Path, workdir: Path) -> None:
    ran = run_claude_agent(claude_agent_python, provider, home, workdir)
    # Claude Code's ?beta=true goes on, as it would without the router (docs/protocol-rules.md#forwarded-headers).
    check_claude_agent_run(ran, provider, home, "/v1/messages?beta=true")
    assert all(r.header("x-api-key") == BACKEND_KEYS["anthropic"] for r in provider.requests)
    assert f"anthropic messages {CLAUDE_MODEL} → anthropic/{CLAUDE_MODEL} (stream) · 200" in ran.stderr


def test_claude_agent_sdk_query_routed_to_an_openai_backend(claude_agent_python: str, provider: FakeProvider,
                                                            home: Path, workdir: Path) -> None:
    config = home / "config.toml"
    config.write_text(config.read_text() + '\n[[routes]]\nmatch = "claude-*"\nbackend = "openai"\n')
    ran = run_claude_agent(claude_agent_python, provider, home, workdir)
    check_claude_agent_run(ran, provider, home, "/v1/chat/completions")
    assert all(r.header("authorization") == f"Bearer {BACKEND_KEYS['openai']}" for r in provider.requests)


def test_no_key_reaches_any_process_of_the_tree(provider: FakeProvider, home: Path, workdir: Path) -> None:
    """What every descendant inherits: the proxy's base URLs and placeholders, never a backend key."""
    script = write_script(workdir, "import subprocess\nreport(subprocess.run(['env'], capture_output=True, "
                                   "text=True, check=True).stdout.splitlines())")
    ran = run_shim([sys.executable, str(script)], home, cwd=workdir)
    assert ran.returncode == 0, ran.explain()
    env = dict(line.split("=", 1) for line in ran.result() if "=" in line)
    proxy = env["ROUTER_SHIM_PROXY_URL"]
    assert (env["OPENAI_BASE_URL"], env["ANTHROPIC_BASE_URL"]) == (proxy + "/v1", proxy)
    assert env["OPENAI_API_KEY"] == env["ANTHROPIC_API_KEY"] == PLACEHOLDER_API_KEY
    assert not any(key in value for value in env.values() for key in BACKEND_KEYS.values())
