"""Library mode in a plain Python process: ``import router; router.activate()`` routes the process's own
calls (the SDKs' httpx2 in-process, aiohttp through the in-process proxy), events go straight to the
store, and ``deactivate()`` puts back every attribute and variable it changed."""

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, List

from fakes import FakeProvider, UsageSpec
from shim_support import BACKEND_KEYS, ShimResult, base_env, run_shim, write_router_home, write_script

from host.config_store import BACKEND_FIELDS
from host.telemetry_store import DB_FILENAME

ACTIVATE_AND_CALL = """
    import asyncio, os
    import aiohttp, httpx2, openai, requests
    import router

    SEAMS = [(httpx2.Client, "_transport_for_url"), (httpx2.AsyncClient, "_transport_for_url"),
             (requests.Session, "get_adapter"), (aiohttp.ClientSession, "_request")]
    originals = [vars(owner)[name] for owner, name in SEAMS]
    first, again = router.activate(), router.activate()
    patched = [vars(owner)[name] is not original for (owner, name), original in zip(SEAMS, originals)]
    client = openai.OpenAI(max_retries=0)
    reply = client.chat.completions.create(model="claude-sonnet-4-6", messages=[{"role": "user", "content": "hi"}])

    async def through_aiohttp():
        async with aiohttp.ClientSession() as session:
            async with session.post("https://api.anthropic.com/v1/messages",
                                    headers={"x-api-key": "unused", "anthropic-version": "2023-06-01"},
                                    json={"model": "gpt-5.1", "max_tokens": 20,
                                          "messages": [{"role": "user", "content": "hi"}]}) as response:
                return response.status, await response.json()

    status, message = asyncio.run(through_aiohttp())
    env_during = {name: os.environ.get(name) for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}
    secrets_in_env = [name for name, value in os.environ.items() if value in SECRETS]
    stopped, stopped_again = router.deactivate(), router.deactivate()
    restored = [vars(owner)[name] is original for (owner, name), original in zip(SEAMS, originals)]
    try:
        client.chat.completions.create(model="claude-sonnet-4-6", messages=[{"role": "user", "content": "hi"}])
        after = "routed"
    except openai.APIConnectionError:
        after = "not routed"
    report({"pid": os.getpid(), "first": first, "again": again, "patched": patched,
            "text": reply.choices[0].message.content, "aiohttp": [status, message["content"][0]["text"]],
            "env_during": env_during,
            "secrets_in_env": secrets_in_env, "stopped": [stopped, stopped_again], "restored": restored,
            "env_after": [name for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY") if name in os.environ],
            "after": after})
"""


def run_python(script: Path, home: Path) -> ShimResult:
    done = subprocess.run([sys.executable, str(script)], cwd=script.parent, env=base_env(home), capture_output=True,
                          text=True, timeout=120, check=False)
    return ShimResult(done.returncode, done.stdout, done.stderr)


def stored_events(home: Path) -> List[Dict[str, Any]]:
    connection = sqlite3.connect(home / DB_FILENAME)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in connection.execute("SELECT * FROM events ORDER BY id")]
    finally:
        connection.close()


def test_activate_routes_records_and_deactivate_restores(tmp_path: Path, provider: FakeProvider,
                                                         workdir: Path) -> None:
    home = tmp_path / "home"
    write_router_home(home, provider.root_url)
    provider.reply(text="routed in-process", usage=UsageSpec(input=11, output=3))
    provider.reply(text="handed to the proxy", usage=UsageSpec(input=7, output=2))
    secrets = f"SECRETS = {sorted(BACKEND_KEYS.values())!r}\n"
    script = write_script(workdir, secrets + textwrap.dedent(ACTIVATE_AND_CALL))
    run = run_python(script, home)
    assert run.returncode == 0, run.explain()
    result = run.result()

    assert (result["first"], result["again"]) == (True, False)
    assert result["patched"] == [True, True, True, True]
    assert result["text"] == "routed in-process"
    assert result["aiohttp"] == [200, "handed to the proxy"]
    assert [request.path for request in provider.requests] == ["/v1/messages", "/v1/chat/completions"]
    # The real keys went on the wire, never into the process's environment (placeholders only).
    assert provider.requests[0].header("x-api-key") == BACKEND_KEYS["anthropic"]
    assert result["env_during"] == {"OPENAI_API_KEY": "router-placeholder-key",
                                    "ANTHROPIC_API_KEY": "router-placeholder-key"}
    assert result["secrets_in_env"] == []
    assert result["stopped"] == [True, False]
    assert result["restored"] == [True, True, True, True]
    assert result["env_after"] == []
    assert result["after"] == "not routed"  # the network guard refused api.openai.com: nothing routes any more

    events = stored_events(home)
    assert [(e["backend"], e["requested_model"], e["input_tokens"], e["pid"]) for e in events] == [
        ("anthropic", "claude-sonnet-4-6", 11, result["pid"]), ("openai", "gpt-5.1", 7, result["pid"])]
    assert all(e["program"] == str(script) and e["cost_usd"] is not None for e in events)


def test_a_broken_configuration_raises_one_line(tmp_path: Path, workdir: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text("[backends.x]\nprotocol = 'openai'\nbase-url = 'http://127.0.0.1:1/v1'\n")
    script = write_script(workdir, """
        import router
        try:
            router.activate()
            report("activated")
        except router.StateFileError as problem:
            report([str(problem), router.is_active()])
    """)
    run = run_python(script, home)
    message, active = run.result()
    known = ", ".join(BACKEND_FIELDS)
    assert message == f"{home / 'config.toml'}: backends.x: unknown field 'base-url' (known: {known})"
    assert active is False


def test_under_router_shim_activate_leaves_the_shim_in_charge(tmp_path: Path, provider: FakeProvider,
                                                              workdir: Path) -> None:
    home = tmp_path / "home"
    write_router_home(home, provider.root_url)
    provider.reply(text="routed by router shim")
    script = write_script(workdir, """
        import openai, router
        activated = router.activate()
        reply = openai.OpenAI(max_retries=0).chat.completions.create(
            model="claude-sonnet-4-6", messages=[{"role": "user", "content": "hi"}])
        report([activated, router.is_active(), router.deactivate(), reply.choices[0].message.content])
    """)
    run = run_shim([sys.executable, str(script)], home, cwd=workdir)
    assert run.returncode == 0, run.explain()
    assert run.result() == [False, False, False, "routed by router shim"]
