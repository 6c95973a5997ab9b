"""``shim``: the injected directory builds, a child Python loads it, and what it would patch there.

The child is started exactly as ``router shim`` starts one (:func:`host.child_env.child_environment`,
without a telemetry socket or a configuration, so it routes nothing and reports nothing). It
imports each HTTP library the shim patches that it has installed, then says which attributes the
shim replaced: the proof that ``router shim -- python …`` will route calls in that interpreter,
which may be another virtualenv or another Python version than the router's own.
"""

import json
import os
import shutil
import subprocess
import sys
from typing import Any, Dict, Mapping, Optional

from ..child_env import ChildSetup, child_environment
from ..injection import ensure_injection_dir
from .report import FAIL, INFO, OK, WARN, Section

__all__ = ["CHILD_TIMEOUT", "PROBE_SCRIPT", "default_python", "run_probe", "shim_section"]

CHILD_TIMEOUT = 60.0  # importing aiohttp and the SDK stack in a cold venv takes seconds, not minutes

# Runs in the child: standard library only, Python 3.9 syntax, one JSON line on stdout.
PROBE_SCRIPT = r"""
import importlib, json, sys
found = {"python": "%d.%d.%d" % tuple(sys.version_info[:3]), "executable": sys.executable,
         "package": getattr(sys, "_router_shim_package", None), "libraries": {}}
for name in ("httpx", "httpx2", "requests", "aiohttp"):
    try:
        module = importlib.import_module(name)
        found["libraries"][name] = str(getattr(module, "__version__", "") or "?")
    except ImportError:
        found["libraries"][name] = None
    except Exception as error:
        found["libraries"][name] = "fails to import: " + type(error).__name__
bootstrap = sys.modules.get(str(found["package"]) + ".bootstrap")
found["active"] = bool(bootstrap is not None and bootstrap.is_active())
found["patched"] = bootstrap.patched_targets() if bootstrap is not None else []
print(json.dumps(found))
"""


def default_python(environ: Mapping[str, str]) -> str:
    """The interpreter a user's ``router shim -- python3 …`` would start: ``python3`` on PATH, else ours."""
    return shutil.which("python3", path=environ.get("PATH")) or sys.executable


def shim_section(environ: Mapping[str, str], python: Optional[str] = None) -> Section:
    section = Section("shim")
    try:
        injection = ensure_injection_dir()
    except OSError as exc:
        section.add(FAIL, "injection directory", f"cannot be built: {exc.strerror or exc}",
                    fix="the user cache directory must be writable (XDG_CACHE_HOME, or ~/.cache)")
        return section
    section.add(OK, "injection directory", f"{injection.path}")
    interpreter = _interpreter(section, environ, python)
    if interpreter is not None:
        _probe(section, interpreter, str(injection.path), environ)
    return section


def _interpreter(section: Section, environ: Mapping[str, str], python: Optional[str]) -> Optional[str]:
    if python is None:
        chosen = default_python(environ)
        section.add(INFO, "child Python", f"{chosen} (another one: router doctor --python PATH)")
        return chosen
    found = python if os.sep in python else shutil.which(python, path=environ.get("PATH"))
    if found is None or not os.access(found, os.X_OK):
        section.add(FAIL, "child Python", f"{python}: not found or not executable",
                    fix="give the interpreter your program runs with, e.g. --python .venv/bin/python")
        return None
    section.add(INFO, "child Python", found)
    return found


def _probe(section: Section, python: str, injection_dir: str, environ: Mapping[str, str]) -> None:
    outcome = run_probe(python, injection_dir, environ)
    if isinstance(outcome, str):
        section.add(FAIL, "child Python loads the shim", outcome,
                    fix="run the program with that Python directly to see why it does not start")
        return
    version = outcome.get("python", "?")
    if not outcome.get("active"):
        too_old = tuple(int(part) for part in str(version).split(".")[:2] if part.isdigit()) < (3, 9)
        section.add(FAIL, "child Python loads the shim", f"Python {version}: the shim did not activate",
                    fix="the shim needs Python ≥ 3.9" if too_old else
                    "ROUTER_SHIM_DEBUG=1 router doctor shows the shim's traceback")
        return
    section.add(OK, "child Python loads the shim", f"Python {version}, package {outcome.get('package')}")
    _libraries(section, outcome)


def _libraries(section: Section, outcome: Dict[str, Any]) -> None:
    libraries: Dict[str, Optional[str]] = outcome.get("libraries") or {}
    patched = [str(target) for target in outcome.get("patched") or []]
    for name, version in libraries.items():
        seams = [target.split(".", 1)[1] for target in patched if target.split(".")[0] == name]
        if version is None:
            section.add(INFO, name, "not installed there")
        elif version.startswith("fails to import"):
            section.add(WARN, name, version)
        elif seams:
            section.add(OK, f"{name} {version}", f"patched ({', '.join(seams)})")
        else:
            section.add(FAIL, f"{name} {version}", "installed but not patched",
                        fix="ROUTER_SHIM_DEBUG=1 router doctor shows why; please report it with this output")
    if not any(version and not version.startswith("fails") for version in libraries.values()):
        section.add(WARN, "HTTP libraries", "none of httpx, httpx2, requests, aiohttp is installed there",
                    fix="install your SDK (pip install openai anthropic) in that environment")


def run_probe(python: str, injection_dir: str, environ: Mapping[str, str]) -> "Dict[str, Any] | str":
    """The child's JSON answer, or why there is none (one line)."""
    setup = ChildSetup(injection_dir, snapshot_path="", socket_path="", proxy_url=None, is_python=True)
    env = child_environment(environ, setup)
    try:
        done = subprocess.run([python, "-c", PROBE_SCRIPT], env=env, capture_output=True, text=True,
                              timeout=CHILD_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f"no answer within {CHILD_TIMEOUT:g} s"
    except OSError as exc:
        return f"cannot start {python}: {exc.strerror or exc}"
    answer = _last_json_line(done.stdout)
    if done.returncode != 0 or answer is None:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
        return f"exit code {done.returncode}: {last}"
    return answer


def _last_json_line(stdout: str) -> Optional[Dict[str, Any]]:
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        return value if isinstance(value, dict) else None
    return None

