"""The rendered injected directory in real child processes: start-up cost, Python 3.9 with no
third-party packages, name collisions, sitecustomize chaining, fork, and a routed call."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, List, Optional

import pytest
from fakes import FakeProvider
from shim_child_support import PACKAGE_NAME, TelemetryCollector, render_injected_dir, snapshot_config, write_snapshot

from shim.env_names import CONFIG_SNAPSHOT, SHIM_DIR, TELEMETRY_SOCKET

PY39 = "/root/.pyenv/versions/3.9.18/bin/python"
MAX_ADDED_MODULES = 10


@pytest.fixture(scope="module")
def injected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_injected_dir(tmp_path_factory.mktemp("inject") / "shimdir")


@pytest.fixture
def child_env(injected: Path, telemetry: TelemetryCollector, provider: FakeProvider, tmp_path: Path) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROUTER_", "PYTHON"))}
    env.update({
        "PYTHONPATH": str(injected),
        SHIM_DIR: str(injected),
        CONFIG_SNAPSHOT: str(write_snapshot(tmp_path, snapshot_config(provider.root_url))),
        TELEMETRY_SOCKET: telemetry.path,
    })
    return env


def run(python: str, args: List[str], env: Dict[str, str], cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    return subprocess.run([python, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def _imported_modules(python: str, env: Dict[str, str]) -> List[str]:
    result = run(python, ["-X", "importtime", "-c", "pass"], env)
    return [line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")]


def test_startup_adds_few_modules_and_nothing_heavy(child_env: Dict[str, str]) -> None:
    bare = dict(child_env, PYTHONPATH="")
    added = set(_imported_modules(sys.executable, child_env)) - set(_imported_modules(sys.executable, bare))
    assert len(added) <= MAX_ADDED_MODULES, sorted(added)
    heavy = {"ssl", "asyncio", "json", "typing", "socket", "httpx", "httpx2", "requests", "aiohttp", "urllib3"}
    assert not added & heavy
    assert f"{PACKAGE_NAME}.bootstrap" in added


@pytest.mark.skipif(not os.path.exists(PY39), reason="Python 3.9 is not installed here")
def test_python39_without_third_party_packages_activates_and_says_hello(
    child_env: Dict[str, str], telemetry: TelemetryCollector
) -> None:
    script = textwrap.dedent(f"""
        import sys
        assert sys._router_shim_package == {PACKAGE_NAME!r}
        import {PACKAGE_NAME}.bootstrap as b, {PACKAGE_NAME}.transports.httpx_family
        import {PACKAGE_NAME}.transports.requests_adapter, {PACKAGE_NAME}.transports.aiohttp_session
        assert b.is_active()
        try:
            import httpx
        except ImportError:
            print("no httpx, as expected")
    """)
    result = run(PY39, ["-S", "-c", "import site; site.main()\n" + script], child_env)
    assert result.returncode == 0, result.stderr
    hello = telemetry.wait_for(lambda d: d.get("kind") == "hello")
    assert hello and hello[0]["python"].startswith("3.9.")


def test_script_directory_modules_are_not_shadowed(child_env: Dict[str, str], tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    for name in ("shim", "host", "config", "sitecustomize", "bootstrap", "runtime"):
        (app / f"{name}.py").write_text(f"NAME = 'user-{name}'\n")
    (app / "agent.py").write_text(textwrap.dedent("""
        import shim, host, config, bootstrap, runtime
        print(shim.NAME, host.NAME, config.NAME, bootstrap.NAME, runtime.NAME)
        import httpx
    """))
    result = run(sys.executable, [str(app / "agent.py")], child_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["user-shim", "user-host", "user-config", "user-bootstrap", "user-runtime"]


def test_existing_sitecustomize_is_chained(child_env: Dict[str, str], tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "sitecustomize.py").write_text("import sys\nsys.venv_hook_ran = True\n")
    env = dict(child_env, PYTHONPATH=f"{child_env['PYTHONPATH']}{os.pathsep}{theirs}")
    check = "import sys, sitecustomize; print(sys.venv_hook_ran, sitecustomize.__file__, sys._router_shim_package)"
    result = run(sys.executable, ["-c", check], env)
    assert result.returncode == 0, result.stderr
    ran, path, package = result.stdout.split()
    assert ran == "True" and path == str(theirs / "sitecustomize.py") and package == PACKAGE_NAME


def test_failing_chained_sitecustomize_behaves_as_without_the_shim(child_env: Dict[str, str], tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "sitecustomize.py").write_text("raise RuntimeError('boom from user sitecustomize')\n")
    with_shim = run(sys.executable, ["-c", "print('program ran')"],
                    dict(child_env, PYTHONPATH=f"{child_env['PYTHONPATH']}{os.pathsep}{theirs}"))
    without = run(sys.executable, ["-c", "print('program ran')"], dict(child_env, PYTHONPATH=str(theirs)))
    assert with_shim.stdout == without.stdout == "program ran\n"
    assert "boom from user sitecustomize" in with_shim.stderr and "boom from user sitecustomize" in without.stderr


def test_routed_call_and_forked_child_report_to_the_host(
    child_env: Dict[str, str], telemetry: TelemetryCollector, provider: FakeProvider
) -> None:
    provider.reply(text="from parent")
    provider.reply(text="from child")
    script = textwrap.dedent("""
        import os, httpx2
        def call():
            r = httpx2.post("https://api.openai.com/v1/chat/completions",
                            json={"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "hi"}]},
                            headers={"authorization": "Bearer placeholder"})
            return r.json()["choices"][0]["message"]["content"]
        print(call(), flush=True)
        pid = os.fork()
        if pid == 0:
            print(call(), flush=True); os._exit(0)
        os.waitpid(pid, 0)
    """)
    result = run(sys.executable, ["-c", script], child_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["from parent", "from child"]
    calls = telemetry.wait_for(lambda d: d.get("backend") == "anthropic")
    hellos = [d for d in telemetry.drain(0.2) if d.get("kind") == "hello"]
    assert len({c["pid"] for c in calls}) == 2 and {c["pid"] for c in calls} == {h["pid"] for h in hellos}
