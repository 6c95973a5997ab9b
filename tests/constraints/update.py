"""Resolve the test environments again from the package index and rewrite their locks.

    python tests/constraints/update.py              # every lock
    python tests/constraints/update.py frameworks   # one (names: tests/pinned_envs.py, and "project")

Run it on purpose, when a test should see newer releases (a new SDK major, a framework release a
user reports): then run the tests, and commit the locks with the code they pass with. Nothing else
ever changes a lock, so a failing run always points at a commit, never at the day's index.

``project.txt`` is the router's own test environment (``pip install -e '.[test]'``, which
``.ci/run`` installs with ``-c tests/constraints/project.txt``); the others are the child venvs of
``tests/pinned_envs.py``, each resolved from its requirements in a fresh venv.
"""

import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pinned_envs import CONSTRAINTS, ENVIRONMENTS, REPO

PROJECT = "project"
_HEADER = "# Written by tests/constraints/update.py: do not edit by hand.\n# {what}\n"


def resolve(requirements: Sequence[str], what: str, lock: Path, exclude: Sequence[str] = ()) -> None:
    """Install ``requirements`` into a fresh venv and write what it holds to ``lock``."""
    with tempfile.TemporaryDirectory(prefix="router-lock-") as scratch:
        python = Path(scratch) / "venv" / "bin" / "python"
        subprocess.run([sys.executable, "-m", "venv", str(python.parents[1])], check=True)
        pip = [str(python), "-m", "pip", "--disable-pip-version-check"]
        subprocess.run([*pip, "install", "--quiet", *requirements], check=True, cwd=REPO)
        frozen = subprocess.run([*pip, "freeze", "--exclude-editable", *(f"--exclude={name}" for name in exclude)],
                                check=True, capture_output=True, text=True).stdout
    lock.write_text(_HEADER.format(what=what) + frozen)
    print(f"{lock.relative_to(REPO)}: {len(frozen.splitlines())} distributions")


def update(name: str) -> None:
    if name == PROJECT:
        resolve(["-e", ".[test,demo,otel]"], "The router's own test environment: pip install -e '.[test,demo,otel]'.",
                CONSTRAINTS / "project.txt", exclude=("router", "pip", "setuptools"))
        return
    env = ENVIRONMENTS[name]
    resolve(env.requirements, f"{name}: {env.why}. Requirements: {' '.join(env.requirements)}", env.lock,
            exclude=("pip", "setuptools"))


def main(names: Sequence[str]) -> None:
    chosen = list(names) or [PROJECT, *ENVIRONMENTS]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(update, chosen))


if __name__ == "__main__":
    main(sys.argv[1:])
