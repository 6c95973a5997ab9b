"""Where the router's keys are during and after a ``router shim`` run (docs/secrets.md): never in the
child's environment (unless the user passes one on by name), never on disk after the host is gone,
even after a ``SIGKILL``; and a router started inside the run still finds them."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
from fakes import FakeProvider
from shim_support import base_env, router_command, run_shim, write_script

from shim.env_names import PLACEHOLDER_API_KEY

KEY_VARIABLE = "ROUTERTEST_GROQ_KEY"  # a backend's key_env, as `router backend add groq` names one
KEY = "gsk-KEYSATREST-secret-value"
STORED_KEY = "sk-ant-KEYSATREST-stored-secret"  # the anthropic backend's, from credentials.toml
ROUTER_KEY = "rk-KEYSATREST-router-key"
SECRETS = (KEY, STORED_KEY, ROUTER_KEY)

ENV_DUMP = """
import os
report(dict(os.environ))
"""
CALL = """
import os
import httpx
reply = httpx.post("https://api.groq.com/openai/v1/chat/completions", timeout=30,
                   headers={"authorization": "Bearer " + os.environ.get("ROUTERTEST_GROQ_KEY", "")},
                   json={"model": "llama-3.3-70b", "messages": [{"role": "user", "content": "hi"}]})
report({"status": reply.status_code, "key_seen": os.environ.get("ROUTERTEST_GROQ_KEY")})
"""


@pytest.fixture
def home(tmp_path: Path, provider: FakeProvider) -> Path:
    """groq reads its key from a variable (the default of `router backend add`); anthropic's is stored."""
    home = tmp_path / "router-home"
    home.mkdir(mode=0o700)
    root = provider.root_url.rstrip("/")
    (home / "config.toml").write_text(textwrap.dedent(f"""
        [backends.groq]
        protocol = "openai"
        base_url = "{root}/v1"
        key_env = "{KEY_VARIABLE}"
        models = ["llama-*"]

        [backends.anthropic]
        protocol = "anthropic"
        base_url = "{root}"
        """))
    credentials = home / "credentials.toml"
    credentials.write_text(f'[keys]\nanthropic = "{STORED_KEY}"\n')
    credentials.chmod(0o600)
    return home


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    """A private $XDG_RUNTIME_DIR of this test's own, where the run directory must go (short, as real
    ones are: a socket path in it must fit in sun_path)."""
    path = Path(tempfile.mkdtemp(prefix="xdg-", dir="/tmp" if os.path.isdir("/tmp") else None))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _env(runtime_dir: Path, **extra: str) -> Dict[str, str]:
    return {KEY_VARIABLE: KEY, "ROUTER_API_KEY": ROUTER_KEY, "XDG_RUNTIME_DIR": str(runtime_dir), **extra}


def _files_holding(directory: Path, secrets: "tuple[str, ...]") -> List[Path]:
    found = []
    for path in directory.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if any(secret.encode() in data for secret in secrets):
                found.append(path)
    return found


def test_the_child_environment_holds_no_key_of_the_router(
    home: Path, runtime_dir: Path, workdir: Path, provider: FakeProvider
) -> None:
    dumped = run_shim([sys.executable, str(write_script(workdir, ENV_DUMP))], home, cwd=workdir,
                      env=_env(runtime_dir))
    assert dumped.returncode == 0, dumped.explain()
    environment = dumped.result()
    assert not [name for name, value in environment.items() if any(secret in value for secret in SECRETS)]
    assert environment[KEY_VARIABLE] == PLACEHOLDER_API_KEY, "a program that reads the variable still starts"
    assert "ROUTER_API_KEY" not in environment
    provider.reply(text="routed")
    called = run_shim([sys.executable, str(write_script(workdir, CALL))], home, cwd=workdir, env=_env(runtime_dir))
    assert called.returncode == 0 and called.result()["status"] == 200, called.explain()
    assert provider.last.request.header("authorization") == f"Bearer {KEY}", "the shim puts the real key on the wire"


def test_pass_env_gives_the_child_the_real_variable(
    home: Path, runtime_dir: Path, workdir: Path, provider: FakeProvider
) -> None:
    provider.reply(text="routed")
    called = run_shim([sys.executable, str(write_script(workdir, CALL))], home, cwd=workdir, env=_env(runtime_dir),
                      flags=["--pass-env", KEY_VARIABLE])
    assert called.returncode == 0, called.explain()
    assert called.result() == {"status": 200, "key_seen": KEY}


def test_a_router_started_inside_the_run_uses_the_runs_keys(
    home: Path, runtime_dir: Path, workdir: Path, provider: FakeProvider
) -> None:
    """An inner `router shim` loads the same configuration; its key variable holds the placeholder,
    so it takes the outer run's key for the same backend at the same URL."""
    provider.reply(text="nested")
    script = write_script(workdir, CALL)
    nested = run_shim([*router_command(), "shim", "--", sys.executable, str(script)], home, cwd=workdir,
                      env=_env(runtime_dir))
    assert nested.returncode == 0 and nested.result()["status"] == 200, nested.explain()
    assert provider.last.request.header("authorization") == f"Bearer {KEY}"


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="memory files (Linux): elsewhere the next start sweeps")
def test_a_sigkilled_host_leaves_no_key_on_disk_and_its_child_keeps_working(
    home: Path, runtime_dir: Path, workdir: Path, provider: FakeProvider
) -> None:
    go, done = workdir / "go", workdir / "done.json"
    body = textwrap.dedent(f"""
        import os, pathlib, time
        pathlib.Path({str(workdir / 'ready')!r}).write_text(os.environ["ROUTER_TELEMETRY_SOCK"])
        while not pathlib.Path({str(go)!r}).exists():
            time.sleep(0.02)
        """) + CALL.replace("report(", f"pathlib.Path({str(done)!r}).write_text(json.dumps(") + ")\n"
    provider.reply(text="after the host died")
    host = subprocess.Popen([*router_command(), "shim", "--", sys.executable, str(write_script(workdir, body))],
                            env=base_env(home, _env(runtime_dir)), cwd=workdir, stderr=subprocess.PIPE)
    try:
        _wait_for(workdir / "ready")
        run_dir = Path((workdir / "ready").read_text()).parent
        assert run_dir.parent == runtime_dir, "the private runtime directory is preferred"
        host.send_signal(signal.SIGKILL)
        host.wait(timeout=10)
        assert _files_holding(runtime_dir, SECRETS) == [], "a key outlived the host"
        go.write_text("go")
        _wait_for(done, 30)
        assert json.loads(done.read_text())["status"] == 200, "read at start-up: routed after the host died"
    finally:
        if host.poll() is None:
            host.kill()
    again = run_shim([sys.executable, "-c", "pass"], home, cwd=workdir, env=_env(runtime_dir))
    assert again.returncode == 0 and not run_dir.exists(), "the next run sweeps the dead host's directory"


def test_the_next_start_removes_run_directories_of_dead_hosts_only(
    home: Path, runtime_dir: Path, workdir: Path
) -> None:
    namespace = os.stat("/proc/self/ns/pid").st_ino if os.path.exists("/proc/self/ns/pid") else 0
    dead = _dead_pid()
    stale = runtime_dir / f"router-{namespace}-{dead}-abcd1234"
    live = runtime_dir / f"router-{namespace}-{os.getpid()}-efgh5678"
    foreign_namespace = runtime_dir / f"router-{namespace + 1}-{dead}-ijkl9012"
    unrelated = runtime_dir / "router-notes"
    for directory in (stale, live, foreign_namespace, unrelated):
        directory.mkdir(mode=0o700)
        (directory / "config.json").write_text(json.dumps({"api_key": STORED_KEY}))
    elsewhere = runtime_dir / "elsewhere"
    elsewhere.mkdir()
    (runtime_dir / f"router-{namespace}-{dead}-link0000").symlink_to(elsewhere)
    ran = run_shim([sys.executable, "-c", "pass"], home, cwd=workdir, env=_env(runtime_dir))
    assert ran.returncode == 0, ran.explain()
    assert not stale.exists()
    assert live.exists() and foreign_namespace.exists() and unrelated.exists() and elsewhere.exists()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _wait_for(path: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
    time.sleep(0.05)  # let the writer finish


@pytest.fixture(autouse=True)
def _no_router_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("ROUTER_API_KEY", raising=False)
    yield
