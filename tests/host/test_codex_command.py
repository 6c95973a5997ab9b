"""``router shim -- codex …`` gets Codex's provider overrides, placed where Codex reads them."""

import os
from pathlib import Path

from host.codex_command import codex_overrides, is_codex, with_codex_overrides

PROXY = "http://127.0.0.1:4567"
OVERRIDES = codex_overrides(PROXY)


def test_the_overrides_define_and_select_a_responses_provider_on_the_proxy() -> None:
    assert OVERRIDES == [
        "-c", 'model_provider="router"',
        "-c", 'model_providers.router.name="router"',
        "-c", 'model_providers.router.base_url="http://127.0.0.1:4567/v1"',
        "-c", 'model_providers.router.wire_api="responses"',
    ]


def test_they_go_right_after_the_codex_program() -> None:
    env = {"PATH": ""}
    assert with_codex_overrides(["codex", "exec", "hi"], PROXY, env) == ["codex", *OVERRIDES, "exec", "hi"]
    assert with_codex_overrides(["/opt/bin/codex"], PROXY, env) == ["/opt/bin/codex", *OVERRIDES]
    assert with_codex_overrides(["node", "x/bin/codex.js", "exec"], PROXY, env) == [
        "node", "x/bin/codex.js", *OVERRIDES, "exec"]
    assert with_codex_overrides(["npx", "-y", "@openai/codex@0.171.0", "exec"], PROXY, env) == [
        "npx", "-y", "@openai/codex@0.171.0", *OVERRIDES, "exec"]
    assert with_codex_overrides(["npx", "-p", "@openai/codex", "codex", "exec"], PROXY, env) == [
        "npx", "-p", "@openai/codex", "codex", *OVERRIDES, "exec"]


def test_a_link_to_the_npm_package_is_codex_whatever_its_name(tmp_path: Path) -> None:
    target = tmp_path / "lib" / "node_modules" / "@openai" / "codex" / "bin" / "codex.js"
    target.parent.mkdir(parents=True)
    target.write_text("#!/usr/bin/env node\n")
    target.chmod(0o755)
    (tmp_path / "bin").mkdir()
    os.symlink(target, tmp_path / "bin" / "my-codex")
    assert is_codex(["my-codex", "exec"], {"PATH": str(tmp_path / "bin")})


def test_other_programs_are_left_alone() -> None:
    env = {"PATH": ""}
    for argv in (["node", "app.js"], ["npx", "cowsay", "codex"], ["bash", "-c", "codex exec"], ["codexx"], []):
        assert with_codex_overrides(argv, PROXY, env) == argv
