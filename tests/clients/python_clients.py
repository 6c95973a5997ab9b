"""Running Python programs of the client tier under ``router shim``, each in its pinned venv, and
checking what reached the fake provider.

A program runs the way its users run it: ``router shim -- python client.py`` (a script written in
the library's documented style) or ``router shim -- <console script> …`` (``llm``, ``aider``), from
a venv of ``tests/pinned_envs.py`` that does not hold the router. It sets no base URL and no key: the
shim routes its calls and gives the SDKs a placeholder key. It runs with a fresh ``HOME`` (the
client tier's :func:`clients_support.client_env`) and, on its ``PYTHONPATH``, a resolver guard that
lets it reach loopback only (``fakes.netguard``): a call the router did not carry fails in the
program instead of leaving the machine.

Cross-protocol on purpose: an OpenAI-based library asks for :data:`CLAUDE` (answered by the
Anthropic backend), an Anthropic-based one for :data:`GPT` (answered by the OpenAI-protocol backend).
"""

import json
import textwrap
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence

from clients_support import (
    BACKEND_KEYS,
    CLIENT_TOKEN,
    CREDENTIAL_HEADERS,
    ClientRun,
    client_env,
    model_calls,
    run_client,
    tool_results,
)
from fakes import FakeProvider, RecordedRequest
from fakes.netguard import write_netguard
from pinned_envs import pinned_python

from host.demo.conversation import read_conversation
from host.demo.home import router_argv
from shim.env_names import PLACEHOLDER_API_KEY

__all__ = [
    "BACKEND_OF",
    "CLAUDE",
    "GPT",
    "WEATHER",
    "WEATHER_RESULT",
    "WEATHER_SOURCE",
    "backend_calls",
    "console_script",
    "run_script",
    "run_shimmed",
    "shim_summary",
    "tool_names",
    "tool_result_texts",
]

CLAUDE = "claude-sonnet-4-6"  # what an OpenAI-based library asks for: the Anthropic backend answers
GPT = "gpt-5.1"  # what an Anthropic-based library asks for: the OpenAI-protocol backend answers
BACKEND_OF = {CLAUDE: "anthropic", GPT: "openai"}
# The tool every program defines: its result is computed from the argument, so only a tool that
# really ran can send it back. Its docstring documents the argument: smolagents requires it.
WEATHER = ("get_weather", {"city": "Paris"})
WEATHER_RESULT = "weather in Paris: sunny-5"
WEATHER_SOURCE = '''
def get_weather(city: str) -> str:
    """Weather for a city.

    Args:
        city: the city's name
    """
    return f"weather in {city}: sunny-{len(city)}"
'''
_ROUTE_HOME = "anthropic"  # claude-* to the Anthropic backend; gpt-* to the OpenAI one (built-in families)


def run_shimmed(argv: Sequence[str], homes: Mapping[str, Path], workdir: Path,
                env: Optional[Mapping[str, str]] = None, timeout: float = 180) -> ClientRun:
    """``router shim -- ARGV`` in ``workdir/work``, with the network guard and a fresh HOME."""
    guard = write_netguard(workdir / "netguard")
    extra = {"ROUTER_HOME": str(homes[_ROUTE_HOME]), "PYTHONPATH": str(guard), "ROUTER_SHIM_DEBUG": "1",
             **(env or {})}
    return run_client(router_argv("shim", "--", *argv), client_env(workdir / "home", extra), workdir / "work",
                      timeout=timeout)


def run_script(venv: str, body: str, homes: Mapping[str, Path], workdir: Path, args: Sequence[str] = (),
               env: Optional[Mapping[str, str]] = None) -> ClientRun:
    """``router shim -- python client.py ARGS`` with the pinned interpreter of ``venv``; the script
    ends by printing one JSON object (read back with ``run.last_json()``)."""
    script = workdir / "work" / "client.py"
    script.write_text("import json\n" + WEATHER_SOURCE + textwrap.dedent(body))
    return run_shimmed([pinned_python(venv), str(script), *args], homes, workdir, env)


def console_script(venv: str, name: str) -> str:
    """The path of console script ``name`` in the pinned venv ``venv``."""
    return str(Path(pinned_python(venv)).parent / name)


def shim_summary(run: ClientRun, calls: int) -> None:
    """The shim's exit summary counts the program's calls, none failed."""
    counted = f"{calls} call" if calls == 1 else f"{calls} calls"
    assert f"router shim: {counted}, 0 errors" in run.stderr, run.explain()


def backend_calls(provider: FakeProvider, model: str, run: ClientRun) -> List[RecordedRequest]:
    """The requests that reached the backend ``model`` routes to, each checked: that model, that
    backend's own key, never the placeholder key, a client's key or the other backend's."""
    backend = BACKEND_OF[model]
    calls = model_calls(provider, backend)
    assert calls, f"no call reached the {backend} backend\n{run.explain()}"
    header, value = CREDENTIAL_HEADERS[backend]
    other_key = BACKEND_KEYS["anthropic" if backend == "openai" else "openai"]
    for call in calls:
        assert call.json["model"] == model, call.json["model"]
        assert call.header(header) == value
        sent = json.dumps(call.headers)
        assert PLACEHOLDER_API_KEY not in sent and CLIENT_TOKEN not in sent and other_key not in sent
    return calls


def tool_names(model: str, body: Mapping[str, Any]) -> List[str]:
    """The tools a request offered, in the backend's protocol."""
    return list(read_conversation(BACKEND_OF[model], dict(body)).tool_names)


def tool_result_texts(model: str, body: Mapping[str, Any]) -> List[str]:
    """The text of every tool result a request carried back."""
    return [text for _, text in tool_results(BACKEND_OF[model], body)]
