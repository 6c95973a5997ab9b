"""Install the bench's peers on demand, idempotently, into the cache directory.

- ``wrk`` from Debian (``apt-get install -y wrk``) when it is not on PATH; without it the bench
  cannot measure anything, so failure is fatal (:class:`InstallError`).
- The LiteLLM proxy from PyPI (``litellm[proxy]``) into its own venv under the cache, so its many
  dependencies never touch the project's environment.
- claude-code-router 2.0 from npm into a prefix under the cache. Its failures are not fatal: the
  caller reports that row as n/a with the reason.

A stamp file records a finished install, so a second run does no network work at all.
"""

import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

__all__ = [
    "CCR_PACKAGE",
    "LITELLM_REQUIREMENT",
    "InstallError",
    "ensure_ccr",
    "ensure_litellm",
    "ensure_wrk",
    "run_logged",
]

LITELLM_REQUIREMENT = "litellm[proxy]"
# The issue names "claude-code-router 2.0": the npm package's 2.x line (3.x is a different product,
# an "ai-gateway" rewrite). 2.0.0 ships one bundled dist/cli.js with no dependencies.
CCR_PACKAGE = "@musistudio/claude-code-router@2.0.0"
_INSTALL_TIMEOUT = 900


class InstallError(RuntimeError):
    """Something the bench needs could not be installed; the message says what and why."""


def run_logged(argv: List[str], what: str, log: Path) -> None:
    """Run an install step with its output appended to ``log``; :class:`InstallError` on failure."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        try:
            done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=_INSTALL_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise InstallError(f"{what}: {exc}") from None
    if done.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise InstallError(f"{what} failed (exit {done.returncode}): {' | '.join(tail)} (log: {log})")


def ensure_wrk(cache: Path) -> str:
    """Path to ``wrk``, installing Debian's package if it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        raise InstallError("wrk is not installed and apt-get is not available: install wrk and rerun")
    log = cache / "wrk-install.log"
    print("installing wrk from Debian (apt-get install -y wrk) …", flush=True)
    try:
        run_logged([apt, "install", "-y", "-q", "wrk"], "apt-get install wrk", log)
    except InstallError:
        # A fresh machine may have no package lists yet.
        run_logged([apt, "update", "-q"], "apt-get update", log)
        run_logged([apt, "install", "-y", "-q", "wrk"], "apt-get install wrk", log)
    found = shutil.which("wrk")
    if found is None:
        raise InstallError(f"apt-get reported success but wrk is not on PATH (log: {log})")
    return found


def ensure_litellm(cache: Path) -> Path:
    """Path to the ``litellm`` executable of a private venv, creating the venv if needed."""
    venv = cache / "litellm-venv"
    exe = venv / "bin" / "litellm"
    stamp = venv / ".bench-installed"
    if exe.exists() and stamp.exists():
        return exe
    log = cache / "litellm-install.log"
    print(f"installing {LITELLM_REQUIREMENT} into {venv} (one time, a few minutes) …", flush=True)
    run_logged([sys.executable, "-m", "venv", str(venv)], "python -m venv", log)
    run_logged(
        [str(venv / "bin" / "pip"), "install", "-q", LITELLM_REQUIREMENT], f"pip install {LITELLM_REQUIREMENT}", log
    )
    if not exe.exists():
        raise InstallError(f"pip install finished but {exe} is missing (log: {log})")
    stamp.write_text(LITELLM_REQUIREMENT + "\n")
    return exe


def ensure_ccr(cache: Path) -> Path:
    """Path to claude-code-router's ``cli.js`` under an npm prefix in the cache."""
    prefix = cache / "ccr"
    cli = prefix / "node_modules" / "@musistudio" / "claude-code-router" / "dist" / "cli.js"
    stamp = prefix / ".bench-installed"
    if cli.exists() and stamp.exists() and stamp.read_text().strip() == CCR_PACKAGE:
        return cli
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise InstallError("node/npm not found")
    log = cache / "ccr-install.log"
    print(f"installing {CCR_PACKAGE} from npm …", flush=True)
    prefix.mkdir(parents=True, exist_ok=True)
    run_logged([npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix), CCR_PACKAGE], "npm install", log)
    if not cli.exists():
        raise InstallError(f"npm install finished but {cli} is missing")
    stamp.write_text(CCR_PACKAGE + "\n")
    return cli
