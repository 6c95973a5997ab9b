"""Which commands are Python, and the launcher with real (plain, unshimmed) child processes."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import List, Optional, Sequence

import pytest

from host.launcher import CommandNotRunnable, SignalGate
from host.python_command import classify_command, never_loaded_warning


def _script(tmp_path: Path, name: str, first_lines: str) -> str:
    path = tmp_path / name
    path.write_text(first_lines + "\nprint('hi')\n")
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize(
    ("argv", "is_python", "flags"),
    [
        (["python", "agent.py"], True, ()),
        (["python3.12", "-c", "pass"], True, ()),
        ([sys.executable, "-m", "pytest"], True, ()),
        (["pypy3", "x.py"], True, ()),
        (["python", "-I", "agent.py"], True, ("-I (isolated mode)",)),
        (["python", "-sE", "agent.py"], True, ("-E (ignores PYTHON* variables)",)),
        (["python", "-W", "ignore", "-S", "x.py"], True, ("-S (no site import)",)),
        (["python", "-c", "import x", "-I"], True, ()),  # after -c it is the program's argument
        (["python", "agent.py", "-I"], True, ()),
        (["uv", "run", "agent.py"], True, ()),
        (["uv", "run", "--with", "rich", "python", "-I", "x.py"], True, ("-I (isolated mode)",)),
        (["uv", "run", "some-project-script"], True, ()),  # not on PATH yet: in the env uv makes
        (["poetry", "run", "python", "x.py"], True, ()),
        (["uv", "run", "sh", "-c", "true"], False, ()),
        (["sh", "-c", "python x.py"], False, ()),
        (["curl", "http://127.0.0.1"], False, ()),
        (["definitely-not-a-command-xyz"], False, ()),
        ([], False, ()),
    ],
)
def test_classify_command(argv: List[str], is_python: bool, flags: Sequence[str]) -> None:
    info = classify_command(argv, os.environ)
    assert (info.is_python, info.blinding_flags) == (is_python, tuple(flags))
    assert bool(info.warnings()) == bool(flags)


@pytest.mark.parametrize(
    ("shebang", "is_python", "flags"),
    [
        ("#!/usr/bin/env python3", True, ()),
        (f"#!{sys.executable}", True, ()),
        ("#!/usr/bin/python3 -I", True, ("-I (isolated mode)",)),
        ("#!/usr/bin/env -S python3 -E", True, ("-E (ignores PYTHON* variables)",)),
        ("#!/bin/sh\n'''exec' /very/long/venv/bin/python3 \"$0\" \"$@\"\n' '''", True, ()),  # pip's trampoline
        ("#!/bin/sh", False, ()),
        ("#!/usr/bin/env node", False, ()),
        ("no shebang", False, ()),
    ],
)
def test_classify_scripts_and_console_scripts_by_shebang(
    tmp_path: Path, shebang: str, is_python: bool, flags: Sequence[str]
) -> None:
    info = classify_command([_script(tmp_path, "tool", shebang)], os.environ)
    assert (info.is_python, info.blinding_flags) == (is_python, tuple(flags))


def test_console_script_found_on_path_is_python() -> None:
    pytest_script = Path(sys.executable).parent / "pytest"
    if not pytest_script.exists():
        pytest.skip("no pytest console script next to the interpreter")
    assert classify_command(["pytest", "-q"], {"PATH": str(pytest_script.parent)}).is_python


def test_warnings_are_one_line_each() -> None:
    assert all("\n" not in line for line in classify_command(["python", "-IES", "x"], os.environ).warnings())
    assert "\n" not in never_loaded_warning(["python", "x.py"])


# Launcher --------------------------------------------------------------------------------------
def _run(code: str, stdin: Optional[bytes] = None, timeout: float = 20) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    """Run ``code`` in a host process that launches ``python -c CHILD`` through SignalGate."""
    host = textwrap.dedent(
        """
        import os, sys
        from host.launcher import SignalGate
        with SignalGate() as gate:
            code = gate.run([sys.executable, "-c", sys.argv[1]], os.environ)
        print(f"host-exit {code}", file=sys.stderr)
        sys.exit(code)
        """
    )
    return subprocess.run(
        [sys.executable, "-c", host, code], input=stdin, capture_output=True, timeout=timeout, check=False
    )


@pytest.mark.parametrize("code", [0, 1, 3, 42, 255])
def test_exit_code_passes_through(code: int) -> None:
    assert _run(f"import sys; sys.exit({code})").returncode == code


@pytest.mark.parametrize("number", [signal.SIGKILL, signal.SIGTERM, signal.SIGSEGV])
def test_child_killed_by_signal_gives_128_plus_n(number: int) -> None:
    result = _run(f"import os; os.kill(os.getpid(), {int(number)})")
    assert result.returncode == 128 + number
    assert f"host-exit {128 + number}" in result.stderr.decode()


def test_stdin_and_stdout_pass_through() -> None:
    result = _run("import sys; data = sys.stdin.read(); sys.stdout.write(data.upper())", stdin=b"hello\n")
    assert result.stdout == b"HELLO\n"


def test_child_starts_with_the_hosts_original_signal_mask() -> None:
    result = _run("import signal; print(sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])))")
    assert result.stdout.strip() == b"[]"


def test_command_not_found_is_127() -> None:
    with SignalGate() as gate, pytest.raises(CommandNotRunnable) as caught:
        gate.run(["definitely-not-a-command-xyz"], os.environ)
    assert caught.value.exit_code == 127


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signals_sent_to_the_host_reach_the_child(number: int, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    child = textwrap.dedent(
        f"""
        import signal, sys, time, pathlib
        got = []
        for n in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(n, lambda n, f: got.append(n))
        pathlib.Path({str(ready)!r}).write_text("x")
        deadline = time.time() + 10
        while not got and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # a second (duplicate) delivery would show up here
        print("got", got)
        sys.exit(7)
        """
    )
    host = subprocess.Popen(
        [sys.executable, "-c", "import os,sys\nfrom host.launcher import SignalGate\n"
         "with SignalGate() as g: c = g.run([sys.executable, '-c', sys.argv[1]], os.environ)\nsys.exit(c)", child],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    _wait_for(ready)
    host.send_signal(number)
    out, _ = host.communicate(timeout=20)
    assert host.returncode == 7
    assert out.decode().strip() == f"got [{int(number)}]"  # delivered exactly once


def _wait_for(path: Path, seconds: float = 10) -> None:
    deadline = time.time() + seconds
    while not path.exists():
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.01)
