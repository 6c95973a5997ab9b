"""The OpenAI Agents SDK's trace uploads under ``router shim`` (docs/platform-calls.md).

A program with no OpenAI key of its own gets the shim's placeholder; openai-agents then posts its
traces to api.openai.com with it and prints ``[non-fatal] Tracing …`` on every run. The shim sends
those uploads to the ``openai`` backend with its real key when there is one, answers them in the
program otherwise (said once in the summary), and leaves a program's own key alone.
"""

import textwrap
from pathlib import Path

import pytest
from fakes import FakeProvider
from pinned_envs import pinned_python
from shim_support import BACKEND_KEYS, ShimResult, run_shim, write_script

from shim.env_names import PLACEHOLDER_API_KEY

TRACE_SCRIPT = """
from agents import trace
from agents.tracing import get_trace_provider
from agents.tracing.processors import default_exporter

default_exporter().max_retries = 1  # a refused upload is reported at once, not after back-off
with trace("router shim test"):
    pass
get_trace_provider().force_flush()
report({"done": True})
"""
TRACE_PATH = "/v1/traces/ingest"


@pytest.fixture(scope="module")
def agents_python() -> str:
    return pinned_python("openai-agents")


def _run(agents_python: str, home: Path, workdir: Path, env: dict | None = None) -> ShimResult:
    ran = run_shim([agents_python, str(write_script(workdir, TRACE_SCRIPT))], home, cwd=workdir, env=env)
    assert ran.returncode == 0 and ran.result() == {"done": True}, ran.explain()
    return ran


def _uploads(provider: FakeProvider) -> list:
    return [request for request in provider.requests if request.path == TRACE_PATH]


def test_uploads_go_to_the_openai_backend_with_its_key(
    agents_python: str, router_home: Path, workdir: Path, provider: FakeProvider
) -> None:
    ran = _run(agents_python, router_home, workdir)
    uploads = _uploads(provider)
    assert len(uploads) == 1, ran.explain()
    assert uploads[0].header("authorization") == f"Bearer {BACKEND_KEYS['openai']}"
    assert PLACEHOLDER_API_KEY not in str(uploads[0].headers)
    assert uploads[0].header("openai-beta") == "traces=v1"  # the SDK's own headers travel on
    assert [item["object"] for item in uploads[0].json["data"]] == ["trace"]
    assert "[non-fatal]" not in ran.stderr and "answered" not in ran.stderr, ran.explain()


def test_without_an_openai_key_uploads_are_answered_quietly(
    agents_python: str, tmp_path: Path, workdir: Path, provider: FakeProvider
) -> None:
    home = tmp_path / "home-without-openai"
    home.mkdir(mode=0o700)
    (home / "config.toml").write_text(textwrap.dedent(f"""
        [backends.anthropic]
        protocol = "anthropic"
        base_url = "{provider.root_url.rstrip('/')}"
    """))
    ran = _run(agents_python, home, workdir)
    assert _uploads(provider) == []
    assert "[non-fatal]" not in ran.stderr, ran.explain()
    lines = [line for line in ran.stderr.splitlines() if "trace upload" in line]
    assert lines == [
        "router shim: answered 1 OpenAI trace upload in the program: no OpenAI key is configured "
        "(`router backend add openai` sends them to OpenAI)"
    ], ran.explain()


def test_a_programs_own_key_is_left_alone(
    agents_python: str, router_home: Path, workdir: Path, provider: FakeProvider
) -> None:
    ran = _run(agents_python, router_home, workdir, env={"OPENAI_API_KEY": "sk-the-users-own"})
    assert _uploads(provider) == []  # not re-keyed, not answered: it went for api.openai.com, where
    assert "[non-fatal] Tracing request failed" in ran.stderr, ran.explain()  # the test's network guard stops it
    assert "answered" not in ran.stderr
