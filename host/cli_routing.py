"""``router route …`` and ``router alias …``: which backend serves which model.

``route explain`` asks the engine's own resolver (via :mod:`host.explain`), so it shows exactly
what the shim and the proxy will do. Edits keep rule order (first match wins): ``route add``
appends unless ``--first``, and replaces a rule with the same glob in place.
"""

import json
from typing import Dict, List, Optional

import click

from shim.protocols import OPENAI, PROTOCOLS

from .cli_support import NotFound, example, load, save, tell_running_proxies
from .config_store import LoadedConfig
from .explain import explain_route, explanation_lines

__all__ = ["alias", "route"]


@click.group(epilog=example("router route explain gpt-4o"))
def route() -> None:
    """See and edit which backend serves which model."""


@route.command("explain", epilog=example("router route explain sonnet --protocol anthropic --json"))
@click.argument("model")
@click.option("--protocol", type=click.Choice(PROTOCOLS), default=OPENAI, show_default=True,
              help="The protocol the client speaks (openai: chat completions, anthropic: messages).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def route_explain(model: str, protocol: str, as_json: bool) -> None:
    """Show which rule, backend, URL and upstream model a call for MODEL would get."""
    loaded = load()
    report = explain_route(loaded.config, model, protocol)
    if report["backend"] is not None:
        report["key"] = loaded.key_sources[report["backend"]].describe()
    click.echo(json.dumps(report, indent=2, ensure_ascii=False) if as_json else "\n".join(explanation_lines(report)))


@route.command("list", epilog=example("router route list"))
def route_list() -> None:
    """Show the [[routes]] rules in match order, and the default backend."""
    document = load().document
    for rule in document.get("routes", []):
        click.echo(f"{rule['match']}  →  {rule['backend']}")
    click.echo(f"default_backend: {document.get('default_backend', '(none)')}")


@route.command("add", epilog=example("router route add 'llama-*' groq",
                                     "router route add 'gpt-4o*' openrouter --first"))
@click.argument("glob")
@click.argument("backend_name", metavar="BACKEND")
@click.option("--first", is_flag=True, help="Check this rule before the existing ones (default: after them).")
def route_add(glob: str, backend_name: str, first: bool) -> None:
    """Send models matching GLOB to BACKEND (replaces a rule with the same GLOB)."""
    loaded = load()
    _require_backend(loaded, backend_name)
    routes: List[Dict[str, str]] = loaded.document.setdefault("routes", [])
    existing = next((rule for rule in routes if rule["match"] == glob), None)
    if existing is not None and not first:
        existing["backend"] = backend_name
    else:
        routes[:] = [rule for rule in routes if rule is not existing]
        routes.insert(0 if first else len(routes), {"match": glob, "backend": backend_name})
    save(loaded)
    click.echo(f"{'replaced' if existing else 'added'} route {glob!r} → {backend_name!r}")
    tell_running_proxies()


@route.command("remove", epilog=example("router route remove 'llama-*'"))
@click.argument("glob")
def route_remove(glob: str) -> None:
    """Remove the rule whose match is exactly GLOB."""
    loaded = load()
    routes = loaded.document.get("routes", [])
    kept = [rule for rule in routes if rule["match"] != glob]
    if len(kept) == len(routes):
        raise NotFound(f"no route matching {glob!r} (see: router route list)")
    if kept:
        loaded.document["routes"] = kept
    else:
        del loaded.document["routes"]
    save(loaded)
    click.echo(f"removed route {glob!r}")
    tell_running_proxies()


@route.command("default", epilog=example("router route default groq", "router route default --clear"))
@click.argument("backend_name", metavar="[BACKEND]", required=False)
@click.option("--clear", is_flag=True, help="No default: unmatched models are left untouched.")
def route_default(backend_name: Optional[str], clear: bool) -> None:
    """Set (or --clear) the backend for models no other rule matches."""
    if clear == (backend_name is not None):
        raise click.UsageError("give a BACKEND or --clear")
    loaded = load()
    if backend_name is None:
        loaded.document.pop("default_backend", None)
    else:
        _require_backend(loaded, backend_name)
        loaded.document["default_backend"] = backend_name
    save(loaded)
    click.echo(f"default_backend: {backend_name or '(none)'}")
    tell_running_proxies()


def _require_backend(loaded: LoadedConfig, name: str) -> None:
    if name not in loaded.config.backends:
        raise NotFound(f"no backend named {name!r} (add it first: router backend add {name})")


@click.group(epilog=example("router alias set fast groq:llama-3.1-8b-instant"))
def alias() -> None:
    """Name models: an alias is replaced by its target before routing."""


@alias.command("set", epilog=example("router alias set fast groq:llama-3.1-8b-instant"))
@click.argument("name")
@click.argument("target")
def alias_set(name: str, target: str) -> None:
    """Make model NAME mean TARGET (which may carry a BACKEND: prefix)."""
    loaded = load()
    aliases = loaded.document.setdefault("aliases", {})
    replaced = name in aliases
    aliases[name] = target
    save(loaded)
    click.echo(f"{'replaced' if replaced else 'added'} alias {name!r} → {target!r}")
    tell_running_proxies()


@alias.command("remove", epilog=example("router alias remove fast"))
@click.argument("name")
def alias_remove(name: str) -> None:
    """Remove the alias NAME."""
    loaded = load()
    aliases = loaded.document.get("aliases", {})
    if name not in aliases:
        raise NotFound(f"no alias named {name!r}")
    del aliases[name]
    if not aliases:
        del loaded.document["aliases"]
    save(loaded)
    click.echo(f"removed alias {name!r}")
    tell_running_proxies()
