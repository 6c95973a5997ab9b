"""DSPy 3.4.1 under ``router shim``: ``dspy.LM("openai/claude-sonnet-4-6")`` (LiteLLM's OpenAI
provider, so the openai SDK) asking for a Claude model: the Anthropic backend answers.

DSPy writes its prompts and reads its answers in its own text format (``[[ ## field ## ]]``
sections, its ChatAdapter): the fake answers in it. One plain ``Predict``, one streamed ``Predict``
(``dspy.streamify`` with a listener on the answer field: chunks as they arrive) and one ``ReAct``
run, bounded by ``max_iters``: the model names ``get_weather`` and its arguments, DSPy runs it, the
observation goes back in the next prompt, the model names ``finish``, and DSPy extracts the answer.
Both sides are checked: what the program got, and what the backend received (endpoint, model, key,
stream or not, the tool's real result in the prompt after it ran).
"""

from pathlib import Path
from typing import Any, Dict

from clients_support import text_of
from fakes import FakeProvider
from python_clients import CLAUDE, WEATHER_RESULT, backend_calls, run_script, shim_summary

VERSION = "3.4.1"  # tests/constraints/dspy.txt pins it; the README's "Works with" table names it

SCRIPT = f"""
import asyncio
import dspy

dspy.configure(lm=dspy.LM("openai/{CLAUDE}", cache=False, num_retries=0))
qa = dspy.Predict("question -> answer")
out = {{"version": dspy.__version__, "plain": qa(question="hello").answer}}
listener = dspy.streaming.StreamListener(signature_field_name="answer")
streaming_qa = dspy.streamify(qa, stream_listeners=[listener])

async def streamed():
    chunks, final = [], None
    async for item in streaming_qa(question="stream please"):
        if isinstance(item, dspy.streaming.StreamResponse):
            chunks.append(item.chunk)
        elif isinstance(item, dspy.Prediction):
            final = item.answer
    return chunks, final

out["chunks"], out["stream"] = asyncio.run(streamed())
react = dspy.ReAct("question -> answer", tools=[get_weather], max_iters=3)
out["tool"] = react(question="weather in Paris?").answer
print(json.dumps(out))
"""


def fields(**values: str) -> str:
    """An answer in DSPy's ChatAdapter format."""
    return "".join(f"[[ ## {name} ## ]]\n{value}\n\n" for name, value in values.items()) + "[[ ## completed ## ]]"


REPLIES = (
    fields(answer="Hello from Claude."),
    fields(answer="Streamed words, several of them."),
    fields(next_thought="Look it up.", next_tool_name="get_weather", next_tool_args='{"city": "Paris"}'),
    fields(next_thought="I have it.", next_tool_name="finish", next_tool_args="{}"),
    fields(reasoning="The tool said sunny.", answer="It is sunny in Paris."),
)


def test_predict_streamed_predict_and_react_reach_the_anthropic_backend(
    provider: FakeProvider, homes: Dict[str, Path], workdir: Path, chunking: str
) -> None:
    for text in REPLIES:
        provider.reply(text=text)
    run = run_script("dspy", SCRIPT, homes, workdir, env={"LITELLM_LOCAL_MODEL_COST_MAP": "True"})

    assert run.returncode == 0, run.explain()
    out = run.last_json()
    assert out["version"] == VERSION
    assert (out["plain"], out["stream"], out["tool"]) == (
        "Hello from Claude.", "Streamed words, several of them.", "It is sunny in Paris.")
    assert len(out["chunks"]) > 1 and "".join(out["chunks"]).strip() == out["stream"]
    plain, stream, first_step, second_step, extract = backend_calls(provider, CLAUDE, run)
    assert not plain.json.get("stream") and stream.json["stream"] is True
    assert "get_weather" in _prompt(first_step.json) and WEATHER_RESULT not in _prompt(first_step.json)
    assert WEATHER_RESULT in _prompt(second_step.json)  # the tool ran; its output is the observation
    assert WEATHER_RESULT in _prompt(extract.json)
    shim_summary(run, 5)


def _prompt(body: Dict[str, Any]) -> str:
    """Everything the request said, system prompt included."""
    return text_of(body.get("system")) + "".join(text_of(message["content"]) for message in body["messages"])
