"""``router route …`` and ``router alias …``: which backends serve which model.

``route explain`` asks the engine's own resolver (via :mod:`host.explain`), so it shows exactly
what the shim and the proxy will do, and asks running proxies which backends cool down. Edits keep
rule order (first match wins): ``route add`` appends unless ``--first``, and replaces a rule with the
same glob in place. Several targets make a chain, tried in order (docs/routing.md#the-cli).
"""

import json
from typing import Any, Dict, List, Optional, Tuple

import click

from shim.protocols import OPENAI, PROTOCOLS
from shim.targets import TargetSyntaxError, describe_chain, parse_chain

from .backend_states import running_states
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
    """Show which rule matched and, for each target of the chain in order, its backend, URL, upstream
    model, whether the call is translated and whether a running proxy has it cooling down."""
    loaded = load()
    running = running_states()
    report = explain_route(loaded.config, model, protocol, running.states)
    if report["routed"]:
        for target in report["targets"]:
            target["key"] = loaded.key_sources[target["backend"]].describe()
        report["key"] = report["targets"][0]["key"]
        report["states_note"] = running.note()
    click.echo(json.dumps(report, indent=2, ensure_ascii=False) if as_json else "\n".join(explanation_lines(report)))


@route.command("list", epilog=example("router route list"))
def route_list() -> None:
    """Show the [[routes]] rules in match order (each chain in the order it is tried), and the default."""
    config = load().config
    for rule in config.routes:
        policy = "  (own fallback policy)" if rule.policy is not None else ""
        click.echo(f"{rule.match}  →  {describe_chain(rule.chain)}{policy}")
    default = describe_chain(config.default_backend) if config.default_backend else "(none)"
    click.echo(f"default_backend: {default}")


@route.command("add", epilog=example(
    "router route add 'llama-*' groq",
    "router route add 'gpt-4o*' openrouter --first",
    "router route add 'claude-sonnet-*' anthropic openrouter:anthropic/claude-sonnet-4.5 openai:gpt-5.1",
    "router route add 'claude-*' anthropic=3,anthropic-eu=1 openai:gpt-5.1 --retries 0",
))
@click.argument("glob")
@click.argument("targets", metavar="BACKEND [BACKEND…]", nargs=-1, required=True)
@click.option("--first", is_flag=True, help="Check this rule before the existing ones (default: after them).")
@click.option("--retries", type=click.IntRange(min=0),
              help="This route's retries of the same target (default: [fallback]'s).")
@click.option("--statuses", metavar="CODES",
              help="This route's statuses that fall back, comma-separated (e.g. 429,500,503,529,401).")
def route_add(
    glob: str, targets: Tuple[str, ...], first: bool, retries: Optional[int], statuses: Optional[str]
) -> None:
    """Send models matching GLOB to BACKEND, and when it fails, to each further BACKEND in order
    (replaces a rule with the same GLOB). A BACKEND is a name or NAME:MODEL; A,B is a balanced group
    of equivalent backends (A=3,B=1 with weights)."""
    loaded = load()
    value = _chain_value(loaded, targets, "BACKEND")
    rule: Dict[str, Any] = {"match": glob, "backend": value}
    fallback = _fallback_table(retries, statuses)
    if fallback:
        rule["fallback"] = fallback
    routes: List[Dict[str, Any]] = loaded.document.setdefault("routes", [])
    existing = next((old for old in routes if old["match"] == glob), None)
    if existing is not None and not first:
        existing.clear()
        existing.update(rule)
    else:
        routes[:] = [old for old in routes if old is not existing]
        routes.insert(0 if first else len(routes), rule)
    save(loaded)
    shown = describe_chain(parse_chain(value, "route"))
    click.echo(f"{'replaced' if existing else 'added'} route {glob!r} → {shown}")
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


@route.command("default", epilog=example("router route default groq", "router route default groq openai:gpt-4o-mini",
                                         "router route default --clear"))
@click.argument("targets", metavar="[BACKEND…]", nargs=-1)
@click.option("--clear", is_flag=True, help="No default: unmatched models are left untouched.")
def route_default(targets: Tuple[str, ...], clear: bool) -> None:
    """Set (or --clear) the backends, tried in order, for models no other rule matches."""
    if clear == bool(targets):
        raise click.UsageError("give a BACKEND or --clear")
    loaded = load()
    shown = "(none)"
    if clear:
        loaded.document.pop("default_backend", None)
    else:
        value = _chain_value(loaded, targets, "BACKEND")
        loaded.document["default_backend"] = value
        shown = describe_chain(parse_chain(value, "default_backend"))
    save(loaded)
    click.echo(f"default_backend: {shown}")
    tell_running_proxies()


def _chain_value(loaded: LoadedConfig, words: Tuple[str, ...], what: str) -> Any:
    """The ``config.toml`` value for targets given on the command line: a string for one target,
    else a list (a word with commas is a balanced group, ``NAME=WEIGHT`` for its weights)."""
    steps = [_step(word, what) for word in words]
    for step in steps:
        for target in step["balance"] if isinstance(step, dict) else [step]:
            _require_backend(loaded, target.partition(":")[0])
    value = steps[0] if len(steps) == 1 and isinstance(steps[0], str) else steps
    try:
        parse_chain(value, what)
    except TargetSyntaxError as problem:
        raise click.BadParameter(str(problem), param_hint=what) from None
    return value


def _step(word: str, what: str) -> Any:
    if "," not in word:
        return word
    members, weights = [], []
    for part in word.split(","):
        target, sep, weight = part.partition("=")
        members.append(target)
        if sep:
            try:
                weights.append(int(weight) if weight.isdigit() else float(weight))
            except ValueError:
                raise click.BadParameter(f"{part!r}: a weight is a number", param_hint=what) from None
    group: Dict[str, Any] = {"balance": members}
    if weights:
        if len(weights) != len(members):
            raise click.BadParameter(f"{word!r}: give every member a weight, or none", param_hint=what)
        group["weights"] = weights
    return group


def _fallback_table(retries: Optional[int], statuses: Optional[str]) -> Dict[str, Any]:
    table: Dict[str, Any] = {}
    if retries is not None:
        table["retries"] = retries
    if statuses is not None:
        try:
            table["statuses"] = [int(code) for code in statuses.split(",") if code.strip()]
        except ValueError:
            raise click.BadParameter("comma-separated HTTP statuses, e.g. 429,503", param_hint="--statuses") from None
    return table


def _require_backend(loaded: LoadedConfig, name: str) -> None:
    if name not in loaded.config.backends:
        raise NotFound(f"no backend named {name!r} (add it first: router backend add {name})")


@click.group(epilog=example("router alias set fast groq:llama-3.1-8b-instant"))
def alias() -> None:
    """Name models: an alias is replaced by its target before routing."""


@alias.command("set", epilog=example("router alias set fast groq:llama-3.1-8b-instant",
                                     "router alias set smart claude-opus-4-7 openai:gpt-5.1"))
@click.argument("name")
@click.argument("targets", metavar="TARGET [TARGET…]", nargs=-1, required=True)
def alias_set(name: str, targets: Tuple[str, ...]) -> None:
    """Make model NAME mean TARGET (which may carry a BACKEND: prefix); with several, a chain: each
    is routed as its own name would be, and they are tried in order."""
    loaded = load()
    aliases = loaded.document.setdefault("aliases", {})
    replaced = name in aliases
    aliases[name] = targets[0] if len(targets) == 1 else list(targets)
    save(loaded)
    click.echo(f"{'replaced' if replaced else 'added'} alias {name!r} → {' → '.join(map(repr, targets))}")
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
