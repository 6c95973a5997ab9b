"""The demo's temporary ``ROUTER_HOME`` and the environment its ``router`` children run in."""

import os
import sys
from pathlib import Path
from typing import Dict, List, Mapping

from ..credentials import store_key
from .wire_server import ANTHROPIC, OPENAI

__all__ = ["DEMO_BACKENDS", "agent_path", "child_env", "router_argv", "write_demo_home"]

DEMO_BACKENDS = (ANTHROPIC, OPENAI)
# Variables of the user's own setup that would change what the demo does (their real state
# directory, keys, base URLs): the demo children never see them.
_USER_PREFIXES = ("ROUTER_", "OPENAI_", "ANTHROPIC_")


def write_demo_home(home: Path, provider_root: str, keys: Mapping[str, str]) -> None:
    """``config.toml`` with backends ``anthropic`` and ``openai`` on the demo provider; their fake
    keys in the 0600 credentials file, exactly where ``router backend add NAME --key -`` puts them."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    root = provider_root.rstrip("/")
    (home / "config.toml").write_text(
        "# Written by `router demo`: both backends point at its local demo provider.\n"
        f'[backends.anthropic]\nprotocol = "anthropic"\nbase_url = "{root}"\n\n'
        f'[backends.openai]\nprotocol = "openai"\nbase_url = "{root}/v1"\n'
    )
    for name in DEMO_BACKENDS:
        store_key(home / "credentials.toml", name, keys[name])


def child_env(home: Path, environ: Mapping[str, str]) -> Dict[str, str]:
    """``environ`` without the user's router/provider variables, with ``ROUTER_HOME`` on the demo's."""
    env = {k: v for k, v in environ.items() if not k.startswith(_USER_PREFIXES) and not k.endswith("_API_KEY")}
    env.pop("PYTHONPATH", None)
    env.update({"ROUTER_HOME": str(home), "ROUTER_DEMO_LOOPBACK_ONLY": "1", "PYTHONUNBUFFERED": "1"})
    return env


def router_argv(*args: str) -> List[str]:
    """``router ARGS`` run by this very interpreter (works without the console script on PATH)."""
    return [sys.executable, "-m", "host", *args]


def agent_path() -> str:
    """The example agent's file (shipped in this package)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "agent.py")
