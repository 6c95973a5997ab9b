"""instructor 1.17.0 under ``router shim``, across protocols both ways: ``instructor.from_openai``
asking for a Claude model, and ``instructor.from_anthropic`` asking for a GPT model.

instructor's call is a tool call: it offers the response model as the only tool, forces it, and
validates the arguments the model sends into a pydantic object. Per client: one whole extraction
and one partial stream (``create_partial``: objects that fill in as the arguments arrive). Both
sides are checked: the objects the program got, and what the backend received (endpoint, model,
key, the one tool, forced, and a stream where the program streamed).
"""

from pathlib import Path
from typing import Any, Dict

import pytest
from fakes import FakeProvider
from python_clients import BACKEND_OF, CLAUDE, GPT, backend_calls, run_script, shim_summary, tool_names

VERSION = "1.17.0"  # tests/constraints/instructor-llm.txt pins it; the README's "Works with" table names it

SCRIPT = """
import sys
from importlib.metadata import version
import anthropic, instructor, openai
from pydantic import BaseModel

class City(BaseModel):
    name: str
    population: int

sdk, model = sys.argv[1], sys.argv[2]
messages = [{"role": "user", "content": "The biggest city of France?"}]
if sdk == "openai":
    client = instructor.from_openai(openai.OpenAI(max_retries=0))
    create = client.chat.completions.create
    create_partial = client.chat.completions.create_partial
    extra = {}
else:
    client = instructor.from_anthropic(anthropic.Anthropic(max_retries=0))
    create = client.messages.create
    create_partial = client.messages.create_partial
    extra = {"max_tokens": 1024}
out = {"version": version("instructor")}
out["whole"] = create(model=model, response_model=City, messages=messages, **extra).model_dump()
out["partials"] = [p.model_dump() for p in create_partial(model=model, response_model=City, messages=messages,
                                                          **extra)]
print(json.dumps(out))
"""

CITY = {"name": "Paris", "population": 2100000}
SDKS = {"openai": CLAUDE, "anthropic": GPT}


@pytest.mark.parametrize("sdk", list(SDKS))
def test_whole_and_partial_extraction_cross_protocols(
    provider: FakeProvider, homes: Dict[str, Path], workdir: Path, sdk: str, chunking: str
) -> None:
    model = SDKS[sdk]
    provider.reply(tool_calls=[("City", CITY)])
    provider.reply(tool_calls=[("PartialCity", CITY)])  # the name instructor gives the streamed model
    run = run_script("instructor-llm", SCRIPT, homes, workdir, args=(sdk, model))

    assert run.returncode == 0, run.explain()
    out = run.last_json()
    assert out["version"] == VERSION and out["whole"] == CITY
    partials = out["partials"]
    assert len(partials) > 1 and partials[-1] == CITY  # it filled in as the arguments arrived
    assert partials[0] != CITY
    whole, streamed = backend_calls(provider, model, run)
    for call, name in ((whole, "City"), (streamed, "PartialCity")):
        assert tool_names(model, call.json) == [name]
        assert _forced_tool(BACKEND_OF[model], call.json) == name
    assert not whole.json.get("stream") and streamed.json["stream"] is True
    shim_summary(run, 2)


def _forced_tool(backend: str, body: Dict[str, Any]) -> str:
    """The tool a request forces, in the backend's protocol."""
    choice = body["tool_choice"]
    if backend == "anthropic":
        assert choice["type"] == "tool"
        return str(choice["name"])
    assert choice["type"] == "function"
    return str(choice["function"]["name"])
