"""``router shim -- codex …``: point Codex CLI at the proxy the shim starts for it.

Non-Python children reach the router through ``OPENAI_BASE_URL`` / ``ANTHROPIC_BASE_URL``, but Codex's
built-in provider reads neither (docs/clients/codex.md#pointing-codex-at-the-router). Codex does
take configuration overrides on its command line (``-c key=value``, layered over
``~/.codex/config.toml``, before any subcommand), so when CMD is Codex the shim inserts the ones
that define a custom Responses provider on the proxy and select it. Nothing in the user's Codex
configuration is changed on disk, and every Codex subcommand (``exec``, the TUI, ``resume`` …)
inherits them.

CMD is Codex when it is the ``codex`` executable (the npm package's ``bin/codex.js``, or a native
build named ``codex``), ``node …/codex.js``, or ``npx [options] codex|@openai/codex[@version]``.
"""

import os
import shutil
from typing import List, Mapping, Optional, Sequence

__all__ = ["PROVIDER_NAME", "codex_overrides", "is_codex", "with_codex_overrides"]

PROVIDER_NAME = "router"
_PACKAGE = "@openai/codex"
_NAMES = frozenset({"codex", "codex.js"})
_NODES = frozenset({"node", "nodejs"})
_NPX = "npx"
_NPX_VALUE_OPTIONS = frozenset({"-p", "--package", "-c", "--call"})


def codex_overrides(proxy_url: str) -> List[str]:
    """The ``-c`` arguments that make Codex send its calls to ``proxy_url`` (values are TOML).

    A custom provider needs a ``name``; it sends no key (no ``env_key``: the shim's proxy needs
    none) and never tries the Responses WebSocket (``supports_websockets`` is off by default)."""
    table = f"model_providers.{PROVIDER_NAME}"
    base_url = proxy_url.rstrip("/") + "/v1"
    settings = (
        f'model_provider="{PROVIDER_NAME}"',
        f'{table}.name="{PROVIDER_NAME}"',
        f'{table}.base_url="{base_url}"',
        f'{table}.wire_api="responses"',
    )
    return [argument for setting in settings for argument in ("-c", setting)]


def with_codex_overrides(argv: Sequence[str], proxy_url: str, environ: Mapping[str, str]) -> List[str]:
    """``argv`` with :func:`codex_overrides` right after the Codex program; unchanged when it is not Codex."""
    position = _codex_position(argv, environ)
    if position is None:
        return list(argv)
    return [*argv[: position + 1], *codex_overrides(proxy_url), *argv[position + 1 :]]


def is_codex(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    return _codex_position(argv, environ) is not None


def _codex_position(argv: Sequence[str], environ: Mapping[str, str]) -> Optional[int]:
    """The index of the argument that names Codex (its options follow it), or None."""
    if not argv:
        return None
    name = os.path.basename(argv[0])
    if _names_codex(argv[0], environ):
        return 0
    if name in _NODES and len(argv) > 1 and _names_codex(argv[1], environ):
        return 1
    if name == _NPX:
        return _npx_package_position(argv)
    return None


def _names_codex(program: str, environ: Mapping[str, str]) -> bool:
    if os.path.basename(program) in _NAMES:
        return True
    resolved = program if os.sep in program else shutil.which(program, path=environ.get("PATH"))
    return bool(resolved) and f"{os.sep}{_PACKAGE}{os.sep}" in os.path.realpath(str(resolved))


def _npx_package_position(argv: Sequence[str]) -> Optional[int]:
    """``npx -y @openai/codex@0.171.0 exec …``: the package argument (npx's own options come first)."""
    position = 1
    while position < len(argv):
        argument = argv[position]
        if argument in _NPX_VALUE_OPTIONS:
            position += 2
            continue
        if argument.startswith("-"):
            position += 1
            continue
        package = argument.split("@")[0] if not argument.startswith("@") else "@" + argument[1:].split("@")[0]
        return position if package in ("codex", _PACKAGE) else None
    return None
