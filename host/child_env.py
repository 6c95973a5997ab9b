"""The environment of a ``router shim`` child: the user's, plus the few variables the shim needs.

Added (names in :mod:`shim.env_names`): the injected directory first on ``PYTHONPATH`` (the user's
entries kept after it, verbatim and in order), the paths of the config snapshot and the telemetry
socket, the proxy URL when a proxy runs, ``LITELLM_RUST=false`` unless the user chose, and a
placeholder for ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY`` when the user has none, so SDK
constructors start.

Taken away (docs/secrets.md#what-a-shimmed-program-gets): no key of the router's reaches the child.
A variable a backend reads its key from (``key_env``; ``router backend add openai`` names
``OPENAI_API_KEY``) holds the placeholder instead, so a program that reads it still starts, and
``ROUTER_API_KEY`` is removed. The shim puts the real key on the wire for the calls it routes; it
reads it from the snapshot, never from the environment. ``ChildSetup.passed_variables`` names the
variables the user asked to pass on anyway (``router shim --pass-env NAME``).

``OPENAI_BASE_URL`` / ``ANTHROPIC_BASE_URL`` point at the proxy, so that every process of the tree
reaches the router, also one that is not Python (the ``claude`` CLI claude-agent-sdk starts, ``codex``,
Node tools, ``curl``): a Python process routes calls to that URL in-process all the same (the shim
counts the proxy among the LLM hosts). Whose value wins (docs/shim-process-tree.md):

* a non-Python CMD: ours, always (the proxy is the only way the router sees its calls);
* a Python CMD: the user's, when they set one themselves: their Python code keeps calling what they
  chose (and an unrouted model still reaches it), at the price that the non-Python processes it
  starts inherit that URL and bypass the router.

A value an outer ``router shim`` set counts as ours, not the user's. When ours replaces the user's, the
user's is kept in ``ROUTER_SHIM_USER_*_BASE_URL``: a Python process sends a call with no route there,
as it would have gone without the router.
"""

import os
from dataclasses import dataclass
from typing import AbstractSet, Dict, Mapping, Optional, Sequence

from shim import env_names
from shim.host_proxy import proxy_base_url
from shim.protocols import ANTHROPIC, OPENAI

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
    key_variables: Sequence[str] = ()  # the variables backends read their keys from (key_env)
    passed_variables: AbstractSet[str] = frozenset()  # the user's exceptions (--pass-env)
    log_bodies: bool = False  # -vv: Python children print their calls' bodies (docs/operator-switches.md#bodies)


def child_environment(environ: Mapping[str, str], setup: ChildSetup) -> Dict[str, str]:
    """``environ`` plus the shim's variables (see the module docstring)."""
    env = dict(environ)
    env[env_names.PYTHONPATH] = _python_path(setup.injection_dir, environ.get(env_names.PYTHONPATH, ""))
    env[env_names.SHIM_DIR] = setup.injection_dir
    env[env_names.CONFIG_SNAPSHOT] = setup.snapshot_path
    env[env_names.TELEMETRY_SOCKET] = setup.socket_path
    if setup.log_bodies:
        env[env_names.SHIM_BODIES] = "1"
    else:
        env.pop(env_names.SHIM_BODIES, None)  # a nested run without -vv prints no bodies
    outer_proxy = env.pop(env_names.PROXY_URL, None)  # a nested run must not inherit the outer run's proxy
    if setup.proxy_url:
        env[env_names.PROXY_URL] = setup.proxy_url
        for protocol, variable, user_variable in _BASE_URL_VARIABLES:
            value = proxy_base_url(setup.proxy_url, protocol)
            outer = proxy_base_url(outer_proxy, protocol) if outer_proxy else None
            _point_at_proxy(env, variable, user_variable, value, outer, override_user=not setup.is_python)
    env.setdefault(env_names.LITELLM_RUST, _LITELLM_RUST_OFF)
    _withhold_keys(env, setup)
    for name in (env_names.OPENAI_API_KEY, env_names.ANTHROPIC_API_KEY):
        if not env.get(name):
            env[name] = env_names.PLACEHOLDER_API_KEY
    return env


def _withhold_keys(env: Dict[str, str], setup: ChildSetup) -> None:
    """The router's keys out of ``env``: each backend's key variable set to the placeholder (when set:
    an unset one stays unset), ``ROUTER_API_KEY`` removed; ``setup.passed_variables`` excepted."""
    for name in setup.key_variables:
        if env.get(name) and name not in setup.passed_variables:
            env[name] = env_names.PLACEHOLDER_API_KEY
    if env_names.ROUTER_API_KEY not in setup.passed_variables:
        env.pop(env_names.ROUTER_API_KEY, None)


_BASE_URL_VARIABLES = (
    (OPENAI, env_names.OPENAI_BASE_URL, env_names.USER_OPENAI_BASE_URL),
    (ANTHROPIC, env_names.ANTHROPIC_BASE_URL, env_names.USER_ANTHROPIC_BASE_URL),
)


def _point_at_proxy(
    env: Dict[str, str], variable: str, user_variable: str, value: str, outer: Optional[str], override_user: bool
) -> None:
    """Set ``variable`` to the proxy's ``value`` unless the user's own wins (module docstring);
    ``user_variable`` then names the user's value, or is removed when there was none."""
    current = env.get(variable, "")
    if current and current == outer:  # an outer run's: still ours, and what it kept of the user's stays
        env[variable] = value
        return
    if current and not override_user:  # the user's, and it wins
        env.pop(user_variable, None)
        return
    if current:
        env[user_variable] = current
    else:
        env.pop(user_variable, None)
    env[variable] = value


def _python_path(injection_dir: str, user_value: str) -> str:
    """Ours first; the user's value after it unchanged (minus an earlier copy of ours, when nested)."""
    if not user_value:
        return injection_dir
    entries = [entry for entry in user_value.split(os.pathsep) if entry != injection_dir]
    return os.pathsep.join([injection_dir, *entries]) if entries else injection_dir
