"""What ``router route add`` … says about running proxies that do not confirm an edit.

A proxy that confirms, and no proxy at all, are covered with the real proxy in
``tests/proxy/test_live_reload.py``. The two other answers need a proxy that refuses the new files
or stays silent; a real ``router proxy`` refuses only files the CLI would not write, so a small
stand-in process registers the way a proxy does (the real :class:`Registration`, the real reload
signal) and answers accordingly. The CLI under test runs as its own process.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator

import pytest
from host_cli_helpers import write_config

STAND_IN = textwrap.dedent("""
    import signal, sys
    from host.config_source import current_fingerprint
    from host.proxy_registry import Registration

    mode = sys.argv[1]
    registration = Registration("proxy", 4242)

    def on_reload_signal(number, frame):
        if mode == "refuse":
            problem = {"fingerprint": current_fingerprint(), "problem": "config.toml: a problem this proxy has"}
            registration.publish(1, "an-older-version", problem, reload_signal=True)

    signal.signal(signal.SIGUSR1, on_reload_signal)
    registration.publish(1, "an-older-version", reload_signal=True)
    print("registered", flush=True)
    sys.stdin.read()
    registration.remove()
""")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    write_config(path, '[backends.local]\nprotocol = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n')
    return path


def _env(home: Path) -> dict:
    return {**os.environ, "ROUTER_HOME": str(home)}


@pytest.fixture(params=["refuse", "silent"])
def stand_in(request: pytest.FixtureRequest, home: Path) -> Iterator[str]:
    process = subprocess.Popen([sys.executable, "-c", STAND_IN, request.param], env=_env(home),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline() == "registered\n"
    yield str(request.param)
    assert process.stdin is not None
    process.stdin.close()
    assert process.wait(10) == 0  # alive to the end: the signal it was sent did not kill it


def test_a_proxy_that_refuses_or_stays_silent_is_reported_as_such(home: Path, stand_in: str) -> None:
    edit = subprocess.run([sys.executable, "-m", "host", "alias", "set", "quick", "local:qwen"], env=_env(home),
                          capture_output=True, text=True, timeout=30, check=False)
    assert edit.returncode == 0, edit.stderr
    lines = edit.stdout.splitlines()
    assert lines[0] == "added alias 'quick' → 'local:qwen'"
    if stand_in == "refuse":
        assert lines[1:] == ["the running proxy on :4242 did not take this change and keeps serving the previous "
                             "configuration: config.toml: a problem this proxy has"]
    else:
        assert len(lines) == 2 and lines[1].startswith("the running proxy on :4242 (pid ")
        assert lines[1].endswith("did not confirm within 2 s; it rereads the files every second, see its output")
