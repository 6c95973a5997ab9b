"""Claude Code 2.1.332, the real CLI, through the router: its default model and default tools, run
non-interactively (``claude -p … --output-format json``) the way scripts and CI run it.

Each test checks both sides: what the CLI printed and what the fake provider received (path, model,
key, tools, the tool round trip). The fake plays a model in an agent loop (``provider.agent_loop``):
it asks for ``Bash`` with ``echo router-$((6*7))``, Claude Code runs the command for real, and the
fake answers once the command's output (``router-42``) is back in the conversation.

Two routes: ``anthropic`` (a Claude model to an Anthropic backend: the same protocol, forwarded
unchanged but for the credentials) and ``openai`` (``router route add 'claude-*' openai``: every
request translated). Two ways to start it: against ``router proxy`` with ``ANTHROPIC_BASE_URL`` and
a token of the user's own, and as ``router shim -- claude …``.

What 2.1.332 sends, and the gateway requirements Anthropic publishes for Claude Code that the tests
below check: docs/clients/claude-code.md.
"""

import json
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import httpx
import pytest
from clients_support import (
    BACKEND_KEYS,
    CLIENT_TOKEN,
    CREDENTIAL_HEADERS,
    FALLBACK,
    LAUNCHERS,
    ClientRun,
    Launcher,
    Proxies,
    StreamingRun,
    client_env,
    model_calls,
    roles,
    run_client,
    text_of,
    tool_results,
    tool_uses,
)
from fakes import AgentLoop, FakeProvider, Reply

from host.demo.conversation import read_conversation
from shim.env_names import PLACEHOLDER_API_KEY

VERSION = "2.1.332"  # tests/clients/node/package.json pins it; the README's "Works with" table names it
DEFAULT_MODEL = "claude-opus-5-5"  # what 2.1.332 asks for when given no --model (the tests give none)
# The shell computes the output (6*7): only a command that really ran can send back "router-42".
TOOL, TOOL_INPUT, TOOL_OUTPUT = "Bash", {"command": "echo router-$((6*7))"}, "router-42"
FINAL_TEXT = "The command printed router-42."
PROMPT = "Run `echo router-$((6*7))` with the Bash tool and tell me what it printed."
# -p refuses tools that would need a permission prompt; this allows Bash alone (the flag that skips
# every prompt is refused when running as root, as CI containers do).
ALLOW_BASH = ("--allowedTools", "Bash")
# The auto-updater would fetch a newer release at start-up: the pinned version is the point.
CLAUDE_ENV = {"DISABLE_AUTOUPDATER": "1"}

ROUTE_CASES = [
    pytest.param("anthropic", launcher, id=f"anthropic-{launcher.name}") for launcher in LAUNCHERS
] + [
    pytest.param("openai", launcher, id=f"openai-{launcher.name}") for launcher in LAUNCHERS
]


def claude(
    claude_bin: str, args: Sequence[str], route: str, launcher: Launcher, homes: Mapping[str, Path],
    proxies: Proxies, workdir: Path, env: Optional[Mapping[str, str]] = None,
) -> ClientRun:
    argv, launch_env = launcher.command([claude_bin, *args], route, homes, proxies)
    full_env = client_env(workdir / "home", {**CLAUDE_ENV, **launch_env, **(env or {})})
    run = run_client(argv, full_env, workdir / "work")
    return ClientRun(run.argv, run.returncode, run.stdout, run.stderr, context=proxies.output(route))


def result_of(run: ClientRun) -> Dict[str, Any]:
    """The object of type ``result`` Claude Code prints at the end: the whole ``json`` output, the
    last of the ``stream-json`` lines."""
    return run.last_json(lambda printed: printed.get("type") == "result")


def test_the_pinned_version_runs(claude_bin: str) -> None:
    done = subprocess.run([claude_bin, "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.startswith(f"{VERSION} "), done.stdout + done.stderr


# The agent loop, both routes, both launchers --------------------------------------------------------
@pytest.mark.parametrize(("route", "launcher"), ROUTE_CASES)
def test_claude_code_runs_a_tool_through_the_router(
    claude_bin: str, provider: FakeProvider, homes: Dict[str, Path], proxies: Proxies, workdir: Path,
    route: str, launcher: Launcher, chunking: str,
) -> None:
    provider.agent_loop(TOOL, TOOL_INPUT, FINAL_TEXT)
    run = claude(claude_bin, ["-p", PROMPT, "--output-format", "json", *ALLOW_BASH], route, launcher, homes, proxies,
                 workdir)

    assert run.returncode == 0, run.explain()
    output = result_of(run)
    assert (output["is_error"], output["result"]) == (False, FINAL_TEXT), run.explain()
    calls = model_calls(provider, route)
    assert calls, f"no call reached the {route} backend\n{run.explain()}"
    _check_every_call(route, calls)
    _check_tool_round_trip(provider, route, calls)
    if route == "openai":
        _check_system_message_kept_its_place(calls[0].json, (workdir / "work").resolve())


def _check_every_call(route: str, calls: List[Any]) -> None:
    """The default model, the backend's own key (never the client's token or the shim's
    placeholder), and Claude Code's default tools, Bash among them."""
    header, value = CREDENTIAL_HEADERS[route]
    for call in calls:
        assert call.json["model"] == DEFAULT_MODEL
        assert call.header(header) == value
        sent = json.dumps(call.headers)
        assert CLIENT_TOKEN not in sent and PLACEHOLDER_API_KEY not in sent
        assert BACKEND_KEYS["anthropic" if route == "openai" else "openai"] not in sent
        assert TOOL in read_conversation(route, call.json).tool_names


def _check_tool_round_trip(provider: FakeProvider, route: str, calls: List[Any]) -> None:
    """The call of Bash went out to Claude Code, and the command's real output came back next."""
    answered = [call for call in calls if tool_results(route, call.json)]
    assert len(answered) == 1, [roles(call.json) for call in calls]
    (call_id, name, arguments), = tool_uses(route, answered[0].json)
    assert (name, arguments) == (TOOL, TOOL_INPUT)
    assert tool_results(route, answered[0].json) == [(call_id, TOOL_OUTPUT)]
    asked = [e for e in provider.exchanges if e.status == 200 and call_id.encode() in e.sent_body]
    assert asked, f"the fake never sent a call with id {call_id}"


def _check_system_message_kept_its_place(first: Dict[str, Any], cwd: Path) -> None:
    """Claude Code 2.1.332 puts a system message after the user's first turn (the environment: its
    working directory …); translated, it is a ``system`` message at that place, not hoisted."""
    assert roles(first)[:3] == ["system", "user", "system"], roles(first)
    assert f"Primary working directory: {cwd}" in text_of(first["messages"][2]["content"])
    assert f"Primary working directory: {cwd}" not in text_of(first["messages"][0]["content"])


# Anthropic's published gateway requirements (docs/clients/claude-code.md#gateway-requirements) -------
PROXY = next(launcher for launcher in LAUNCHERS if launcher.name == "proxy")


def test_anthropic_beta_and_version_reach_the_backend_as_sent(
    claude_bin: str, provider: FakeProvider, homes: Dict[str, Path], proxies: Proxies, workdir: Path,
) -> None:
    """Every header Claude Code sends straight to the provider (measured here, not remembered) arrives
    the same through the proxy, but for the credentials and the connection's own framing; its
    ``?beta=true`` too (docs/protocol-rules.md#forwarded-headers)."""
    provider.respond_with(lambda protocol, body: Reply(text="ok"))
    direct_env = {**CLAUDE_ENV, "ANTHROPIC_BASE_URL": provider.root_url, "ANTHROPIC_AUTH_TOKEN": CLIENT_TOKEN}
    (workdir / "home-direct").mkdir()
    direct = run_client([claude_bin, "-p", "hi"], client_env(workdir / "home-direct", direct_env), workdir / "work")
    assert direct.returncode == 0, direct.explain()
    sent = model_calls(provider, "anthropic")[0]
    provider.reset()
    provider.respond_with(lambda protocol, body: Reply(text="ok"))

    routed = claude(claude_bin, ["-p", "hi"], "anthropic", PROXY, homes, proxies, workdir)

    assert routed.returncode == 0, routed.explain()
    received = model_calls(provider, "anthropic")[0]
    assert "claude-code-20250219" in (sent.header("anthropic-beta") or "")
    for name in ("anthropic-beta", "anthropic-version"):
        assert received.header(name) == sent.header(name), name
    connection = {"host", "content-length", "connection", "accept-encoding", "authorization", "x-api-key"}
    sent_names, received_names = set(sent.headers) - connection, set(received.headers) - connection
    assert sent_names == received_names, (sent_names ^ received_names)
    session = "x-claude-code-session-id"  # one per run: the two runs have their own
    assert {name: received.header(name) for name in sent_names - {session}} == {
        name: sent.header(name) for name in sent_names - {session}}
    assert received.path == sent.path == "/v1/messages?beta=true"


def test_the_stream_reaches_claude_code_as_it_arrives(
    claude_bin: str, provider: FakeProvider, homes: Dict[str, Path], proxies: Proxies, workdir: Path, chunking: str,
) -> None:
    """The backend writes the first words, then waits: Claude Code prints them (a partial-message
    event) while the backend still holds the rest. A proxy that buffered would show nothing."""
    words = "streamed-first streamed-second streamed-third"
    provider.reply(text=words, hold_after_events=4)  # message_start, ping, block start, first delta
    args = ["-p", "hi", "--output-format", "stream-json", "--verbose", "--include-partial-messages"]
    argv, launch_env = PROXY.command([claude_bin, *args], "anthropic", homes, proxies)
    run = StreamingRun(argv, client_env(workdir / "home", {**CLAUDE_ENV, **launch_env}), workdir / "work")
    try:
        first = run.wait_for(lambda line: '"text_delta"' in line, timeout=10)
        held = provider.holding.is_set() and not provider.release.is_set()
    finally:
        provider.release.set()
        finished = run.finish()
    assert first is not None and json.loads(first)["event"]["delta"]["text"] == "streamed-first ", finished.explain()
    assert held and not provider.hold_timed_out
    assert finished.returncode == 0 and result_of(finished)["result"] == words, finished.explain()


@pytest.mark.parametrize("route", ["anthropic", "openai"])
def test_claude_code_runs_a_tool_on_a_backend_that_answers_its_streams_whole(
    claude_bin: str, provider: FakeProvider, homes: Dict[str, Path], proxies: Proxies, workdir: Path, route: str,
    chunking: str,
) -> None:
    """A server that ignores ``stream: true`` and answers with one JSON body: the router streams it
    to Claude Code (docs/protocol-rules.md#whole-answers-to-streams), which runs its tool and
    answers. Before, the same-protocol route gave it an empty stream; the translated one an error."""
    provider.agent_loop(TOOL, TOOL_INPUT, FINAL_TEXT)
    provider.answers_streams_whole = True
    run = claude(claude_bin, ["-p", PROMPT, "--output-format", "json", *ALLOW_BASH], route, PROXY, homes, proxies,
                 workdir)
    assert run.returncode == 0, run.explain()
    assert (result_of(run)["is_error"], result_of(run)["result"]) == (False, FINAL_TEXT), run.explain()
    calls = model_calls(provider, route)
    assert any(call.json.get("stream") is True for call in calls)
    assert not any(exchange.stream for exchange in provider.exchanges)  # every answer went whole
    _check_tool_round_trip(provider, route, calls)


@pytest.mark.parametrize("launcher", LAUNCHERS, ids=[launcher.name for launcher in LAUNCHERS])
def test_claude_code_goes_on_when_its_streams_open_with_an_overload(
    claude_bin: str, provider: FakeProvider, fallback_homes: Dict[str, Path], fallback_proxies: Proxies,
    workdir: Path, launcher: Launcher, chunking: str,
) -> None:
    """The Anthropic backend begins every stream, then sends ``overloaded_error`` (as Anthropic does
    under load); the route's second backend answers instead (docs/routing.md#errors-a-stream-opens-with).
    Claude Code runs its tool and answers, and sees no error: before, the overload reached it
    in-band, after message_start, and the fallback never ran."""
    loop = AgentLoop(TOOL, TOOL_INPUT, FINAL_TEXT)
    provider.respond_with(lambda protocol, body: Reply(opening_error=529) if protocol == "anthropic"
                          else loop(protocol, body))
    run = claude(claude_bin, ["-p", PROMPT, "--output-format", "json", *ALLOW_BASH], FALLBACK, launcher,
                 fallback_homes, fallback_proxies, workdir)
    assert run.returncode == 0, run.explain()
    assert (result_of(run)["is_error"], result_of(run)["result"]) == (False, FINAL_TEXT), run.explain()
    overloaded = [e for e in provider.exchanges if e.request.path.split("?")[0] == "/v1/messages"]
    assert overloaded and all(b"overloaded_error" in e.sent_body for e in overloaded)
    _check_tool_round_trip(provider, "openai", model_calls(provider, "openai"))


UPSTREAM_ERROR = {"type": "error", "error": {"type": "invalid_request_error", "message": "upstream-says-no-7731"},
                  "request_id": "req_upstream_7731"}


def test_an_upstream_error_reaches_claude_code_unmodified(
    claude_bin: str, provider: FakeProvider, homes: Dict[str, Path], proxies: Proxies, workdir: Path,
) -> None:
    """Claude Code reports the backend's own status and message (it retries a 400 with a few variants
    of the request first: every one gets the same answer)."""
    provider.respond_with(lambda protocol, body: Reply(error=(400, UPSTREAM_ERROR)))
    run = claude(claude_bin, ["-p", "hi", "--output-format", "json"], "anthropic", PROXY, homes, proxies, workdir)
    output = result_of(run)
    assert run.returncode == 1 and output["is_error"] is True, run.explain()
    assert (output["api_error_status"], output["result"]) == (400, "API Error: 400 upstream-says-no-7731")
    assert {exchange.status for exchange in provider.exchanges if exchange.request.method == "POST"} == {400}


@pytest.mark.parametrize(("status", "headers"), [(400, {}), (429, {"retry-after": "7"}), (529, {})])
def test_upstream_errors_pass_byte_for_byte(
    provider: FakeProvider, proxies: Proxies, status: int, headers: Dict[str, str]
) -> None:
    """The same at the wire: status, body bytes and the headers a client retries on."""
    body = json.dumps({**UPSTREAM_ERROR, "error": {"type": "x_error", "message": f"status {status}"}}).encode()
    provider.reply(error=(status, body), headers=headers)
    request = {"model": DEFAULT_MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    answer = httpx.post(f"{proxies.url('anthropic')}/v1/messages?beta=true", json=request, timeout=30,
                        headers={"anthropic-version": "2023-06-01", "authorization": f"Bearer {CLIENT_TOKEN}"})
    assert (answer.status_code, answer.content) == (status, body)
    assert all(answer.headers.get(name) == value for name, value in headers.items())


def test_claude_code_lists_the_routers_models_in_its_picker(
    claude_bin: str, provider: FakeProvider, homes: Dict[str, Path], proxies: Proxies, workdir: Path,
) -> None:
    """With gateway model discovery on, 2.1.332 asks ``GET /v1/models?limit=1000`` at start-up and
    caches the Claude models of the answer for its ``/model`` picker (``~/.claude/cache``): the
    router's list, in the Anthropic shape, is what lands there."""
    provider.respond_with(lambda protocol, body: Reply(text="ok"))
    run = claude(claude_bin, ["-p", "hi"], "anthropic", PROXY, homes, proxies, workdir,
                 env={"CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY": "1"})
    assert run.returncode == 0, run.explain()
    picker = json.loads((workdir / "home" / ".claude" / "cache" / "gateway-models.json").read_text())

    listed = httpx.get(f"{proxies.url('anthropic')}/v1/models", headers={"anthropic-version": "2023-06-01"},
                       timeout=30).json()["data"]
    offered = [{"id": m["id"], "display_name": m["display_name"]} for m in listed]
    # Claude Code keeps the Claude-looking ids of the list (its own filter): all it keeps is the
    # router's, in the router's order, and the Claude model the backend listed is there.
    assert picker["models"] == [model for model in offered if model in picker["models"]]
    assert {"id": "claude-sonnet-4-6", "display_name": "claude-sonnet-4-6"} in picker["models"]
