"""Every file in ``examples/`` runs against ``router demo``'s provider, as its header says to run it:
Python ones under ``router shim``, the Node.js and curl ones against a ``router proxy``.

The demo provider's answers name the wire format that produced them, so a check that the openai SDK
got "... answered in the Anthropic Messages format" proves the call was routed and translated.
Every child resolves loopback only (a ``sitecustomize`` on its PYTHONPATH, which the shim chains):
a call the router failed to route errors out instead of leaving the machine.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Sequence

import pytest
from fakes.netguard import write_netguard
from pinned_envs import pinned_python

from host.demo.home import child_env, router_argv, write_demo_home
from host.demo.provider import DEMO_KEYS, DemoProvider
from host.demo.proxy_calls import RunningProxy

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
VIA_ANTHROPIC = "answered in the Anthropic Messages format"
VIA_OPENAI = "answered in the OpenAI Chat Completions format"


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with DemoProvider() as provider:
        home = tmp_path_factory.mktemp("examples") / "router-home"
        write_demo_home(home, provider.root_url, DEMO_KEYS)
        yield home


@pytest.fixture(scope="module")
def env(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    guard = write_netguard(tmp_path_factory.mktemp("netguard"))
    # LiteLLM fetches its price list from GitHub at import unless told to use its bundled copy.
    return {**child_env(demo_home, os.environ), "PYTHONPATH": str(guard), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


@pytest.fixture(scope="module")
def proxy_env(env: Dict[str, str]) -> Iterator[Dict[str, str]]:
    proxy = RunningProxy(router_argv("proxy", "--port", "0"), env)
    url = proxy.wait_ready()
    yield {**env, "OPENAI_BASE_URL": f"{url}/v1", "ANTHROPIC_BASE_URL": url}
    proxy.stop()


def run(argv: Sequence[str], env: Dict[str, str]) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    done = subprocess.run(list(argv), env=env, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, f"{argv}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    return done


def run_under_shim(python: str, example: str, env: Dict[str, str]) -> List[str]:
    """The example's stdout lines; the shim's summary must show its calls, with no error."""
    done = run(router_argv("shim", "--", python, str(EXAMPLES / example)), env)
    summary = [line for line in done.stderr.splitlines() if line.startswith("router shim: ") and " call" in line]
    assert summary, done.stderr
    assert " 0 errors" in summary[0], done.stderr
    return done.stdout.splitlines()


def starts(lines: List[str], prefix: str) -> str:
    found = [line for line in lines if line.startswith(prefix)]
    assert found, f"no line starting {prefix!r} in {lines}"
    return found[0]


def test_openai_sdk_sync_async_streaming_tools(env: Dict[str, str]) -> None:
    lines = run_under_shim(sys.executable, "openai_sdk.py", env)
    for prefix in ("sync:", "async:"):
        assert VIA_ANTHROPIC in starts(lines, prefix)
    assert VIA_ANTHROPIC in starts(lines, "streaming (")
    assert starts(lines, "tools:") == "tools: get_weather({'city': 'Paris'}) finish_reason=tool_calls"


def test_anthropic_sdk_message_stream_tools(env: Dict[str, str]) -> None:
    lines = run_under_shim(sys.executable, "anthropic_sdk.py", env)
    assert VIA_OPENAI in starts(lines, "message:")
    assert VIA_OPENAI in starts(lines, "streaming (")
    assert starts(lines, "tools:") == "tools: get_weather({'city': 'Paris'}) stop_reason=tool_use"


def test_plain_requests_to_both_vendor_urls(env: Dict[str, str]) -> None:
    lines = run_under_shim(sys.executable, "requests_plain.py", env)
    assert VIA_ANTHROPIC in starts(lines, "openai format:")
    assert VIA_OPENAI in starts(lines, "anthropic format:")


def framework_python() -> str:
    """The pinned ``frameworks`` environment (LiteLLM, LangChain): too large for the test extra."""
    return pinned_python("frameworks")


def test_litellm(env: Dict[str, str]) -> None:
    python = framework_python()
    lines = run_under_shim(python, "litellm_completion.py", env)
    assert VIA_ANTHROPIC in starts(lines, "claude:")
    assert VIA_OPENAI in starts(lines, "gpt:")
    assert starts(lines, "streaming:").startswith("streaming: It is 18 degrees")


def test_langchain(env: Dict[str, str]) -> None:
    python = framework_python()
    lines = run_under_shim(python, "langchain_chat.py", env)
    assert VIA_ANTHROPIC in starts(lines, "ChatOpenAI -> claude:")
    assert VIA_OPENAI in starts(lines, "ChatAnthropic -> gpt:")
    assert starts(lines, "streaming:").startswith("streaming: It is 18 degrees")


def test_node_fetch_against_the_proxy(proxy_env: Dict[str, str]) -> None:
    node = shutil.which("node")
    assert node is not None, "node is not installed (Node.js 20 runs examples/node_fetch.mjs)"
    lines = run([node, str(EXAMPLES / "node_fetch.mjs")], proxy_env).stdout.splitlines()
    assert VIA_ANTHROPIC in starts(lines, "openai format:")
    assert VIA_OPENAI in starts(lines, "anthropic format (streamed):")


def test_curl_against_the_proxy(proxy_env: Dict[str, str]) -> None:
    assert shutil.which("curl") is not None, "curl is not installed (examples/curl.sh needs it)"
    output = run(["bash", str(EXAMPLES / "curl.sh")], proxy_env).stdout
    assert VIA_ANTHROPIC in output  # the non-streamed chat completion, whole
    assert '"type":"text_delta"' in output and "event: message_stop" in output


def test_every_example_is_tested_and_says_how_to_run_it() -> None:
    # llm_extra_openai_models.yaml is not a program: tests/clients/test_llm.py runs llm with it.
    tested = {"openai_sdk.py", "anthropic_sdk.py", "requests_plain.py", "litellm_completion.py", "langchain_chat.py",
              "node_fetch.mjs", "curl.sh", "llm_extra_openai_models.yaml"}
    assert {path.name for path in EXAMPLES.iterdir() if path.is_file()} == tested
    for name in tested:
        header = (EXAMPLES / name).read_text()[:800]
        assert "router shim -- " in header or "router proxy" in header, name
