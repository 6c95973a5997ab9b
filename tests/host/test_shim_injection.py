"""The injected directory, the run directory and the child's environment (router shim, host side)."""

import dataclasses
import json
import os
import stat
import sys
import threading
from pathlib import Path
from typing import Iterator, List

import pytest

from host import config_store
from host.child_env import ChildSetup, child_environment
from host.injection import PACKAGE_PLACEHOLDER, InjectionDir, ShimSources, ensure_injection_dir, find_sources
from host.paths import config_path
from host.run_dir import RunDir, run_base, snapshot_document
from shim import env_names
from shim.config import Backend, RouterConfig

TEMPLATE = f"import {PACKAGE_PLACEHOLDER}.bootstrap  # rendered\nNAME = '{PACKAGE_PLACEHOLDER}'\n"
REAL_KEY = "sk-REAL-never-in-env"


@pytest.fixture
def sources(tmp_path: Path) -> ShimSources:
    """A small stand-in for the shim package and the template, with files that must not be copied."""
    package = tmp_path / "src" / "shim"
    (package / "translate").mkdir(parents=True)
    (package / "__pycache__").mkdir()
    (package / "__init__.py").write_text("")
    (package / "bootstrap.py").write_text("X = 1\n")
    (package / "translate" / "__init__.py").write_text("")
    (package / "py.typed").write_text("")
    (package / "ruff.toml").write_text("")
    (package / "__pycache__" / "bootstrap.cpython-311.pyc").write_bytes(b"\0")
    template = tmp_path / "src" / "sitecustomize_template" / "sitecustomize.py"
    template.parent.mkdir()
    template.write_text(TEMPLATE)
    return ShimSources(package, template)


def _tree(root: Path) -> List[str]:
    """The source tree (bytecode left out)."""
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if "__pycache__" not in path.parts)


def test_injection_dir_holds_only_sitecustomize_and_the_private_package(tmp_path: Path, sources: ShimSources) -> None:
    made = ensure_injection_dir(tmp_path / "cache", sources)
    name = made.package_name
    assert name.startswith("_router_shim_") and name.isidentifier()
    assert sorted(os.listdir(made.path)) == sorted(["__pycache__", "sitecustomize.py", name])
    assert _tree(made.path / name) == ["__init__.py", "bootstrap.py", "py.typed", "translate", "translate/__init__.py"]
    rendered = (made.path / "sitecustomize.py").read_text()
    assert PACKAGE_PLACEHOLDER not in rendered and f"import {name}.bootstrap" in rendered


def test_injection_dir_ships_bytecode_for_the_hosts_python(tmp_path: Path, sources: ShimSources) -> None:
    # Children running with PYTHONDONTWRITEBYTECODE must not compile the shim at every start.
    made = ensure_injection_dir(tmp_path / "cache", sources)
    tag = sys.implementation.cache_tag
    assert (made.path / "__pycache__" / f"sitecustomize.{tag}.pyc").is_file()
    assert (made.path / made.package_name / "__pycache__" / f"bootstrap.{tag}.pyc").is_file()


def test_injection_dir_is_reused_and_changes_with_the_source(tmp_path: Path, sources: ShimSources) -> None:
    first = ensure_injection_dir(tmp_path / "cache", sources)
    assert ensure_injection_dir(tmp_path / "cache", sources) == first
    (sources.package_dir / "bootstrap.py").write_text("X = 2\n")
    changed = ensure_injection_dir(tmp_path / "cache", sources)
    assert changed.path != first.path and changed.package_name != first.package_name
    assert (changed.path / changed.package_name / "bootstrap.py").read_text() == "X = 2\n"


def test_concurrent_builders_end_with_one_complete_directory(tmp_path: Path, sources: ShimSources) -> None:
    results: List[InjectionDir] = []
    threads = [
        threading.Thread(target=lambda: results.append(ensure_injection_dir(tmp_path / "cache", sources)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and len(set(results)) == 1
    assert os.listdir(tmp_path / "cache") == [results[0].path.name]  # no staging directory left behind
    assert (results[0].path / "sitecustomize.py").is_file()


def test_real_sources_are_found_from_the_checkout() -> None:
    found = find_sources()
    assert (found.package_dir / "telemetry.py").is_file()
    assert PACKAGE_PLACEHOLDER in found.template.read_text()


def _config() -> RouterConfig:
    return RouterConfig.from_dict(
        {
            "backends": {
                "anthropic": {"protocol": "anthropic", "base_url": "http://127.0.0.1:9", "api_key": REAL_KEY},
                "groq": {
                    "protocol": "openai",
                    "base_url": "http://127.0.0.1:9/v1",
                    "models": ["llama-*"],
                    "max_tokens_field": "max_completion_tokens",
                    "max_output_tokens": 100,
                },
            },
            "aliases": {"fast": "groq:llama-3"},
            "routes": [{"match": "mistral-*", "backend": "groq"}],
            "default_backend": "anthropic",
            "shortcuts": {"opus": "claude-opus-9"},
            "default_max_tokens": 1234,
        }
    )


def test_snapshot_carries_replay_reasoning() -> None:
    config = RouterConfig.from_dict(
        {"backends": {"deepseek": {"protocol": "openai", "base_url": "https://api.deepseek.com/v1",
                                   "replay_reasoning": True}}}
    )
    document = json.loads(json.dumps(snapshot_document(config)))
    assert RouterConfig.from_dict(document["config"]).backends["deepseek"].replay_reasoning is True


def test_snapshot_round_trips_through_the_engine_validator() -> None:
    config = _config()
    document = json.loads(json.dumps(snapshot_document(config)))
    assert document["version"] == env_names.SNAPSHOT_VERSION
    assert RouterConfig.from_dict(document["config"]) == config
    assert document["config"]["backends"]["anthropic"]["api_key"] == REAL_KEY  # the child needs it


def test_run_dir_is_private_short_and_removed() -> None:
    with RunDir() as run:
        run.write_snapshot(_config())
        assert stat.S_IMODE(run.path.stat().st_mode) == 0o700
        assert stat.S_IMODE(run.snapshot_path.stat().st_mode) == 0o600
        assert len(str(run.socket_path).encode()) < 104  # macOS sun_path limit
        path = run.path
    assert not path.exists()


def _setup(is_python: bool = True, proxy: str = "http://127.0.0.1:5555") -> ChildSetup:
    return ChildSetup("/cache/shim-x", "/tmp/router-a/config.json", "/tmp/router-a/t.sock", proxy, is_python)


def test_child_env_puts_the_shim_first_and_keeps_the_users_path_in_order() -> None:
    env = child_environment({"PYTHONPATH": "/a::/b", "PATH": "/bin"}, _setup())
    assert env["PYTHONPATH"] == os.pathsep.join(["/cache/shim-x", "/a", "", "/b"])
    assert env[env_names.SHIM_DIR] == "/cache/shim-x"
    assert env[env_names.CONFIG_SNAPSHOT].endswith("config.json")
    assert env[env_names.TELEMETRY_SOCKET].endswith("t.sock")
    assert env[env_names.PROXY_URL] == "http://127.0.0.1:5555"
    assert env["PATH"] == "/bin"


def test_child_env_nested_run_does_not_duplicate_the_shim_dir() -> None:
    env = child_environment({"PYTHONPATH": "/cache/shim-x:/a"}, _setup())
    assert env["PYTHONPATH"] == "/cache/shim-x:/a"


@pytest.mark.parametrize("user_keys", [{}, {"OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": ""}])
def test_child_env_sets_placeholder_keys_when_absent(user_keys: dict) -> None:  # type: ignore[type-arg]
    env = child_environment(user_keys, _setup())
    assert env["OPENAI_API_KEY"] == env["ANTHROPIC_API_KEY"] == env_names.PLACEHOLDER_API_KEY
    assert REAL_KEY not in json.dumps(env)


def test_child_env_withholds_every_key_variable_of_the_router() -> None:
    """A backend's key variable holds the placeholder (a program reading it still starts), one that
    is unset stays unset, ROUTER_API_KEY goes; the user's own other variables stay."""
    environ = {"OPENAI_API_KEY": REAL_KEY, "GROQ_API_KEY": REAL_KEY, "ROUTER_API_KEY": REAL_KEY, "MINE": "kept"}
    setup = dataclasses.replace(_setup(), key_variables=("OPENAI_API_KEY", "GROQ_API_KEY", "UNSET_KEY"))
    env = child_environment(environ, setup)
    assert env["OPENAI_API_KEY"] == env["GROQ_API_KEY"] == env_names.PLACEHOLDER_API_KEY
    assert "ROUTER_API_KEY" not in env and "UNSET_KEY" not in env and env["MINE"] == "kept"
    assert REAL_KEY not in json.dumps(env)


def test_child_env_passes_the_variables_the_user_names() -> None:
    environ = {"GROQ_API_KEY": REAL_KEY, "ROUTER_API_KEY": "rk"}
    setup = dataclasses.replace(_setup(), key_variables=("GROQ_API_KEY",),
                                passed_variables=frozenset({"GROQ_API_KEY", "ROUTER_API_KEY"}))
    env = child_environment(environ, setup)
    assert (env["GROQ_API_KEY"], env["ROUTER_API_KEY"]) == (REAL_KEY, "rk")


def test_child_env_keeps_the_users_own_key_and_litellm_choice() -> None:
    env = child_environment({"OPENAI_API_KEY": "users-own", "LITELLM_RUST": "true"}, _setup())
    assert env["OPENAI_API_KEY"] == "users-own"
    assert env["LITELLM_RUST"] == "true"
    assert child_environment({}, _setup())["LITELLM_RUST"] == "false"


PROXY_BASE_URLS = {"OPENAI_BASE_URL": "http://127.0.0.1:5555/v1", "ANTHROPIC_BASE_URL": "http://127.0.0.1:5555"}
USER_VARIABLES = (env_names.USER_OPENAI_BASE_URL, env_names.USER_ANTHROPIC_BASE_URL)


@pytest.mark.parametrize("is_python", [True, False])
def test_child_env_points_the_whole_tree_at_the_proxy(is_python: bool) -> None:
    """Python or not, CMD and everything it starts get the proxy's base URLs (Python processes route
    calls to them in-process); with no user value to remember, no ROUTER_SHIM_USER_* either."""
    env = child_environment({env_names.USER_OPENAI_BASE_URL: "stale"}, _setup(is_python=is_python))
    assert {name: env[name] for name in PROXY_BASE_URLS} == PROXY_BASE_URLS
    assert not any(name in env for name in USER_VARIABLES)


def test_child_env_python_cmd_keeps_the_users_own_base_url() -> None:
    env = child_environment({"OPENAI_BASE_URL": "https://mine/v1"}, _setup(is_python=True))
    assert env["OPENAI_BASE_URL"] == "https://mine/v1"
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:5555"  # the one the user did not set
    assert not any(name in env for name in USER_VARIABLES)


def test_child_env_non_python_cmd_replaces_the_users_base_url_and_remembers_it() -> None:
    env = child_environment({"ANTHROPIC_BASE_URL": "https://mine.example"}, _setup(is_python=False))
    assert {name: env[name] for name in PROXY_BASE_URLS} == PROXY_BASE_URLS
    assert env[env_names.USER_ANTHROPIC_BASE_URL] == "https://mine.example"
    assert env_names.USER_OPENAI_BASE_URL not in env


@pytest.mark.parametrize("is_python", [True, False])
def test_child_env_nested_run_replaces_the_outer_runs_base_urls(is_python: bool) -> None:
    """An inner ``router shim`` inherits the outer run's proxy URLs: they are ours, not the user's, so
    the inner proxy replaces them, and what the outer run kept of the user's value stays."""
    outer = {
        env_names.PROXY_URL: "http://127.0.0.1:4444",
        "OPENAI_BASE_URL": "http://127.0.0.1:4444/v1",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:4444",
        env_names.USER_OPENAI_BASE_URL: "https://mine/v1",
    }
    env = child_environment(outer, _setup(is_python=is_python))
    assert {name: env[name] for name in PROXY_BASE_URLS} == PROXY_BASE_URLS
    assert env[env_names.PROXY_URL] == "http://127.0.0.1:5555"
    assert env[env_names.USER_OPENAI_BASE_URL] == "https://mine/v1"


def test_child_env_without_proxy_drops_an_inherited_proxy_url() -> None:
    env = child_environment({env_names.PROXY_URL: "http://127.0.0.1:1"}, _setup(is_python=False, proxy=""))
    assert env_names.PROXY_URL not in env and "OPENAI_BASE_URL" not in env


# A value other than the default for every Backend field: a field added to Backend without a value
# here fails the test below, which proves it reaches config.toml and the shim's snapshot.
_EVERY_BACKEND_FIELD = {
    "name": "local",
    "protocol": "openai",
    "base_url": "http://127.0.0.1:9/v1",
    "api_key": REAL_KEY,
    "models": ("qwen*",),
    "max_tokens_field": "max_completion_tokens",
    "max_output_tokens": 2048,
    "replay_reasoning": True,
    "mid_conversation_system": "hoist",
    "responses_api": True,
    "responses_only_models": ("qwen3-coder*",),
}


def test_a_backend_with_every_field_round_trips_through_config_toml_and_the_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert set(_EVERY_BACKEND_FIELD) == {field.name for field in dataclasses.fields(Backend)}
    defaults = Backend(name="x", protocol="openai", base_url="http://x")
    changed = [name for name in _EVERY_BACKEND_FIELD if name not in ("name", "protocol", "base_url", "api_key")]
    assert all(getattr(defaults, name) != _EVERY_BACKEND_FIELD[name] for name in changed)
    table = {key: list(value) if isinstance(value, tuple) else value for key, value in _EVERY_BACKEND_FIELD.items()
             if key not in ("name", "api_key")}
    monkeypatch.setenv("ROUTER_HOME", str(tmp_path))
    limits = {"qwen3-*": 32768}
    document = {"backends": {"local": {**table, "key_env": "LOCAL_KEY"}}, "model_max_output_tokens": limits}
    config_store.save_document(config_path(), document, {})
    loaded = config_store.load_config({"LOCAL_KEY": REAL_KEY}).config
    assert loaded.backends["local"] == Backend(**_EVERY_BACKEND_FIELD)  # type: ignore[arg-type]
    snapshot = json.loads(json.dumps(snapshot_document(loaded)))
    assert RouterConfig.from_dict(snapshot["config"]) == loaded
    assert snapshot["config"]["model_max_output_tokens"] == {"qwen3-*": 32768}


# Where the run directory goes (docs/secrets.md#the-run-directory) ---------------------------------
@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a path as short as a real $XDG_RUNTIME_DIR's."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="xdg-", dir="/tmp" if os.path.isdir("/tmp") else None))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_private_runtime_directory_is_preferred(short_dir: Path) -> None:
    short_dir.chmod(0o700)
    assert run_base({"XDG_RUNTIME_DIR": str(short_dir)}) == str(short_dir)
    with RunDir(run_base({"XDG_RUNTIME_DIR": str(short_dir)})) as run:
        assert run.path.parent == short_dir and len(str(run.socket_path).encode()) < 104


def test_a_runtime_directory_that_is_not_private_is_not_used(short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fallback = run_base({})
    short_dir.chmod(0o755)
    assert run_base({"XDG_RUNTIME_DIR": str(short_dir)}) == fallback, "others can enter it"
    short_dir.chmod(0o700)
    link = short_dir.with_name(short_dir.name + "-link")
    link.symlink_to(short_dir)
    try:
        assert run_base({"XDG_RUNTIME_DIR": str(link)}) == fallback, "a link to it"
    finally:
        link.unlink()
    assert run_base({"XDG_RUNTIME_DIR": "relative/dir"}) == fallback
    long = short_dir / ("d" * 80)
    long.mkdir(mode=0o700)
    assert run_base({"XDG_RUNTIME_DIR": str(long)}) == fallback, "a socket path in it would not fit sun_path"
    monkeypatch.setattr(os, "getuid", lambda: short_dir.stat().st_uid + 1)
    assert run_base({"XDG_RUNTIME_DIR": str(short_dir)}) == fallback, "another user's"


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="memory files: Linux")
def test_the_snapshot_is_a_memory_file_that_goes_with_the_run() -> None:
    with RunDir() as run:
        run.write_snapshot(_config())
        path = run.snapshot_path
        assert str(path).startswith(f"/proc/{os.getpid()}/fd/") and REAL_KEY.encode() in path.read_bytes()
        assert os.listdir(run.path) == []
    assert not path.exists()
