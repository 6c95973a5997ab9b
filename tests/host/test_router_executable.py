"""The installed ``router`` console script, run as a real process (and ``python -m host``)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest
from host_cli_helpers import KEY_ENV_VARS, SECRET, mode_of, write_config


def router_executable() -> List[str]:
    beside_python = Path(sys.executable).parent / "router"
    found = str(beside_python) if beside_python.exists() else shutil.which("router")
    if found is None:
        pytest.fail("the router console script is not installed (run the README's install command)")
    return [found]


def run(command: List[str], home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in KEY_ENV_VARS}
    env["ROUTER_HOME"] = str(home)
    return subprocess.run([*command, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("command", [router_executable(), [sys.executable, "-m", "host"]], ids=["router", "python-m"])
def test_real_process_adds_explains_and_keeps_the_key_private(tmp_path: Path, command: List[str]) -> None:
    home = tmp_path / "state"
    added = run(command, home, "backend", "add", "groq", "--key", "-", "--models", "llama-*", stdin=SECRET + "\n")
    assert added.returncode == 0, added.stderr
    explained = run(command, home, "route", "explain", "llama-3-8b", "--protocol", "anthropic", "--json")
    assert explained.returncode == 0, explained.stderr
    report = json.loads(explained.stdout)
    assert report["upstream_url"] == "https://api.groq.com/openai/v1/chat/completions"
    assert report["translated"] is True and report["key"] == "stored (credentials file)"
    listed = run(command, home, "backend", "list", "--json")
    for output in (added, explained, listed):
        assert SECRET not in output.stdout + output.stderr
    assert mode_of(home) == 0o700 and mode_of(home / "credentials.toml") == 0o600
    assert SECRET not in (home / "config.toml").read_text()


def test_real_process_corrupt_config_is_one_line_exit_2(tmp_path: Path) -> None:
    path = write_config(tmp_path / "state", "[backends.groq\n")
    result = run(router_executable(), tmp_path / "state", "backend", "list")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert str(path) in line and "not valid TOML" in line


def test_real_process_version_and_config_path(tmp_path: Path) -> None:
    assert run(router_executable(), tmp_path, "--version").stdout.startswith("router, version ")
    assert run(router_executable(), tmp_path, "config", "path").stdout.strip() == str(tmp_path / "config.toml")
