"""simonw's ``llm`` 0.36, the command-line program, under ``router shim``, asking for a Claude model
through its OpenAI client: the Anthropic backend answers.

``llm`` knows OpenAI's model names only; ``examples/llm_extra_openai_models.yaml`` (the ready file
the README points to) teaches it Claude names, and the tests use that very file, copied where
``llm`` reads it (``$LLM_USER_PATH/extra-openai-models.yaml``). Three runs: a plain prompt
(``--no-stream``), a streamed one (its default) and a tool turn (``--functions``: the model calls
the function, ``llm`` runs it and sends the result back in a chained prompt). Both sides are checked:
what ``llm`` printed, and what the backend received (endpoint, model, key, stream or not, the tool
only where the run has it, the tool's real result).
"""

import shutil
from pathlib import Path
from typing import Dict

from clients_support import ClientRun
from fakes import FakeProvider
from python_clients import (
    CLAUDE,
    WEATHER,
    WEATHER_RESULT,
    WEATHER_SOURCE,
    backend_calls,
    console_script,
    run_shimmed,
    shim_summary,
    tool_names,
    tool_result_texts,
)

VERSION = "0.36"  # tests/constraints/instructor-llm.txt pins it; the README's "Works with" table names it
MODEL_FILE = Path(__file__).resolve().parents[2] / "examples" / "llm_extra_openai_models.yaml"


def llm(homes: Dict[str, Path], workdir: Path, *args: str) -> ClientRun:
    """``router shim -- llm ARGS`` with the example model file in a fresh ``LLM_USER_PATH``."""
    user_path = workdir / "llm-user"
    user_path.mkdir(exist_ok=True)
    shutil.copyfile(MODEL_FILE, user_path / "extra-openai-models.yaml")
    run = run_shimmed([console_script("instructor-llm", "llm"), *args], homes, workdir,
                      {"LLM_USER_PATH": str(user_path)})
    assert run.returncode == 0, run.explain()
    return run


def test_the_pinned_version_runs(homes: Dict[str, Path], workdir: Path) -> None:
    assert llm(homes, workdir, "--version").stdout.strip() == f"llm, version {VERSION}"


def test_plain_and_streamed_prompts_reach_the_anthropic_backend(
    provider: FakeProvider, homes: Dict[str, Path], workdir: Path, chunking: str
) -> None:
    provider.reply(text="Hello from Claude.")
    provider.reply(text="Streamed words, several of them.")
    plain = llm(homes, workdir, "-m", CLAUDE, "--no-stream", "hello")
    streamed = llm(homes, workdir, "-m", CLAUDE, "stream please")

    assert plain.stdout.strip() == "Hello from Claude."
    assert streamed.stdout.strip() == "Streamed words, several of them."
    whole, stream = backend_calls(provider, CLAUDE, streamed)
    assert not whole.json.get("stream") and stream.json["stream"] is True
    assert tool_names(CLAUDE, whole.json) == [] and tool_names(CLAUDE, stream.json) == []
    shim_summary(plain, 1)
    shim_summary(streamed, 1)


def test_a_function_runs_and_its_result_goes_back(
    provider: FakeProvider, homes: Dict[str, Path], workdir: Path
) -> None:
    provider.reply(tool_calls=[WEATHER])
    provider.reply(text="It is sunny in Paris.")
    run = llm(homes, workdir, "-m", CLAUDE, "--functions", WEATHER_SOURCE, "--td", "weather in Paris?")

    assert run.stdout.strip().splitlines()[-1] == "It is sunny in Paris.", run.explain()
    assert WEATHER_RESULT in run.stderr  # --td: llm shows the tool it ran and what it returned
    tool_call, tool_answer = backend_calls(provider, CLAUDE, run)
    assert tool_names(CLAUDE, tool_call.json) == ["get_weather"]
    assert tool_result_texts(CLAUDE, tool_answer.json) == [WEATHER_RESULT]
    shim_summary(run, 2)
