"""``router shim`` as a process: exit codes, signals, terminal pass-through, every Python, name
collisions, chained sitecustomize, grandchildren, a dead host, the summary and the warnings."""

import glob
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fakes import FakeProvider
from shim_support import base_env, router_command, run_shim, write_script

CALL_SCRIPT = """
import httpx
reply = httpx.post("https://api.openai.com/v1/chat/completions", timeout=30,
                   json={"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "hi"}]})
report({"status": reply.status_code, "text": reply.json()["choices"][0]["message"]["content"]})
"""


@pytest.mark.parametrize("code", [0, 1, 5, 255])
def test_exit_code_passes_through(code: int, router_home: Path, workdir: Path) -> None:
    ran = run_shim([sys.executable, "-c", f"import sys; sys.exit({code})"], router_home, cwd=workdir)
    assert ran.returncode == code, ran.explain()


@pytest.mark.parametrize("number", [signal.SIGKILL, signal.SIGTERM])
def test_child_killed_by_signal_exits_128_plus_n(number: int, router_home: Path, workdir: Path) -> None:
    ran = run_shim([sys.executable, "-c", f"import os; os.kill(os.getpid(), {int(number)})"], router_home, cwd=workdir)
    assert ran.returncode == 128 + number, ran.explain()


def test_stdin_and_stdout_pass_through_unchanged(router_home: Path, workdir: Path) -> None:
    code = "import sys; sys.stdout.write(sys.stdin.read()[::-1]); sys.stdout.flush()"
    ran = run_shim([sys.executable, "-c", code], router_home, cwd=workdir, stdin="abc\n")
    assert ran.returncode == 0 and ran.stdout == "\ncba"


def test_sigterm_to_the_host_reaches_the_child(router_home: Path, workdir: Path) -> None:
    ready = workdir / "ready"
    child = (
        "import signal, sys, time, pathlib\n"
        "signal.signal(signal.SIGTERM, lambda n, f: sys.exit(11))\n"
        f"pathlib.Path({str(ready)!r}).write_text('x')\n"
        "time.sleep(30)\n"
    )
    host = subprocess.Popen(
        [*router_command(), "shim", "--", sys.executable, "-c", child], env=base_env(router_home), cwd=workdir
    )
    _wait_for(ready)
    host.send_signal(signal.SIGTERM)
    assert host.wait(timeout=20) == 11


def test_summary_verbose_and_quiet(provider: FakeProvider, router_home: Path, workdir: Path) -> None:
    script = str(write_script(workdir, CALL_SCRIPT))
    provider.reply(text="a")
    normal = run_shim([sys.executable, script], router_home, cwd=workdir)
    assert normal.returncode == 0, normal.explain()
    assert normal.result() == {"status": 200, "text": "a"}
    assert "router shim: 1 call, 0 errors · in 37 / out 18" in normal.stderr
    assert "anthropic" in normal.stderr and "shimmed 1 process" in normal.stderr
    assert "router: pid" not in normal.stderr
    provider.reply(text="b")
    verbose = run_shim([sys.executable, script], router_home, flags=["-v"], cwd=workdir)
    assert "openai chat claude-sonnet-4-6 → anthropic/claude-sonnet-4-6 (translated) · 200" in verbose.stderr
    provider.reply(text="c")
    quiet = run_shim([sys.executable, script], router_home, flags=["--quiet"], cwd=workdir)
    assert quiet.returncode == 0 and quiet.result()["text"] == "c"
    assert "router" not in quiet.stderr


def test_isolated_python_gets_a_one_line_warning(router_home: Path, workdir: Path) -> None:
    ran = run_shim([sys.executable, "-I", "-c", "print('ok')"], router_home, cwd=workdir)
    assert ran.returncode == 0 and ran.stdout == "ok\n"
    warnings = [line for line in ran.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "-I (isolated mode)" in warnings[0]


def test_python_cmd_that_never_loads_the_shim_is_reported(router_home: Path, workdir: Path) -> None:
    # Named like an interpreter, but it wipes the environment: no process will ever say hello.
    fake_python = workdir / "python3"
    fake_python.write_text("#!/bin/sh\nexec env -i /bin/sh -c 'echo ran'\n")
    fake_python.chmod(0o755)
    ran = run_shim([str(fake_python)], router_home, cwd=workdir)
    assert ran.returncode == 0 and ran.stdout == "ran\n"
    warnings = [line for line in ran.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "no Python process loaded the shim" in warnings[0]
    not_python = run_shim(["sh", "-c", "echo ran"], router_home, cwd=workdir)
    assert "warning" not in not_python.stderr  # nothing was expected of a shell


def _pythons() -> list:  # type: ignore[type-arg]
    found = []
    for minor in range(9, 14):
        matches = sorted(glob.glob(f"/root/.pyenv/versions/3.{minor}.*/bin/python3.{minor}"))
        found.append(pytest.param(matches[0] if matches else None, id=f"3.{minor}"))
    return found


@pytest.mark.parametrize("python", _pythons())
def test_every_python_loads_the_shim_and_runs_unchanged(python: str, router_home: Path, workdir: Path) -> None:
    if python is None:
        pytest.skip("this machine has no such Python")
    script = write_script(workdir, "print('argv', sys.argv[1:]); report(sorted(sys.modules)[:0])")
    ran = run_shim([python, str(script), "x", "y"], router_home, cwd=workdir)
    assert ran.returncode == 0, ran.explain()
    assert "argv ['x', 'y']" in ran.stdout
    version = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert "shimmed 1 process: " in ran.stderr and f"python {version}" in ran.stderr, ran.explain()


COLLIDING_MODULES = ("shim", "host", "config", "sitecustomize", "bootstrap", "telemetry")


def test_script_directory_modules_are_never_shadowed(
    provider: FakeProvider, router_home: Path, workdir: Path
) -> None:
    for name in COLLIDING_MODULES:
        (workdir / f"{name}.py").write_text(f"NAME = 'user-{name}'\n")
    body = f"import importlib\nnames = {{n: importlib.import_module(n).NAME for n in {COLLIDING_MODULES!r}}}\n"
    body += textwrap.dedent(CALL_SCRIPT).replace("report({", "report({'names': names, ")
    provider.reply(text="still routed")
    ran = run_shim([sys.executable, str(write_script(workdir, body))], router_home, cwd=workdir)
    assert ran.returncode == 0, ran.explain()
    result = ran.result()
    assert result["names"] == {name: f"user-{name}" for name in COLLIDING_MODULES}
    assert result["text"] == "still routed"


def test_existing_venv_sitecustomize_still_runs(router_home: Path, tmp_path: Path, workdir: Path) -> None:
    venv = tmp_path / "venv-with-sitecustomize"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site_packages,) = glob.glob(str(venv / "lib" / "python3.*" / "site-packages"))
    Path(site_packages, "sitecustomize.py").write_text("import os\nos.environ['VENV_HOOK_RAN'] = 'yes'\n")
    script = write_script(workdir, "import os, sitecustomize\nreport([os.environ.get('VENV_HOOK_RAN')])")
    ran = run_shim([str(venv / "bin" / "python"), str(script)], router_home, cwd=workdir)
    assert ran.returncode == 0, ran.explain()
    assert ran.result() == ["yes"]
    assert "shimmed 1 process" in ran.stderr


GRANDCHILDREN_SCRIPT = """
import multiprocessing, os, subprocess

def call(_=None):
    import httpx
    reply = httpx.post("https://api.openai.com/v1/chat/completions", timeout=30,
                       json={"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "hi"}]})
    return os.getpid(), reply.json()["choices"][0]["message"]["content"]

if __name__ == "__main__":
    results = [call()]
    code = "import sys; sys.path.insert(0, %r); import agent; print(agent.call())" % os.path.dirname(__file__)
    subprocess.run([sys.executable, "-c", code], check=True)
    for method in ("spawn", "forkserver", "fork"):
        with multiprocessing.get_context(method).Pool(1) as pool:
            results.append(pool.apply(call))
    report(results)
"""


def test_grandchildren_of_every_kind_are_shimmed_and_report(
    provider: FakeProvider, router_home: Path, workdir: Path
) -> None:
    for _ in range(5):
        provider.reply(text="ok")
    ran = run_shim([sys.executable, str(write_script(workdir, GRANDCHILDREN_SCRIPT))], router_home, cwd=workdir)
    assert ran.returncode == 0, ran.explain()
    results = ran.result()
    assert [text for _, text in results] == ["ok"] * 4
    assert len({pid for pid, _ in results}) == 4  # the child and three workers
    assert len(provider.requests) == 5 and all(r.path == "/v1/messages" for r in provider.requests)
    assert "router shim: 5 calls, 0 errors" in ran.stderr, ran.stderr


def test_host_killed_mid_run_leaves_the_child_working(
    provider: FakeProvider, router_home: Path, workdir: Path
) -> None:
    go, done = workdir / "go", workdir / "done.json"
    body = (
        "import pathlib, time\n"
        f"while not pathlib.Path({str(go)!r}).exists(): time.sleep(0.02)\n"
        + textwrap.dedent(CALL_SCRIPT).replace("report(", f"pathlib.Path({str(done)!r}).write_text(json.dumps(")
        + ")\n"
    )
    provider.reply(text="after the host died")
    script = write_script(workdir, body)
    host = subprocess.Popen(
        [*router_command(), "shim", "--", sys.executable, str(script)], env=base_env(router_home), cwd=workdir,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    time.sleep(1.0)  # the child is up and waiting
    host.kill()
    host.wait(timeout=10)
    go.write_text("go")
    _wait_for(done, 30)
    assert '"after the host died"' in done.read_text()


def _wait_for(path: Path, seconds: float = 15) -> None:
    deadline = time.time() + seconds
    while not path.exists():
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.02)
    time.sleep(0.05)  # let the writer finish


def test_non_python_command_goes_through_the_proxy(provider: FakeProvider, router_home: Path, workdir: Path) -> None:
    if not os.path.exists("/usr/bin/curl"):
        pytest.skip("no curl")
    provider.reply(text="via the proxy")
    body = '{"model":"claude-sonnet-4-6","messages":[{"role":"user","content":"hi"}]}'
    url = '"$OPENAI_BASE_URL/chat/completions"'
    command = f"curl -s --max-time 20 {url} -H 'content-type: application/json' -d '{body}'"
    ran = run_shim(["sh", "-c", command], router_home, cwd=workdir)
    assert ran.returncode == 0, ran.explain()
    assert "via the proxy" in ran.stdout, ran.explain()
    assert provider.last.request.header("x-api-key") is not None
    assert "router shim: 1 call" in ran.stderr
