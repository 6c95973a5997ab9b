"""Shared fixtures for the CLI/config tests: a private ROUTER_HOME and a CliRunner bound to it."""

from pathlib import Path
from typing import Callable, List, Optional

import pytest
from click.testing import CliRunner, Result
from host_cli_helpers import KEY_ENV_VARS

from host.cli import cli

Invoke = Callable[..., Result]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, not yet existing state directory; no provider key variables in the environment."""
    path = tmp_path / "router-home"
    monkeypatch.setenv("ROUTER_HOME", str(path))
    for name in KEY_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return path


@pytest.fixture
def outputs() -> List[str]:
    """Everything every invocation printed (stdout and stderr), for the no-secret-anywhere checks."""
    return []


@pytest.fixture
def invoke(home: Path, outputs: List[str]) -> Invoke:
    """Run ``router ARGS…`` in-process with ROUTER_HOME set through the runner's environment."""
    runner = CliRunner(env={"ROUTER_HOME": str(home)})

    def run(*args: str, input: Optional[str] = None, code: Optional[int] = 0) -> Result:
        result = runner.invoke(cli, list(args), input=input, prog_name="router")
        outputs.extend([result.stdout, result.stderr])
        assert "Traceback" not in result.output
        if code is not None:
            assert result.exit_code == code, (args, result.output, result.exception)
        return result

    return run
