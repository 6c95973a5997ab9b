"""aider 0.86.2, the command-line program, under ``router shim``: ``--model openai/claude-sonnet-4-6``
(LiteLLM's OpenAI provider, so the openai SDK) asking for a Claude model: the Anthropic backend
answers. Run the way scripts run it: ``aider --message … --yes --no-git FILE``.

The fake answers with an edit in aider's "whole file" format (the one aider picks for this model
name): aider applies it, so the file on disk is the proof that the answer reached aider intact.
Once streamed (aider's default) and once whole (``--no-stream``). aider has no tool calls: its edits
are text. Both sides are checked: the file and aider's output, and what the backend received
(endpoint, model, key, stream or not, the file's content in the prompt).
"""

from pathlib import Path
from typing import Dict

import pytest
from clients_support import ClientRun, text_of
from fakes import FakeProvider
from python_clients import CLAUDE, backend_calls, console_script, run_shimmed, shim_summary

VERSION = "0.86.2"  # tests/constraints/aider.txt pins it; the README's "Works with" table names it
BEFORE, AFTER = "hello from the user\n", "hello from claude\n"
EDIT = f"notes.txt\n```\n{AFTER}```\n"
# No update check and no analytics (they would call out); LiteLLM's bundled price list, not GitHub's.
QUIET = ("--no-check-update", "--analytics-disable", "--no-show-release-notes")
ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def aider(homes: Dict[str, Path], workdir: Path, *args: str) -> ClientRun:
    notes = workdir / "work" / "notes.txt"
    notes.write_text(BEFORE)
    argv = [console_script("aider", "aider"), "--model", f"openai/{CLAUDE}", "--message", "Say hello from claude",
            "--yes", "--no-git", *QUIET, *args, "notes.txt"]
    return run_shimmed(argv, homes, workdir, ENV)


def test_the_pinned_version_runs(homes: Dict[str, Path], workdir: Path) -> None:
    run = run_shimmed([console_script("aider", "aider"), "--version"], homes, workdir, ENV)
    assert run.returncode == 0 and run.stdout.strip() == f"aider {VERSION}", run.explain()


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
def test_aider_applies_the_edit_claude_sent(
    provider: FakeProvider, homes: Dict[str, Path], workdir: Path, stream: bool, chunking: str
) -> None:
    provider.reply(text=EDIT)
    run = aider(homes, workdir, *(() if stream else ("--no-stream",)))

    assert run.returncode == 0, run.explain()
    assert (workdir / "work" / "notes.txt").read_text() == AFTER, run.explain()
    assert "Applied edit to notes.txt" in run.stdout, run.explain()
    (call,) = backend_calls(provider, CLAUDE, run)
    assert bool(call.json.get("stream")) is stream
    assert BEFORE.strip() in " ".join(text_of(message["content"]) for message in call.json["messages"])
    shim_summary(run, 1)
