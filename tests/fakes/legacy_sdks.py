"""An interpreter with the previous SDK majors (openai 2.x on httpx, anthropic 0.x), built on demand.

Tests that must prove the router against the SDKs users still run call :func:`legacy_python`. It
uses ``ROUTER_LEGACY_PYTHON`` when set; otherwise it builds ``.venv-legacy`` at the repository root
once (a venv with ``openai<3`` and ``anthropic<1`` from PyPI, about 20 s) and reuses it. It never
skips: a missing interpreter is a failure with the reason, so the README's test command proves the
same thing everywhere.
"""

import fcntl
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["LEGACY_REQUIREMENTS", "legacy_python"]

LEGACY_REQUIREMENTS = ("openai<3", "anthropic<1")
_REPO = Path(__file__).resolve().parents[2]
_VENV = _REPO / ".venv-legacy"


class LegacyInterpreterError(RuntimeError):
    """The legacy interpreter could not be found or built."""


def legacy_python() -> str:
    """Path of a Python that imports the previous SDK majors."""
    configured = os.environ.get("ROUTER_LEGACY_PYTHON")
    if configured:
        if not Path(configured).exists():
            raise LegacyInterpreterError(f"ROUTER_LEGACY_PYTHON={configured} does not exist")
        return configured
    python = _VENV / "bin" / "python"
    with open(_REPO / ".venv-legacy.lock", "w") as lock:  # one builder at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (_VENV / ".complete").exists():
            _build(python)
    return str(python)


def _build(python: Path) -> None:
    steps = (
        [sys.executable, "-m", "venv", "--clear", str(_VENV)],
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *LEGACY_REQUIREMENTS],
    )
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise LegacyInterpreterError(f"building {_VENV} failed at {step[2:4]}: {' | '.join(tail)}")
    (_VENV / ".complete").write_text(" ".join(LEGACY_REQUIREMENTS) + "\n")
