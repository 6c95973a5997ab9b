"""Loading and saving config.toml: invalid files fail with one line naming the file (exit 2, no
traceback), writes are atomic and keep settings the CLI does not manage, ROUTER_HOME is honoured."""

import os
from pathlib import Path

import platformdirs
import pytest
from host_cli_helpers import SECRET, load_toml, write_config

from host import config_store
from host.config_store import load_config
from host.paths import StateFileError, config_path, router_home

GOOD_BACKEND = '[backends.groq]\nprotocol = "openai"\nbase_url = "https://api.groq.com/openai/v1"\n'

# (config.toml text, a fragment of the one-line message)
INVALID_CONFIGS = [
    ("[backends.groq\nprotocol = 1\n", "is not valid TOML"),
    ('default_max_tokens = "lots"\n', "default_max_tokens must be a positive integer"),
    ("default_max_tokens = 0\n", "default_max_tokens must be a positive integer"),
    ('[backends.x]\nprotocol = "gopher"\nbase_url = "https://x.example/v1"\n', "protocol must be one of"),
    ('[backends.x]\nprotocol = "openai"\n', "base_url must be an http:// or https:// URL"),
    ('[[routes]]\nmatch = "llama-*"\nbackend = "nowhere"\n', "names unknown backend 'nowhere'"),
    ('default_backend = "nowhere"\n', "default_backend names unknown backend"),
    ("backends = 3\n", "backends must be a table"),
    (GOOD_BACKEND + 'models = "llama-*"\n', "models must be a list"),
    (GOOD_BACKEND + "max_output_tokens = -5\n", "max_output_tokens must be a positive integer"),
    (GOOD_BACKEND + 'max_tokens_field = "limit"\n', "max_tokens_field must be one of"),
    (GOOD_BACKEND + 'key_env = "NOT A NAME"\n', "key_env must be the name of an environment variable"),
    (GOOD_BACKEND + 'base-url = "https://typo.example/v1"\n', "unknown field 'base-url'"),
    (GOOD_BACKEND + f'api_key = "{SECRET}"\n', "keys do not belong in config.toml"),
    ('[backends.a]\nprotocol = "anthropic"\nbase_url = "https://api.anthropic.com/v1"\n', "ends in /v1"),
    ('routes = "llama-*"\n', "routes must be an array"),
    ("aliases = 1\n", "aliases must be a table"),
    ("[shortcuts]\nopus = 4\n", "shortcuts.opus must be a non-empty string"),
]


@pytest.mark.parametrize(("text", "problem"), INVALID_CONFIGS)
def test_invalid_config_is_one_line_naming_the_file_exit_2(invoke, home: Path, text: str, problem: str) -> None:
    path = write_config(home, text)
    result = invoke("backend", "list", code=2)
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert str(path) in line and problem in line
    assert SECRET not in result.output


def test_config_that_is_not_utf8_is_reported(invoke, home: Path) -> None:
    path = write_config(home, "")
    path.write_bytes(b"default_backend = \"\xff\"\n")
    [line] = invoke("route", "explain", "gpt-4o", code=2).stderr.splitlines()
    assert str(path) in line and "UTF-8" in line


@pytest.mark.parametrize(
    "args",
    [
        ("backend", "list"), ("backend", "list", "--json"), ("backend", "add", "openai"), ("backend", "remove", "x"),
        ("route", "explain", "gpt-4o"), ("route", "explain", "gpt-4o", "--json"), ("route", "add", "a*", "groq"),
        ("route", "remove", "a*"), ("route", "list"), ("alias", "set", "a", "b"), ("alias", "remove", "a"),
    ],
)
def test_every_command_refuses_a_corrupt_file_and_leaves_it_alone(invoke, home: Path, args: tuple) -> None:
    path = write_config(home, "this is = = not toml\n")
    result = invoke(*args, code=2)
    assert len(result.stderr.splitlines()) == 1 and str(path) in result.stderr
    assert path.read_text() == "this is = = not toml\n"


def test_config_path_works_even_when_the_file_is_corrupt(invoke, home: Path) -> None:
    write_config(home, "[[[\n")
    assert invoke("config", "path").stdout.strip() == str(home / "config.toml")


@pytest.mark.parametrize(
    ("credentials", "problem"),
    [
        ("[keys\n", "is not valid TOML"),
        (f'keys = "{SECRET}"\n', "[keys] must be a table"),
        ("[keys]\ngroq = 5\n", "keys.groq must be a non-empty string"),
    ],
)
def test_invalid_credentials_file_is_one_line_without_its_content(
    invoke, home: Path, credentials: str, problem: str
) -> None:
    write_config(home, GOOD_BACKEND)
    (home / "credentials.toml").write_text(credentials)
    [line] = invoke("backend", "list", code=2).stderr.splitlines()
    assert str(home / "credentials.toml") in line and problem in line
    assert SECRET not in line


def test_unreadable_credentials_file_exits_2(invoke, home: Path) -> None:
    write_config(home, GOOD_BACKEND)
    (home / "credentials.toml").mkdir()  # unreadable as a file, even for root
    [line] = invoke("route", "explain", "x", code=2).stderr.splitlines()
    assert str(home / "credentials.toml") in line and "cannot be read" in line


def test_state_dir_that_is_a_file_exits_2_without_traceback(invoke, home: Path) -> None:
    home.write_text("not a directory")
    result = invoke("backend", "add", "openai", code=2)
    assert len(result.stderr.splitlines()) == 1 and str(home) in result.stderr


def test_missing_config_is_an_empty_configuration(home: Path) -> None:
    loaded = load_config({})
    assert loaded.config.backends == {} and loaded.document == {}
    assert not home.exists()  # reading creates nothing


def test_edits_keep_the_settings_they_do_not_manage(invoke, home: Path) -> None:
    write_config(home, (
        'default_max_tokens = 2048\n[proxy]\nport = 8787\n[shortcuts]\nopus = "claude-opus-4-1"\n'
        + GOOD_BACKEND + 'models = ["llama-*"]\nmax_output_tokens = 1000\n'
        + '[aliases]\nfast = "groq:llama-3.1-8b-instant"\n'
    ))
    invoke("route", "add", "mixtral-*", "groq")
    invoke("alias", "set", "big", "groq:llama-3.3-70b")
    invoke("backend", "add", "openai")
    document = load_toml(home / "config.toml")
    assert document["proxy"] == {"port": 8787}
    assert document["default_max_tokens"] == 2048
    assert document["shortcuts"] == {"opus": "claude-opus-4-1"}
    assert document["backends"]["groq"]["models"] == ["llama-*"]
    assert document["backends"]["groq"]["max_output_tokens"] == 1000
    assert document["aliases"] == {"fast": "groq:llama-3.1-8b-instant", "big": "groq:llama-3.3-70b"}
    assert document["routes"] == [{"match": "mixtral-*", "backend": "groq"}]
    assert sorted(p.name for p in home.iterdir()) == ["config.toml"]  # no temp files left behind


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(
    invoke, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(home, GOOD_BACKEND)

    def crash(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    result = invoke("route", "add", "llama-*", "groq", code=2)
    assert "No space left on device" in result.stderr and str(path) in result.stderr
    assert path.read_text() == GOOD_BACKEND
    assert sorted(p.name for p in home.iterdir()) == ["config.toml"]


def test_save_refuses_to_write_an_invalid_document(home: Path) -> None:
    path = write_config(home, GOOD_BACKEND)
    document = load_toml(path)
    document["default_backend"] = "nowhere"
    with pytest.raises(StateFileError, match="unknown backend"):
        config_store.save_document(path, document, {})
    assert path.read_text() == GOOD_BACKEND


def test_router_home_is_respected(invoke, home: Path) -> None:
    assert invoke("config", "path").stdout.strip() == str(home / "config.toml")
    invoke("backend", "add", "openai")
    assert (home / "config.toml").is_file()


def test_default_home_is_the_user_config_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ROUTER_HOME", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert router_home() == Path(platformdirs.user_config_dir("router"))
    assert config_path() == router_home() / "config.toml"


def test_router_home_expands_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("ROUTER_HOME", "~/state")
    assert router_home() == tmp_path / "state"
