"""The environment of a ``router shim`` child: the user's, plus the few variables the shim needs.

Added (names in :mod:`shim.env_names`): the injected directory first on ``PYTHONPATH`` (the user's
entries kept after it, verbatim and in order), the paths of the config snapshot and the telemetry
socket, the proxy URL when a proxy runs, ``LITELLM_RUST=false`` unless the user chose, and a
placeholder for ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY`` when the user has none, so SDK
constructors start. Real keys are never added: they reach the shim through the 0600 snapshot.

A non-Python CMD cannot be routed in-process, so it gets ``OPENAI_BASE_URL`` /
``ANTHROPIC_BASE_URL`` pointing at the proxy (overriding the user's: the proxy is the only way
the router sees those calls).
"""

import os
from dataclasses import dataclass
from typing import Dict, Mapping, Optional

from shim import env_names

__all__ = ["ChildSetup", "child_environment"]

_LITELLM_RUST_OFF = "false"


@dataclass(frozen=True)
class ChildSetup:
    """What the host prepared for the child."""

    injection_dir: str
    snapshot_path: str
    socket_path: str
    proxy_url: Optional[str]  # http://127.0.0.1:PORT, or None when no proxy runs
    is_python: bool


def child_environment(environ: Mapping[str, str], setup: ChildSetup) -> Dict[str, str]:
    """``environ`` plus the shim's variables (see the module docstring)."""
    env = dict(environ)
    env[env_names.PYTHONPATH] = _python_path(setup.injection_dir, environ.get(env_names.PYTHONPATH, ""))
    env[env_names.SHIM_DIR] = setup.injection_dir
    env[env_names.CONFIG_SNAPSHOT] = setup.snapshot_path
    env[env_names.TELEMETRY_SOCKET] = setup.socket_path
    env.pop(env_names.PROXY_URL, None)  # a nested run must not inherit the outer run's proxy
    if setup.proxy_url:
        env[env_names.PROXY_URL] = setup.proxy_url
        if not setup.is_python:
            env[env_names.OPENAI_BASE_URL] = setup.proxy_url.rstrip("/") + "/v1"
            env[env_names.ANTHROPIC_BASE_URL] = setup.proxy_url.rstrip("/")
    env.setdefault(env_names.LITELLM_RUST, _LITELLM_RUST_OFF)
    for name in (env_names.OPENAI_API_KEY, env_names.ANTHROPIC_API_KEY):
        if not env.get(name):
            env[name] = env_names.PLACEHOLDER_API_KEY
    return env


def _python_path(injection_dir: str, user_value: str) -> str:
    """Ours first; the user's value after it unchanged (minus an earlier copy of ours, when nested)."""
    if not user_value:
        return injection_dir
    entries = [entry for entry in user_value.split(os.pathsep) if entry != injection_dir]
    return os.pathsep.join([injection_dir, *entries]) if entries else injection_dir
