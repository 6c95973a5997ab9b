"""``router shim -- codex …`` gets Codex's provider overrides, placed where Codex reads them."""

import os
from pathlib import Path

from host.codex_command import WEB_SEARCH_OFF, codex_overrides, is_codex, requested_model, with_codex_overrides
from shim.config import RouterConfig

PROXY = "http://127.0.0.1:4567"
OVERRIDES = codex_overrides(PROXY)
CONFIG = RouterConfig.from_dict({"backends": {
    "anthropic": {"protocol": "anthropic", "base_url": "https://api.anthropic.com"},
    "openai": {"protocol": "openai", "base_url": "https://api.openai.com/v1", "responses_api": True},
    "groq": {"protocol": "openai", "base_url": "https://api.groq.com/openai/v1", "models": ["llama-*"]},
}})


def test_the_overrides_define_and_select_a_responses_provider_on_the_proxy() -> None:
    assert OVERRIDES == [
        "-c", 'model_provider="router"',
        "-c", 'model_providers.router.name="router"',
        "-c", 'model_providers.router.base_url="http://127.0.0.1:4567/v1"',
        "-c", 'model_providers.router.wire_api="responses"',
    ]


def test_they_go_right_after_the_codex_program() -> None:
    env = {"PATH": ""}
    assert with_codex_overrides(["codex", "exec", "hi"], PROXY, env, CONFIG) == ["codex", *OVERRIDES, "exec", "hi"]
    assert with_codex_overrides(["/opt/bin/codex"], PROXY, env, CONFIG) == ["/opt/bin/codex", *OVERRIDES]
    assert with_codex_overrides(["node", "x/bin/codex.js", "exec"], PROXY, env, CONFIG) == [
        "node", "x/bin/codex.js", *OVERRIDES, "exec"]
    assert with_codex_overrides(["npx", "-y", "@openai/codex@0.171.0", "exec"], PROXY, env, CONFIG) == [
        "npx", "-y", "@openai/codex@0.171.0", *OVERRIDES, "exec"]
    assert with_codex_overrides(["npx", "-p", "@openai/codex", "codex", "exec"], PROXY, env, CONFIG) == [
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
        assert with_codex_overrides(argv, PROXY, env, CONFIG) == argv


def test_the_model_on_the_command_line_is_found() -> None:
    assert requested_model(["exec", "-m", "claude-sonnet-4-6", "hi"]) == "claude-sonnet-4-6"
    assert requested_model(["--model=gpt-5.1", "exec"]) == "gpt-5.1"
    assert requested_model(["-c", 'model="llama-3"', "exec"]) == "llama-3"
    assert requested_model(["-c", "model=llama-3", "-m", "opus"]) == "opus"  # the last one wins
    assert requested_model(["exec", "hi"]) is None


def test_web_search_goes_off_only_for_models_that_cannot_run_it() -> None:
    env = {"PATH": ""}
    for model in ("claude-sonnet-4-6", "llama-3"):  # Anthropic; an OpenAI-protocol server without /responses
        argv = ["codex", "exec", "-m", model, "hi"]
        assert with_codex_overrides(argv, PROXY, env, CONFIG) == ["codex", *OVERRIDES, *WEB_SEARCH_OFF, *argv[1:]]
    for argv in (["codex", "exec", "-m", "gpt-5.1", "hi"], ["codex", "exec", "hi"], ["codex", "-m", "unrouted"]):
        assert with_codex_overrides(argv, PROXY, env, CONFIG) == ["codex", *OVERRIDES, *argv[1:]]
