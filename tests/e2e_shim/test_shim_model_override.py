"""``router shim --model TARGET``: every LLM call of the program goes to one target, whatever model
it asks for, translated as needed (docs/operator-switches.md#model-override)."""

import sys
from pathlib import Path

from fakes import FakeProvider
from shim_support import BACKEND_KEYS, run_shim, write_script

SCRIPT = """
import anthropic, openai
chat = openai.OpenAI(max_retries=0).chat.completions.create(
    model="gpt-5.1", messages=[{"role": "user", "content": "hi"}])
pieces = []
with anthropic.Anthropic(max_retries=0).messages.stream(
        model="claude-sonnet-4-6", max_tokens=50, messages=[{"role": "user", "content": "hi"}]) as stream:
    pieces = list(stream.text_stream)
report({"chat": chat.choices[0].message.content, "messages": "".join(pieces)})
"""


def test_every_call_goes_to_the_override_target(provider: FakeProvider, router_home: Path, workdir: Path) -> None:
    provider.reply(text="chat answered by claude")
    provider.reply(text="messages answered by claude")
    script = write_script(workdir, SCRIPT)
    flags = ["-v", "--model", "anthropic:claude-x"]
    ran = run_shim([sys.executable, str(script)], router_home, cwd=workdir, flags=flags)
    assert ran.returncode == 0, ran.explain()
    assert ran.result() == {"chat": "chat answered by claude", "messages": "messages answered by claude"}
    # Both calls reached the Anthropic backend, the OpenAI one translated, each asking for the override's model.
    assert [(r.path, r.json["model"], r.header("x-api-key")) for r in provider.requests] == [
        ("/v1/messages", "claude-x", BACKEND_KEYS["anthropic"])] * 2
    # What the program asked for stays in its telemetry; where it went is the override's.
    assert "gpt-5.1 → anthropic/claude-x (translated)" in ran.stderr, ran.stderr


def test_a_backend_without_a_model_keeps_the_model_asked_for(
    provider: FakeProvider, router_home: Path, workdir: Path
) -> None:
    provider.reply(text="one")
    provider.reply(text="two")
    script = write_script(workdir, SCRIPT)
    ran = run_shim([sys.executable, str(script)], router_home, cwd=workdir, flags=["--model", "groq"])
    assert ran.returncode == 0, ran.explain()
    assert [(r.path, r.json["model"], r.header("authorization")) for r in provider.requests] == [
        ("/v1/chat/completions", "gpt-5.1", f"Bearer {BACKEND_KEYS['groq']}"),
        ("/v1/chat/completions", "claude-sonnet-4-6", f"Bearer {BACKEND_KEYS['groq']}"),
    ]


def test_an_unknown_backend_is_refused_before_the_program_runs(router_home: Path, workdir: Path) -> None:
    marker = workdir / "ran"
    ran = run_shim([sys.executable, "-c", f"open({str(marker)!r}, 'w')"], router_home, cwd=workdir,
                   flags=["--model", "nosuch:gpt-5.1"])
    assert ran.returncode == 2, ran.explain()
    assert "--model 'nosuch:gpt-5.1': no backend named 'nosuch' (configured: anthropic, groq, openai)" in ran.stderr
    assert not marker.exists()
