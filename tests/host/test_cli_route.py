"""``router route …``, ``router alias …``, ``router config path``, ``--version`` and ``--help``.

``route explain`` is checked for every routing rule of ``shim/routing.py`` (prefix, alias, route
glob, backend models glob, family, shortcut, default_backend, none), in text and JSON, for both
client protocols.
"""

import json
import re
from importlib.metadata import version
from pathlib import Path
from typing import Iterator, Tuple

import click
import pytest
from host_cli_helpers import load_toml, write_config

from host.cli import cli

CONFIG = """
[backends.openai]
protocol = "openai"
base_url = "https://api.openai.com/v1"
key_env = "OPENAI_API_KEY"
[backends.anthropic]
protocol = "anthropic"
base_url = "https://api.anthropic.com"
[backends.groq]
protocol = "openai"
base_url = "https://api.groq.com/openai/v1"
models = ["llama-*"]
[backends.local]
protocol = "openai"
base_url = "http://127.0.0.1:11434/v1"
[aliases]
fast = "groq:llama-3.1-8b-instant"
[[routes]]
match = "mistral-*"
backend = "local"
[shortcuts]
opus = "claude-opus-4-1"
"""
WITH_DEFAULT = 'default_backend = "local"\n' + CONFIG

GROQ_CHAT = "https://api.groq.com/openai/v1/chat/completions"
LOCAL_CHAT = "http://127.0.0.1:11434/v1/chat/completions"
OPENAI_CHAT = "https://api.openai.com/v1/chat/completions"
ANTHROPIC_MESSAGES = "https://api.anthropic.com/v1/messages"

# (model, client protocol, rule, backend, upstream URL, translated, upstream model)
ROUTED = [
    ("groq:llama-3.3-70b", "openai", "prefix 'groq:'", "groq", GROQ_CHAT, False, "llama-3.3-70b"),
    ("groq:llama-3.3-70b", "anthropic", "prefix 'groq:'", "groq", GROQ_CHAT, True, "llama-3.3-70b"),
    ("fast", "openai", "alias 'fast' → 'groq:llama-3.1-8b-instant', then prefix 'groq:'", "groq", GROQ_CHAT, False,
     "llama-3.1-8b-instant"),
    ("mistral-large", "anthropic", "route 'mistral-*'", "local", LOCAL_CHAT, True, "mistral-large"),
    ("llama-3-8b", "openai", "backend 'groq' models 'llama-*'", "groq", GROQ_CHAT, False, "llama-3-8b"),
    ("gpt-4o", "openai", "built-in family 'gpt-*'", "openai", OPENAI_CHAT, False, "gpt-4o"),
    ("o3-mini", "anthropic", "built-in family 'o3*'", "openai", OPENAI_CHAT, True, "o3-mini"),
    ("claude-sonnet-4-6", "anthropic", "built-in family 'claude-*'", "anthropic", ANTHROPIC_MESSAGES, False,
     "claude-sonnet-4-6"),
    ("claude-sonnet-4-6", "openai", "built-in family 'claude-*'", "anthropic", ANTHROPIC_MESSAGES, True,
     "claude-sonnet-4-6"),
    ("opus", "openai", "shortcut 'opus' → 'claude-opus-4-1'", "anthropic", ANTHROPIC_MESSAGES, True, "claude-opus-4-1"),
    ("haiku", "anthropic", "shortcut 'haiku' → 'claude-haiku-4-5'", "anthropic", ANTHROPIC_MESSAGES, False,
     "claude-haiku-4-5"),
    ("qwen3:8b", "openai", "default_backend", "local", LOCAL_CHAT, False, "qwen3:8b"),
]


@pytest.mark.parametrize(("model", "protocol", "rule", "backend", "url", "translated", "upstream"), ROUTED)
def test_explain_json_for_every_rule(
    invoke, home: Path, model: str, protocol: str, rule: str, backend: str, url: str, translated: bool, upstream: str
) -> None:
    write_config(home, WITH_DEFAULT)
    report = json.loads(invoke("route", "explain", model, "--protocol", protocol, "--json").stdout)
    assert report["routed"] is True
    assert (report["rule"], report["backend"], report["upstream_url"]) == (rule, backend, url)
    assert (report["translated"], report["upstream_model"]) == (translated, upstream)
    assert report["client_protocol"] == protocol
    assert report["client_endpoint"] == ("messages" if protocol == "anthropic" else "chat")


@pytest.mark.parametrize(("model", "protocol", "rule", "backend", "url", "translated", "upstream"), ROUTED)
def test_explain_text_for_every_rule(
    invoke, home: Path, model: str, protocol: str, rule: str, backend: str, url: str, translated: bool, upstream: str
) -> None:
    write_config(home, WITH_DEFAULT)
    lines = invoke("route", "explain", model, "--protocol", protocol).stdout.splitlines()
    fields = dict(line.split(":", 1) for line in lines)
    fields = {label: value.strip() for label, value in fields.items()}
    assert fields["rule"] == rule
    assert fields["backend"].startswith(f"{backend} (")
    assert fields["upstream URL"] == url
    assert fields["upstream model"] == upstream
    assert fields["translation"].startswith("yes" if translated else "no")
    assert "streams" not in fields  # one target, no retries: a stream goes out as it comes


def test_explain_defaults_to_the_openai_client(invoke, home: Path) -> None:
    write_config(home, CONFIG)
    report = json.loads(invoke("route", "explain", "claude-sonnet-4-6", "--json").stdout)
    assert report["client_protocol"] == "openai" and report["translated"] is True
    assert "translation:    yes: openai chat → anthropic messages" in invoke("route", "explain", "opus").stdout


def test_explain_says_when_a_model_is_served_only_on_responses(invoke, home: Path) -> None:
    """docs/responses-api.md#upstream-endpoint-choice: the openai preset's *-pro models."""
    invoke("backend", "add", "openai")
    report = json.loads(invoke("route", "explain", "gpt-5-pro", "--json").stdout)
    assert report["upstream_url"] == "https://api.openai.com/v1/responses" and report["translated"] is True
    assert report["upstream_endpoint"] == "responses"
    text = invoke("route", "explain", "gpt-5-pro", "--protocol", "anthropic").stdout
    assert "translation:    yes: anthropic messages → openai responses" in text
    assert json.loads(invoke("route", "explain", "gpt-5.1", "--json").stdout)["upstream_endpoint"] == "chat"


def test_explain_shows_the_key_source_not_the_key(invoke, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(home, CONFIG)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-SECRET789")
    result = invoke("route", "explain", "gpt-4o", "--json")
    assert json.loads(result.stdout)["key"] == "env OPENAI_API_KEY (set)"
    assert "SECRET789" not in result.output


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_explain_without_a_route_says_the_call_is_untouched(invoke, home: Path, protocol: str) -> None:
    write_config(home, CONFIG)  # no default_backend
    text = invoke("route", "explain", "qwen3:8b", "--protocol", protocol).stdout
    assert "left untouched" in text
    report = json.loads(invoke("route", "explain", "qwen3:8b", "--protocol", protocol, "--json").stdout)
    assert report["routed"] is False and report["backend"] is None and report["upstream_url"] is None
    assert "left untouched" in report["note"]


def test_explain_with_no_config_at_all(invoke) -> None:
    assert json.loads(invoke("route", "explain", "gpt-4o", "--json").stdout)["routed"] is False


def routes_of(home: Path) -> list:
    return load_toml(home / "config.toml").get("routes", [])


def test_route_add_appends_replaces_and_can_go_first(invoke, home: Path) -> None:
    write_config(home, CONFIG)
    assert invoke("route", "add", "qwen*", "local").stdout.startswith("added route 'qwen*'")
    assert invoke("route", "add", "mistral-*", "groq").stdout.startswith("replaced route 'mistral-*'")
    invoke("route", "add", "gemma-*", "groq", "--first")
    assert routes_of(home) == [
        {"match": "gemma-*", "backend": "groq"}, {"match": "mistral-*", "backend": "groq"},
        {"match": "qwen*", "backend": "local"},
    ]
    report = json.loads(invoke("route", "explain", "qwen3", "--json").stdout)
    assert (report["rule"], report["backend"]) == ("route 'qwen*'", "local")


def test_route_add_to_unknown_backend_exits_1_and_writes_nothing(invoke, home: Path) -> None:
    path = write_config(home, CONFIG)
    assert "no backend named 'nowhere'" in invoke("route", "add", "x*", "nowhere", code=1).stderr
    assert path.read_text() == CONFIG


def test_route_remove(invoke, home: Path) -> None:
    write_config(home, CONFIG)
    invoke("route", "remove", "mistral-*")
    assert routes_of(home) == []
    assert "no route matching 'mistral-*'" in invoke("route", "remove", "mistral-*", code=1).stderr


def test_route_default_set_and_clear(invoke, home: Path) -> None:
    write_config(home, CONFIG)
    invoke("route", "default", "groq")
    assert json.loads(invoke("route", "explain", "qwen3", "--json").stdout)["rule"] == "default_backend"
    assert "default_backend: groq" in invoke("route", "list").stdout
    invoke("route", "default", "--clear")
    assert json.loads(invoke("route", "explain", "qwen3", "--json").stdout)["routed"] is False
    invoke("route", "default", code=2)
    invoke("route", "default", "nowhere", code=1)


def test_alias_set_replace_and_remove(invoke, home: Path) -> None:
    write_config(home, CONFIG)
    assert invoke("alias", "set", "smart", "opus").stdout.startswith("added alias 'smart'")
    report = json.loads(invoke("route", "explain", "smart", "--json").stdout)
    assert report["rule"] == "alias 'smart' → 'opus', then shortcut 'opus' → 'claude-opus-4-1'"
    assert invoke("alias", "set", "smart", "gpt-4o").stdout.startswith("replaced alias 'smart'")
    invoke("alias", "remove", "smart")
    invoke("alias", "remove", "fast")
    assert "aliases" not in load_toml(home / "config.toml")
    assert "no alias named 'fast'" in invoke("alias", "remove", "fast", code=1).stderr


def test_config_path_and_version(invoke, home: Path) -> None:
    assert invoke("config", "path").stdout == f"{home / 'config.toml'}\n"
    assert version("router") in invoke("--version").stdout


def all_commands(group: click.Group, path: Tuple[str, ...] = ()) -> Iterator[Tuple[Tuple[str, ...], click.Command]]:
    yield path, group
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from all_commands(command, (*path, name))
        else:
            yield (*path, name), command


COMMANDS = [pytest.param(path, command, id=" ".join(path) or "router") for path, command in all_commands(cli)]


@pytest.mark.parametrize(("path", "command"), COMMANDS)
def test_every_command_has_a_description_and_an_example(invoke, path: Tuple[str, ...], command: click.Command) -> None:
    text = invoke(*path, "--help").stdout
    summary = command.get_short_help_str(limit=200)
    assert summary and summary in " ".join(text.split())
    assert re.search(r"\n  Example:\n    \S", text), text


# Chains -----------------------------------------------------------------------------------------


def test_route_add_with_several_backends_writes_a_chain(invoke, home: Path) -> None:
    write_config(home, CONFIG)
    result = invoke("route", "add", "claude-*", "anthropic", "groq:llama-3.3-70b", "local:qwen3")
    assert result.stdout.startswith("added route 'claude-*' → anthropic → groq:llama-3.3-70b → local:qwen3")
    assert routes_of(home)[-1] == {"match": "claude-*", "backend": ["anthropic", "groq:llama-3.3-70b", "local:qwen3"]}
    assert "claude-*  →  anthropic → groq:llama-3.3-70b → local:qwen3" in invoke("route", "list").stdout


def test_route_add_with_a_weighted_group_and_a_policy(invoke, home: Path) -> None:
    write_config(home, CONFIG)
    invoke("route", "add", "gpt-*", "openai=3,groq:llama-3.3-70b=1", "local", "--retries", "0",
           "--statuses", "429,503,401")
    assert routes_of(home)[-1] == {
        "match": "gpt-*",
        "backend": [{"balance": ["openai", "groq:llama-3.3-70b"], "weights": [3, 1]}, "local"],
        "fallback": {"retries": 0, "statuses": [429, 503, 401]},
    }
    listed = invoke("route", "list").stdout
    assert "gpt-*  →  balance(openai×3, groq:llama-3.3-70b×1) → local  (own fallback policy)" in listed
    # replacing the rule replaces its policy too
    invoke("route", "add", "gpt-*", "openai")
    assert routes_of(home)[-1] == {"match": "gpt-*", "backend": "openai"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("x*", "local", "ghost:m"), "no backend named 'ghost'"),
        (("x*", "local,ghost"), "no backend named 'ghost'"),
        (("x*", "local=2,openai"), "give every member a weight, or none"),
        (("x*", "local=lots,openai=1"), "a weight is a number"),
        (("x*", "local=0,openai=1"), "weights must be positive numbers"),
        (("x*", "local", "local"), "names a target twice"),
        (("x*", "local", "--statuses", "429,soon"), "comma-separated HTTP statuses"),
        (("x*", "local", "--statuses", "200"), "must list HTTP error statuses"),
    ],
)
def test_route_add_refuses_bad_chains_and_writes_nothing(
    invoke, home: Path, args: Tuple[str, ...], message: str
) -> None:
    path = write_config(home, CONFIG)
    result = invoke("route", "add", *args, code=None)
    assert result.exit_code in (1, 2) and message in result.stderr, result.output
    assert path.read_text() == CONFIG


def test_route_default_and_alias_take_chains(invoke, home: Path) -> None:
    write_config(home, CONFIG)
    assert invoke("route", "default", "local", "openai:gpt-4o-mini").stdout.startswith(
        "default_backend: local → openai:gpt-4o-mini\n")
    assert load_toml(home / "config.toml")["default_backend"] == ["local", "openai:gpt-4o-mini"]
    invoke("alias", "set", "smart", "claude-opus-4-7", "gpt-4o")
    assert load_toml(home / "config.toml")["aliases"]["smart"] == ["claude-opus-4-7", "gpt-4o"]
    report = json.loads(invoke("route", "explain", "smart", "--json").stdout)
    assert [(t["position"], t["backend"], t["upstream_model"]) for t in report["targets"]] == [
        ("1", "anthropic", "claude-opus-4-7"), ("2", "openai", "gpt-4o")]


def test_backend_remove_refuses_a_backend_a_chain_needs(invoke, home: Path) -> None:
    write_config(home, CONFIG)
    invoke("route", "add", "claude-*", "anthropic", "groq:llama-3.3-70b")
    assert "route 'claude-*'" in invoke("backend", "remove", "groq", code=1).stderr


CHAIN = CONFIG + """
[[routes]]
match = "claude-sonnet-*"
backend = ["anthropic", "groq:llama-3.3-70b", {balance = ["openai:gpt-4o", "local:qwen3"], weights = [3, 1]}]
fallback = {retries = 0}
"""


def test_explain_a_chain_as_json(invoke, home: Path) -> None:
    write_config(home, CHAIN)
    report = json.loads(invoke("route", "explain", "claude-sonnet-4-6", "--protocol", "anthropic", "--json").stdout)
    # the top level describes the first target, as for a single-target route
    assert (report["backend"], report["upstream_url"], report["translated"]) == ("anthropic", ANTHROPIC_MESSAGES, False)
    assert [(t["position"], t["backend"], t["upstream_model"], t["upstream_url"], t["translated"], t["weight"])
            for t in report["targets"]] == [
        ("1", "anthropic", "claude-sonnet-4-6", ANTHROPIC_MESSAGES, False, None),
        ("2", "groq", "llama-3.3-70b", GROQ_CHAT, True, None),
        ("3a", "openai", "gpt-4o", OPENAI_CHAT, True, 3.0),
        ("3b", "local", "qwen3", LOCAL_CHAT, True, 1.0),
    ]
    assert report["fallback"]["retries"] == 0 and report["fallback"]["statuses"] == [
        408, 409, 429, 500, 502, 503, 504, 529]
    assert [t["key"] for t in report["targets"]][:2] == ["none", "none"]
    assert report["states_note"].startswith("from no running proxy")


def test_explain_a_chain_as_text(invoke, home: Path) -> None:
    write_config(home, CHAIN)
    text = invoke("route", "explain", "claude-sonnet-4-6").stdout
    assert "fallback:       on 408 409 429 500 502 503 504 529 or x-should-retry: true; 0 retries per target" in text
    assert "target 1:       anthropic (anthropic), model claude-sonnet-4-6" in text
    assert "  translation:  yes: openai chat → anthropic messages" in text
    assert "target 3a:      openai (openai), model gpt-4o, weight 3 (75%, sticky)" in text
    assert "states:         from no running proxy; shimmed programs keep their own, in their memory" in text
    # docs/routing.md#errors-a-stream-opens-with: a route that can fall back holds a stream's opening
    assert ("streams:        sent from their first content (or after 10 s): an error a stream opens with "
            "falls back too") in text
    assert json.loads(invoke("route", "explain", "claude-sonnet-4-6", "--json").stdout)["stream_opening_held"]
