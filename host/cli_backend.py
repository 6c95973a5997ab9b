"""``router backend add | list | remove``: the APIs calls can be routed to.

Keys: ``--key -`` reads stdin (or prompts, hidden) and stores the key in the 0600 credentials file;
``--key-env VAR`` records only the variable's name. A preset that needs a key and gets neither
defaults to its usual variable (``OPENAI_API_KEY`` …) and says so. Output shows where a key comes
from, never the key.
"""

import json
import os
import re
import sys
from typing import Any, Dict, List, Optional

import click

from shim.config import MAX_TOKENS_FIELDS
from shim.protocols import PROTOCOLS

from .cli_support import NotFound, example, load, save, tell_running_proxies
from .config_store import KeySource, LoadedConfig, backend_users, valid_env_name
from .credentials import check_key, remove_key, store_key
from .paths import credentials_path
from .presets import PRESETS, BackendSpecError, backend_table

__all__ = ["backend"]

_BACKEND_NAME = re.compile(r"[^:/\s]+")


@click.group(epilog=example("router backend add openai"))
def backend() -> None:
    """Add, list and remove the APIs calls can be routed to."""


@backend.command("add", epilog=example(
    "router backend add groq                     # key from $GROQ_API_KEY",
    "pass show openai | router backend add openai --key -",
    "router backend add local --base-url http://127.0.0.1:8080/v1 --models 'qwen*'"))
@click.argument("name")
@click.option("--key", metavar="KEY|-", help="Store this key privately; '-' reads it from stdin (safer).")
@click.option("--key-env", metavar="VAR", help="Read the key from this environment variable at call time.")
@click.option("--base-url", metavar="URL", help="Needed unless NAME is a preset (openai, groq, ollama, …).")
@click.option("--protocol", type=click.Choice(PROTOCOLS),
              help="What the backend speaks (default: the preset's, else openai).")
@click.option("--models", multiple=True, metavar="GLOB", help="Models this backend serves (repeatable).")
@click.option("--max-tokens-field", type=click.Choice(MAX_TOKENS_FIELDS),
              help="Field carrying the output limit on OpenAI-protocol backends.")
@click.option("--max-output-tokens", type=click.IntRange(min=1), help="Clamp max_tokens sent to this backend.")
def backend_add(name: str, key: Optional[str], key_env: Optional[str], **options: Any) -> None:
    """Add a backend (or replace one with the same name)."""
    if not _BACKEND_NAME.fullmatch(name):
        raise click.BadParameter("a backend name cannot be empty or contain ':', '/' or spaces", param_hint="NAME")
    if key is not None and key_env is not None:
        raise click.UsageError("give --key or --key-env, not both")
    try:
        table, notes = backend_table(name, **options)
    except BackendSpecError as exc:
        if exc.option is None:
            raise click.UsageError(str(exc)) from None
        raise click.BadParameter(str(exc), param_hint=exc.option) from None
    for note in notes:
        click.echo(note, err=True)
    loaded = load()
    secret = _read_key(key) if key is not None else None
    key_env = _key_env_for(name, key_env) if secret is None else None
    if key_env is not None:
        table["key_env"] = key_env
    backends = loaded.document.setdefault("backends", {})
    replaced = name in backends
    backends[name] = table  # in place: backend order decides `models` glob routing
    if secret is not None:
        store_key(credentials_path(), name, secret)
    save(loaded)
    if secret is None:
        remove_key(credentials_path(), name)
    source = KeySource("stored", present=True) if secret else _env_source(key_env)
    verb = "replaced" if replaced else "added"
    click.echo(f"{verb} backend {name!r}: {table['protocol']} at {table['base_url']}; key: {source.describe()}")
    tell_running_proxies()


def _read_key(value: str) -> str:
    """The key from ``--key``: '-' reads stdin (or prompts, hidden, on a terminal)."""
    if value == "-":
        entered = click.prompt("API key", hide_input=True, err=True) if sys.stdin.isatty() else sys.stdin.read()
        key = str(entered).strip()
    else:
        key = value
        click.echo("warning: a key typed on the command line stays in your shell history; "
                   "prefer --key-env VAR or --key - (reads the key from stdin)", err=True)
    problem = check_key(key)
    if problem:
        raise click.BadParameter(problem, param_hint="--key")
    return key


def _key_env_for(name: str, key_env: Optional[str]) -> Optional[str]:
    if key_env is not None:
        # Never echo the value: a user who confused --key-env with --key just typed a secret.
        if not valid_env_name(key_env) or _looks_like_a_key(key_env):
            raise click.BadParameter("give the NAME of an environment variable (like OPENAI_API_KEY), not a key; "
                                     "to store a key use --key -", param_hint="--key-env")
        return key_env
    preset = PRESETS.get(name)
    if preset is None or preset.key_env is None:
        click.echo(f"note: no key for {name!r} (add one with --key-env VAR or --key -)", err=True)
        return None
    optional = "" if preset.key_required else " (optional for this backend)"
    click.echo(f"note: no key given; using --key-env {preset.key_env}{optional}", err=True)
    return preset.key_env


def _looks_like_a_key(value: str) -> bool:
    return len(value) >= 32 and any(c.islower() for c in value) and any(c.isdigit() for c in value)


def _env_source(key_env: Optional[str]) -> KeySource:
    return KeySource("env", key_env, bool(os.environ.get(key_env))) if key_env else KeySource("none")


@backend.command("list", epilog=example("router backend list --json"))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def backend_list(as_json: bool) -> None:
    """Show configured backends and where each key comes from (never the key)."""
    loaded = load()
    rows = [_backend_row(loaded, name) for name in loaded.config.backends]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    elif not rows:
        click.echo("no backends configured; add one with: router backend add openai")
    else:
        _print_table(["NAME", "PROTOCOL", "BASE URL", "KEY", "MODELS"],
                     [[r["name"], r["protocol"], r["base_url"], r["key"], ",".join(r["models"]) or "-"] for r in rows])


def _backend_row(loaded: LoadedConfig, name: str) -> Dict[str, Any]:
    backend = loaded.config.backends[name]
    source = loaded.key_sources[name]
    return {
        "name": name, "protocol": backend.protocol, "base_url": backend.base_url,
        "key": source.describe(), "key_source": source.kind, "key_env": source.env, "key_available": source.present,
        "models": list(backend.models), "max_tokens_field": backend.max_tokens_field,
        "max_output_tokens": backend.max_output_tokens,
    }


def _print_table(header: List[str], rows: List[List[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@backend.command("remove", epilog=example("router backend remove groq"))
@click.argument("name")
def backend_remove(name: str) -> None:
    """Remove a backend and its stored key."""
    loaded = load()
    backends = loaded.document.get("backends", {})
    if name not in backends:
        raise NotFound(f"no backend named {name!r} (see: router backend list)")
    users = backend_users(loaded.config, name)
    if users:
        raise NotFound(f"backend {name!r} is still used by {', '.join(users)}; change those first")
    del backends[name]
    save(loaded)
    had_key = remove_key(credentials_path(), name)
    click.echo(f"removed backend {name!r}" + (" and its stored key" if had_key else ""))
    tell_running_proxies()
