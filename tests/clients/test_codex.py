"""Codex CLI 0.171.0, the real CLI, through the router: ``codex exec`` with a Claude model, the way
scripts and CI run it.

Codex speaks only the OpenAI Responses API. The fake plays a model in an agent loop
(``provider.agent_loop``): it asks for ``exec_command`` with ``echo router-$((6*7))``, Codex runs the
command for real (in its own sandbox), and the fake answers once the command's output
(``router-42``) is back in the conversation. Each test checks both sides: what Codex printed, and
what the backend received (path, model, key, tools, the tool round trip).

Two routes: ``anthropic`` (Responses → Messages, composed through Chat) and ``openai``
(``router route add 'claude-*' openai``: Responses → Chat). Two ways to start it: against
``router proxy`` with the custom-provider overrides docs/clients/codex.md gives (web search off:
only OpenAI runs it), and as ``router shim -- codex …``, which adds them itself.
"""

import subprocess
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence

import pytest
from clients_support import (
    BACKEND_KEYS,
    CLIENT_TOKEN,
    CREDENTIAL_HEADERS,
    FALLBACK,
    ClientRun,
    Proxies,
    client_env,
    model_calls,
    run_client,
    tool_results,
    tool_uses,
)
from fakes import AgentLoop, FakeProvider, Reply

from host.demo.conversation import read_conversation
from host.demo.home import router_argv
from shim.env_names import PLACEHOLDER_API_KEY

VERSION = "0.171.0"  # tests/clients/node/package.json pins it; the README's "Works with" table names it
MODEL = "claude-sonnet-4-6"
TOOL, TOOL_INPUT, TOOL_OUTPUT = "exec_command", {"cmd": "echo router-$((6*7))"}, "router-42"
FINAL_TEXT = "The command printed router-42."
PROMPT = "Run `echo router-$((6*7))` and tell me what it printed."
EXEC = ("exec", "--skip-git-repo-check", "-m", MODEL)
# One of the tools Codex groups in a {"type": "namespace"} tool; a backend without namespaces gets it
# flattened as namespace__name (docs/responses-api.md#tools).
NAMESPACED_TOOL = "multi_agent_v1__close_agent"
ROUTES = ("anthropic", "openai")


def proxy_provider(url: str) -> List[str]:
    """What docs/clients/codex.md tells a ``router proxy`` user to pass (a custom provider)."""
    return ["-c", "model_provider=router", "-c", "model_providers.router.name=router",
            "-c", f'model_providers.router.base_url="{url}/v1"', "-c", "model_providers.router.wire_api=responses",
            "-c", 'web_search="disabled"']


def codex(codex_bin: str, argv: Sequence[str], workdir: Path, env: Mapping[str, str], context: str = "") -> ClientRun:
    run = run_client(argv, client_env(workdir / "home", env), workdir / "work")
    return ClientRun(run.argv, run.returncode, run.stdout, run.stderr, context=context)


def launch(codex_bin: str, launcher: str, route: str, homes: Dict[str, Path], proxies: Proxies) -> List[str]:
    if launcher == "shim":
        return router_argv("shim", "--", codex_bin, *EXEC, PROMPT)
    return [codex_bin, *proxy_provider(proxies.url(route)), *EXEC, PROMPT]


def test_the_pinned_version_runs(codex_bin: str) -> None:
    done = subprocess.run([codex_bin, "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.strip() == f"codex-cli {VERSION}", done.stdout + done.stderr


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("launcher", ["proxy", "shim"])
def test_codex_runs_a_tool_through_the_router(
    codex_bin: str, provider: FakeProvider, homes: Dict[str, Path], proxies: Proxies, workdir: Path,
    route: str, launcher: str, chunking: str,
) -> None:
    provider.agent_loop(TOOL, TOOL_INPUT, FINAL_TEXT)
    env = {"ROUTER_HOME": str(homes[route])} if launcher == "shim" else {}
    run = codex(codex_bin, launch(codex_bin, launcher, route, homes, proxies), workdir, env, proxies.output(route))

    assert run.returncode == 0, run.explain()
    assert run.stdout.strip().splitlines()[-1] == FINAL_TEXT, run.explain()
    calls = model_calls(provider, route)
    assert len(calls) == 2, run.explain()  # the tool call, then the answer
    for call in calls:
        _check_call(route, call.json, call.headers)
    _check_tool_round_trip(provider, route, calls)


@pytest.mark.parametrize("launcher", ["proxy", "shim"])
def test_codex_goes_on_when_its_streams_open_with_an_overload(
    codex_bin: str, provider: FakeProvider, fallback_homes: Dict[str, Path], fallback_proxies: Proxies,
    workdir: Path, launcher: str, chunking: str,
) -> None:
    """The route's Anthropic backend begins each stream and sends ``overloaded_error``: the Responses
    stream Codex would get begins with response.created, held until its first content
    (docs/routing.md#errors-a-stream-opens-with), so the OpenAI backend answers and Codex runs its
    tool as on any route."""
    loop = AgentLoop(TOOL, TOOL_INPUT, FINAL_TEXT)
    provider.respond_with(lambda protocol, body: Reply(opening_error=529) if protocol == "anthropic"
                          else loop(protocol, body))
    env = {"ROUTER_HOME": str(fallback_homes[FALLBACK])} if launcher == "shim" else {}
    argv = launch(codex_bin, launcher, FALLBACK, fallback_homes, fallback_proxies)
    run = codex(codex_bin, argv, workdir, env, fallback_proxies.output(FALLBACK))
    assert run.returncode == 0, run.explain()
    assert run.stdout.strip().splitlines()[-1] == FINAL_TEXT, run.explain()
    overloaded = [e for e in provider.exchanges if e.request.path.split("?")[0] == "/v1/messages"]
    assert overloaded and all(b"overloaded_error" in e.sent_body for e in overloaded)
    _check_tool_round_trip(provider, "openai", model_calls(provider, "openai"))


def _check_call(route: str, body: Dict[str, Any], headers: Mapping[str, str]) -> None:
    """The model, the backend's own key (never a client token or the placeholder), Codex's tools with
    its namespace flattened and no web search, and its developer instructions as the system prompt."""
    header, value = CREDENTIAL_HEADERS[route]
    assert body["model"] == MODEL and body["stream"] is True
    assert headers.get(header) == value
    sent = str(headers)
    assert CLIENT_TOKEN not in sent and PLACEHOLDER_API_KEY not in sent
    assert BACKEND_KEYS["anthropic" if route == "openai" else "openai"] not in sent
    tools = read_conversation(route, body).tool_names
    assert TOOL in tools and NAMESPACED_TOOL in tools and "web_search" not in tools
    system = body["system"] if route == "anthropic" else body["messages"][0]["content"]
    assert "You are a coding agent running in the Codex CLI" in str(system)


def _check_tool_round_trip(provider: FakeProvider, route: str, calls: List[Any]) -> None:
    """The exec_command call went out to Codex, which ran it: its real output came back next."""
    answered = [call for call in calls if tool_results(route, call.json)]
    assert len(answered) == 1
    (call_id, name, arguments), = tool_uses(route, answered[0].json)
    assert (name, arguments) == (TOOL, TOOL_INPUT)
    ((result_id, output),) = tool_results(route, answered[0].json)
    assert result_id == call_id and TOOL_OUTPUT in output
    assert any(call_id.encode() in exchange.sent_body for exchange in provider.exchanges if exchange.status == 200)


def test_the_built_in_provider_falls_back_from_websocket_on_its_first_try(
    codex_bin: str, provider: FakeProvider, homes: Dict[str, Path], proxies: Proxies, workdir: Path,
) -> None:
    """Codex's own ``openai`` provider pointed at the proxy tries a WebSocket first; the proxy's 426
    makes it use HTTP at once: one failed handshake, no reconnect attempts (with any other answer
    Codex retries five times with back-off first: docs/clients/codex.md#websocket-fallback)."""
    provider.agent_loop(TOOL, TOOL_INPUT, FINAL_TEXT)
    url = proxies.url("anthropic")
    argv = [codex_bin, "-c", f'openai_base_url="{url}/v1"', "-c", 'web_search="disabled"', *EXEC, PROMPT]
    run = codex(codex_bin, argv, workdir, {"OPENAI_API_KEY": CLIENT_TOKEN}, proxies.output("anthropic"))

    assert run.returncode == 0 and run.stdout.strip().splitlines()[-1] == FINAL_TEXT, run.explain()
    assert run.stderr.count("failed to connect to Responses WebSocket") == 1, run.explain()
    assert "Reconnecting" not in run.stderr, run.explain()
    calls = model_calls(provider, "anthropic")
    assert len(calls) == 2 and all(CLIENT_TOKEN not in str(call.headers) for call in calls)
