"""Qwen Code 0.24.4, the real CLI, through the router in both directions: its OpenAI client asking for a
Claude model (answered by the Anthropic backend) and its Anthropic client asking for a GPT model
(answered by the OpenAI-protocol backend). Run non-interactively (``qwen PROMPT -o json``) with tools
auto-approved (``--approval-mode yolo``), the way scripts and CI run it.

Qwen Code picks its client from ``--auth-type`` (``openai`` or ``anthropic``) and reads the base URL,
key and model from ``OPENAI_BASE_URL``/``OPENAI_API_KEY``/``OPENAI_MODEL`` or
``ANTHROPIC_BASE_URL``/``ANTHROPIC_API_KEY``/``ANTHROPIC_MODEL`` (docs/clients/qwen-code.md).

The fake plays a model in an agent loop (``provider.agent_loop``): it asks for ``read_file`` on a file
the test wrote with a fresh token in it, Qwen Code reads it for real, and the fake answers once the
token is back in the conversation. (``read_file``, not the shell: on a loaded machine 0.24.4's shell
tool sometimes reports a command that printed as having printed nothing.) Each test checks both
sides: the JSON events Qwen Code printed (its tool call and its success, the model that answered,
the final answer) and what the backend received (path, model, key, tools, the tool round trip).
"""

import json
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping

import pytest
from clients_support import (
    BACKEND_KEYS,
    CLIENT_TOKEN,
    CREDENTIAL_HEADERS,
    ClientRun,
    Proxies,
    client_env,
    model_calls,
    run_client,
    tool_results,
    tool_uses,
)
from fakes import FakeProvider

from host.demo.conversation import read_conversation
from host.demo.home import router_argv
from shim.env_names import PLACEHOLDER_API_KEY

VERSION = "0.24.4"  # tests/clients/node/package.json pins it; the README's "Works with" table names it
TOOL = "read_file"
FINAL_TEXT = "The file holds the token."
PROMPT = "Read notes.txt and tell me the token in it."
# yolo: a headless run cannot ask for approval; without it a tool call that needs one is declined (or
# sent to Qwen Code's permission classifier, a model call of its own).
ARGS = ("--approval-mode", "yolo", "-o", "json")
# No yolo notice on stderr. (Anything Qwen Code would fetch for itself, an update check say, meets the
# client tier's network guard.)
QWEN_ENV = {"QWEN_CODE_SUPPRESS_YOLO_WARNING": "1"}


@dataclass(frozen=True)
class Direction:
    """Qwen Code's client protocol, the model it asks for, and the backend that model routes to."""

    auth_type: str  # --auth-type: which of its clients Qwen Code uses
    model: str
    backend: str  # the route key of clients_support: the backend protocol the fake sees
    base_url_suffix: str  # what the client's base URL has after the proxy's root

    @property
    def variable_prefix(self) -> str:
        return "OPENAI" if self.auth_type == "openai" else "ANTHROPIC"

    def env(self, proxy_url: str) -> Dict[str, str]:
        """What a ``router proxy`` user sets: the base URL, a key of their own, the model."""
        prefix = self.variable_prefix
        return {f"{prefix}_BASE_URL": proxy_url + self.base_url_suffix, f"{prefix}_API_KEY": CLIENT_TOKEN,
                f"{prefix}_MODEL": self.model}


OPENAI_TO_ANTHROPIC = Direction("openai", "claude-sonnet-4-6", "anthropic", "/v1")
ANTHROPIC_TO_OPENAI = Direction("anthropic", "gpt-5.1", "openai", "")
DIRECTIONS = {"openai-client": OPENAI_TO_ANTHROPIC, "anthropic-client": ANTHROPIC_TO_OPENAI}


def qwen(qwen_bin: str, direction: Direction, launcher: str, homes: Mapping[str, Path], proxies: Proxies,
         workdir: Path) -> ClientRun:
    """``qwen PROMPT`` against ``router proxy`` (base URL, key and model set by hand), or under
    ``router shim`` (which sets the base URL and a placeholder key; the user names the model)."""
    argv = [qwen_bin, PROMPT, "--auth-type", direction.auth_type, *ARGS]
    home = homes[direction.backend]
    if launcher == "shim":
        argv = router_argv("shim", "--", *argv)
        extra = {"ROUTER_HOME": str(home), f"{direction.variable_prefix}_MODEL": direction.model}
    else:
        extra = direction.env(proxies.url(direction.backend))
    run = run_client(argv, client_env(workdir / "home", {**QWEN_ENV, **extra}), workdir / "work")
    return ClientRun(run.argv, run.returncode, run.stdout, run.stderr, context=proxies.output(direction.backend))


def printed_events(run: ClientRun) -> List[Dict[str, Any]]:
    """``-o json`` prints one JSON array of events (init, assistant and user messages, the result)."""
    try:
        events = json.loads(run.stdout)
    except json.JSONDecodeError as error:
        raise AssertionError(f"stdout is not Qwen Code's JSON: {error}\n{run.explain()}") from None
    assert isinstance(events, list), run.explain()
    return events


def test_the_pinned_version_runs(qwen_bin: str) -> None:
    done = subprocess.run([qwen_bin, "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.strip() == VERSION, done.stdout + done.stderr


@dataclass(frozen=True)
class ToolTurn:
    """The tool call the fake makes, and the output only a real run of it can give."""

    arguments: Dict[str, Any]
    output: str


def notes_file(workdir: Path) -> ToolTurn:
    """A file in Qwen Code's working directory holding a token made for this test."""
    token = f"router-token-{uuid.uuid4().hex}"
    notes = (workdir / "work" / "notes.txt").resolve()
    notes.write_text(token + "\n")
    return ToolTurn({"file_path": str(notes)}, token)


@pytest.mark.parametrize("launcher", ["proxy", "shim"])
@pytest.mark.parametrize("direction", list(DIRECTIONS.values()), ids=list(DIRECTIONS))
def test_qwen_code_runs_a_tool_through_the_router(
    qwen_bin: str, provider: FakeProvider, homes: Dict[str, Path], proxies: Proxies, workdir: Path,
    direction: Direction, launcher: str, chunking: str,
) -> None:
    turn = notes_file(workdir)
    provider.agent_loop(TOOL, turn.arguments, FINAL_TEXT)
    run = qwen(qwen_bin, direction, launcher, homes, proxies, workdir)

    assert run.returncode == 0, run.explain()
    events = printed_events(run)
    result = next(event for event in events if event["type"] == "result")
    assert (result["is_error"], result["result"]) == (False, FINAL_TEXT), run.explain()
    _check_what_qwen_code_saw(events, direction, turn)
    calls = model_calls(provider, direction.backend)
    assert calls, f"no call reached the {direction.backend} backend\n{run.explain()}"
    for call in calls:
        _check_call(direction, call.json, call.headers)
    _check_tool_round_trip(provider, direction.backend, calls, turn)


def _check_what_qwen_code_saw(events: List[Dict[str, Any]], direction: Direction, turn: ToolTurn) -> None:
    """Its own record: the model it asked for answered with the tool call, which succeeded."""
    blocks = [block for event in events if event["type"] in ("assistant", "user")
              for block in event["message"]["content"] if isinstance(block, dict)]
    (call,) = [block for block in blocks if block["type"] == "tool_use"]
    assert (call["name"], call["input"]) == (TOOL, turn.arguments)
    (result,) = [block for block in blocks if block["type"] == "tool_result"]
    assert (result["tool_use_id"], result["is_error"]) == (call["id"], False), result
    models = {event["message"]["model"] for event in events if event["type"] == "assistant"}
    assert models == {direction.model}


def _check_call(direction: Direction, body: Dict[str, Any], headers: Mapping[str, str]) -> None:
    """The model asked for, the backend's own key (never the client's key or the shim's placeholder),
    and Qwen Code's tools, read_file among them."""
    header, value = CREDENTIAL_HEADERS[direction.backend]
    assert body["model"] == direction.model
    assert headers.get(header) == value
    sent = json.dumps(headers)
    assert CLIENT_TOKEN not in sent and PLACEHOLDER_API_KEY not in sent
    assert BACKEND_KEYS["anthropic" if direction.backend == "openai" else "openai"] not in sent
    assert TOOL in read_conversation(direction.backend, body).tool_names


def _check_tool_round_trip(provider: FakeProvider, backend: str, calls: List[Any], turn: ToolTurn) -> None:
    """The call of read_file went out to Qwen Code, and the file's real content came back next."""
    answered = [call for call in calls if tool_results(backend, call.json)]
    assert answered, "no request carried the tool's result"
    (call_id, name, arguments), = tool_uses(backend, answered[0].json)
    assert (name, arguments) == (TOOL, turn.arguments)
    ((result_id, output),) = tool_results(backend, answered[0].json)
    assert result_id == call_id and turn.output in output, output
    assert any(call_id.encode() in exchange.sent_body for exchange in provider.exchanges if exchange.status == 200)
