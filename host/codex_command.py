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

Web search: Codex offers the model OpenAI's built-in ``web_search`` tool, which only OpenAI's own
Responses API runs; the engine refuses it for any other backend (docs/responses-api.md#known-limits).
When the command line names the model (``-m``/``--model``, or ``-c model=…``) and the router sends
that model anywhere but a native Responses backend, the shim also turns Codex's web search off
(``-c web_search="disabled"``), so that the run works instead of failing on its first request.
"""

import os
import shutil
from typing import List, Mapping, Optional, Sequence

import tomllib

from shim.config import RouterConfig
from shim.plan import upstream_endpoint
from shim.protocols import RESPONSES
from shim.routing import resolve_route

__all__ = [
    "PROVIDER_NAME", "WEB_SEARCH_OFF", "codex_overrides", "is_codex", "requested_model", "runs_openai_tools",
    "with_codex_overrides",
]

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


WEB_SEARCH_OFF = ("-c", 'web_search="disabled"')


def with_codex_overrides(
    argv: Sequence[str], proxy_url: str, environ: Mapping[str, str], config: RouterConfig
) -> List[str]:
    """``argv`` with :func:`codex_overrides` right after the Codex program (and web search off when
    the model named there cannot run it); unchanged when it is not Codex."""
    position = _codex_position(argv, environ)
    if position is None:
        return list(argv)
    overrides = codex_overrides(proxy_url)
    model = requested_model(argv[position + 1 :])
    if model is not None and not runs_openai_tools(config, model):
        overrides += WEB_SEARCH_OFF
    return [*argv[: position + 1], *overrides, *argv[position + 1 :]]


def runs_openai_tools(config: RouterConfig, model: str) -> bool:
    """Does ``model`` reach a backend that serves the Responses API itself (OpenAI's built-in tools
    run there)? A model with no route goes nowhere through the proxy: nothing to turn off for it."""
    route = resolve_route(config, model)
    return route is None or upstream_endpoint(RESPONSES, route.backend, route.upstream_model) == RESPONSES


def requested_model(arguments: Sequence[str]) -> Optional[str]:
    """The model Codex's arguments name (the last one wins, as in Codex), or None."""
    model: Optional[str] = None
    for position, argument in enumerate(arguments):
        following = arguments[position + 1] if position + 1 < len(arguments) else None
        if argument in ("-m", "--model") and following is not None:
            model = following
        elif argument.startswith("--model="):
            model = argument.partition("=")[2]
        elif argument in ("-c", "--config") and following is not None and following.startswith("model="):
            model = _toml_value(following.partition("=")[2])
    return model or None


def _toml_value(text: str) -> str:
    """A ``-c`` value as Codex reads it: TOML, else the raw string."""
    try:
        value = tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text
    return value if isinstance(value, str) else text


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
