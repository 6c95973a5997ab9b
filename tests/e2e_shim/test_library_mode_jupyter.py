"""Library mode in a real Jupyter kernel (``jupyter_client`` starts ipykernel): ``%load_ext router`` routes
the kernel's calls and records them, ``%unload_ext router`` restores everything, in the same kernel."""

import sqlite3
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from fakes import FakeProvider, UsageSpec
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel
from shim_support import base_env, write_router_home, write_script

from host.telemetry_store import DB_FILENAME

CELL_TIMEOUT = 60.0


@pytest.fixture
def kernel(tmp_path: Path, provider: FakeProvider, workdir: Path) -> Iterator[Tuple[BlockingKernelClient, Path]]:
    home = tmp_path / "home"
    write_router_home(home, provider.root_url)
    write_script(workdir, "")  # the network guard beside the kernel's working directory
    manager: KernelManager
    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=CELL_TIMEOUT, env=base_env(home),
                                       cwd=str(workdir))
    try:
        run_cell(client, "import _netguard")
        yield client, home
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def run_cell(client: BlockingKernelClient, code: str) -> str:
    """Execute ``code``; what it printed. Fails the test with the traceback when the cell raised."""
    printed: List[str] = []
    errors: List[str] = []

    def collect(message: Dict[str, Any]) -> None:
        kind, content = message["header"]["msg_type"], message["content"]
        if kind == "stream":
            printed.append(content["text"])
        elif kind == "error":
            errors.append("\n".join(content["traceback"]))

    reply = client.execute_interactive(code, timeout=CELL_TIMEOUT, output_hook=collect)
    assert reply["content"]["status"] == "ok" and not errors, "\n".join(errors)
    return "".join(printed)


def stored(home: Path) -> List[Tuple[str, str, int, str]]:
    connection = sqlite3.connect(home / DB_FILENAME)
    try:
        return list(connection.execute("SELECT backend, requested_model, input_tokens, program FROM events"))
    finally:
        connection.close()


CALL = """
import openai
client = openai.OpenAI(api_key="the-user-s-own", max_retries=0)  # a key: the first call is made before activation
try:
    print(client.chat.completions.create(model="claude-sonnet-4-6",
                                         messages=[{"role": "user", "content": "hi"}]).choices[0].message.content)
except openai.APIConnectionError:
    print("not routed")
"""
SEAM = "import httpx2; print(getattr(vars(httpx2.Client)['_transport_for_url'], '_router_shim_wrapper', False))"


def test_load_ext_routes_the_kernel_and_unload_ext_restores_it(kernel: Tuple[BlockingKernelClient, Path],
                                                               provider: FakeProvider) -> None:
    client, home = kernel
    provider.reply(text="answered in the notebook", usage=UsageSpec(input=9, output=4))
    assert run_cell(client, CALL) == "not routed\n"  # before: the call goes to api.openai.com (refused here)

    loaded = run_cell(client, "%load_ext router")
    assert loaded == "router: this kernel's LLM calls are routed (router stats shows them; %unload_ext router stops)\n"
    assert run_cell(client, SEAM) == "True\n"
    assert run_cell(client, CALL) == "answered in the notebook\n"
    assert "already loaded" in run_cell(client, "%load_ext router")  # IPython loads an extension once

    unloaded = run_cell(client, "%unload_ext router")
    assert unloaded == "router: stopped; this kernel's calls go where they are sent again\n"
    assert run_cell(client, SEAM) == "False\n"
    assert run_cell(client, CALL) == "not routed\n"
    # Stored by the time the extension is unloaded, with the kernel still running.
    [(backend, model, tokens, program)] = stored(home)
    assert (backend, model, tokens) == ("anthropic", "claude-sonnet-4-6", 9)
    assert program.endswith("ipykernel_launcher.py")
    assert [request.path for request in provider.requests] == ["/v1/messages"]
