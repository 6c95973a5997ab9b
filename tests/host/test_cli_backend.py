"""``router backend add | list | remove``: custom backends, key storage modes, permissions,
redaction, replacement and removal."""

import json
import os
from pathlib import Path
from typing import List

import pytest
from host_cli_helpers import SECRET, load_toml, mode_of

from host.config_store import load_config
from host.paths import atomic_write
from shim.plan import credential_headers


def read_config(home: Path) -> dict:
    return load_toml(home / "config.toml")


def stored_keys(home: Path) -> dict:
    return load_toml(home / "credentials.toml").get("keys", {})


def test_custom_backend_needs_a_base_url(invoke, home: Path) -> None:
    result = invoke("backend", "add", "gateway", code=2)
    assert "--base-url" in result.stderr
    assert not (home / "config.toml").exists()


def test_custom_backend_defaults_to_openai_protocol(invoke, home: Path) -> None:
    result = invoke("backend", "add", "box", "--base-url", "http://127.0.0.1:8080/v1", "--models", "qwen*",
                    "--models", "phi-*,gemma-*", "--max-output-tokens", "8192")
    assert "key: none" in result.stdout
    assert read_config(home)["backends"]["box"] == {
        "protocol": "openai", "base_url": "http://127.0.0.1:8080/v1", "models": ["qwen*", "phi-*", "gemma-*"],
        "max_output_tokens": 8192,
    }


def test_custom_anthropic_backend_gets_v1_stripped_and_is_told(invoke, home: Path) -> None:
    result = invoke("backend", "add", "claude-gw", "--protocol", "anthropic", "--base-url", "https://gw.example/v1")
    assert read_config(home)["backends"]["claude-gw"]["base_url"] == "https://gw.example"
    assert "removed '/v1'" in result.stderr


@pytest.mark.parametrize("name", ["a:b", "a/b", "with space", ""])
def test_backend_names_with_colon_or_slash_are_refused(invoke, home: Path, name: str) -> None:
    result = invoke("backend", "add", name, "--base-url", "http://x.example/v1", code=2)
    assert "':'" in result.stderr
    assert not (home / "config.toml").exists()


def test_key_on_command_line_is_stored_privately_with_a_warning(invoke, home: Path) -> None:
    result = invoke("backend", "add", "groq", "--key", SECRET)
    assert "shell history" in result.stderr and "--key -" in result.stderr
    assert stored_keys(home) == {"groq": SECRET}
    assert "key_env" not in read_config(home)["backends"]["groq"]
    assert mode_of(home / "credentials.toml") == 0o600
    assert mode_of(home) == 0o700


def test_key_from_stdin_is_stripped_and_not_warned_about(invoke, home: Path) -> None:
    result = invoke("backend", "add", "anthropic", "--key", "-", input=f"  {SECRET}\n")
    assert "shell history" not in result.stderr
    assert "stored (credentials file)" in result.stdout
    backend = load_config(os.environ).config.backends["anthropic"]
    assert backend.api_key == SECRET
    assert credential_headers(backend) == {"x-api-key": SECRET}


@pytest.mark.parametrize("bad_key", ["", "sk-with space-SECRET123", "sk-line\nbreak-SECRET123"])
def test_unusable_keys_are_refused_without_echoing_them(invoke, home: Path, bad_key: str) -> None:
    result = invoke("backend", "add", "groq", "--key", "-", input=bad_key, code=2)
    assert "SECRET123" not in result.output
    assert not (home / "credentials.toml").exists()


def test_key_and_key_env_together_are_refused(invoke) -> None:
    assert "not both" in invoke("backend", "add", "groq", "--key", SECRET, "--key-env", "GROQ_KEY", code=2).stderr


@pytest.mark.parametrize("value", ["sk-test-SECRET123", "gsk_SECRET123abcdefghijklmnopqrstuvwxyz0123", "1ABC"])
def test_key_env_that_is_not_a_variable_name_is_refused_without_echo(invoke, home: Path, value: str) -> None:
    result = invoke("backend", "add", "groq", "--key-env", value, code=2)
    assert value not in result.output
    assert not (home / "config.toml").exists()


def test_key_env_unset_means_no_key(invoke) -> None:
    invoke("backend", "add", "groq", "--key-env", "MY_GROQ_KEY")
    assert "env MY_GROQ_KEY (unset)" in invoke("backend", "list").stdout
    backend = load_config({}).config.backends["groq"]
    assert backend.api_key is None
    assert credential_headers(backend) == {}


def test_key_env_set_is_resolved_at_load_time(invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    invoke("backend", "add", "groq")
    monkeypatch.setenv("GROQ_API_KEY", SECRET)
    listing = invoke("backend", "list")
    assert "env GROQ_API_KEY (set)" in listing.stdout
    backend = load_config(os.environ).config.backends["groq"]
    assert credential_headers(backend) == {"authorization": f"Bearer {SECRET}"}


def test_switching_to_key_env_forgets_the_stored_key(invoke, home: Path) -> None:
    invoke("backend", "add", "groq", "--key", "-", input=SECRET)
    invoke("backend", "add", "groq", "--key-env", "GROQ_API_KEY")
    assert stored_keys(home) == {}
    assert read_config(home)["backends"]["groq"]["key_env"] == "GROQ_API_KEY"


def test_adding_an_existing_name_replaces_it_in_place(invoke, home: Path) -> None:
    for name in ("openai", "groq", "ollama"):
        invoke("backend", "add", name)
    result = invoke("backend", "add", "groq", "--base-url", "https://proxy.example/groq/v1")
    assert result.stdout.startswith("replaced backend 'groq'")
    backends = read_config(home)["backends"]
    assert list(backends) == ["openai", "groq", "ollama"]  # order decides `models` glob routing
    assert backends["groq"]["base_url"] == "https://proxy.example/groq/v1"


def test_list_is_empty_with_a_hint(invoke) -> None:
    assert "router backend add" in invoke("backend", "list").stdout
    assert json.loads(invoke("backend", "list", "--json").stdout) == []


def test_list_shows_each_key_source(invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-SECRET456")
    invoke("backend", "add", "openai")
    invoke("backend", "add", "groq", "--key", "-", input=SECRET)
    invoke("backend", "add", "ollama")
    rows = {row["name"]: row for row in json.loads(invoke("backend", "list", "--json").stdout)}
    assert rows["openai"]["key"] == "env OPENAI_API_KEY (set)" and rows["openai"]["key_available"] is True
    assert rows["groq"]["key"] == "stored (credentials file)" and rows["groq"]["key_source"] == "stored"
    assert rows["ollama"]["key"] == "none" and rows["ollama"]["key_available"] is False
    text = invoke("backend", "list").stdout
    assert "SECRET" not in text and "SECRET" not in json.dumps(rows)


def test_remove_deletes_backend_and_its_stored_key(invoke, home: Path) -> None:
    invoke("backend", "add", "groq", "--key", "-", input=SECRET)
    invoke("backend", "add", "openai")
    assert "and its stored key" in invoke("backend", "remove", "groq").stdout
    assert list(read_config(home)["backends"]) == ["openai"]
    assert stored_keys(home) == {}


def test_remove_unknown_backend_exits_1(invoke) -> None:
    assert "no backend named 'nope'" in invoke("backend", "remove", "nope", code=1).stderr


def test_remove_refuses_a_backend_still_routed_to(invoke, home: Path) -> None:
    invoke("backend", "add", "groq")
    invoke("route", "add", "llama-*", "groq")
    invoke("route", "default", "groq")
    result = invoke("backend", "remove", "groq", code=1)
    assert "route 'llama-*'" in result.stderr and "default_backend" in result.stderr
    assert "groq" in read_config(home)["backends"]


def test_existing_loose_state_dir_is_tightened_when_a_key_is_stored(invoke, home: Path) -> None:
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    invoke("backend", "add", "groq", "--key", "-", input=SECRET)
    assert mode_of(home) == 0o700
    assert mode_of(home / "credentials.toml") == 0o600


@pytest.mark.parametrize("umask", [0o000, 0o377])
def test_credentials_mode_is_exact_whatever_the_umask(home: Path, umask: int) -> None:
    home.mkdir(mode=0o700)
    previous = os.umask(umask)
    try:
        atomic_write(home / "credentials.toml", b"[keys]\n", 0o600)
    finally:
        os.umask(previous)
    assert mode_of(home / "credentials.toml") == 0o600


def test_loose_credentials_file_is_warned_about(invoke, home: Path) -> None:
    invoke("backend", "add", "groq", "--key", "-", input=SECRET)
    os.chmod(home / "credentials.toml", 0o644)
    assert "chmod 600" in invoke("backend", "list").stderr


def test_secret_never_appears_in_any_output_or_in_config(invoke, home: Path, outputs: List[str]) -> None:
    invoke("backend", "add", "anthropic", "--key", SECRET)
    invoke("backend", "add", "groq", "--key", "-", input=SECRET + "\n")
    invoke("backend", "add", "groq", "--key", "-", input=SECRET + "\n")  # the "replaced" message too
    invoke("alias", "set", "fast", "groq:llama-3.1-8b-instant")
    invoke("route", "add", "llama-*", "groq")
    for args in (
        ("backend", "list"), ("backend", "list", "--json"),
        ("route", "explain", "sonnet"), ("route", "explain", "sonnet", "--json"),
        ("route", "explain", "fast", "--protocol", "anthropic"), ("route", "explain", "llama-3", "--json"),
        ("route", "list"), ("config", "path"),
    ):
        invoke(*args)
    invoke("backend", "add", "groq", "--key-env", SECRET, code=2)
    assert len(outputs) > 20
    assert not [text for text in outputs if SECRET in text]
    assert SECRET not in (home / "config.toml").read_text()
    assert mode_of(home / "credentials.toml") == 0o600
    assert mode_of(home) == 0o700
    assert stored_keys(home) == {"anthropic": SECRET, "groq": SECRET}
