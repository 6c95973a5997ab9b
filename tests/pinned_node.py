"""The real Node.js programs the client tests run (Claude Code …), installed from a committed lock,
so a run depends on the commit and not on the day's npm registry.

``tests/clients/node/package.json`` names each program at an exact version; its
``package-lock.json`` pins every package with its integrity hash. :func:`pinned_node_bin` installs
them with ``npm ci`` into ``node-clients-<hash of both files>/`` under the directory the pinned
Python venvs use (``ROUTER_PINNED_VENVS``, else ``.venv-pinned/`` at the repository root), once, and
reuses the install until either file changes. An install that fails fails the test with npm's
reason: never a skip, so the proof cannot vanish quietly.

Several checkouts may share that directory and run different locks at the same time, so an older
install is removed only once nobody has used it for :data:`_STALE_AFTER` (each use touches it).

``python tests/pinned_node.py`` installs them (``.ci/run`` does, before the test command).
How to add or update a program: docs/clients/README.md#pinned-clients.
"""

import fcntl
import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import List

from pinned_envs import VENVS

__all__ = ["NODE_CLIENTS", "NodeClientsError", "install_node_clients", "pinned_node_bin"]

NODE_CLIENTS = Path(__file__).resolve().parent / "clients" / "node"
_MANIFESTS = ("package.json", "package-lock.json")
_PREFIX = "node-clients-"
_INSTALL_TIMEOUT = 900
_STALE_AFTER = 2 * 24 * 3600  # seconds an install of another lock may sit unused before it is removed
_USED_MARK = ".last-used"


class NodeClientsError(RuntimeError):
    """The pinned Node programs could not be installed; the message carries npm's last lines."""


def pinned_node_bin(name: str) -> str:
    """The path of executable ``name`` (``node_modules/.bin/NAME``) from the pinned install."""
    executable = install_node_clients() / "node_modules" / ".bin" / name
    if not executable.exists():
        raise NodeClientsError(f"{executable} does not exist: is {name!r} in {NODE_CLIENTS / 'package.json'}?")
    return str(executable)


def install_node_clients() -> Path:
    """The install directory, built from the lock on first use (thread- and process-safe: concurrent
    callers wait for one ``npm ci``)."""
    target = _install_dir()
    VENVS.mkdir(parents=True, exist_ok=True)
    with open(VENVS / f"{_PREFIX.rstrip('-')}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / ".complete").exists():
            _install(target)
        (target / _USED_MARK).touch()
        _remove_unused(keep=target)
    return target


def _install_dir() -> Path:
    digest = hashlib.sha256()
    for name in _MANIFESTS:
        digest.update((NODE_CLIENTS / name).read_bytes())
    return VENVS / f"{_PREFIX}{digest.hexdigest()[:12]}"


def _install(target: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise NodeClientsError("npm is not on PATH: the client tests need Node.js (20 or later) and npm")
    shutil.rmtree(target, ignore_errors=True)  # a half-finished earlier attempt
    target.mkdir(parents=True)
    for name in _MANIFESTS:
        shutil.copyfile(NODE_CLIENTS / name, target / name)
    # ci: exactly the lock, or an error. Install scripts stay on: Claude Code's postinstall puts its
    # platform binary in place of a stub (package.json's allowScripts approves it for npm >= 11).
    command = [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"]
    done = subprocess.run(command, cwd=target, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT, check=False)
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-6:])
        raise NodeClientsError(f"`npm ci` of {NODE_CLIENTS} failed (exit {done.returncode}): {tail}")
    (target / ".complete").write_text("package-lock.json\n")


def _remove_unused(keep: Path) -> None:
    now = time.time()
    for other in VENVS.glob(f"{_PREFIX}*"):
        if other == keep or not other.is_dir():
            continue
        mark = other / _USED_MARK
        last_used = mark.stat().st_mtime if mark.exists() else other.stat().st_mtime
        if now - last_used > _STALE_AFTER:
            shutil.rmtree(other, ignore_errors=True)


def _installed_programs(target: Path) -> List[str]:
    return sorted(path.name for path in (target / "node_modules" / ".bin").iterdir())


if __name__ == "__main__":
    installed = install_node_clients()
    sys.stdout.write(f"{installed}: {', '.join(_installed_programs(installed))}\n")
