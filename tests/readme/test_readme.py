"""The README works as written: every ``router …`` command it shows exists (subcommands, options and
their values parse in the real click tree), its first two commands are install + demo and the test
command, and ``router demo`` itself runs clean in a fresh HOME and exits 0."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import click
import pytest

from host.cli import cli
from host.demo import run as demo_run

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
INSTALL_AND_DEMO = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/router demo"
TEST_COMMAND = ".venv/bin/python -m pytest"
# `router` as a command word: at the start, after whitespace, `(` (as in "$(router …)") or a path.
_ROUTER_WORD = re.compile(r"(?:^|(?<=[\s(]))(?:\S*/)?router(?=\s)")
_SEGMENT_END = re.compile(r"\s#|\s&&|\s\||;|\)|$")


def code_blocks(markdown: str) -> List[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```", markdown, flags=re.MULTILINE | re.DOTALL)


def inline_code(markdown: str) -> List[str]:
    prose = re.sub(r"^```.*?^```", "", markdown, flags=re.MULTILINE | re.DOTALL)
    return re.findall(r"`([^`\n]+)`", prose)


def router_invocations(text: str) -> List[List[str]]:
    """The argument lists of every ``router`` command in ``text`` (comments and pipes cut off)."""
    found = []
    for line in text.splitlines():
        for match in _ROUTER_WORD.finditer(line):
            rest = line[match.end():]
            rest = rest[: _SEGMENT_END.search(rest).start()]  # type: ignore[union-attr]
            args = shlex.split(rest)
            if args and args[0] not in ("…", "...") and not args[0].endswith(":"):  # "router shim: …" is output
                found.append(args)
    return found


def resolve(args: List[str]) -> Tuple[click.Command, List[str], List[str]]:
    """(the leaf command, its path, the arguments left for it) — fails on an unknown subcommand."""
    command: click.Command = cli
    path: List[str] = []
    while isinstance(command, click.Group) and args and not args[0].startswith("-"):
        sub = command.commands.get(args[0])
        assert sub is not None, f"README shows `router {' '.join(path + args)}` but `{args[0]}` is not a subcommand"
        command, path, args = sub, [*path, args[0]], args[1:]
    return command, path, args


README_COMMANDS = [" ".join(args) for block in code_blocks(README) for args in router_invocations(block)]
README_INLINE = [" ".join(args) for code in inline_code(README) for args in router_invocations(" " + code + " ")]


def test_the_readme_shows_commands_at_all() -> None:
    assert len(README_COMMANDS) > 20 and len(README_INLINE) > 5
    shown = {tuple(resolve(shlex.split(c))[1]) for c in README_COMMANDS + README_INLINE}
    for path in [("demo",), ("shim",), ("proxy",), ("stats",), ("backend", "add"), ("route", "explain")]:
        assert path in shown, path


@pytest.mark.parametrize("command", sorted(set(README_COMMANDS + README_INLINE)))
def test_every_readme_command_exists_with_its_options(command: str) -> None:
    leaf, path, args = resolve(shlex.split(command))
    assert not isinstance(leaf, click.Group) or not args, f"`router {command}`: {path} needs a subcommand"
    if command in README_INLINE and command not in README_COMMANDS and not args:
        return  # prose naming a command (`router route explain`), not a command line to run
    try:  # parses options, choices, ranges and arguments exactly as running it would, without running it
        leaf.make_context(" ".join(["router", *path]), list(args))
    except click.exceptions.Exit:
        pass
    except click.UsageError as exc:
        pytest.fail(f"README shows `router {command}`, which the CLI rejects: {exc.format_message()}")


def test_the_first_command_is_install_and_demo_and_the_second_the_tests() -> None:
    shell_lines = [line.strip() for block in code_blocks(README) for line in block.splitlines() if line.strip()]
    commands = [line for line in shell_lines if line.startswith((".venv/", "python3 "))]
    assert commands[:2] == [INSTALL_AND_DEMO, TEST_COMMAND]
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index(".venv/bin/router demo") < ci.index(".venv/bin/python -m pytest")


def test_the_test_extra_includes_the_demo_extra() -> None:
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras["demo"]) <= set(extras["test"])


def test_router_demo_runs_clean_in_a_fresh_home(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROUTER_", "OPENAI_", "ANTHROPIC_", "XDG_"))}
    user_home = tmp_path / "user-router-home"
    env.update({"HOME": str(tmp_path), "ROUTER_HOME": str(user_home), "XDG_CACHE_HOME": str(tmp_path / "cache")})
    done = subprocess.run([sys.executable, "-m", "host", "demo"], env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    steps = [line for line in done.stdout.splitlines() if re.match(r"\[\d+\] ", line)]
    assert [line.split("]")[0] + "]" for line in steps] == [f"[{n}]" for n in range(1, 9)], done.stdout
    for expected in ("Started a demo provider at http://127.0.0.1:", "Ran an agent under `router shim",
                     "Started `router proxy` on http://127.0.0.1:", "through the proxy with curl",
                     "`router stats` read all 6 calls"):
        assert any(expected in line for line in steps), (expected, done.stdout)
    for proof in ("answered in the Anthropic Messages format", "answered in the OpenAI Chat Completions format",
                  "router shim: 4 calls, 0 errors", "tool call get_weather", "stop_reason tool_use"):
        assert proof in done.stdout, (proof, done.stdout)
    assert done.stdout.rstrip().splitlines()[-1].startswith("router demo: all steps passed")
    assert not user_home.exists(), "router demo must not touch the user's own ROUTER_HOME"


def test_router_demo_without_the_sdks_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = demo_run.importlib.util.find_spec
    monkeypatch.setattr(demo_run.importlib.util, "find_spec", lambda name: None if name == "anthropic" else real(name))
    said: List[str] = []
    assert demo_run.run_demo(os.environ, said.append) == 1
    assert "needs the anthropic SDK" in said[0]
    assert "pip install 'router[demo]'" in said[0] and "pip install -e '.[demo]'" in said[0]


def test_every_example_the_readme_names_exists() -> None:
    named = set(re.findall(r"examples/[\w.]+", README))
    assert named and all((ROOT / name).is_file() for name in named), named


@pytest.mark.parametrize("bad", ["bogus", "route explode x", "stats --by nonsense", "proxy --bogus-flag"])
def test_the_checker_rejects_commands_the_cli_does_not_have(bad: str) -> None:
    with pytest.raises((AssertionError, click.UsageError)):
        leaf, _path, args = resolve(shlex.split(bad))
        leaf.make_context("router", list(args))


def test_a_failing_demo_step_says_what_to_check_and_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wrong keys in the demo's ROUTER_HOME: the provider answers 401, the agent fails, the demo says so."""
    monkeypatch.setattr(demo_run, "DEMO_KEYS", {"anthropic": "sk-wrong", "openai": "sk-wrong"})
    said: List[str] = []
    assert demo_run.run_demo(os.environ, said.append) == 1
    assert said[-1].startswith("router demo: FAILED: the example agent under `router shim` did not finish")
    assert "check: " in said[-1] and "401" in said[-1]
